#!/usr/bin/env python3
"""The watcher follows an uplink's interface through its whole life (issue 4): deleted and
re-created with a new ifindex (the uplink's table follows the new interface and traffic
returns), and renamed away and back (renamed away = gone)."""

import sys
import time
import unittest

import fixture
from fixture import NetnsTestCase, uplink_addrs, wait_until


class LinkLifecycle(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("default")["uplink"], "wan1")

    def table_default(self, table, family=4):
        fam = "-6" if family == 6 else "-4"
        out = self.topo.ip("gw", "-j", fam, "route", "show", "table", str(table), "default")
        return fixture.json.loads(out.stdout or "[]")

    def test_deleted_and_recreated_with_a_new_ifindex(self):
        table = self.topo.wan("wan1")["table"]
        old_ifindex = self.topo.wan("wan1")["ifindex"]
        self.topo.ip("gw", "link", "del", "wan1")  # the veth pair goes, and its routes
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan2", 2,
                   "class default on wan2 after wan1's interface was deleted")
        self.assertEqual(self.topo.wan("wan1")["state"], "down")

        # Re-create it as a DHCP client would find it: new ifindex, same name and addresses.
        fixture.run(["ip", "link", "add", "wan1", "netns", self.topo.ns["gw"], "type", "veth",
                     "peer", "name", "up0", "netns", self.topo.ns["up1"]])
        gw4, peer4, gw6, peer6 = uplink_addrs("wan1")
        self.topo.sysctl("gw", "net.ipv6.conf.wan1.accept_dad=0",
                         "net.ipv4.conf.wan1.rp_filter=0")
        self.topo.ip("gw", "addr", "add", f"{gw4}/24", "dev", "wan1")
        self.topo.ip("gw", "addr", "add", f"{gw6}/64", "dev", "wan1", "nodad")
        self.topo.ip("gw", "link", "set", "wan1", "up")
        self.topo._configure_peer_l3("wan1")
        self.topo.ip("gw", "route", "add", "default", "via", peer4, "dev", "wan1", "metric", "10")
        self.topo.ip("gw", "-6", "route", "add", "default", "via", peer6, "dev", "wan1",
                     "metric", "10")

        started = time.monotonic()
        wait_until(lambda: self.topo.wan("wan1")["state"] == "up", 10, "wan1 up again")
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan1", 2,
                   "class default back on wan1")
        print(f"\nwan1 re-created: up and steering after {time.monotonic() - started:.2f} s",
              file=sys.stderr)
        new_ifindex = self.topo.wan("wan1")["ifindex"]
        self.assertNotEqual(new_ifindex, old_ifindex)
        for family, gw in ((4, peer4), (6, peer6)):
            routes = wait_until(lambda: [r for r in self.table_default(table, family)
                                         if r.get("dev") == "wan1" and r.get("gateway") == gw],
                                2, f"table {table} default (v{family}) via the new wan1")
            self.assertEqual(routes[0].get("protocol"), "201", routes)
        result = self.topo.run_stream(5002, count=300, rate=1000)
        self.assertEqual(result.count("wan1"), 300, result.describe())

    def test_renamed_away_and_back(self):
        self.topo.ip("gw", "link", "set", "wan1", "down")
        self.topo.ip("gw", "link", "set", "wan1", "name", "wan1-old")
        self.topo.ip("gw", "link", "set", "wan1-old", "up")
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan2", 2,
                   "class default on wan2 while wan1's interface has another name")
        result = self.topo.run_stream(5002, count=200, rate=1000)
        self.assertEqual(result.count("wan2"), 200, result.describe())

        self.topo.ip("gw", "link", "set", "wan1-old", "down")
        self.topo.ip("gw", "link", "set", "wan1-old", "name", "wan1")
        self.topo.ip("gw", "link", "set", "wan1", "up")
        # Admin-down flushed wan1's IPv6 address and the main-table defaults that
        # `gateway: auto` learns from; put them back as the system's network manager would.
        gw4, peer4, gw6, peer6 = uplink_addrs("wan1")
        self.topo.ip("gw", "addr", "replace", f"{gw6}/64", "dev", "wan1", "nodad")
        self.topo.ip("gw", "route", "replace", "default", "via", peer4, "dev", "wan1",
                     "metric", "10")
        self.topo.ip("gw", "-6", "route", "replace", "default", "via", peer6, "dev", "wan1",
                     "metric", "10")
        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan1", 10,
                   "class default back on wan1 after the rename back")
        result = self.topo.run_stream(5002, count=200, rate=1000)
        self.assertEqual(result.count("wan1"), 200, result.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
