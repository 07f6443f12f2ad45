#!/usr/bin/env python3
"""Scoped conntrack cleanup (issue 4): the gateway masquerades LAN traffic out of each uplink;
when wan1 goes down, pathsteerd deletes exactly the conntrack entries NAT'ed through wan1
(IPv4 and IPv6) and leaves wan2's, so NAT'ed clients reconnect over a live uplink at once.
With `conntrack: { flush_on_down: false }` nothing is deleted."""

import os
import sys
import unittest

import fixture
from fixture import NetnsTestCase, uplink_addrs, wait_until

MASQUERADE = """
table inet pst_nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname { "wan1", "wan2" } masquerade
  }
}
"""


class ScopedConntrackCleanup(NetnsTestCase):

    def conntrack(self):
        """(family, reply-direction dst) of every UDP entry in the gateway's table."""
        entries = []
        for family in ("ipv4", "ipv6"):  # conntrack -L lists only IPv4 unless told otherwise
            out = fixture.run(["ip", "netns", "exec", self.topo.ns["gw"], "conntrack", "-L",
                               "-f", family, "-p", "udp"], check=False).stdout
            for line in out.splitlines():
                dsts = [f.split("=", 1)[1] for f in line.split() if f.startswith("dst=")]
                if len(dsts) == 2:  # original dst, then reply dst
                    entries.append((family, dsts[1]))
        return entries

    def nat_entries_by_uplink(self):
        by = {"wan1": 0, "wan2": 0}
        for _, reply_dst in self.conntrack():
            for uplink in by:
                gw4, _, gw6, _ = uplink_addrs(uplink)
                if reply_dst in (gw4, gw6):
                    by[uplink] += 1
        return by

    def start_with_nat_flows(self, policy):
        fixture.run(["ip", "netns", "exec", self.topo.ns["gw"], "nft", "-f", "-"],
                    input=MASQUERADE)
        self.start_daemon(policy)
        self.topo.wait_all_up()
        # One flow per class and family: video (udp/5001) leaves via wan2, default via wan1.
        for family in (4, 6):
            for port, uplink in ((5001, "wan2"), (5002, "wan1")):
                result = self.topo.run_stream(port, count=50, rate=500, family=family)
                self.assertEqual(result.count(uplink), 50, result.describe())
        counts = wait_until(lambda: (c := self.nat_entries_by_uplink())["wan1"] >= 2 and
                            c["wan2"] >= 2 and c, 5, "NAT'ed conntrack entries on both uplinks")
        print(f"\nbefore: {counts}", file=sys.stderr)
        return counts

    def test_only_the_dead_uplinks_entries_go(self):
        before = self.start_with_nat_flows(None)
        self.topo.set_carrier("wan1", False)
        wait_until(lambda: self.nat_entries_by_uplink()["wan1"] == 0, 2,
                   "wan1's NAT'ed conntrack entries deleted")
        after = self.nat_entries_by_uplink()
        print(f"after wan1 lost carrier: {after}", file=sys.stderr)
        self.assertEqual(after["wan2"], before["wan2"], "wan2's entries must stay")
        families = {fam for fam, dst in self.conntrack() if dst in (uplink_addrs("wan2")[0],
                                                                    uplink_addrs("wan2")[2])}
        self.assertEqual(families, {"ipv4", "ipv6"})
        with open(self.topo.daemon.log_path) as f:
            self.assertIn("conntrack: deleted", f.read())

    def test_option_off_keeps_everything(self):
        policy = os.path.join(self.topo.tmpdir, "no-flush.yaml")
        with open(fixture.policy_path()) as src, open(policy, "w") as dst:
            dst.write(src.read() + "\nconntrack: { flush_on_down: false }\n")
        before = self.start_with_nat_flows(policy)
        self.topo.set_carrier("wan1", False)
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan2", 2,
                   "class default on wan2")
        # The cleanup runs on the loop right after the plan that moved the class, so once
        # status shows the move, a cleanup would already have happened.
        self.assertEqual(self.nat_entries_by_uplink(), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
