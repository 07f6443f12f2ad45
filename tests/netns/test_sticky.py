#!/usr/bin/env python3
"""Mark mode keeps an established TCP connection on its uplink while its class's preference
changes: a SIGHUP reload that reorders the class's paths moves new connections to the other
uplink, and the old one keeps working over the uplink it started on (the far end on the other
uplink has no such connection and would reset it)."""

import os
import signal
import time
import unittest

from fixture import NetnsTestCase, wait_until
from tagged_tcp import TaggedServers


class Sticky(TaggedServers, NetnsTestCase):

    def test_connection_keeps_its_uplink_across_a_preference_change(self):
        self.start_servers()
        policy = os.path.join(self.topo.tmpdir, "sticky.yaml")
        self.write_policy(policy, ["wan1", "wan2"])
        self.start_daemon(policy)
        self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("app")["uplink"], "wan1")

        old = self.connect()
        self.assertEqual(self.ask(old, "hello"), "wan1")

        self.write_policy(policy, ["wan2", "wan1"])
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.topo.klass("app")["uplink"] == "wan2", 10,
                   "class app to prefer wan2 after the reload")

        new = self.connect()
        self.assertEqual(self.ask(new, "new"), "wan2", "new connections follow the preference")
        for i in range(20):
            self.assertEqual(self.ask(old, f"still {i}"), "wan1",
                             "the established connection must stay on wan1")
            time.sleep(0.02)
        self.assertEqual(self.ask(new, "again"), "wan2")
        counters = self.topo.status()["datapath"]["counters"]
        self.assertGreater(counters["flow_reclassified"], 0, counters)
        self.assertGreater(counters["flow_hit"], 0, counters)


if __name__ == "__main__":
    unittest.main(verbosity=2)
