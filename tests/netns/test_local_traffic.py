#!/usr/bin/env python3
"""The gateway's own traffic is steered per class (DESIGN section 3): its packets never pass
the LAN classifier, so pathsteer compiles each class it can to `iif lo` ip rules.

Streams sent from the GW namespace itself arrive behind the class's uplink, IPv4 and IPv6
(video = udp/5001 prefers wan2, default prefers wan1), and follow a failover when wan2 loses
carrier. A class matching `uid:` steers only that user's packets. The rules sit in the owned band with protocol 201 and select `iif lo`, so forwarded
traffic never meets them."""

import unittest

from fixture import UPLINKS, NetnsTestCase, wait_until

VIDEO, DEFAULT = 5001, 5002


class LocalTraffic(NetnsTestCase):

    def where(self, port, family, uid=None):
        result = self.topo.run_stream(port, count=300, rate=1000, family=family, role="gw",
                                      uid=uid)
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

    def test_uid_class_steers_only_that_users_traffic(self):
        """A class matching `uid: 4242` sends that user's packets to wan2, while root's packets
        to the same port stay with class default on wan1; the data plane never matches it."""
        path, text = self.private_policy()
        marker = "classes:\n"
        self.assertIn(marker, text)
        owner = ("  owner:\n    match: [ { uid: 4242 } ]\n    strategy: failover\n"
                 "    paths: [wan2, wan1]\n")
        with open(path, "w") as f:
            f.write(text.replace(marker, marker + owner, 1))
        self.start_daemon(policy=path)
        status = self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("owner", status)["uplink"], "wan2")
        for family in (4, 6):
            with self.subTest(family=family):
                self.assertEqual(self.where(DEFAULT, family, uid=4242)[0], {"wan2"})
                self.assertEqual(self.where(DEFAULT, family)[0], {"wan1"})
        # Forwarded traffic from the LAN never matches a uid class.
        result = self.topo.run_stream(DEFAULT, count=200, rate=1000)
        self.assertEqual(result.count("wan1"), 200, result.describe())
        self.assertEqual(self.topo.klass("owner")["packets"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
