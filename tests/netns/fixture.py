"""End-to-end network-namespace fixture for pathsteer (Python 3 standard library only).

Topology (namespace names are unique per run: "pst-<pid>-<hex4>-<role>"):

    LAN ns                GW ns (pathsteerd runs here)            UP1 ns / UP2 ns
    lan0 192.168.77.2/24 ─ lan0 192.168.77.1/24 fd00:77::1/64
         fd00:77::2/64     wan1 100.64.1.2/24 2001:db8:1::2/64 ── up0 100.64.1.1 2001:db8:1::1
    default via .1 / ::1   wan2 100.64.2.2/24 2001:db8:2::2/64 ── up0 100.64.2.1 2001:db8:2::1
                           default via wan1 metric 10, via wan2 metric 20
                           (v4 and v6; lets `gateway: auto` learn next hops)

Both uplink namespaces own the same destination, 203.0.113.10/32 and 2001:db8:ffff::10/128 on
lo, and route the LAN prefixes back over their link, so the uplink a packet took is the namespace
whose receiver recorded it. The GW forwards v4 and v6 with rp_filter 0; DAD is off everywhere.

Promises:
  * Topology.setup() builds it all and raises on any failure; teardown() is idempotent and runs
    on test failure, on Ctrl-C/SIGTERM (atexit), and removes the namespaces, the processes it
    started, the private bpffs pin dir and the temp dir. Leftovers of runs whose owning process
    died (a ctest timeout sends SIGKILL) are swept at the next setup.
  * Waits poll a predicate against a deadline (wait_until); no fixed sleeps decide correctness.
  * Interruption of a stream (StreamResult.interruption_ms) is measured on the SENDER's clock
    (send timestamps in the payload), with the receivers of both uplinks merged by sequence
    number: the longest time between two consecutively received packets that have lost
    packets between them. A lost run of k packets thus measures about (k + 1) x send interval;
    without loss it is 0 (a stalled sender is not an outage). Packets missing at the head or
    tail of the stream count as (run + 1) x nominal interval.
  * The daemon is started with `nsenter --net=/run/netns/<gw>` (not `ip netns exec`, which
    remounts /sys and hides /sys/fs/bpf).
"""

import atexit
import ctypes
import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UDP_TOOL = os.path.join(HERE, "udp_tool.py")
SOURCE_DIR = os.environ.get("PATHSTEER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))

LAN_V4, LAN_V6 = "192.168.77.2", "fd00:77::2"
GW_LAN_V4, GW_LAN_V6 = "192.168.77.1", "fd00:77::1"
DST_V4, DST_V6 = "203.0.113.10", "2001:db8:ffff::10"
UPLINKS = ("wan1", "wan2")  # GW interface names; uplink N's peer lives in namespace "upN"
# Topology(uplinks=...) / NetnsTestCase.uplinks may add "wan3" (100.64.3.0/24, 2001:db8:3::/64,
# default route metric 30) for tests that need three uplinks; the default stays two.
RECV_PORTS = (5001, 5002, 5003, 5004)
API_PORT = 9370
BPFFS = "/sys/fs/bpf"
RUN_NAME_RE = re.compile(r"^pst-(\d+)-[0-9a-f]{4}\b")

SKIP_BANNER = "NETNS TESTS SKIPPED"


def uplink_addrs(uplink):
    """(gw v4, peer v4, gw v6, peer v6) of uplink 'wanN' (N = 1, 2, 3)."""
    n = int(uplink[len("wan"):])
    return f"100.64.{n}.2", f"100.64.{n}.1", f"2001:db8:{n}::2", f"2001:db8:{n}::1"


# --------------------------------------------------------------------------------------------
# Small helpers


def run(cmd, check=True, input=None, timeout=30):
    """Runs cmd (a list); returns CompletedProcess with text stdout/stderr."""
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr.strip()}")
    return proc


def wait_until(predicate, timeout, what, interval=0.02,
               ignore=(OSError, http.client.HTTPException, ValueError)):
    """Polls predicate() until it returns a truthy value, which is returned.

    Exceptions of the `ignore` types count as "not yet" (e.g. the API not listening yet); any
    other exception propagates at once. On timeout raises TimeoutError naming `what` and the
    last value or exception seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except ignore as e:
            last = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}; "
                               f"last: {last!r}")
        time.sleep(interval)


_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def in_netns(ns, fn):
    """Calls fn() on a fresh thread that has joined network namespace `ns`; returns its value.

    Sockets created inside fn stay in that namespace for their whole life, so the caller can
    use them from any thread (this is how the API is reached without spawning processes)."""
    box = {}

    def body():
        try:
            with open(f"/run/netns/{ns}") as f:
                if _libc.setns(f.fileno(), _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=body, name=f"netns-{ns}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def find_binary(env_var, name, build_dir=None):
    """Path of a pathsteer binary: $env_var, else `name` found under build_dir (or
    $PATHSTEER_BUILD_DIR). Raises FileNotFoundError with a how-to when there is none."""
    path = os.environ.get(env_var, "")
    if path:
        if os.access(path, os.X_OK):
            return path
        raise FileNotFoundError(f"{env_var}={path} is not an executable file; "
                                f"build the `{name}` target first")
    build_dir = build_dir or os.environ.get("PATHSTEER_BUILD_DIR")
    if build_dir:
        # The newest: a packaging build under the same tree (deb/...) or a target that
        # moved folders leaves older copies of the same name behind.
        found = [os.path.join(root, name) for root, _, files in os.walk(build_dir)
                 if name in files and os.access(os.path.join(root, name), os.X_OK)]
        if found:
            return max(found, key=os.path.getmtime)
        raise FileNotFoundError(f"no executable `{name}` under {build_dir}; build it first")
    raise FileNotFoundError(f"{env_var} is not set (ctest sets it; by hand export {env_var}="
                            f"<build>/.../{name} or PATHSTEER_BUILD_DIR=<build>)")


def policy_path(name="two-wan.yaml"):
    return os.path.join(SOURCE_DIR, "policies", name)


# The contract of policies/two-wan.yaml, used only while that file does not exist yet.
FALLBACK_TWO_WAN = """\
version: 1
lan_interfaces: [lan0]
datapath: { mode: mark }
wans:
  wan1:
    interface: wan1
    gateway: auto
    probes: [ { method: icmp, target: 203.0.113.10 } ]
    health: { interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }
  wan2:
    interface: wan2
    gateway: auto
    probes: [ { method: icmp, target: 203.0.113.10 } ]
    health: { interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }
classes:
  video:
    match: [ { proto: udp, dport: 5001 } ]
    strategy: failover
    paths: [wan2, wan1]
  default:
    strategy: failover
    paths: [wan1, wan2]
"""


def two_wan_policy(tmpdir):
    """policies/two-wan.yaml, or (loudly) a temporary copy of its contract if it is missing."""
    path = policy_path()
    if os.path.exists(path):
        return path
    print(f"\n*** {path} does not exist yet: using a temporary copy of its contract ***",
          file=sys.stderr)
    path = os.path.join(tmpdir, "two-wan.yaml")
    with open(path, "w") as f:
        f.write(FALLBACK_TWO_WAN)
    return path


def ensure_bpffs():
    """Mounts bpffs at /sys/fs/bpf unless it already is (it stays mounted afterwards)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == BPFFS and " - bpf " in line:
                return
    run(["mount", "-t", "bpf", "bpf", BPFFS])


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep_stale_runs():
    """Removes namespaces, pin dirs and temp dirs of earlier runs whose process is gone."""
    candidates = []
    if os.path.isdir("/run/netns"):
        candidates += [("netns", n) for n in os.listdir("/run/netns")]
    if os.path.isdir(BPFFS):
        candidates += [("pin", os.path.join(BPFFS, n)) for n in os.listdir(BPFFS)]
    tmp = tempfile.gettempdir()
    candidates += [("tmp", os.path.join(tmp, n)) for n in os.listdir(tmp)]
    for kind, name in candidates:
        m = RUN_NAME_RE.match(os.path.basename(name))
        if not m or _pid_alive(int(m.group(1))):
            continue
        print(f"fixture: sweeping stale {kind} {name} (its run, pid {m.group(1)}, is gone)",
              file=sys.stderr)
        if kind == "netns":
            _delete_netns(name)
        else:
            shutil.rmtree(name, ignore_errors=True)


def _delete_netns(ns):
    """Kills every process left in namespace ns (all started by this fixture), deletes it."""
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    run(["ip", "netns", "del", ns], check=False)


# Live topologies, torn down at interpreter exit (normal, exception, Ctrl-C, SIGTERM/SIGHUP).
_LIVE = set()


@atexit.register
def _teardown_live():
    for topo in list(_LIVE):
        topo.teardown()


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _install_signal_handlers():
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _raise_interrupt)


# --------------------------------------------------------------------------------------------
# Streams


class Stream:
    """A UDP stream being sent from the LAN namespace (see Topology.send)."""

    def __init__(self, stream_id, dst, port, count, rate, proc):
        self.id, self.dst, self.port, self.count, self.rate = stream_id, dst, port, count, rate
        self.proc = proc
        self.summary = None  # sender's JSON line once finished

    @property
    def family(self):
        return 6 if ":" in self.dst else 4

    def __str__(self):
        return (f"stream {self.id} (udp/{self.port} v{self.family}, "
                f"{self.count} pkts @ {self.rate:g}/s)")

    def wait(self, timeout=None):
        """Waits for the sender to finish; returns its summary dict."""
        if self.summary is None:
            timeout = timeout or self.count / self.rate + 15
            out, err = self.proc.communicate(timeout=timeout)
            if self.proc.returncode != 0:
                raise RuntimeError(f"sender of {self} failed ({self.proc.returncode}): {err}")
            self.summary = json.loads(out.strip().splitlines()[-1])
        return self.summary


class StreamResult:
    """What the receivers saw of one stream.

    per_uplink:   {'wan1': {seq: send_ns}, 'wan2': {...}}
    received:     set of seqs received anywhere;  lost: sorted list of seqs never received
    duplicates:   seqs received on more than one uplink (or twice)
    interruption_ms: see the module docstring."""

    def __init__(self, stream, per_uplink, duplicates):
        self.stream = stream
        self.per_uplink = per_uplink
        self.duplicates = duplicates
        merged = {}
        for seqs in per_uplink.values():
            merged.update(seqs)
        self.received = set(merged)
        self.lost = sorted(set(range(stream.count)) - self.received)
        self.interruption_ms = self._interruption(merged)

    def seqs(self, uplink):
        return set(self.per_uplink[uplink])

    def count(self, uplink):
        return len(self.per_uplink[uplink])

    def _interruption(self, merged):
        interval_ms = 1000.0 / self.stream.rate
        if not merged:
            return (self.stream.count + 1) * interval_ms
        order = sorted(merged)
        worst = 0.0
        if order[0] > 0:
            worst = (order[0] + 1) * interval_ms
        if order[-1] < self.stream.count - 1:
            worst = max(worst, (self.stream.count - order[-1]) * interval_ms)
        for a, b in zip(order, order[1:]):
            if b - a > 1:
                worst = max(worst, (merged[b] - merged[a]) / 1e6)
        return worst

    def describe(self):
        parts = [f"{u}: {len(s)}" + (f" (seq {min(s)}..{max(s)})" if s else "")
                 for u, s in self.per_uplink.items()]
        return (f"{self.stream}: " + ", ".join(parts) +
                f"; lost {len(self.lost)}; duplicates {len(self.duplicates)}; "
                f"interruption {self.interruption_ms:.1f} ms")


# --------------------------------------------------------------------------------------------
# The daemon


class DaemonExited(RuntimeError):
    pass


class Daemon:
    """pathsteerd running in the GW namespace with a private pin dir and state dir."""

    def __init__(self, topo, binary, policy, extra_args=()):
        """binary: a path, or a command prefix list."""
        self.topo, self.policy = topo, policy
        self.binary = [binary] if isinstance(binary, str) else list(binary)
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(topo.tmpdir, "pathsteerd.log")
        self.proc = None
        self.returncode = None

    def command(self):
        return ["nsenter", f"--net=/run/netns/{self.topo.ns['gw']}", "--", *self.binary,
                "--policy", self.policy, "--state-dir", self.topo.state_dir,
                "--pin-dir", self.topo.pin_dir, "--listen", f"127.0.0.1:{API_PORT}",
                "--log-level", "debug", *self.extra_args]

    def start(self, timeout=20):
        """Starts the daemon and waits until GET /healthz answers 200."""
        with open(self.log_path, "ab") as log:
            # A new session: a terminal's Ctrl-C reaches only us; we stop it with SIGTERM.
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        def healthy():
            self.check_alive()  # an early exit fails at once, not at the timeout
            return self.topo.http_get("/healthz")[0] == 200

        wait_until(healthy, timeout, "pathsteerd to answer GET /healthz with 200")
        return self

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise DaemonExited(f"pathsteerd exited with {self.proc.returncode}; log tail:\n"
                               f"{self.log_tail()}")

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit code (negative = signal)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print(f"fixture: pathsteerd ignored SIGTERM for {timeout} s; killed",
                      file=sys.stderr)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"


# --------------------------------------------------------------------------------------------
# The topology


class Topology:
    """Builds, drives and removes one run's namespaces. See the module docstring."""

    def __init__(self, uplinks=UPLINKS):
        self.run_id = f"pst-{os.getpid()}-{random.randrange(1 << 16):04x}"
        self.uplinks = tuple(uplinks)
        roles = ("lan", "gw", *(self._uplink_role(u) for u in self.uplinks))
        self.ns = {role: f"{self.run_id}-{role}" for role in roles}
        self.pin_dir = os.path.join(BPFFS, self.run_id)
        self.tmpdir = None
        self.state_dir = None
        self.daemon = None
        self._receivers = {}  # uplink -> (Popen, out path)
        self._senders = []
        self._stream_ids = itertools.count(random.randrange(1 << 20) << 8)
        self._created_ns = []
        self._torn_down = False

    # -- lifecycle --

    def setup(self):
        _install_signal_handlers()
        _LIVE.add(self)
        sweep_stale_runs()
        ensure_bpffs()
        self.tmpdir = tempfile.mkdtemp(prefix=f"{self.run_id}-")
        self.state_dir = os.path.join(self.tmpdir, "state")
        os.mkdir(self.state_dir)
        for ns in self.ns.values():
            run(["ip", "netns", "add", ns])
            self._created_ns.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self._build_links()
        self._configure()
        for uplink in self.uplinks:
            self._start_receiver(uplink)
        self._warm_neighbours()
        return self

    def teardown(self):
        """Removes everything this run created. Idempotent; never raises."""
        if self._torn_down:
            return
        steps = [self._stop_senders, self.stop_daemon, self._stop_receivers]
        steps += [lambda ns=ns: _delete_netns(ns) for ns in reversed(self._created_ns)]
        steps += [lambda: shutil.rmtree(self.pin_dir, ignore_errors=True)]
        if self.tmpdir:
            steps += [lambda: shutil.rmtree(self.tmpdir, ignore_errors=True)]
        for step in steps:
            try:
                step()
            except Exception as e:  # keep cleaning; report
                print(f"fixture: teardown step failed: {e}", file=sys.stderr)
        self._torn_down = True
        _LIVE.discard(self)

    def leftovers(self):
        """Names of anything of this run still present (for the cleanup self-check)."""
        left = [n for n in os.listdir("/run/netns") if n.startswith(self.run_id)] \
            if os.path.isdir("/run/netns") else []
        left += [p for p in (self.pin_dir, self.tmpdir) if p and os.path.exists(p)]
        return left

    # -- building --

    def ip(self, role, *args, check=True):
        return run(["ip", "-n", self.ns[role], *args], check=check)

    def sysctl(self, role, *settings):
        run(["ip", "netns", "exec", self.ns[role], "sysctl", "-q", "-w", *settings])

    def _build_links(self):
        def veth(a_role, a_name, b_role, b_name):
            run(["ip", "link", "add", a_name, "netns", self.ns[a_role], "type", "veth", "peer",
                 "name", b_name, "netns", self.ns[b_role]])

        veth("lan", "lan0", "gw", "lan0")
        for uplink in self.uplinks:
            veth("gw", uplink, self._uplink_role(uplink), "up0")

    def _no_dad(self, role, *ifaces):
        keys = ["all", "default", *ifaces]
        self.sysctl(role, *[f"net.ipv6.conf.{k}.accept_dad=0" for k in keys])

    def _configure(self):
        # LAN host
        self._no_dad("lan", "lan0")
        self.ip("lan", "addr", "add", f"{LAN_V4}/24", "dev", "lan0")
        self.ip("lan", "addr", "add", f"{LAN_V6}/64", "dev", "lan0", "nodad")
        self.ip("lan", "link", "set", "lan0", "up")
        self.ip("lan", "route", "add", "default", "via", GW_LAN_V4)
        self.ip("lan", "-6", "route", "add", "default", "via", GW_LAN_V6)

        # Gateway
        gw_ifaces = ["lan0", *self.uplinks]
        self._no_dad("gw", *gw_ifaces)
        self.sysctl("gw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                    *[f"net.ipv4.conf.{k}.rp_filter=0" for k in ["all", "default", *gw_ifaces]])
        self.ip("gw", "addr", "add", f"{GW_LAN_V4}/24", "dev", "lan0")
        self.ip("gw", "addr", "add", f"{GW_LAN_V6}/64", "dev", "lan0", "nodad")
        for uplink in self.uplinks:
            gw4, _, gw6, _ = uplink_addrs(uplink)
            self.ip("gw", "addr", "add", f"{gw4}/24", "dev", uplink)
            self.ip("gw", "addr", "add", f"{gw6}/64", "dev", uplink, "nodad")
        for iface in gw_ifaces:
            self.ip("gw", "link", "set", iface, "up")
        for uplink in self.uplinks:
            metric = 10 * int(uplink[len("wan"):])
            _, peer4, _, peer6 = uplink_addrs(uplink)
            self.ip("gw", "route", "add", "default", "via", peer4, "dev", uplink,
                    "metric", str(metric))
            self.ip("gw", "-6", "route", "add", "default", "via", peer6, "dev", uplink,
                    "metric", str(metric))

        # Uplinks (the far ends)
        for uplink in self.uplinks:
            role = self._uplink_role(uplink)
            self._no_dad(role, "up0")
            self.sysctl(role, "net.ipv6.conf.up0.keep_addr_on_down=1")
            self.ip(role, "addr", "add", f"{DST_V4}/32", "dev", "lo")
            self.ip(role, "addr", "add", f"{DST_V6}/128", "dev", "lo")
            self._configure_peer_l3(uplink)

    def _configure_peer_l3(self, uplink):
        """Addresses and return routes of the uplink's far end; idempotent, re-run after the
        peer was set admin-down (which flushes its routes)."""
        role = self._uplink_role(uplink)
        gw4, peer4, gw6, peer6 = uplink_addrs(uplink)
        self.ip(role, "addr", "replace", f"{peer4}/24", "dev", "up0")
        self.ip(role, "addr", "replace", f"{peer6}/64", "dev", "up0", "nodad")
        self.ip(role, "link", "set", "up0", "up")
        self.ip(role, "route", "replace", "192.168.77.0/24", "via", gw4, "dev", "up0")
        self.ip(role, "-6", "route", "replace", "fd00:77::/64", "via", gw6, "dev", "up0")

    @staticmethod
    def _uplink_role(uplink):
        return f"up{int(uplink[len('wan'):])}"

    def _start_receiver(self, uplink):
        out = os.path.join(self.tmpdir, f"recv-{uplink}.txt")
        cmd = ["ip", "netns", "exec", self.ns[self._uplink_role(uplink)], sys.executable,
               UDP_TOOL, "recv", "--out", out]
        for port in RECV_PORTS:
            cmd += ["--port", str(port)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                start_new_session=True)
        self._receivers[uplink] = (proc, out)

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"receiver for {uplink} exited with {proc.returncode}")
            with open(out) as f:
                return f.readline() == "# ready\n"

        wait_until(ready, 10, f"the receiver in {uplink}'s far end to bind")

    def _warm_neighbours(self):
        """Resolves ARP/ND on every link so that the first packets of a stream are not queued
        behind neighbour resolution."""
        peers = [a for u in self.uplinks for a in uplink_addrs(u)[1::2]]
        self.wait_neighbours({"lan": [GW_LAN_V4, GW_LAN_V6], "gw": peers + [LAN_V4, LAN_V6]})

    def wait_neighbours(self, targets, timeout=10):
        """Pokes each address of {role: [addr, ...]} (a UDP datagram to port 9 from that
        namespace) until the namespace has a usable neighbour entry for each of them."""
        def poke(addrs):
            for addr in addrs:
                fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
                with socket.socket(fam, socket.SOCK_DGRAM) as s:
                    s.sendto(b"warm", (addr, 9))

        def resolved():
            for role, addrs in targets.items():
                states = {}
                for fam in ("-4", "-6"):
                    for n in json.loads(self.ip(role, "-j", fam, "neigh", "show").stdout or "[]"):
                        states[n["dst"]] = n.get("state", [])
                pending = [a for a in addrs if not set(states.get(a, [])) &
                           {"REACHABLE", "STALE", "DELAY", "PROBE"}]
                if pending:
                    in_netns(self.ns[role], lambda: poke(pending))
                    return False
            return True

        wait_until(resolved, timeout, f"ARP/ND to resolve {targets}", interval=0.05)

    # -- stopping helpers --

    def _stop_senders(self):
        for proc in self._senders:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes
        self._senders.clear()

    def _stop_receivers(self):
        for proc, _ in self._receivers.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._receivers.clear()

    # -- traffic --

    def send(self, port, count=1000, rate=1000.0, family=4, dst=None, role="lan", uid=None):
        """Starts a UDP stream from the LAN host (one flow, one source port), or from the
        gateway itself with role="gw"; returns a Stream at once. Pass it to result() to wait
        for it and collect what arrived where."""
        dst = dst or (DST_V6 if family == 6 else DST_V4)
        stream_id = next(self._stream_ids) & 0xFFFFFFFF
        as_uid = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                                         "--clear-groups"]
        cmd = ["ip", "netns", "exec", self.ns[role], *as_uid, sys.executable, UDP_TOOL, "send",
               "--dst", dst, "--port", str(port), "--count", str(count), "--rate", str(rate),
               "--stream", str(stream_id)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._senders.append(proc)
        return Stream(stream_id, dst, port, count, rate, proc)

    def received(self, stream):
        """{uplink: {seq: send_ns}} of what the far ends have recorded of `stream` so far."""
        return self._collect(stream)[0]

    def _collect(self, stream):
        per_uplink, seen, duplicates = {}, set(), set()
        for uplink, (_, out) in self._receivers.items():
            seqs = {}
            with open(out) as f:
                data = f.read()
            for line in data.split("\n")[:-1]:  # the last piece may be a line being written
                if line.startswith("#"):
                    continue
                sid, seq, send_ns, _recv_ns, _port = line.split()
                if int(sid) != stream.id:
                    continue
                seq = int(seq)
                if seq in seen:
                    duplicates.add(seq)
                seen.add(seq)
                seqs[seq] = int(send_ns)
            per_uplink[uplink] = seqs
        return per_uplink, duplicates

    def result(self, stream, settle=0.2):
        """Waits for the sender, then until every packet arrived or nothing new arrived for
        `settle` s (losses are legitimate in failover tests). Returns a StreamResult."""
        stream.wait()
        last_total, last_change = -1, time.monotonic()
        deadline = time.monotonic() + 5
        while True:
            per_uplink, duplicates = self._collect(stream)
            total = sum(len(s) for s in per_uplink.values())
            now = time.monotonic()
            if total != last_total:
                last_total, last_change = total, now
            if (total >= stream.count or now - last_change >= settle or now >= deadline):
                return StreamResult(stream, per_uplink, duplicates)
            time.sleep(0.01)

    def run_stream(self, port, count=1000, rate=1000.0, family=4, role="lan", uid=None):
        return self.result(self.send(port, count, rate, family, role=role, uid=uid))

    # -- faults --

    def set_carrier(self, uplink, up):
        """Sets the far end of `uplink` admin down/up, so the GW's interface loses/regains
        carrier; returns once the GW sees the change (monotonic time of the change)."""
        role = self._uplink_role(uplink)
        if up:
            self._configure_peer_l3(uplink)
        else:
            self.ip(role, "link", "set", "up0", "down")
        t = time.monotonic()

        def gw_sees_it():
            flags = self.gw_link(uplink)["flags"]
            return ("LOWER_UP" in flags) == up and ("NO-CARRIER" in flags) != up

        wait_until(gw_sees_it, 5, f"GW's {uplink} to {'gain' if up else 'lose'} carrier")
        return t

    def blackhole(self, uplink, on):
        """Silently drops everything arriving at the far end of `uplink` (nftables, input and
        forward hooks); on=False removes the table again. Returns the monotonic time."""
        ns = self.ns[self._uplink_role(uplink)]
        if on:
            ruleset = ("table inet pst_blackhole {\n"
                       " chain input { type filter hook input priority -300; "
                       "iifname \"up0\" drop; }\n"
                       " chain forward { type filter hook forward priority -300; "
                       "iifname \"up0\" drop; }\n}\n")
            run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset)
        else:
            run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "pst_blackhole"])
        return time.monotonic()

    # -- observation --

    def gw_link(self, ifname):
        return json.loads(self.ip("gw", "-j", "link", "show", "dev", ifname).stdout)[0]

    def kernel_rules(self):
        """{4: [...], 6: [...]}: `ip -j -d rule` of the GW (-d adds "protocol")."""
        return {4: json.loads(self.ip("gw", "-j", "-d", "-4", "rule", "show").stdout),
                6: json.loads(self.ip("gw", "-j", "-d", "-6", "rule", "show").stdout)}

    def kernel_routes(self, table="all"):
        """{4: [...], 6: [...]}: `ip -j -d route show table <table>` of the GW."""
        return {4: json.loads(self.ip("gw", "-j", "-d", "-4", "route", "show", "table",
                                      str(table)).stdout or "[]"),
                6: json.loads(self.ip("gw", "-j", "-d", "-6", "route", "show", "table",
                                      str(table)).stdout or "[]")}

    def owned_state(self, rule_priority_base=10000, protocol="201"):
        """The GW's rules in [base, base+1000) with `protocol` and its routes (any table) with
        `protocol`: {"rules": {4: [...], 6: [...]}, "routes": {4: [...], 6: [...]}}, each list
        sorted so that two snapshots compare with ==."""
        def key(obj):
            return json.dumps(obj, sort_keys=True)

        rules, routes = self.kernel_rules(), self.kernel_routes()
        return {
            "rules": {f: sorted((r for r in rules[f]
                                 if rule_priority_base <= r["priority"] < rule_priority_base + 1000
                                 and str(r.get("protocol")) == protocol), key=key)
                      for f in (4, 6)},
            "routes": {f: sorted((r for r in routes[f] if str(r.get("protocol")) == protocol),
                                 key=key) for f in (4, 6)},
        }

    def http_get(self, path, timeout=2.0):
        """(status code, body bytes) of GET path on the daemon's API inside the GW."""
        sock = in_netns(self.ns["gw"], lambda: socket.create_connection(
            ("127.0.0.1", API_PORT), timeout=timeout))
        conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=timeout)
        conn.sock = sock
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def http(self, method, path, body=None, token=None, timeout=5.0, headers=None):
        """(status code, parsed JSON or None, raw bytes) of any API call inside the GW. `body`:
        a dict/list (sent as JSON) or bytes/str (sent as is)."""
        sock = in_netns(self.ns["gw"], lambda: socket.create_connection(
            ("127.0.0.1", API_PORT), timeout=timeout))
        conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=timeout)
        conn.sock = sock
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return resp.status, parsed, raw
        finally:
            conn.close()

    def write_token(self, token="s3cret-test-token"):
        """Writes a mode-0600 token file for --token-file; returns (path, token)."""
        path = os.path.join(self.tmpdir, "token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return path, token

    def cli(self, binary, *args, check=True, timeout=30):
        """Runs the `pathsteer` CLI inside the GW against the test daemon's API."""
        cmd = ["nsenter", f"--net=/run/netns/{self.ns['gw']}", "--", binary, *args]
        env = dict(os.environ, PATHSTEER_API=f"http://127.0.0.1:{API_PORT}")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def status(self):
        """GET /v1/status as a dict. Raises DaemonExited at once if the daemon died."""
        if self.daemon:
            self.daemon.check_alive()
        code, body = self.http_get("/v1/status")
        if code != 200:
            raise http.client.HTTPException(f"/v1/status answered {code}: {body[:200]!r}")
        return json.loads(body)

    def wan(self, name, status=None):
        status = status or self.status()
        return next(w for w in status["wans"] if w["name"] == name)

    def klass(self, name, status=None):
        status = status or self.status()
        return next(c for c in status["classes"] if c["name"] == name)

    def wait_all_up(self, timeout=20):
        """Waits until the daemon is synced and every uplink is up; returns that status."""
        def ready():
            st = self.status()
            return st if st.get("synced") and st["wans"] and all(
                w["state"] == "up" for w in st["wans"]) else None

        return wait_until(ready, timeout, "status: synced and every wan up")

    # -- daemon --

    def start_daemon(self, binary, policy, extra_args=(), timeout=20):
        self.daemon = Daemon(self, binary, policy, extra_args)
        self.daemon.start(timeout)
        return self.daemon

    def stop_daemon(self):
        return self.daemon.stop() if self.daemon else None

    # -- diagnostics --

    def diagnostics(self):
        """Text dump of the GW's kernel state, the API status and the daemon log."""
        out = [f"===== diagnostics of {self.run_id} ====="]
        cmds = [("gw", "-d", "rule"), ("gw", "-d", "-6", "rule"),
                ("gw", "route", "show", "table", "all"), ("gw", "-6", "route", "show", "table",
                                                          "all"),
                ("gw", "-br", "link"), ("gw", "neigh")]
        for cmd in cmds:
            try:
                res = self.ip(*cmd, check=False)
                out.append(f"--- ip -n gw {' '.join(cmd[1:])}\n{res.stdout}{res.stderr}")
            except Exception as e:
                out.append(f"--- ip {cmd}: {e}")
        res = run(["tc", "-n", self.ns["gw"], "filter", "show", "dev", "lan0", "ingress"],
                  check=False)
        out.append(f"--- tc filter show dev lan0 ingress\n{res.stdout}{res.stderr}")
        if self.daemon:
            try:
                out.append("--- /v1/status\n" + json.dumps(self.status(), indent=1))
            except Exception as e:
                out.append(f"--- /v1/status: {e!r}")
            out.append("--- pathsteerd log (tail)\n" + self.daemon.log_tail())
        return "\n".join(out)


# --------------------------------------------------------------------------------------------
# unittest glue


def require_root():
    """Skips (loudly) when not root; under CI=true not being root is a failure."""
    if os.geteuid() == 0:
        return
    msg = "the netns tests need root (network namespaces, nftables, bpffs)"
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{msg}, and CI=true: refusing to skip")
    print(f"\n{'#' * 72}\n# {SKIP_BANNER}: {msg}\n{'#' * 72}", file=sys.stderr)
    raise unittest.SkipTest(msg)


class NetnsTestCase(unittest.TestCase):
    """A fresh Topology per test (self.topo); diagnostics on failure; the daemon, if started
    with start_daemon(), must exit 0 on SIGTERM. A class that sets needs = ("PATHSTEERD",
    "PATHSTEER") gets self.bin[...] resolved before any namespace is built (a missing binary
    fails the test at once, without a topology dump)."""

    needs = ("PATHSTEERD",)
    uplinks = UPLINKS  # ("wan1", "wan2", "wan3") for a third uplink namespace
    _BINARY_NAMES = {"PATHSTEERD": "pathsteerd", "PATHSTEER": "pathsteer"}

    @classmethod
    def setUpClass(cls):
        require_root()

    def run(self, result=None):
        self._result = result  # to tell in tearDown whether this test has failed
        return super().run(result)

    def _problems(self):
        r = getattr(self, "_result", None)
        return None if r is None else len(r.failures) + len(r.errors)

    def setUp(self):
        self._problems_before = self._problems()
        self.bin = {}
        for env_var in self.needs:
            try:
                self.bin[env_var] = find_binary(env_var, self._BINARY_NAMES[env_var])
            except FileNotFoundError as e:
                raise self.failureException(f"{self._BINARY_NAMES[env_var]} is missing: "
                                            f"{e}") from None
        self.topo = Topology(uplinks=self.uplinks)
        self.addCleanup(self.topo.teardown)
        self.topo.setup()

    def tearDown(self):
        problems = self._problems()
        failed = problems is None or problems > self._problems_before
        if failed:
            print("\n" + self.topo.diagnostics(), file=sys.stderr)
        rc = self.topo.stop_daemon()
        if rc not in (None, 0) and not failed:
            self.fail(f"pathsteerd exited with {rc} on SIGTERM (want 0); log tail:\n"
                      f"{self.topo.daemon.log_tail()}")

    def assert_streams_land(self, expected, count):
        """Sends `count` packets at 1,000/s to each port of `expected` ({port: uplink}), over
        IPv4 and IPv6 at once; each stream must arrive whole on its uplink and not at all on
        the other. Returns the number of streams sent."""
        streams = [self.topo.send(port, count=count, rate=1000, family=family)
                   for family in (4, 6) for port in expected]
        for stream in streams:
            result = self.topo.result(stream)
            want = expected[stream.port]
            with self.subTest(port=stream.port, family=stream.family):
                self.assertEqual(result.count(want), count, result.describe())
                for other in self.topo.uplinks:
                    if other != want:
                        self.assertEqual(result.count(other), 0, result.describe())
        return len(streams)

    def private_policy(self, name="policy.yaml"):
        """A copy of two-wan.yaml in this run's temp dir, for tests that edit the policy the
        daemon runs; returns (path, text)."""
        path = os.path.join(self.topo.tmpdir, name)
        shutil.copy(two_wan_policy(self.topo.tmpdir), path)
        with open(path) as f:
            return path, f.read()

    def start_daemon(self, policy=None, extra_args=()):
        """Starts pathsteerd ($PATHSTEERD) in the GW with `policy` (default two-wan.yaml) and
        waits for /healthz."""
        policy = policy or two_wan_policy(self.topo.tmpdir)
        return self.topo.start_daemon(self.bin["PATHSTEERD"], policy, extra_args)
