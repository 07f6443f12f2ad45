#!/usr/bin/env python3
"""Two pathsteerd instances in two gateway namespaces on one machine, at the same time
(DESIGN section 8): each keeps its own pin dir, state dir and kernel state, steers its own
traffic, and a failure in one lab changes nothing in the other."""

import os
import unittest

import fixture
from fixture import NetnsTestCase


class TwoDaemons(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.other = fixture.Topology().setup()
        self.addCleanup(self.other.teardown)

    def test_side_by_side(self):
        self.start_daemon()
        second = self.other.start_daemon(self.bin["PATHSTEERD"],
                                         fixture.two_wan_policy(self.other.tmpdir))
        labs = (self.topo, self.other)
        for topo in labs:
            topo.wait_all_up()
            self.assertTrue(os.path.isdir(topo.pin_dir), f"{topo.pin_dir} missing")
        self.assertNotEqual(self.topo.pin_dir, self.other.pin_dir)

        # Both steer, at the same time.
        streams = [(topo, topo.send(5001, count=500, rate=1000)) for topo in labs]
        for topo, stream in streams:
            result = topo.result(stream)
            self.assertEqual(result.count("wan2"), 500, result.describe())

        # A pulled cable in the second lab moves only the second lab's traffic.
        self.other.set_carrier("wan1", False)
        fixture.wait_until(lambda: self.other.klass("default")["uplink"] == "wan2", 5,
                           "the second daemon to move class default to wan2")
        self.assertEqual(self.topo.klass("default")["uplink"], "wan1")
        self.assertEqual(self.topo.wan("wan1")["state"], "up")
        for topo, want in ((self.topo, "wan1"), (self.other, "wan2")):
            result = topo.run_stream(5002, count=300, rate=1000)
            self.assertEqual(result.count(want), 300, result.describe())

        self.assertEqual(second.stop(), 0, second.log_tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
