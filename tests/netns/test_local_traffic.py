#!/usr/bin/env python3
"""The gateway's own traffic is steered per class (DESIGN section 3): its packets never pass
the LAN classifier, so pathsteer compiles each class it can to `iif lo` ip rules.

Streams sent from the GW namespace itself arrive behind the class's uplink, IPv4 and IPv6
(video = udp/5001 prefers wan2, default prefers wan1), and follow a failover when wan2 loses
carrier. The rules sit in the owned band with protocol 201 and select `iif lo`, so forwarded
traffic never meets them."""

import unittest

from fixture import UPLINKS, NetnsTestCase, wait_until

VIDEO, DEFAULT = 5001, 5002


class LocalTraffic(NetnsTestCase):

    def where(self, port, family):
        result = self.topo.run_stream(port, count=300, rate=1000, family=family, role="gw")
        counts = {u: result.count(u) for u in UPLINKS}
        return {u for u, n in counts.items() if n > 0}, counts

    def test_gateway_traffic_follows_its_class(self):
        self.start_daemon()
        status = self.topo.wait_all_up()
        for name in ("video", "default"):
            self.assertEqual(self.topo.klass(name, status)["local"], "steered")
        for family in (4, 6):
            with self.subTest(family=family):
                self.assertEqual(self.where(VIDEO, family)[0], {"wan2"})
                self.assertEqual(self.where(DEFAULT, family)[0], {"wan1"})

        rules = self.topo.kernel_rules()
        for family in (4, 6):
            local = [r for r in rules[family] if r.get("iif") == "lo"
                     and 10000 <= r["priority"] < 11000]
            self.assertEqual(len(local), 4, local)  # (video, default) x (suppress, lookup)
            for r in local:
                self.assertEqual(str(r.get("protocol")), "201", r)

        self.topo.set_carrier("wan2", False)
        wait_until(lambda: self.topo.klass("video")["uplink"] == "wan1", 2,
                   "class video on wan1 after wan2 lost carrier")
        for family in (4, 6):
            with self.subTest(family=family, after="failover"):
                got, counts = self.where(VIDEO, family)
                self.assertEqual(got, {"wan1"}, counts)


if __name__ == "__main__":
    unittest.main(verbosity=2)
