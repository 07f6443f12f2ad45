#!/usr/bin/env python3
"""Failover of the `default` class (udp/5002, paths [wan1, wan2]) under pathsteerd with
policies/two-wan.yaml: on carrier loss (at once) and on a silent blackhole (probes: interval
100 ms, timeout 300 ms, down_after 3), and fail-back once wan1 is healthy again."""

import sys
import time
import unittest

from fixture import NetnsTestCase, wait_until

CARRIER_BUDGET_MS = 100
BLACKHOLE_BUDGET_MS = 1000


class Failover(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("default")["uplink"], "wan1")

    def start_stream_on_wan1(self, count):
        """A 1,000 pkt/s v4 stream of class default, once 300 of its packets reached wan1."""
        stream = self.topo.send(5002, count=count, rate=1000)
        wait_until(lambda: len(self.topo.received(stream)["wan1"]) >= 300, 10,
                   "300 packets of the stream at wan1's far end")
        return stream

    def assert_moved_to_wan2(self, result, budget_ms):
        print(f"\n{result.describe()}", file=sys.stderr)
        at1, at2 = result.seqs("wan1"), result.seqs("wan2")
        self.assertTrue(at2, f"nothing moved to wan2: {result.describe()}")
        self.assertLess(max(at1), min(at2), f"the flow went back and forth: {result.describe()}")
        self.assertIn(result.stream.count - 1, at2, f"the tail did not arrive: {result.describe()}")
        self.assertFalse(result.duplicates, result.describe())
        self.assertLessEqual(result.interruption_ms, budget_ms, result.describe())

    def test_carrier_loss(self):
        stream = self.start_stream_on_wan1(count=3000)
        self.topo.set_carrier("wan1", False)
        self.assert_moved_to_wan2(self.topo.result(stream), CARRIER_BUDGET_MS)

        wan1 = wait_until(lambda: (w := self.topo.wan("wan1"))["state"] == "down" and w, 2,
                          "status: wan1 down")
        self.assertIn("carrier", wan1["reason"].lower(), wan1)
        self.assertFalse(wan1["carrier"], wan1)
        self.assertEqual(self.topo.klass("default")["uplink"], "wan2")

    def test_blackhole_then_heal(self):
        stream = self.start_stream_on_wan1(count=3000)
        self.topo.blackhole("wan1", True)
        wan1 = wait_until(lambda: (w := self.topo.wan("wan1"))["state"] == "down" and w, 5,
                          "status: wan1 down after the blackhole")
        self.assertTrue(wan1["carrier"], f"the link itself stayed up: {wan1}")
        print(f"\nwan1 down, reason: {wan1['reason']!r}", file=sys.stderr)
        self.assert_moved_to_wan2(self.topo.result(stream), BLACKHOLE_BUDGET_MS)
        # wan2 probes the same target, which the main table routes via wan1: only probes bound
        # to their own uplink keep wan2 up through three seconds of wan1's blackhole.
        wan2 = self.topo.wan("wan2")
        self.assertEqual(wan2["state"], "up", f"wan2's probes did not leave through wan2: {wan2}")

        healed_at = self.topo.blackhole("wan1", False)
        wait_until(lambda: self.topo.wan("wan1")["state"] == "up", 10,
                   "status: wan1 up again after healing")
        took = time.monotonic() - healed_at
        print(f"wan1 up {took * 1000:.0f} ms after healing", file=sys.stderr)
        # up_after 3 at interval 100 ms: not before a couple of good rounds (hysteresis).
        self.assertGreaterEqual(took, 0.15, "wan1 came back without up_after good rounds")
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan1", 2,
                   "status: class default back on wan1")

        result = self.topo.run_stream(5002, count=500, rate=1000)
        self.assertEqual(result.count("wan1"), 500, result.describe())
        self.assertEqual(result.count("wan2"), 0, result.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
