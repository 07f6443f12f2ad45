#!/usr/bin/env python3
"""Proves the netns fixture itself, with plain kernel forwarding and no pathsteerd: topology
plumbing (v4 and v6, both uplinks), sender/receiver bookkeeping, the interruption measure, the
fault injectors and cleanup."""

import os
import subprocess
import sys
import time
import unittest

import fixture
from fixture import DST_V4, DST_V6, UPLINKS, NetnsTestCase, uplink_addrs


class FixtureSelfCheck(NetnsTestCase):
    needs = ()

    def assert_all_via(self, result, uplink):
        other = next(u for u in UPLINKS if u != uplink)
        self.assertEqual(result.count(uplink), result.stream.count, result.describe())
        self.assertEqual(result.count(other), 0, result.describe())
        self.assertEqual(result.interruption_ms, 0, result.describe())

    def test_plain_routing_uses_wan1_v4_and_v6(self):
        for family in (4, 6):
            with self.subTest(family=family):
                self.assert_all_via(self.topo.run_stream(5002, 500, 2000, family), "wan1")

    def test_both_uplinks_carry_traffic(self):
        # A host route in the GW overrides the main-table default: proves the wan2 path.
        _, peer4, _, peer6 = uplink_addrs("wan2")
        self.topo.ip("gw", "route", "add", f"{DST_V4}/32", "via", peer4)
        self.topo.ip("gw", "-6", "route", "add", f"{DST_V6}/128", "via", peer6)
        for family in (4, 6):
            with self.subTest(family=family):
                self.assert_all_via(self.topo.run_stream(5001, 500, 2000, family), "wan2")
        self.topo.ip("gw", "route", "del", f"{DST_V4}/32")
        self.topo.ip("gw", "-6", "route", "del", f"{DST_V6}/128")
        self.assert_all_via(self.topo.run_stream(5001, 200, 2000), "wan1")

    def test_carrier_loss_and_restore(self):
        self.topo.set_carrier("wan1", False)
        self.assertIn("NO-CARRIER", self.topo.gw_link("wan1")["flags"])
        # Plain routing keeps using wan1 (no daemon), so the far end gets nothing.
        lost = self.topo.run_stream(5002, 100, 2000)
        self.assertEqual(lost.count("wan1"), 0, lost.describe())
        self.assertEqual(len(lost.lost), 100, lost.describe())
        # Restoring re-applies the far end's addresses and routes that admin-down flushed.
        # The GW's ARP entry for the peer went INCOMPLETE while the link was dead (the kernel
        # retries once a second), so wait for it before measuring.
        self.topo.set_carrier("wan1", True)
        _, peer4, _, peer6 = uplink_addrs("wan1")
        self.topo.wait_neighbours({"gw": [peer4, peer6]})
        for family in (4, 6):
            with self.subTest(family=family):
                self.assert_all_via(self.topo.run_stream(5002, 300, 2000, family), "wan1")

    def test_blackhole_and_interruption_measure(self):
        stream = self.topo.send(5002, count=2000, rate=1000)
        fixture.wait_until(lambda: len(self.topo.received(stream)["wan1"]) >= 300, 10,
                           "300 packets at wan1's far end")
        on_start = time.monotonic()
        on_done = self.topo.blackhole("wan1", True)
        time.sleep(0.25)  # the length of the injected outage, not a wait for a condition
        off_start = time.monotonic()
        off_done = self.topo.blackhole("wan1", False)
        result = self.topo.result(stream)
        # Each nft call takes effect somewhere inside its own bracket, so the real outage lies
        # between the inner and the outer span; the sender's jitter adds a few ms either way.
        shortest, longest = (off_start - on_done) * 1000, (off_done - on_start) * 1000
        print(f"\ninjected outage {shortest:.0f}..{longest:.0f} ms; {result.describe()}",
              file=sys.stderr)
        self.assertEqual(result.count("wan2"), 0, result.describe())
        self.assertIn(stream.count - 1, result.seqs("wan1"), "the tail must arrive after heal")
        self.assertGreater(result.interruption_ms, shortest - 15, result.describe())
        self.assertLess(result.interruption_ms, longest + 15, result.describe())
        self.assertAlmostEqual(len(result.lost), result.interruption_ms, delta=50)

    def test_teardown_removes_everything(self):
        topo = fixture.Topology().setup()
        try:
            os.mkdir(topo.pin_dir)  # as a daemon's pins would
            stray = subprocess.Popen(["ip", "netns", "exec", topo.ns["gw"], "sleep", "300"],
                                     start_new_session=True)
            topo.send(5002, count=100000, rate=1000)  # still running at teardown
        finally:
            topo.teardown()
        self.assertEqual(topo.leftovers(), [])
        self.assertIsNotNone(stray.wait(5), "a process in the GW namespace survived teardown")

    def test_stale_runs_are_swept(self):
        dead = subprocess.Popen(["true"])
        dead.wait()
        stale = f"pst-{dead.pid}-abcd"
        fixture.run(["ip", "netns", "add", f"{stale}-gw"])
        os.mkdir(os.path.join(fixture.BPFFS, stale))
        fixture.sweep_stale_runs()
        self.assertNotIn(f"{stale}-gw", os.listdir("/run/netns"))
        self.assertFalse(os.path.exists(os.path.join(fixture.BPFFS, stale)))


class InterruptionMeasure(unittest.TestCase):
    """The interruption arithmetic on synthetic receptions (no root needed)."""

    def result(self, wan1, wan2, count=10, rate=1000.0):
        stream = fixture.Stream(1, DST_V4, 5002, count, rate, proc=None)
        # send time of seq n: n ms, plus a 5 ms sender stall before seq 3
        ns = {s: (s + (5 if s >= 3 else 0)) * 1_000_000 for s in range(count)}
        return fixture.StreamResult(stream, {"wan1": {s: ns[s] for s in wan1},
                                             "wan2": {s: ns[s] for s in wan2}}, set())

    def test_no_loss_is_zero_even_if_the_sender_stalls(self):
        self.assertEqual(self.result(range(10), []).interruption_ms, 0)

    def test_lost_run_spans_the_send_times_around_it(self):
        r = self.result([0, 1, 2, 3], [7, 8, 9])  # 4, 5, 6 lost while moving uplinks
        self.assertEqual(r.lost, [4, 5, 6])
        self.assertEqual(r.interruption_ms, 4.0)  # send(7) - send(3)

    def test_head_and_tail_losses_use_the_nominal_interval(self):
        self.assertEqual(self.result([2, 3, 4, 5, 6, 7, 8, 9], []).interruption_ms, 3.0)
        self.assertEqual(self.result([0, 1, 2, 3, 4, 5, 6], []).interruption_ms, 4.0)
        self.assertEqual(self.result([], []).interruption_ms, 11.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
