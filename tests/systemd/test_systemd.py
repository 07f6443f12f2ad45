#!/usr/bin/env python3
"""pathsteer under a real systemd: the .deb installed with apt into a booted Debian 12
(systemd-nspawn --boot), and the shipped unit driven with systemctl.

Checks, in one booted container (each a test method, run in order):
  * READY=1 only once the data plane is programmed: an ExecStartPost= (runs when the
    notify service reports READY) snapshots the TC filter, the pins and the owned ip rules;
  * `systemctl reload` applies a changed policy (STATUS= and /v1/status);
  * PUT /v1/policy (`pathsteer policy put`) works under the shipped sandbox
    (ProtectSystem=strict) and writes the policy file;
  * a SIGSTOPped daemon is killed by the watchdog and restarted, while the classifier
    stays attached to the LAN interface throughout;
  * `systemctl stop` leaves the data plane, pins and owned rules in place;
  * `journalctl -u pathsteerd` has the start-up lines;
  * `systemd-analyze security pathsteerd` scores at most 3.0;
  * `apt-get purge` removes what the package owns and leaves what it does not.

Usage: test_systemd.py <dir with pathsteer_*.deb>. Needs root, systemd-nspawn
(systemd-container), debootstrap and, for a cold cache, the Debian mirror this machine's apt
uses. The booted root (debootstrap minbase + systemd, dbus, iproute2 and the .deb's
dependencies, so apt installs it offline) is cached as a directory under
PS_SYSTEMD_ROOT_CACHE (default /var/cache/pathsteer/systemd-root), keyed by its package
list: never written after it is made, the container runs on an overlay of it. The overlay
mount lives in a private mount namespace and the interfaces in the container's network
namespace, so killing the container leaves nothing on the host."""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "package"))
from debian_root import (SUITE, debootstrap, host_debian_sources,  # noqa: E402
                         main_mirror, run)

DEB_DIR = None
CACHE_DIR = os.environ.get("PS_SYSTEMD_ROOT_CACHE", "/var/cache/pathsteer/systemd-root")
CACHE_MAX_AGE_S = 30 * 86400
SKIP_BANNER = "SYSTEMD TEST SKIPPED"
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "procps"]
UNIT = "pathsteerd.service"
LAN = "lan0"

WANS = """version: 1
lan_interfaces: [lan0]
datapath: { mode: mark }
wans:
  wan1:
    interface: wan1
    gateway: 192.0.2.1
    probes:
      - { method: icmp, target: 203.0.113.10 }
  wan2:
    interface: wan2
    gateway: 198.51.100.1
    probes:
      - { method: icmp, target: 203.0.113.10 }
classes:
"""

VIDEO_CLASS = """  video:
    match:
      - { proto: udp, dport: 5001 }
    strategy: failover
    paths: [wan2, wan1]
"""

VOICE_CLASS = """  voice:
    match:
      - { proto: udp, dport: 5060 }
    strategy: failover
    paths: [wan1, wan2]
"""

DEFAULT_CLASS = """  default:
    strategy: failover
    paths: [wan1, wan2]
"""


def policy(*classes):
    """The test policy with these classes before the catch-all `default` (first match wins:
    a class after one without `match` is rejected)."""
    return WANS + "".join(classes) + DEFAULT_CLASS


# Runs (privileged, "+") when systemd has taken READY=1 from the daemon: what the kernel
# holds at that moment. A drop-in of the test; the shipped unit is otherwise unchanged.
READY_PROBE = """[Service]
ExecStartPost=+/bin/sh -c 'exec >/run/ps-ready-probe; echo "--- tc"; tc filter show dev lan0 ingress; echo "--- pins"; ls /sys/fs/bpf/pathsteer; echo "--- rules"; ip rule show'
"""


def deb_dependencies(deb):
    """The package names of the .deb's Depends (first of each alternative, no versions)."""
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    names = []
    for item in depends.split(","):
        first = item.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def booted_root(mirror, packages):
    """The cached root directory for `packages` (debootstrap minbase + packages), made if
    missing or older than CACHE_MAX_AGE_S. Other cached roots are removed when a new one is
    made (one root per machine is enough; a new package list replaces the old)."""
    packages = sorted(set(packages))
    key = hashlib.sha256(f"{SUITE} {mirror} {' '.join(packages)}".encode()).hexdigest()[:12]
    root = os.path.join(CACHE_DIR, f"{SUITE}-{key}")
    if os.path.isdir(root) and time.time() - os.path.getmtime(root) < CACHE_MAX_AGE_S:
        print(f"booted root: cached {root}", file=sys.stderr)
        return root
    os.makedirs(CACHE_DIR, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".making-", dir=CACHE_DIR)
    try:
        t0 = time.monotonic()
        tmp_root = os.path.join(work, "root")
        version = debootstrap(tmp_root, mirror, include=packages)
        # Quicker, quieter boots: nothing that waits for a network or a terminal.
        for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "console-getty.service",
                     "getty@.service", "systemd-networkd-wait-online.service",
                     "e2scrub_reap.service"):
            os.symlink("/dev/null", os.path.join(tmp_root, "etc/systemd/system", unit))
        with open(os.path.join(tmp_root, "etc/hostname"), "w") as f:
            f.write("pathsteer-test\n")
        run(["chroot", tmp_root, "apt-get", "clean"])
        for old in glob.glob(os.path.join(CACHE_DIR, f"{SUITE}-*")):
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp_root, root)  # atomic: a reader sees no root or a whole one
        print(f"booted root: debootstrap {SUITE} ({version}) with {len(packages)} packages "
              f"in {time.monotonic() - t0:.0f} s, cached as {root}", file=sys.stderr)
        return root
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Container:
    """A booted systemd-nspawn container on an overlay of `lower` (the cache), in a private
    mount namespace. exec() runs a command in all its namespaces (nsenter)."""

    def __init__(self, lower, tmp):
        self.tmp = tmp
        upper, work, merged = (os.path.join(tmp, d) for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.mkdir(d)
        self.log_path = os.path.join(tmp, "console.log")
        self.name = f"pstest{os.getpid()}"
        script = (f'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && '
                  f'exec systemd-nspawn --quiet --boot --register=no --keep-unit '
                  f'--machine={self.name} --private-network --console=pipe '
                  f'--capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON,CAP_SYS_ADMIN,CAP_NET_RAW '
                  # nspawn's own seccomp filter, which every service in the container
                  # inherits, denies bpf() (EPERM) unless asked; a mount point for the
                  # container's own bpffs (nspawn's /sys is read-only).
                  f'--system-call-filter=bpf --tmpfs=/sys/fs/bpf:mode=0700 '
                  f'-D "$4"')
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
             "sh", lower, upper, work, merged],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.leader = None

    def find_leader(self, deadline_s=30):
        """The container's PID 1: the descendant of ours in another PID namespace."""
        own_ns = os.readlink("/proc/self/ns/pid")
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited ({self.proc.returncode}):\n"
                                   f"{self.console_tail()}")
            for pid in self.descendants(self.proc.pid):
                try:
                    if os.readlink(f"/proc/{pid}/ns/pid") != own_ns:
                        self.leader = pid
                        return pid
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"no container leader after {deadline_s} s:\n{self.console_tail()}")

    @staticmethod
    def descendants(pid):
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
        return out

    def exec(self, *cmd, check=True, timeout=120, input=None):
        return run(["nsenter", "-t", str(self.leader), "-a", "--", *cmd], check=check,
                   timeout=timeout, input=input)

    def sh(self, script, check=True, timeout=120):
        return self.exec("/bin/sh", "-ec", script, check=check, timeout=timeout)

    def wait_booted(self, deadline_s=60):
        leader = self.find_leader()
        end = time.monotonic() + deadline_s
        # The leader is nspawn's inner child until it execs systemd; before that, and
        # before systemd's private socket is up, is-system-running says "offline".
        state = "offline"
        while state == "offline" and time.monotonic() < end:
            try:
                with open(f"/proc/{leader}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                raise RuntimeError(f"the container died:\n{self.console_tail()}")
            if comm == "systemd":
                left = max(1, int(end - time.monotonic()))
                res = self.exec("timeout", str(left), "systemctl", "is-system-running",
                                "--wait", check=False, timeout=left + 10)
                state = res.stdout.strip() or "offline"
            if state == "offline":
                time.sleep(0.1)
        # degraded: some unit of the minimal root failed in a container; not ours to judge.
        if state not in ("running", "degraded"):
            raise RuntimeError(f"container did not boot: {state!r}\n{self.console_tail()}")
        return state

    def console_tail(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def destroy(self):
        """Kills the container (PID 1 of its PID namespace takes every process with it),
        then waits for systemd-nspawn to notice and clean its cgroups up. nspawn leaves its
        propagation directory behind when /run is not a tmpfs (it refuses to rm -rf on a
        disk file system): removed here."""
        if self.proc.poll() is None:
            if self.leader is not None:
                try:
                    os.kill(self.leader, 9)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)


def show(c, *props):
    out = c.exec("systemctl", "show", UNIT, *(f"-p{p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_for(what, fn, deadline_s, interval=0.2):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what} (last: {last!r})")


class Systemd(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            msg = "the systemd test needs root (debootstrap, systemd-nspawn)"
            if os.environ.get("CI") == "true":
                raise RuntimeError(f"{msg}, and CI=true: refusing to skip")
            print(f"\n{'#' * 72}\n# {SKIP_BANNER}: {msg}\n{'#' * 72}", file=sys.stderr)
            raise unittest.SkipTest(msg)
        for tool in ("debootstrap", "systemd-nspawn", "nsenter", "unshare", "dpkg-deb"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is missing (scripts/install-deps.sh installs it)")
        debs = glob.glob(os.path.join(DEB_DIR, "pathsteer_*.deb"))
        if len(debs) != 1:
            raise RuntimeError(f"want one pathsteer_*.deb in {DEB_DIR} "
                               f"(scripts/build-deb.sh makes it), found {debs}")
        cls.deb = debs[0]
        t0 = time.monotonic()
        lower = booted_root(main_mirror(host_debian_sources()),
                            BASE_PACKAGES + deb_dependencies(cls.deb))
        cls.tmp = tempfile.mkdtemp(prefix="ps-systemd-")
        cls.c = Container(lower, cls.tmp)
        try:
            state = cls.c.wait_booted()
            print(f"container booted ({state}) in {time.monotonic() - t0:.1f} s",
                  file=sys.stderr)
            cls.setup_system()
        except BaseException:
            cls.tearDownClass()
            raise
        print(f"pathsteer installed and started after {time.monotonic() - t0:.1f} s",
              file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "c", None) is not None:
            cls.c.destroy()
            cls.c = None
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def setup_system(cls):
        c = cls.c
        # The container's root is the overlay inside the private mount namespace; the .deb
        # goes in through the container itself.
        with open(cls.deb, "rb") as f:
            subprocess.run(["nsenter", "-t", str(c.leader), "-a", "--", "sh", "-c",
                            "cat >/root/pathsteer.deb"], stdin=f, check=True, timeout=60)
        res = c.sh("export DEBIAN_FRONTEND=noninteractive; "
                   "apt-get install -y --no-install-recommends "
                   "/root/pathsteer.deb 2>&1", timeout=180)
        cls.apt_log = res.stdout
        # The container's own bpffs instance (gone with its mount namespace), and the
        # uplinks and the LAN the policy names: veth pairs (no dummy module here), the
        # peers left unused: traffic is the netns tests' business.
        c.sh(f"""
            mount -t bpf -o mode=0700 bpf /sys/fs/bpf
            for dev in {LAN} wan1 wan2; do
              ip link add $dev type veth peer name ${{dev}}p
              ip link set ${{dev}}p up
            done
            ip addr add 192.0.2.2/24 dev wan1
            ip addr add 198.51.100.2/24 dev wan2
            for dev in {LAN} wan1 wan2; do ip link set $dev up; done
        """)
        c.exec("sh", "-c", "cat >/etc/pathsteer/policy.yaml", input=policy())
        c.exec("sh", "-c", "mkdir -p /run/systemd/system/pathsteerd.service.d && "
               "cat >/run/systemd/system/pathsteerd.service.d/ready-probe.conf "
               "&& systemctl daemon-reload", input=READY_PROBE)
        # Type=notify: start returns once READY=1 arrived (or the start failed).
        res = c.exec("systemctl", "start", UNIT, check=False, timeout=60)
        if res.returncode != 0:
            journal = c.exec("journalctl", "-u", UNIT, "--no-pager", check=False).stdout
            raise RuntimeError(f"systemctl start failed: {res.stderr}\n{journal[-4000:]}")

    # The tests run in name order: each leaves the service running (or restarts it).

    def test_1_installed_with_apt_offline(self):
        self.assertIn("Setting up pathsteer", self.apt_log)
        res = self.c.exec("dpkg-query", "-W", "-f", "${Status}", "pathsteer")
        self.assertEqual(res.stdout, "install ok installed")
        # Not enabled on install (the shipped policy names placeholder interfaces).
        res = self.c.exec("systemctl", "is-enabled", UNIT, check=False)
        self.assertEqual(res.stdout.strip(), "disabled")

    def test_2_ready_only_once_the_data_plane_is_programmed(self):
        props = show(self.c, "ActiveState", "SubState", "StatusText", "NRestarts")
        self.assertEqual(props["ActiveState"], "active", props)
        self.assertEqual(props["SubState"], "running", props)
        self.assertRegex(props["StatusText"], r"^generation 1: 1 classes over 2 uplinks$")
        snap = self.c.exec("cat", "/run/ps-ready-probe").stdout
        print(f"\nkernel state when READY=1 arrived:\n{snap}", file=sys.stderr)
        tc = snap.split("--- tc")[1].split("--- pins")[0]
        pins = snap.split("--- pins")[1].split("--- rules")[0].split()
        rules = snap.split("--- rules")[1]
        self.assertRegex(tc, r"bpf .*direct-action", "no classifier on lan0 at READY")
        self.assertTrue(any(p.startswith("ps_") for p in pins), f"no pins at READY: {pins}")
        # Two rules per uplink mark (DESIGN §2): 10000+ with the owned mark bits.
        owned = [line for line in rules.splitlines() if re.match(r"^10\d\d\d:", line)]
        self.assertGreaterEqual(len(owned), 4, rules)

    def test_3_reload_applies_a_changed_policy(self):
        self.c.exec("sh", "-c", "cat >/etc/pathsteer/policy.yaml", input=policy(VIDEO_CLASS))
        before = int(show(self.c, "StatusText")["StatusText"].split()[1].rstrip(":"))
        self.c.exec("systemctl", "reload", UNIT)
        # The file watch may have reloaded already; either way, the new policy runs.
        def reloaded():
            status = show(self.c, "StatusText")["StatusText"]
            return status if "2 classes" in status else None
        status = wait_for("the reloaded policy in STATUS=", reloaded, 10)
        self.assertGreater(int(status.split()[1].rstrip(":")), before, status)
        res = self.c.exec("pathsteer", "status")
        self.assertIn("video", res.stdout)
        self.assertEqual(show(self.c, "ActiveState")["ActiveState"], "active")

    def test_4_policy_put_under_the_shipped_sandbox(self):
        token = "/etc/pathsteer/api.token"
        res = self.c.exec("stat", "-c", "%a %U %s", token)
        mode, owner, size = res.stdout.split()
        self.assertEqual((mode, owner), ("600", "root"))
        self.assertEqual(int(size), 64)
        self.c.exec("sh", "-c", "cat >/root/new.yaml", input=policy(VIDEO_CLASS, VOICE_CLASS))
        res = self.c.exec("pathsteer", "policy", "put", "/root/new.yaml", "--token-file", token,
                          check=False)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        on_disk = self.c.exec("cat", "/etc/pathsteer/policy.yaml").stdout
        self.assertIn("voice:", on_disk)
        self.assertRegex(show(self.c, "StatusText")["StatusText"], r"3 classes over 2 uplinks")
        leftovers = self.c.exec("ls", "/etc/pathsteer").stdout.split()
        self.assertNotIn("policy.yaml.tmp", leftovers)

    def test_5_watchdog_restarts_a_stopped_daemon_while_the_data_plane_stays(self):
        props = show(self.c, "MainPID", "NRestarts", "WatchdogUSec")
        pid, restarts = int(props["MainPID"]), int(props["NRestarts"])
        watchdog_s = int(props["WatchdogUSec"]) / 1e6 if props["WatchdogUSec"].isdigit() else 20
        self.assertGreater(pid, 0)
        self.c.exec("kill", "-STOP", str(pid))
        t0 = time.monotonic()
        samples = 0
        missing = []
        while time.monotonic() - t0 < watchdog_s + 30:
            tc = self.c.exec("tc", "filter", "show", "dev", LAN, "ingress", check=False).stdout
            samples += 1
            if "direct-action" not in tc:
                missing.append(round(time.monotonic() - t0, 1))
            now = show(self.c, "MainPID", "NRestarts", "ActiveState")
            if (int(now["NRestarts"]) > restarts and now["ActiveState"] == "active"
                    and int(now["MainPID"]) not in (0, pid)):
                break
            time.sleep(0.5)
        else:
            self.fail(f"not restarted {watchdog_s + 30:.0f} s after SIGSTOP: {now}")
        took = time.monotonic() - t0
        print(f"\nrestarted {took:.1f} s after SIGSTOP (WatchdogSec {watchdog_s:.0f} s); "
              f"classifier checked {samples} times", file=sys.stderr)
        # The last WATCHDOG=1 came up to WatchdogSec/2 before the SIGSTOP.
        self.assertGreaterEqual(took, watchdog_s / 2 - 1, "restarted before the watchdog expired")
        self.assertEqual(missing, [], "the classifier was off lan0 at these seconds")
        journal = self.c.exec("journalctl", "-u", UNIT, "--no-pager", "-o", "cat").stdout
        self.assertRegex(journal, r"[Ww]atchdog timeout")

    def test_6_journal_has_the_start_up_lines(self):
        journal = self.c.exec("journalctl", "-u", UNIT, "--no-pager", "-o", "cat").stdout
        self.assertRegex(journal, r"pathsteerd \S+ running policy /etc/pathsteer/policy\.yaml "
                                  r"\(generation \d+\)")
        # One per start: the first and the watchdog's restart.
        self.assertGreaterEqual(len(re.findall(r"running policy", journal)), 2, journal[-3000:])

    def test_7_resources_within_the_unit_limits(self):
        props = show(self.c, "MainPID", "TasksCurrent", "TasksMax", "MemoryCurrent",
                     "MemoryMax")
        print(f"\nresources: {props}", file=sys.stderr)
        threads = int(self.c.exec("sh", "-c", f"ls /proc/{props['MainPID']}/task | wc -l")
                      .stdout)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", self.c.exec(
            "cat", f"/proc/{props['MainPID']}/status").stdout).group(1))
        print(f"daemon: {threads} threads, VmRSS {rss_kb} KiB", file=sys.stderr)
        self.assertLess(threads * 2, int(props["TasksMax"]), "TasksMax leaves no headroom")
        self.assertLess(rss_kb * 1024 * 4, int(props["MemoryMax"]), "MemoryMax too tight")

    def test_8_security_score(self):
        res = self.c.exec("systemd-analyze", "security", "--no-pager", UNIT)
        score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout)
        self.assertIsNotNone(score, res.stdout[-2000:])
        exposures = [line for line in res.stdout.splitlines() if line.startswith("✗")]
        print(f"\nsystemd-analyze security: {score.group(1)}\n" + "\n".join(exposures),
              file=sys.stderr)
        self.assertLessEqual(float(score.group(1)), 3.0)

    def test_9a_stop_leaves_the_data_plane_steering(self):
        self.c.exec("systemctl", "stop", UNIT)
        self.assertEqual(show(self.c, "ActiveState")["ActiveState"], "inactive")
        tc = self.c.exec("tc", "filter", "show", "dev", LAN, "ingress").stdout
        self.assertIn("direct-action", tc)
        pins = self.c.exec("ls", "/sys/fs/bpf/pathsteer").stdout.split()
        self.assertTrue(any(p.startswith("ps_") for p in pins), pins)
        rules = self.c.exec("ip", "rule", "show").stdout
        self.assertGreaterEqual(len(re.findall(r"^10\d\d\d:", rules, re.M)), 4, rules)
        routes = self.c.exec("ip", "route", "show", "table", "all", "proto", "201").stdout
        self.assertIn("default via 192.0.2.1", routes)
        journal = self.c.exec("journalctl", "-u", UNIT, "--no-pager", "-o", "cat").stdout
        self.assertIn("stopped; the data plane and owned rules stay as last planned", journal)

    def test_9b_purge_removes_what_the_package_owns(self):
        # What the package does not own: an operator's file beside the policy, and a
        # directory of another program's state.
        self.c.sh("echo site notes >/etc/pathsteer/NOTES; mkdir -p /var/lib/other; "
                  "touch /var/lib/other/keep; test -d /var/lib/pathsteer")
        res = self.c.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y pathsteer 2>&1",
                        timeout=120)
        gone = ["/usr/sbin/pathsteerd", "/usr/bin/pathsteer", "/lib/systemd/system/" + UNIT,
                "/usr/lib/systemd/system/" + UNIT, "/etc/pathsteer/policy.yaml",
                "/etc/pathsteer/api.token", "/var/lib/pathsteer", "/usr/share/doc/pathsteer"]
        left = ["/etc/pathsteer/NOTES", "/var/lib/other/keep"]
        out = self.c.sh("for p in " + " ".join(gone + left) +
                        "; do if test -e $p; then echo present $p; fi; done").stdout
        present = {line.split()[1] for line in out.splitlines()}
        self.assertEqual(present, set(left), f"{out}\n{res.stdout[-2000:]}")
        res = self.c.exec("dpkg-query", "-W", "pathsteer", check=False)
        self.assertNotEqual(res.returncode, 0, "dpkg still knows pathsteer after a purge")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    DEB_DIR = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
