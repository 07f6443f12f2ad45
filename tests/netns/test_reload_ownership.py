#!/usr/bin/env python3
"""A reload (SIGHUP) that moves pathsteer's slice of the kernel (another rule priority band
and table range) removes what it owned in the old slice and installs the new one, and leaves
a foreign rule in the old band alone: nothing of ours is left behind (DESIGN section 2)."""

import os
import signal
import unittest

import fixture
from fixture import NetnsTestCase, wait_until

OWNERSHIP = "\nownership: { rule_priority_base: 20000, table_base: 300 }\n"


class ReloadOwnership(NetnsTestCase):

    def test_moved_slice_leaves_nothing_behind(self):
        policy = os.path.join(self.topo.tmpdir, "policy.yaml")
        with open(fixture.policy_path()) as src:
            base = src.read()
        with open(policy, "w") as f:
            f.write(base)
        self.start_daemon(policy)
        self.topo.wait_all_up()
        old = self.topo.owned_state(10000)
        self.assertTrue(old["rules"][4] and old["routes"][4], old)
        self.topo.ip("gw", "rule", "add", "pref", "10500", "fwmark", "0x5", "lookup", "100",
                     "proto", "static")  # foreign, in the old band

        with open(policy, "w") as f:
            f.write(base + OWNERSHIP)
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.topo.wan("wan1")["table"] == 301, 5,
                   "status: wan1 on table 301 after the reload")
        wait_until(lambda: not any(self.topo.owned_state(10000)["rules"].values()), 3,
                   "no rule of ours left in the old band")
        new = self.topo.owned_state(20000)
        for family in (4, 6):
            self.assertTrue(new["rules"][family], new)
            self.assertTrue(all(20000 <= r["priority"] < 21000 for r in new["rules"][family]))
            tables = {str(r.get("table")) for r in new["routes"][family]}
            self.assertTrue(tables <= {"301", "302"}, f"routes of ours outside 301/302: {tables}")
            for table in ("201", "202"):
                self.assertEqual(self.topo.kernel_routes(table)[family], [],
                                 f"table {table} still holds routes")
        foreign = [r for r in self.topo.kernel_rules()[4] if r["priority"] == 10500]
        self.assertEqual(len(foreign), 1, "the foreign rule in the old band must stay")

        for port, uplink in ((5001, "wan2"), (5002, "wan1")):
            result = self.topo.run_stream(port, count=300, rate=1000)
            self.assertEqual(result.count(uplink), 300, result.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
