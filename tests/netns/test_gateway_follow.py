#!/usr/bin/env python3
"""`gateway: auto` follows a changed default route (DESIGN.md section 4): when the main table's
default via wan1 moves to another next hop (a DHCP renew, a router advertisement), wan1's
table follows within 100 ms, measured between the two kernel notifications on one netlink
socket, and class default's traffic flows over the new next hop. IPv4 and IPv6, both a
`route replace` (one RTM_NEWROUTE with NLM_F_REPLACE and no RTM_DELROUTE for the old route)
and a delete + add."""

import sys
import unittest

from fixture import NetnsTestCase, run, uplink_addrs
from nl_monitor import NetlinkMonitor

FOLLOW_BUDGET_MS = 100
RT_TABLE_MAIN = 254
NEW_HOPS = {4: ["100.64.1.254"], 6: ["2001:db8:1::254", "2001:db8:1::253"]}


class GatewayFollow(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        status = self.topo.wait_all_up()
        self.table = self.topo.wan("wan1", status)["table"]
        self.assertEqual(self.topo.klass("default", status)["uplink"], "wan1")
        self.mon = NetlinkMonitor(self.topo.ns["gw"], groups=("route4", "route6")).start()
        self.addCleanup(self.mon.stop)

    def add_next_hops(self, family):
        """The new next hops are more addresses of wan1's far end (so they answer)."""
        for addr in NEW_HOPS[family]:
            plen = "24" if family == 4 else "64"
            extra = ("nodad",) if family == 6 else ()
            self.topo.ip("up1", "addr", "add", f"{addr}/{plen}", "dev", "up0", *extra)
        self.topo.wait_neighbours({"gw": NEW_HOPS[family]})

    def move_default(self, family, via, *extra, replace=True):
        """Moves the main table's default via wan1 (metric 10) to next hop `via`: with one
        `ip route replace` (NLM_F_REPLACE, as systemd-networkd does), or as dhclient-script
        does, a delete and an add. Returns the delay in ms between the kernel event of the new
        main-table route and the one of wan1's table following it."""
        since = self.mon.mark()
        route = " ".join(["default", "via", via, "dev", "wan1", *extra, "metric", "10"])
        if replace:
            lines = [f"route replace {route}"]
        else:
            old = self.topo.wan("wan1")[f"gateway{family}"]
            lines = [f"route del default via {old} dev wan1 metric 10", f"route add {route}"]
        run(["ip", "-n", self.topo.ns["gw"], f"-{family}", "-batch", "-"],
            input="\n".join(lines) + "\n")

        def default_via(table):
            return lambda e: (e.kind == "route" and e.op == "new" and e.family == family
                              and e.table == table and e.dst == "default" and e.gateway == via)

        main = self.mon.wait_for(default_via(RT_TABLE_MAIN), 1, "the main table's change", since)
        ours = self.mon.wait_for(default_via(self.table), 2,
                                 f"table {self.table}'s default via {via}", since)
        delay_ms = (ours.t_ns - main.t_ns) / 1e6
        print(f"\nv{family} {lines}: table {self.table} followed {delay_ms:.1f} ms after the "
              f"main table (kernel events)", file=sys.stderr)
        routes = [r for r in self.topo.kernel_routes(self.table)[family]
                  if r["dst"] == "default"]
        self.assertEqual([(r.get("gateway"), r.get("dev")) for r in routes], [(via, "wan1")],
                         routes)
        self.assertEqual(self.topo.wan("wan1")[f"gateway{family}"], via)
        return delay_ms

    def assert_default_class_reaches_up1(self, family):
        result = self.topo.run_stream(5002, count=300, rate=1000, family=family)
        self.assertEqual(result.count("wan1"), 300, result.describe())
        self.assertEqual(result.count("wan2"), 0, result.describe())

    def test_v4_dhcp_renew(self):
        self.add_next_hops(4)
        delay_ms = self.move_default(4, NEW_HOPS[4][0])
        self.assertLessEqual(delay_ms, FOLLOW_BUDGET_MS)
        self.assert_default_class_reaches_up1(4)
        _, peer4, _, _ = uplink_addrs("wan1")
        delay_ms = self.move_default(4, peer4, replace=False)
        self.assertLessEqual(delay_ms, FOLLOW_BUDGET_MS)

    def test_v6_static_then_router_advertisement(self):
        self.add_next_hops(6)
        delays = [self.move_default(6, NEW_HOPS[6][0]),
                  self.move_default(6, NEW_HOPS[6][1], "proto", "ra")]
        for delay_ms in delays:
            self.assertLessEqual(delay_ms, FOLLOW_BUDGET_MS)
        self.assert_default_class_reaches_up1(6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
