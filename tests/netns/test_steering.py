#!/usr/bin/env python3
"""pathsteerd with policies/two-wan.yaml steers each class to its preferred uplink, for IPv4
and IPv6, and the kernel holds the owned ip rules the design promises (DESIGN.md section 2)."""

import unittest

from fixture import UPLINKS, NetnsTestCase, uplink_addrs

RULE_PRIORITY_BASE = 10000  # ownership defaults (two-wan.yaml does not override them)
ROUTE_PROTOCOL = "201"
MARK_MASK = 0x0FF00000
EXPECTED = {5001: "wan2", 5002: "wan1"}  # video = udp/5001 -> [wan2, wan1]; default -> [wan1, wan2]


class Steering(NetnsTestCase):

    def test_classes_steer_v4_and_v6(self):
        self.start_daemon()
        status = self.topo.wait_all_up()

        for uplink in UPLINKS:
            _, peer4, _, peer6 = uplink_addrs(uplink)
            wan = self.topo.wan(uplink, status)
            self.assertEqual(wan["interface"], uplink)
            self.assertTrue(wan["carrier"])
            self.assertEqual(wan["gateway4"], peer4, "gateway: auto must learn the v4 next hop")
            self.assertEqual(wan["gateway6"], peer6, "gateway: auto must learn the v6 next hop")
        self.assertEqual(self.topo.klass("video", status)["uplink"], "wan2")
        self.assertEqual(self.topo.klass("default", status)["uplink"], "wan1")

        self.assert_streams_land(EXPECTED, 1000)

        self.check_kernel_rules(self.topo.status())

    def check_kernel_rules(self, status):
        """Per uplink mark M: `fwmark M/mask lookup main suppress_prefixlength 0`, then
        `fwmark M/mask lookup <uplink table>`, both in the owned priority band, protocol 201."""
        rules = self.topo.kernel_rules()
        for family in (4, 6):
            ours = sorted((r for r in rules[family]
                           if RULE_PRIORITY_BASE <= r["priority"] < RULE_PRIORITY_BASE + 1000),
                          key=lambda r: r["priority"])
            with self.subTest(family=family):
                self.assertTrue(ours, f"no ip rules in the owned band: {rules[family]}")
                for r in ours:
                    self.assertEqual(str(r.get("protocol")), ROUTE_PROTOCOL, r)
                for uplink in UPLINKS:
                    wan = self.topo.wan(uplink, status)
                    mark = int(str(wan["mark"]), 0)
                    self.assertEqual(mark & ~MARK_MASK, 0, f"{uplink} mark outside the mask")
                    mine = [r for r in ours if "fwmark" in r and int(r["fwmark"], 16) == mark]
                    self.assertEqual(len(mine), 2, f"{uplink} (mark {mark:#x}): {mine}")
                    suppress, lookup = mine
                    for r in mine:
                        self.assertEqual(int(r["fwmask"], 16), MARK_MASK, r)
                    self.assertEqual(suppress["table"], "main", suppress)
                    self.assertEqual(suppress.get("suppress_prefixlen"), 0, suppress)
                    self.assertEqual(lookup["table"], str(wan["table"]), lookup)
                    self.assertNotIn("suppress_prefixlen", lookup)


if __name__ == "__main__":
    unittest.main(verbosity=2)
