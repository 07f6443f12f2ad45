#!/usr/bin/env python3
"""An overlay (a tunnel riding on the uplinks) end to end.

The fixture's topology plus INET (the internet between the GW's providers and the far end) and
FAR, a host behind one link with a default route, as a VXLAN endpoint in a data centre or a
cloud has:

    GW wan1 ── up1 ──┐
                     INET ── FAR: tunnel endpoint 198.51.100.77 (lo), server 192.0.2.99 (lo)
    GW wan2 ── up2 ──┘

GW and FAR share a VXLAN tunnel (vx0, 10.99.0.2 / 10.99.0.1; this kernel has no ipip, gre or
WireGuard, and VXLAN is the harder case anyway: its outer packets keep the inner packet's
mark). The policy declares it as overlay tun0 with underlays [wan1, wan2] (no probes of its
own: its health follows its carrier and its underlay's); class `tunneled` (dst 192.0.2.99) has
paths [tun0, wan1]. The uplink namespaces have no route to 192.0.2.99, so whatever reaches the
server came through the tunnel. Which uplink the tunnel's outer packets took is read from INET's
per-link receive counters.

FAR sits behind INET, not directly on a link per uplink, because Linux VXLAN learning moves
the GW's entry to its new outer address in place but keeps the entry's per-CPU cached route:
a far end with a different route to each of the GW's uplink addresses sends to the new one
along the route to the old one after a move (docs/PATH_MODEL.md, "The far end of a VXLAN
overlay"). Behind one next hop the cached route still leads there, as on a real far end with
one upstream.

Checks: the class rides the tunnel over wan1; the owned `to 198.51.100.77 lookup <wan1's
table>` rule is in place; cutting wan1's carrier moves the outer packets to wan2 (the class
stays on the tunnel, status reports underlay wan2 / preferred-down) and traffic keeps flowing;
wan1's return moves them back.

With probes of its own through the tunnel (test_restart_remembers_a_dead_overlay), an overlay
found down is remembered across a restart like an uplink: the restarted daemon keeps the class
off it from its first plan instead of sending traffic into it until its probes time out."""

import json
import os
import subprocess
import sys
import time
import unittest

from fixture import UDP_TOOL, NetnsTestCase, run, wait_until

REMOTE = "198.51.100.77"
SERVER = "192.0.2.99"
PORT = 5003
# Packets an idle link of INET still carries (the uplink namespace's own ARP, ND and MLD).
BACKGROUND = 20
# INET's link to each uplink's namespace: (uplink namespace, its address, INET's address).
INET_LINKS = {"wan1": ("up1", "172.31.1.1", "172.31.1.2"),
              "wan2": ("up2", "172.31.2.1", "172.31.2.2")}
INET_FAR, FAR_INET = "172.31.0.1", "172.31.0.2"  # the INET - FAR link

POLICY = """version: 1
lan_interfaces: [lan0]
wans:
  wan1:
    interface: wan1
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
  wan2:
    interface: wan2
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
overlays:
  tun0:
    interface: vx0
    remote: {remote}
    underlays: [wan1, wan2]
classes:
  tunneled:
    match: [ {{ dst: {server}/32 }} ]
    paths: [tun0, wan1]
  default:
    paths: [wan1, wan2]
"""


class Overlay(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.inet = f"{self.topo.run_id}-inet"
        self.far = f"{self.topo.run_id}-far"
        for ns in (self.inet, self.far):
            run(["ip", "netns", "add", ns])
            self.topo._created_ns.append(ns)  # torn down with the rest
        self.build_far()
        self.start_far_receiver()
        path = os.path.join(self.topo.tmpdir, "overlay.yaml")
        with open(path, "w") as f:
            f.write(POLICY.format(remote=REMOTE, server=SERVER))
        self.start_daemon(path)
        self.topo.wait_all_up()

    def far_ip(self, *args):
        return run(["ip", "-n", self.far, *args])

    def inet_ip(self, *args):
        return run(["ip", "-n", self.inet, *args])

    def build_far(self):
        t = self.topo
        no_rp_filter = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
        for ns in (self.inet, self.far):
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *no_rp_filter])
        run(["ip", "netns", "exec", self.inet, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # FAR: one link, a default route (as a host in a data centre or a cloud has).
        self.far_ip("addr", "add", f"{REMOTE}/32", "dev", "lo")
        self.far_ip("addr", "add", f"{SERVER}/32", "dev", "lo")
        run(["ip", "link", "add", "far0", "netns", self.inet, "type", "veth", "peer", "name",
             "inet0", "netns", self.far])
        self.inet_ip("addr", "add", f"{INET_FAR}/30", "dev", "far0")
        self.inet_ip("link", "set", "far0", "up")
        self.far_ip("addr", "add", f"{FAR_INET}/30", "dev", "inet0")
        self.far_ip("link", "set", "inet0", "up")
        self.far_ip("route", "add", "default", "via", INET_FAR)
        self.inet_ip("route", "add", f"{REMOTE}/32", "via", FAR_INET)
        # INET routes each of the GW's uplink prefixes to that uplink's namespace, which
        # routes the tunnel's remote to INET (but not the server: only the tunnel reaches it).
        for n, (uplink, (role, up_addr, inet_addr)) in enumerate(INET_LINKS.items(), start=1):
            run(["ip", "link", "add", "inet0", "netns", t.ns[role], "type", "veth", "peer",
                 "name", role, "netns", self.inet])
            t.ip(role, "addr", "add", f"{up_addr}/30", "dev", "inet0")
            t.ip(role, "link", "set", "inet0", "up")
            t.ip(role, "route", "add", f"{REMOTE}/32", "via", inet_addr)
            t.sysctl(role, "net.ipv4.ip_forward=1", *no_rp_filter)
            self.inet_ip("addr", "add", f"{inet_addr}/30", "dev", role)
            self.inet_ip("link", "set", role, "up")
            self.inet_ip("route", "add", f"100.64.{n}.0/24", "via", up_addr)
        # The tunnel. GW: no local address and no underlying device, so the outer packets
        # take whatever uplink the routing (pathsteer's rules) says. FAR: floods to both of
        # the GW's uplink addresses and learns where the GW is from what arrives.
        t.ip("gw", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", REMOTE,
             "dstport", "4789")
        t.ip("gw", "addr", "add", "10.99.0.2/24", "dev", "vx0")
        t.ip("gw", "link", "set", "vx0", "up")
        t.sysctl("gw", "net.ipv4.conf.vx0.rp_filter=0")
        self.far_ip("link", "add", "vx0", "type", "vxlan", "id", "42", "local", REMOTE,
                    "dstport", "4789")
        for n in (1, 2):
            run(["bridge", "-n", self.far, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0",
                 "dst", f"100.64.{n}.2"])
        self.far_ip("addr", "add", "10.99.0.1/24", "dev", "vx0")
        self.far_ip("link", "set", "vx0", "up")
        self.far_ip("route", "add", "192.168.77.0/24", "via", "10.99.0.2")

    def start_far_receiver(self):
        out = os.path.join(self.topo.tmpdir, "recv-far.txt")
        proc = subprocess.Popen(["ip", "netns", "exec", self.far, sys.executable, UDP_TOOL,
                                 "recv", "--out", out, "--port", str(PORT)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                start_new_session=True)
        # The fixture stops its receivers and reads them all when collecting a stream.
        self.topo._receivers["far"] = (proc, out)

        def ready():
            with open(out) as f:
                return f.readline() == "# ready\n"

        wait_until(ready, 10, "the receiver in FAR to bind")

    def inet_rx(self):
        """{uplink: packets INET received on its link from that uplink's namespace}."""
        out = {}
        for uplink, (role, _, _) in INET_LINKS.items():
            link = json.loads(self.inet_ip("-j", "-s", "link", "show", "dev", role).stdout)[0]
            out[uplink] = link["stats64"]["rx"]["packets"]
        return out

    def overlay(self, status=None):
        status = status or self.topo.status()
        return next(o for o in status["overlays"] if o["name"] == "tun0")

    def wait_overlay(self, underlay, timeout):
        def ready():
            o = self.overlay()
            return o if o["underlay"] == underlay and o["usable"] and o["state"] == "up" else None

        return wait_until(ready, timeout, f"status: tun0 up over {underlay}")

    def stream_through_tunnel(self, count=400):
        """Sends `count` packets to the server; returns (packets received there, INET's
        per-uplink receive deltas)."""
        before = self.inet_rx()
        stream = self.topo.send(PORT, count=count, rate=1000, dst=SERVER)
        result = self.topo.result(stream)
        after = self.inet_rx()
        delta = {u: after[u] - before[u] for u in after}
        print(f"\n{result.describe()}\nINET rx deltas per uplink: {delta}", file=sys.stderr)
        return result.count("far"), delta

    def remote_rule_table(self):
        rules = self.topo.kernel_rules()[4]
        mine = [r for r in rules if r.get("dst") == REMOTE and str(r.get("protocol")) == "201"]
        return [r.get("table") for r in mine]

    def test_outer_packets_follow_the_underlay(self):
        status = self.topo.status()
        wan_table = {w["name"]: str(w["table"]) for w in status["wans"]}
        tun = self.wait_overlay("wan1", 10)
        self.assertEqual(tun["route"], ["wan1", "tun0"], tun)
        self.assertEqual(tun["underlay_reason"], "preferred", tun)
        self.assertIsNotNone(tun["path"]["rtt_ms"], tun)
        self.assertEqual(self.topo.klass("tunneled")["uplink"], "tun0")
        self.assertEqual(self.remote_rule_table(), [wan_table["wan1"]])

        received, delta = self.stream_through_tunnel()
        self.assertEqual(received, 400, "the class's traffic did not arrive through the tunnel")
        self.assertGreaterEqual(delta["wan1"], 400, delta)
        self.assertLess(delta["wan2"], BACKGROUND, delta)

        # Cut wan1: the tunnel's outer packets move to wan2, the class stays on the tunnel.
        self.topo.set_carrier("wan1", False)
        tun = self.wait_overlay("wan2", 10)
        self.assertEqual(tun["underlay_reason"], "preferred-down", tun)
        self.assertEqual(tun["route"], ["wan2", "tun0"], tun)
        self.assertEqual(self.remote_rule_table(), [wan_table["wan2"]])
        wait_until(lambda: self.topo.klass("tunneled")["uplink"] == "tun0", 5,
                   "status: class tunneled on tun0")

        received, delta = self.stream_through_tunnel()
        self.assertEqual(received, 400, "traffic through the tunnel did not survive the move")
        self.assertGreaterEqual(delta["wan2"], 400, delta)
        self.assertLess(delta["wan1"], BACKGROUND, delta)

        # wan1 back: the outer packets return to it (hold_down_s 0).
        self.topo.set_carrier("wan1", True)
        wait_until(lambda: self.topo.wan("wan1")["state"] == "up", 10, "status: wan1 up")
        self.wait_overlay("wan1", 10)
        received, delta = self.stream_through_tunnel()
        self.assertEqual(received, 400)
        self.assertGreaterEqual(delta["wan1"], 400, delta)
        self.assertLess(delta["wan2"], BACKGROUND, delta)

    def test_restart_remembers_a_dead_overlay(self):
        self.assertEqual(self.topo.stop_daemon(), 0)
        path = os.path.join(self.topo.tmpdir, "overlay-probed.yaml")
        with open(path, "w") as f:
            f.write(POLICY.format(remote=REMOTE, server=SERVER).replace(
                "    underlays: [wan1, wan2]\n",
                "    underlays: [wan1, wan2]\n"
                "    probes: [ { method: icmp, target: 10.99.0.1 } ]\n"
                "    health: { interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }\n"))
        self.start_daemon(path)
        self.topo.wait_all_up()
        self.wait_overlay("wan1", 10)
        wait_until(lambda: self.topo.klass("tunneled")["uplink"] == "tun0", 5, "class on tun0")

        # The far end stops answering the overlay's probes: tun0 goes down, the class
        # falls back to wan1.
        self.far_ip("addr", "del", "10.99.0.1/24", "dev", "vx0")
        wait_until(lambda: self.overlay()["state"] == "down", 5, "status: tun0 down")
        wait_until(lambda: self.topo.klass("tunneled")["uplink"] == "wan1", 2, "class on wan1")

        self.assertEqual(self.topo.stop_daemon(), 0)
        self.start_daemon(path)
        seen = set()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            seen.add(self.topo.klass("tunneled")["uplink"])
            time.sleep(0.05)
        print(f"\nafter the restart the class was on {sorted(seen)}; tun0: {self.overlay()}",
              file=sys.stderr)
        self.assertEqual(seen, {"wan1"}, "the restarted daemon put the class on a dead overlay")


if __name__ == "__main__":
    unittest.main(verbosity=2)
