#!/usr/bin/env python3
"""4,096 classes, each on its own port, plus a 1,000,000-prefix class (issue 18): streams on the
first and the last class's ports leave on the uplinks their classes name; a reload that flips
the preference of every other class (the first and the last included) moves new flows only, the
running streams keep their uplinks; the time to load the 4,096-class policy (from a 2-class one)
and to apply a one-class change are printed (measured from SIGHUP to the daemon's status showing
the new generation, so they include parsing, planning, the BPF map writes and the status poll).

The big class comes after the 4,096 and before `default`: `dst_file: big.txt` (relative to the
policy's directory) lists 999,999 /28s of 10.0.0.0/8 (no address the rig uses) and, on its last
line, the receivers' address. Traffic to that address on a port no class claims takes the big
class's uplink (wan2, where `default` says wan1), the first and last port classes still win
their ports (first match), and the prefixes are in the classifier's dst trie."""

import os
import signal
import subprocess
import sys
import time
import unittest

import fixture
from fixture import NetnsTestCase, wait_until

CLASSES = 4096
FIRST_PORT, LAST_PORT = fixture.RECV_PORTS[0], fixture.RECV_PORTS[-1]

HEAD = """\
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
"""


def port_of(i):
    """Class i's port: the receivers' first and last port at both ends, 10000+ between."""
    if i == 0:
        return FIRST_PORT
    if i == CLASSES - 1:
        return LAST_PORT
    return 10000 + i


BIG_PREFIXES = 1_000_000
BIG_FILE = "big.txt"
# A port no class claims: only the big class's dst (and `default`) can take it.
FREE_PORT = fixture.RECV_PORTS[1]


def write_big_file(path):
    """BIG_PREFIXES - 1 /28s of 10.0.0.0/8 (16 per /24), then the receivers' address, last."""
    n = BIG_PREFIXES - 1
    fourth = [f".{z}/28\n" for z in range(0, 256, 16)]
    with open(path, "w") as f:
        f.write("# issue 18: a million prefixes; the rig's receivers at the end\n")
        for x in range(256):
            for y in range(256):
                if n <= 0:
                    break
                head = f"10.{x}.{y}"
                take = min(n, 16)
                f.write("".join(head + z for z in fourth[:take]))
                n -= take
        f.write(f"{fixture.DST_V4}\n")


def big_listed(i):
    """An address in the i-th /28 of the big file (0-based), or just past the listed ones."""
    a = (10 << 24) + i * 16 + 1
    return ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))


def policy(classes, flipped=(), changed=None, big=False):
    """classes c0..: class i prefers wan1 (wan2 when i is in `flipped`); `changed`: one class
    whose port moves to 60000; `big`: the big class (wan2 first) before `default`."""
    lines = [HEAD]
    for i in range(classes):
        paths = "[wan2, wan1]" if i in flipped else "[wan1, wan2]"
        port = 60000 if i == changed else port_of(i) if classes == CLASSES else 10000 + i
        lines.append(f"  c{i}: {{ match: [ {{ proto: udp, dport: {port} }} ], "
                     f"strategy: failover, paths: {paths} }}\n")
    if big:
        lines.append(f"  big: {{ match: [ {{ dst_file: {BIG_FILE} }} ], "
                     "strategy: failover, paths: [wan2, wan1] }\n")
    lines.append("  default: { strategy: failover, paths: [wan1, wan2] }\n")
    return "".join(lines)


class ManyClasses(NetnsTestCase):

    needs = ("PATHSTEERD", "PATHSTEER")

    def reload(self, path, text):
        gen = self.topo.status()["policy_generation"]
        with open(path, "w") as f:
            f.write(text)
        t0 = time.monotonic()
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.topo.status()["policy_generation"] > gen, 30,
                   "the reload to be adopted", interval=0.005)
        return time.monotonic() - t0

    def test_four_thousand_classes(self):
        path = os.path.join(self.topo.tmpdir, "many.yaml")
        with open(path, "w") as f:
            f.write(policy(2))
        t0 = time.monotonic()
        write_big_file(os.path.join(self.topo.tmpdir, BIG_FILE))
        gen_s = time.monotonic() - t0
        self.start_daemon(path)
        self.topo.wait_all_up()

        # `pathsteer validate` reads the prefix file beside the policy, as the daemon will (a
        # copy: writing the daemon's own file would reload it before the timed load below).
        candidate = os.path.join(self.topo.tmpdir, "candidate.yaml")
        with open(candidate, "w") as f:
            f.write(policy(CLASSES, big=True))
        t0 = time.monotonic()
        res = subprocess.run([self.bin["PATHSTEER"], "validate", candidate], capture_output=True,
                             text=True, timeout=60)
        validate_s = time.monotonic() - t0
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout.strip(),
                         f"{candidate}: valid (2 wans, {CLASSES + 2} classes)")

        load_s = self.reload(path, policy(CLASSES, big=True))
        st = self.topo.status()
        self.assertEqual(len([c for c in st["classes"] if c["name"].startswith("c")]), CLASSES)
        self.assertEqual(self.topo.klass(f"c{CLASSES - 1}", st)["uplink"], "wan1")
        self.assertEqual(self.topo.klass("big", st)["uplink"], "wan2")
        # The classifier itself (POST /v1/explain runs it on the live maps): the file's first and
        # last /28 are in its dst trie, the /28 after them is not.
        for dst, want in ((big_listed(0), "big"), (big_listed(BIG_PREFIXES - 2), "big"),
                          (big_listed(BIG_PREFIXES - 1), "default")):
            code, ex, raw = self.topo.http("POST", "/v1/explain", {
                "src": fixture.LAN_V4, "dst": dst, "proto": "udp", "dport": FREE_PORT})
            self.assertEqual(code, 200, raw)
            self.assertEqual(ex["class"], want, f"explain {dst}: {ex}")

        # Both ends steer right, and keep their uplinks across a reload flipping half; the big
        # class (wan2) takes the receivers' address on a port no class claims.
        first = self.topo.send(FIRST_PORT, count=1500, rate=500)
        last = self.topo.send(LAST_PORT, count=1500, rate=500)
        r = self.topo.run_stream(FREE_PORT, count=50, rate=500)
        self.assertEqual(r.count("wan2"), 50, f"port {FREE_PORT} (the big class): {r.describe()}")
        wait_until(lambda: len(self.topo.received(first).get("wan1", {})) > 100
                   and len(self.topo.received(last).get("wan1", {})) > 100, 10,
                   "both streams to arrive on wan1")
        flipped = set(range(0, CLASSES, 2)) | {CLASSES - 1}
        flip_s = self.reload(path, policy(CLASSES, flipped, big=True))
        wait_until(lambda: self.topo.klass("c0")["uplink"] == "wan2"
                   and self.topo.klass(f"c{CLASSES - 1}")["uplink"] == "wan2", 10,
                   "the flipped classes to prefer wan2")
        for stream in (first, last):
            r = self.topo.result(stream)
            self.assertEqual(r.count("wan2"), 0, f"a running stream moved: {r.describe()}")
            self.assertGreater(r.count("wan1"), 1000, r.describe())
        for port, uplink in ((FIRST_PORT, "wan2"), (LAST_PORT, "wan2"), (FREE_PORT, "wan2")):
            r = self.topo.run_stream(port, count=50, rate=500)
            self.assertEqual(r.count(uplink), 50, f"new flow on port {port}: {r.describe()}")
        self.assertEqual(self.topo.klass("c1")["uplink"], "wan1")

        # One class changed.
        one_s = self.reload(path, policy(CLASSES, flipped, changed=7, big=True))
        with open(f"/proc/{self.topo.daemon.proc.pid}/status") as f:
            peak = next((line.split()[1] for line in f if line.startswith("VmHWM:")), "?")
        print(f"\n4,096 classes and a {BIG_PREFIXES:,}-prefix dst_file class: load (from 2 "
              f"classes) {load_s * 1000:.0f} ms, reload flipping half {flip_s * 1000:.0f} ms, "
              f"one class changed {one_s * 1000:.0f} ms (SIGHUP to the new generation in "
              f"status); pathsteerd's peak RSS {peak} kB; pathsteer validate "
              f"{validate_s * 1000:.0f} ms; writing the prefix file {gen_s * 1000:.0f} ms",
              file=sys.stderr)
        # The daemon's own account of each reload (parse and check / plan and apply).
        with open(self.topo.daemon.log_path, errors="replace") as f:
            for line in f:
                if "in force after" in line:
                    print("  pathsteerd: " + line.strip(), file=sys.stderr)

        # Beyond capacity (8,192 classes and a default): `pathsteer validate` refuses it with
        # the numbers, and so does a reload, which leaves the running policy in force.
        too_many = os.path.join(self.topo.tmpdir, "too-many.yaml")
        with open(too_many, "w") as f:
            f.write(policy(8192))
        want = "the data plane cannot hold this policy: 8193 classes exceed the capacity of 8192"
        res = subprocess.run([self.bin["PATHSTEER"], "validate", too_many], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(res.returncode, 1, res)
        self.assertEqual(res.stderr.strip(), f"{too_many}: {want}")
        before = self.topo.status()
        with open(path, "w") as f:
            f.write(policy(8192))
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.topo.status()["policy_rejections"] > before["policy_rejections"],
                   30, "the reload to be refused")
        st = self.topo.status()
        self.assertEqual(st["policy_errors"], [f"{path}: {want}"])
        self.assertEqual(st["policy_generation"], before["policy_generation"])
        self.assertEqual(len(st["classes"]), len(before["classes"]))
        r = self.topo.run_stream(FIRST_PORT, count=50, rate=500)
        self.assertEqual(r.count("wan2"), 50, f"c0 after the refused reload: {r.describe()}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
