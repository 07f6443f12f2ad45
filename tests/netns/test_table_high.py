#!/usr/bin/env python3
"""A non-default owned slice (DESIGN.md section 2): with `ownership: { table_base: 300,
rule_priority_base: 20000 }` the uplink tables are 301/302 and the rules live at 20000.., both
families, protocol 201; nothing lands in the default slice, and both classes still steer."""

import os
import unittest

from fixture import UPLINKS, NetnsTestCase, policy_path, uplink_addrs

TABLE_BASE, RULE_BASE, PROTOCOL = 300, 20000, "201"
MARK_MASK = 0x0FF00000
EXPECTED = {5001: "wan2", 5002: "wan1"}  # video -> [wan2, wan1]; default -> [wan1, wan2]


def high_policy(tmpdir):
    """policies/two-wan.yaml with an ownership block added after `datapath:`."""
    with open(policy_path()) as f:
        text = f.read()
    marker = "datapath: { mode: mark }\n"
    assert marker in text, "two-wan.yaml changed shape; update this test"
    text = text.replace(marker, marker + f"ownership: {{ table_base: {TABLE_BASE}, "
                        f"rule_priority_base: {RULE_BASE} }}\n")
    path = os.path.join(tmpdir, "two-wan-high.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class TableHigh(NetnsTestCase):

    def test_high_tables_and_rules(self):
        self.start_daemon(high_policy(self.topo.tmpdir))
        status = self.topo.wait_all_up()

        tables = {u: self.topo.wan(u, status)["table"] for u in UPLINKS}
        self.assertEqual(sorted(tables.values()), [TABLE_BASE + 1, TABLE_BASE + 2], tables)
        for uplink, table in tables.items():
            _, peer4, _, peer6 = uplink_addrs(uplink)
            routes = self.topo.kernel_routes(table)
            for family, peer in ((4, peer4), (6, peer6)):
                with self.subTest(uplink=uplink, family=family):
                    default = [r for r in routes[family] if r["dst"] == "default"]
                    self.assertEqual(len(default), 1, routes[family])
                    self.assertEqual(default[0].get("gateway"), peer, default)
                    self.assertEqual(default[0].get("dev"), uplink, default)
                    self.assertEqual(str(default[0].get("protocol")), PROTOCOL, default)

        rules = self.topo.kernel_rules()
        for family in (4, 6):
            with self.subTest(family=family):
                band = [r for r in rules[family]
                        if RULE_BASE <= r["priority"] < RULE_BASE + 1000]
                self.assertTrue(band, rules[family])
                for r in band:
                    self.assertEqual(str(r.get("protocol")), PROTOCOL, r)
                self.assertEqual(
                    [r for r in rules[family] if 10000 <= r["priority"] < 11000], [],
                    "rules in the default band although the policy moved it")
                for uplink, table in tables.items():
                    mark = int(str(self.topo.wan(uplink, status)["mark"]), 0)
                    mine = sorted((r for r in band if "fwmark" in r
                                   and int(r["fwmark"], 16) == mark), key=lambda r: r["priority"])
                    self.assertEqual([r["table"] for r in mine], ["main", str(table)], mine)
                    self.assertTrue(all(RULE_BASE + 2 <= r["priority"] for r in mine), mine)
                    self.assertTrue(all(int(r["fwmask"], 16) == MARK_MASK for r in mine), mine)
                self.assertEqual(
                    [r for r in self.topo.kernel_routes()[family]
                     if str(r.get("protocol")) == PROTOCOL
                     and not TABLE_BASE <= int(r.get("table", 0) or 0) < TABLE_BASE + 256], [],
                    "owned routes outside tables 300..555")

        streams = [self.topo.send(port, count=300, rate=1000, family=family)
                   for family in (4, 6) for port in EXPECTED]
        for stream in streams:
            result = self.topo.result(stream)
            with self.subTest(port=stream.port, family=stream.family):
                self.assertEqual(result.count(EXPECTED[stream.port]), 300, result.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
