#!/usr/bin/env python3
"""Hitless restart (DESIGN.md sections 2 and 6): SIGTERM leaves the owned rules and routes in
place (exit 0); a new daemon with the same state and pin dirs adopts them without deleting or
re-adding a single one (watched with a netlink monitor), and removes exactly the leftovers in
its slice (protocol 201) that its plan does not want. Traffic keeps flowing throughout."""

import sys
import time
import unittest

from fixture import NetnsTestCase, wait_until
from nl_monitor import NetlinkMonitor

RULE_BASE, PROTOCOL = 10000, 201
OBSERVE_S = 1.0
# Leftovers in the owned slice (owned band, protocol 201, table 215) that no plan wants.
LEFTOVER_RULE = ("pref", "10777", "fwmark", "0x0f700000/0x0ff00000", "lookup", "215",
                 "proto", str(PROTOCOL))
LEFTOVER_ROUTES = {4: ("198.51.100.0/24", "dev", "wan2", "table", "215", "proto", str(PROTOCOL)),
                   6: ("2001:db8:dead::/48", "dev", "wan2", "table", "215", "proto",
                       str(PROTOCOL))}


def owned(ev):
    if ev.kind == "rule":
        return RULE_BASE <= ev.priority < RULE_BASE + 1000 and ev.protocol == PROTOCOL
    return ev.kind == "route" and ev.protocol == PROTOCOL


def is_leftover(ev):
    return ev.priority == 10777 if ev.kind == "rule" else ev.table == 215


class Adoption(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.topo.wait_all_up()
        self.snapshot = self.topo.owned_state(RULE_BASE, str(PROTOCOL))
        for kind in ("rules", "routes"):
            for family in (4, 6):
                self.assertTrue(self.snapshot[kind][family],
                                f"no owned v{family} {kind} to adopt: {self.snapshot}")
        self.mon = NetlinkMonitor(self.topo.ns["gw"]).start()
        self.addCleanup(self.mon.stop)

    def restart(self, between=None):
        """Stops the daemon (must exit 0 and leave the owned state as it was), runs
        between(), starts a new one on the same dirs and waits until it is synced with every
        uplink up. Returns (monitor index after between(), restart seconds)."""
        t0 = time.monotonic()
        rc = self.topo.stop_daemon()
        self.assertEqual(rc, 0, f"pathsteerd exited with {rc} on SIGTERM")
        self.assertEqual(self.topo.owned_state(RULE_BASE, str(PROTOCOL)), self.snapshot,
                         "owned rules/routes changed while the daemon was stopped")
        if between:
            between()
        since = self.mon.mark()
        self.start_daemon()
        self.topo.wait_all_up()
        took = time.monotonic() - t0
        print(f"\nrestart (SIGTERM to synced, all up): {took * 1000:.0f} ms", file=sys.stderr)
        # Watch on through ten probe rounds (interval 100 ms, down_after/up_after 3), so a
        # plan that flips once real probe results arrive is caught too.
        wait_until(lambda: self.topo.status()["uptime_s"] >= OBSERVE_S, OBSERVE_S + 5,
                   f"the new daemon to run for {OBSERVE_S} s")
        return since, took

    def test_restart_adopts_without_churn(self):
        stream = self.topo.send(5001, count=4000, rate=1000)  # class video -> wan2
        since, _ = self.restart()
        self.assertEqual(self.topo.owned_state(RULE_BASE, str(PROTOCOL)), self.snapshot)
        churn = [e for e in self.mon.snapshot(since) if owned(e)]
        self.assertEqual(churn, [], "the new daemon deleted or (re-)added owned objects")
        self.assertTrue(self.topo.status()["synced"])

        result = self.topo.result(stream)
        print(result.describe(), file=sys.stderr)
        self.assertEqual(result.count("wan2"), stream.count, result.describe())

    def test_restart_removes_exactly_the_leftovers(self):
        def add_leftovers():
            for family in (4, 6):
                self.topo.ip("gw", f"-{family}", "rule", "add", *LEFTOVER_RULE)
                self.topo.ip("gw", f"-{family}", "route", "add", *LEFTOVER_ROUTES[family])
            state = self.topo.owned_state(RULE_BASE, str(PROTOCOL))
            for family in (4, 6):
                self.assertEqual(len(state["rules"][family]),
                                 len(self.snapshot["rules"][family]) + 1, state)
                self.assertEqual(len(state["routes"][family]),
                                 len(self.snapshot["routes"][family]) + 1, state)

        since, _ = self.restart(between=add_leftovers)
        self.assertEqual(self.topo.owned_state(RULE_BASE, str(PROTOCOL)), self.snapshot,
                         "after adoption the owned state must be the plan's, leftovers gone")
        events = [e for e in self.mon.snapshot(since) if owned(e)]
        removed = sorted((e.kind, e.family) for e in events if e.op == "del")
        self.assertEqual(removed, [("route", 4), ("route", 6), ("rule", 4), ("rule", 6)],
                         events)
        self.assertTrue(all(is_leftover(e) for e in events if e.op == "del"), events)
        self.assertEqual([e for e in events if e.op != "del"], [],
                         "owned objects were (re-)added")


if __name__ == "__main__":
    unittest.main(verbosity=2)
