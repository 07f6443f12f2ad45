#!/usr/bin/env python3
"""Per-class strategies in the real daemon: failover with `hold_down_s: 2` on class default
(paths [wan1, wan2]). Pulling wan1's cable moves the class to wan2 at once; plugging it back
keeps the class on wan2 with reason "hold-down" for about 2 s after wan1 is usable again
(the planner's single-shot re-plan timer ends the wait), then it fails back to wan1. A daemon
restarted during the hold-down keeps the class on wan2 and waits the hold-down out again
(planner memory in the state directory), where without it the class would fail back at once."""

import os
import sys
import time
import unittest

from fixture import NetnsTestCase, two_wan_policy, wait_until

HOLD_DOWN_S = 2


class FailoverHoldDown(NetnsTestCase):

    def setUp(self):
        super().setUp()
        with open(two_wan_policy(self.topo.tmpdir)) as f:
            text = f.read()
        marker = "  default:\n    strategy: failover\n"
        self.assertIn(marker, text, "two-wan.yaml's class default changed shape")
        path = os.path.join(self.topo.tmpdir, "hold-down.yaml")
        with open(path, "w") as f:
            f.write(text.replace(marker, marker + f"    hold_down_s: {HOLD_DOWN_S}\n"))
        self.start_daemon(policy=path)
        self.topo.wait_all_up()
        default = self.topo.klass("default")
        self.assertEqual(default["uplink"], "wan1", default)
        self.assertEqual(default["strategy"], "failover", default)
        self.assertEqual(default["reason"], "preferred", default)

    def test_fail_back_waits_out_the_hold_down(self):
        pulled = self.topo.set_carrier("wan1", False)
        default = wait_until(
            lambda: (c := self.topo.klass("default"))["uplink"] == "wan2" and c, 1,
            "class default on wan2 after wan1 lost carrier")
        print(f"\nmoved to wan2 {(time.monotonic() - pulled) * 1000:.0f} ms after the pull "
              f"(reason {default['reason']!r})", file=sys.stderr)
        self.assertEqual(default["reason"], "preferred-down", default)

        self.topo.set_carrier("wan1", True)
        wait_until(lambda: self.topo.wan("wan1")["state"] == "up", 10, "status: wan1 up again")
        held = wait_until(
            lambda: (c := self.topo.klass("default"))["reason"] == "hold-down" and c, 1,
            "class default held down on wan2 once wan1 is up")
        held_at = time.monotonic()
        self.assertEqual(held["uplink"], "wan2", held)

        def back_on_wan1():
            c = self.topo.klass("default")
            if c["uplink"] == "wan1":
                return c
            self.assertEqual(c["uplink"], "wan2", c)
            self.assertEqual(c["reason"], "hold-down", c)
            return None

        back = wait_until(back_on_wan1, HOLD_DOWN_S + 3, "class default back on wan1")
        took = time.monotonic() - held_at
        print(f"held down on wan2 for {took * 1000:.0f} ms, then {back}", file=sys.stderr)
        self.assertEqual(back["reason"], "preferred", back)
        self.assertGreaterEqual(took, HOLD_DOWN_S - 0.1)
        self.assertLessEqual(took, HOLD_DOWN_S + 1.5)

        result = self.topo.run_stream(5002, count=300, rate=1000)
        self.assertEqual(result.count("wan1"), 300, result.describe())

    def test_restart_during_the_hold_down_does_not_fail_back_early(self):
        hold_down_s = 5
        self.assertEqual(self.topo.stop_daemon(), 0)
        with open(two_wan_policy(self.topo.tmpdir)) as f:
            text = f.read()
        path = os.path.join(self.topo.tmpdir, "hold-down-5.yaml")
        marker = "  default:\n    strategy: failover\n"
        with open(path, "w") as f:
            f.write(text.replace(marker, marker + f"    hold_down_s: {hold_down_s}\n"))
        self.start_daemon(policy=path)
        self.topo.wait_all_up()
        self.topo.set_carrier("wan1", False)
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan2", 1, "on wan2")
        self.topo.set_carrier("wan1", True)
        wait_until(lambda: self.topo.klass("default")["reason"] == "hold-down", 10,
                   "held down on wan2 once wan1 is up")

        self.assertEqual(self.topo.stop_daemon(), 0)
        restarted = time.monotonic()
        self.start_daemon(policy=path)
        first = self.topo.klass("default")
        print(f"\nafter the restart: {first}", file=sys.stderr)
        self.assertEqual(first["uplink"], "wan2", first)
        self.assertEqual(first["reason"], "hold-down", first)

        back = wait_until(lambda: (c := self.topo.klass("default"))["uplink"] == "wan1" and c,
                          hold_down_s + 5, "class default back on wan1")
        took = time.monotonic() - restarted
        print(f"back on wan1 {took * 1000:.0f} ms after the restart began", file=sys.stderr)
        self.assertGreaterEqual(took, hold_down_s - 0.1)
        self.assertEqual(back["reason"], "preferred", back)


if __name__ == "__main__":
    unittest.main(verbosity=2)
