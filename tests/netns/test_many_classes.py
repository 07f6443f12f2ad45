#!/usr/bin/env python3
"""4,096 classes, each on its own port (issue 18): streams on the first and the last class's
ports leave on the uplinks their classes name; a reload that flips the preference of every
other class (the first and the last included) moves new flows only, the running streams keep
their uplinks; the time to load the 4,096-class policy (from a 2-class one) and to apply a
one-class change are printed (measured from SIGHUP to the daemon's status showing the new
generation, so they include parsing, planning, the BPF map writes and the status poll)."""

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


def policy(classes, flipped=(), changed=None):
    """classes c0..: class i prefers wan1 (wan2 when i is in `flipped`); `changed`: one class
    whose port moves to 60000."""
    lines = [HEAD]
    for i in range(classes):
        paths = "[wan2, wan1]" if i in flipped else "[wan1, wan2]"
        port = 60000 if i == changed else port_of(i) if classes == CLASSES else 10000 + i
        lines.append(f"  c{i}: {{ match: [ {{ proto: udp, dport: {port} }} ], "
                     f"strategy: failover, paths: {paths} }}\n")
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
        self.start_daemon(path)
        self.topo.wait_all_up()

        load_s = self.reload(path, policy(CLASSES))
        st = self.topo.status()
        self.assertEqual(len([c for c in st["classes"] if c["name"].startswith("c")]), CLASSES)
        self.assertEqual(self.topo.klass(f"c{CLASSES - 1}", st)["uplink"], "wan1")

        # Both ends steer right, and keep their uplinks across a reload flipping half.
        first = self.topo.send(FIRST_PORT, count=1500, rate=500)
        last = self.topo.send(LAST_PORT, count=1500, rate=500)
        wait_until(lambda: len(self.topo.received(first).get("wan1", {})) > 100
                   and len(self.topo.received(last).get("wan1", {})) > 100, 10,
                   "both streams to arrive on wan1")
        flipped = set(range(0, CLASSES, 2)) | {CLASSES - 1}
        flip_s = self.reload(path, policy(CLASSES, flipped))
        wait_until(lambda: self.topo.klass("c0")["uplink"] == "wan2"
                   and self.topo.klass(f"c{CLASSES - 1}")["uplink"] == "wan2", 10,
                   "the flipped classes to prefer wan2")
        for stream in (first, last):
            r = self.topo.result(stream)
            self.assertEqual(r.count("wan2"), 0, f"a running stream moved: {r.describe()}")
            self.assertGreater(r.count("wan1"), 1000, r.describe())
        for port, uplink in ((FIRST_PORT, "wan2"), (LAST_PORT, "wan2"),
                             (fixture.RECV_PORTS[1], "wan1")):
            r = self.topo.run_stream(port, count=50, rate=500)
            if port == fixture.RECV_PORTS[1]:
                continue  # port 5002 belongs to no class of this policy (default: wan1)
            self.assertEqual(r.count(uplink), 50, f"new flow on port {port}: {r.describe()}")
        self.assertEqual(self.topo.klass("c1")["uplink"], "wan1")

        # One class changed.
        one_s = self.reload(path, policy(CLASSES, flipped, changed=7))
        print(f"\n4,096 classes: load (from 2 classes) {load_s * 1000:.0f} ms, reload flipping "
              f"half {flip_s * 1000:.0f} ms, one class changed {one_s * 1000:.0f} ms "
              f"(SIGHUP to the new generation in status)", file=sys.stderr)

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
