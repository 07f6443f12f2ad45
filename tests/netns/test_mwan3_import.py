#!/usr/bin/env python3
"""`pathsteer import mwan3` end to end: an mwan3 config with two balanced fibre links (weights
3:1, metric 1) and an LTE backup (metric 2) is converted by the CLI (exit 0: nothing
approximated) and the real daemon runs the result on a three-uplink topology (fibre1 = wan1,
fibre2 = wan2, lte = wan3):
  * 400 new flows of the balanced rule split 75 % / 25 % over the fibres within 8 points, and
    none takes the LTE link;
  * with both fibres' carrier gone new flows go to LTE; when one fibre returns they go back to it;
  * the sticky rule (mwan3 `sticky 1`, `timeout 600`, here udp port 5003) keeps one source on
    one fibre across 100 new flows, where the same source's flows of the balanced rule spread.
Flows are UDP datagrams from distinct source ports of the LAN host (one socket each); the far
ends' receivers say which uplink each flow took."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import fixture
from fixture import DST_V4, LAN_V4, NetnsTestCase, wait_until

MWAN3 = """\
config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'fibre1'
	option enabled '1'
	list track_ip '203.0.113.10'
	option interval '1'
	option timeout '1'
	option down '2'
	option up '2'

config interface 'fibre2'
	option enabled '1'
	list track_ip '203.0.113.10'
	option interval '1'
	option timeout '1'
	option down '2'
	option up '2'

config interface 'lte'
	option enabled '1'
	list track_ip '203.0.113.10'
	option interval '1'
	option timeout '1'
	option down '2'
	option up '2'

config member 'fibre1_m1_w3'
	option interface 'fibre1'
	option metric '1'
	option weight '3'

config member 'fibre2_m1_w1'
	option interface 'fibre2'
	option metric '1'
	option weight '1'

config member 'lte_m2_w1'
	option interface 'lte'
	option metric '2'
	option weight '1'

config policy 'fibre_then_lte'
	list use_member 'fibre1_m1_w3'
	list use_member 'fibre2_m1_w1'
	list use_member 'lte_m2_w1'

config rule 'sticky_app'
	option proto 'udp'
	option dest_port '5003'
	option sticky '1'
	option timeout '600'
	option use_policy 'fibre_then_lte'

config rule 'default_rule'
	option dest_ip '0.0.0.0/0'
	option family 'ipv4'
	option use_policy 'fibre_then_lte'
"""

NETWORK = """\
config interface 'lan'
	option device 'lan0'
	option proto 'static'

config interface 'fibre1'
	option device 'wan1'
	option proto 'dhcp'

config interface 'fibre2'
	option device 'wan2'
	option proto 'dhcp'

config interface 'lte'
	option device 'wan3'
	option proto 'dhcp'
"""

DEVICE = {"fibre1": "wan1", "fibre2": "wan2", "lte": "wan3"}
BALANCED_PORT, STICKY_PORT = 5001, 5003

# Runs in the LAN namespace: one socket (so one source port, one flow) per stream id, each
# sends `per_flow` datagrams in udp_tool's format; prints the stream ids it used.
FLOWS = r"""
import json, socket, struct, sys, time
dst, port, first, n, per_flow = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
header = struct.Struct("!4sIIq")
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A source port of its own per stream id (unique in the test): an ephemeral port could
    # repeat an earlier step's 5-tuple, whose flow entry keeps its (live) uplink.
    s.bind(("0.0.0.0", 20000 + (first + i) % 40000))
    for seq in range(per_flow):
        s.sendto(header.pack(b"PST1", first + i, seq, time.monotonic_ns()) + bytes(44),
                 (dst, port))
    socks.append(s)
    if i % 50 == 49:
        time.sleep(0.01)  # keep the far ends' receive queues from overflowing
print(json.dumps([first + i for i in range(n)]))
"""


class Mwan3Import(NetnsTestCase):
    needs = ("PATHSTEERD", "PATHSTEER")
    uplinks = ("wan1", "wan2", "wan3")

    def setUp(self):
        super().setUp()
        tmp = self.topo.tmpdir
        mwan3, network = os.path.join(tmp, "mwan3"), os.path.join(tmp, "network")
        with open(mwan3, "w") as f:
            f.write(MWAN3)
        with open(network, "w") as f:
            f.write(NETWORK)
        self.policy = os.path.join(tmp, "imported.yaml")
        proc = subprocess.run([self.bin["PATHSTEER"], "import", "mwan3", mwan3, "--network",
                               network, "-o", self.policy], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 0, f"every option carried over:\n{proc.stderr}")
        self.assertEqual(proc.stderr, "")
        with open(self.policy) as f:
            text = f.read()
        print(f"\n--- converted policy\n{text}", file=sys.stderr)
        self.assertIn("paths: [[fibre1, fibre2], lte]", text)
        self.assertIn("source_affinity_s: 600", text)
        self.start_daemon(policy=self.policy)
        self.topo.wait_all_up()
        self.next_stream = 1 << 30

    def flows(self, port, n, per_flow=3):
        """Starts `n` new flows from the LAN host to DST_V4:port; returns {uplink: flows} once
        every flow has been seen by a far end (a flow counts where its first datagram went)."""
        first = self.next_stream
        self.next_stream += n
        out = fixture.run(["ip", "netns", "exec", self.topo.ns["lan"], sys.executable, "-c",
                           FLOWS, DST_V4, str(port), str(first), str(n), str(per_flow)],
                          timeout=60).stdout
        ids = set(json.loads(out))

        def landed():
            where = {}
            for uplink, (_, path) in self.topo._receivers.items():
                with open(path) as f:
                    lines = f.read().split("\n")[:-1]
                for line in lines:
                    if line.startswith("#"):
                        continue
                    sid = int(line.split()[0])
                    if sid in ids:
                        where.setdefault(sid, set()).add(uplink)
            return where if len(where) == len(ids) else None

        where = wait_until(landed, 10, f"all {n} flows to port {port} to arrive")
        split = [w for w in where.values() if len(w) > 1]
        self.assertEqual(split, [], "a flow changed uplink midway")
        counts = {u: 0 for u in self.topo.uplinks}
        for w in where.values():
            counts[next(iter(w))] += 1
        return counts

    def klass(self, name):
        return self.topo.klass(name)

    def test_weights_tiers_and_sticky(self):
        # 1. New flows split 3:1 over the fibres, none on LTE.
        counts = self.flows(BALANCED_PORT, 400)
        print(f"400 balanced flows: {counts}", file=sys.stderr)
        self.assertEqual(counts["wan3"], 0, counts)
        self.assertAlmostEqual(100.0 * counts["wan1"] / 400, 75.0, delta=8.0, msg=str(counts))
        self.assertAlmostEqual(100.0 * counts["wan2"] / 400, 25.0, delta=8.0, msg=str(counts))

        # 2. The sticky rule: one source, 100 new flows, one uplink; the same source's
        # balanced flows (above) used both fibres, so the sameness is the affinity's doing.
        self.assertGreater(counts["wan2"], 0)
        sticky = self.flows(STICKY_PORT, 100)
        print(f"100 sticky flows from {LAN_V4}: {sticky}", file=sys.stderr)
        used = [u for u, n in sticky.items() if n]
        self.assertEqual(len(used), 1, sticky)
        self.assertIn(used[0], ("wan1", "wan2"))

        # 3. Both fibres down: new flows take the LTE tier.
        self.topo.set_carrier("wan1", False)
        self.topo.set_carrier("wan2", False)
        wait_until(lambda: self.klass("default_rule")["uplink"] == "lte", 5,
                   "class default_rule on the LTE tier")
        down = self.flows(BALANCED_PORT, 40)
        print(f"40 flows with both fibres down: {down}", file=sys.stderr)
        self.assertEqual(down, {"wan1": 0, "wan2": 0, "wan3": 40})

        # 4. One fibre back: new flows return to it (not LTE).
        self.topo.set_carrier("wan2", True)
        wait_until(lambda: self.topo.wan("fibre2")["state"] == "up", 15, "fibre2 up again")
        wait_until(lambda: self.klass("default_rule").get("uplink") == "fibre2", 5,
                   "class default_rule back on fibre2")
        back = self.flows(BALANCED_PORT, 40)
        print(f"40 flows with fibre2 back: {back}", file=sys.stderr)
        self.assertEqual(back, {"wan1": 0, "wan2": 40, "wan3": 0})


class Mwan3ImportCli(unittest.TestCase):
    """The CLI's contract (DESIGN §12), no namespaces needed: exit 0 when every option was
    carried over, 3 with one stderr line per approximation, 1 for a file it cannot read, and
    --strict turning approximations into errors with nothing written."""

    def setUp(self):
        self.cli = fixture.find_binary("PATHSTEER", "pathsteer")
        self.tmp = tempfile.mkdtemp(prefix="pst-mwan3-cli-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp], check=False))
        self.network = self.write("network", NETWORK)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_cli(self, *args):
        return subprocess.run([self.cli, "import", "mwan3", *args], capture_output=True,
                              text=True, timeout=30)

    def test_exact_approximated_unreadable_and_strict(self):
        exact = self.write("exact", MWAN3)
        p = self.run_cli(exact, "--network", self.network)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertIn("version: 1", p.stdout)

        approx = self.write("approx", MWAN3.replace(
            "config rule 'sticky_app'", "config rule 'by_set'\n\toption ipset 'streaming'\n"
            "\toption use_policy 'fibre_then_lte'\n\nconfig rule 'sticky_app'"))
        p = self.run_cli(approx, "--network", self.network)
        self.assertEqual(p.returncode, 3, p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertRegex(lines[0], rf"^{approx}:\d+: option 'ipset' of rule 'by_set': .*domain:")

        out = os.path.join(self.tmp, "strict.yaml")
        p = self.run_cli(approx, "--network", self.network, "--strict", "-o", out)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        self.assertFalse(os.path.exists(out), "--strict writes nothing")

        p = self.run_cli(os.path.join(self.tmp, "missing"))
        self.assertEqual(p.returncode, 1)
        broken = self.write("broken", "config interface 'wan'\n\toption enabled '1\n")
        p = self.run_cli(broken)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{broken}:2:", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
