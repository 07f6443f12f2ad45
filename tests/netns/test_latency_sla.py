#!/usr/bin/env python3
"""lowest-latency and sla with real RTTs: a TUN delay line (delayline/) in each uplink's far
end delays everything addressed to the far end (probes and test streams alike).

* lowest-latency (class rt, udp/5001, paths [wan1, wan2]): with wan1 at 30 ms and wan2 at
  10 ms it picks wan2. wan1 at 7 ms (3 ms better, under the 5 ms margin) does not move it
  for 5 s. wan1 at 1 ms (9 ms better) moves it, and a new real flow, within 3 s.
* sla (class voice, udp/5003, max_rtt_ms 40, hold_down_s 2, paths [wan1, wan2]): on wan1 at
  30 ms it is sla-met on wan1; wan1 at 60 ms breaks the SLA and voice moves to wan2 at once
  (as soon as the RTT mean crosses 40 ms); wan1 back at 30 ms returns voice to wan1 only after
  the 2 s hold-down, and new real flows follow."""

import os
import time
import unittest

from delayline.harness import DelayLine
from fixture import UPLINKS, NetnsTestCase, wait_until

RT, VOICE = 5001, 5003

POLICY = """version: 1
lan_interfaces: [lan0]
wans:
  wan1:
    interface: wan1
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 400, down_after: 3, up_after: 3 }}
  wan2:
    interface: wan2
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 400, down_after: 3, up_after: 3 }}
classes:
  rt:
    match: [ {{ proto: udp, dport: {rt} }} ]
    strategy: lowest-latency
    paths: [wan1, wan2]
  voice:
    match: [ {{ proto: udp, dport: {voice} }} ]
    strategy: sla
    sla: {{ max_rtt_ms: 40 }}
    hold_down_s: 2
    paths: [wan1, wan2]
  default:
    paths: [wan1, wan2]
"""


class LatencyAndSla(NetnsTestCase):
    needs = ("PATHSTEERD", "PS_DELAYLINE")
    _BINARY_NAMES = dict(NetnsTestCase._BINARY_NAMES, PS_DELAYLINE="ps_delayline")

    def setUp(self):
        super().setUp()
        self.lines = {}
        for uplink, delay in (("wan1", 30), ("wan2", 10)):
            line = DelayLine(self.topo, uplink, delay_ms=delay, seed=7).start()
            self.addCleanup(line.stop)
            self.lines[uplink] = line
        path = os.path.join(self.topo.tmpdir, "latency.yaml")
        with open(path, "w") as f:
            f.write(POLICY.format(rt=RT, voice=VOICE))
        self.start_daemon(policy=path)
        self.topo.wait_all_up()

    def where(self, port):
        result = self.topo.run_stream(port, count=100, rate=500)
        counts = {u: result.count(u) for u in UPLINKS}
        self.assertEqual(sum(counts.values()), 100, counts)
        return {u for u, n in counts.items() if n > 0}

    def rtt(self, uplink):
        return self.topo.wan(uplink)["rtt_ms"]

    def test_lowest_latency_moves_only_past_the_margin(self):
        wait_until(lambda: self.topo.klass("rt")["uplink"] == "wan2", 5,
                   "class rt on the faster wan2 (10 ms against 30 ms)")
        self.assertEqual(self.topo.klass("rt")["reason"], "lowest-latency")
        self.assertEqual(self.where(RT), {"wan2"})

        self.lines["wan1"].set(7)
        wait_until(lambda: abs(self.rtt("wan1") - 7) < 1, 3, "wan1's RTT mean at 7 ms")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.assertEqual(self.topo.klass("rt")["uplink"], "wan2",
                             "moved for a 3 ms gain, under the 5 ms margin")
            time.sleep(0.1)
        self.assertEqual(self.where(RT), {"wan2"})

        changed = time.monotonic()
        self.lines["wan1"].set(1)
        wait_until(lambda: self.topo.klass("rt")["uplink"] == "wan1", 3,
                   "class rt on wan1 within 3 s of wan1 becoming 9 ms faster")
        took = time.monotonic() - changed
        self.assertEqual(self.where(RT), {"wan1"})
        print(f"\nlowest-latency: moved {took:.2f} s after the change (new flows within "
              f"{time.monotonic() - changed:.2f} s)")
        self.assertLess(time.monotonic() - changed, 3.5)

    def test_sla_leaves_a_broken_uplink_and_returns_after_hold_down(self):
        wait_until(lambda: (c := self.topo.klass("voice"))["uplink"] == "wan1"
                   and c["reason"] == "sla-met", 5, "class voice sla-met on wan1 (30 ms)")
        self.assertEqual(self.where(VOICE), {"wan1"})

        self.lines["wan1"].set(60)
        broke = time.monotonic()
        wait_until(lambda: self.topo.klass("voice")["uplink"] == "wan2", 3,
                   "class voice off wan1 once its RTT breaks max_rtt_ms 40")
        print(f"\nsla: left wan1 {time.monotonic() - broke:.2f} s after it went to 60 ms")
        self.assertEqual(self.where(VOICE), {"wan2"})

        wait_until(lambda: self.rtt("wan1") > 55, 3, "wan1's RTT mean near 60 ms")
        self.lines["wan1"].set(30)
        held = wait_until(lambda: (c := self.topo.klass("voice"))["reason"] == "hold-down"
                          and time.monotonic(), 3,
                          "class voice in hold-down once wan1 meets the SLA again")
        self.assertEqual(self.topo.klass("voice")["uplink"], "wan2")
        self.assertLessEqual(self.rtt("wan1"), 40)
        met = held
        wait_until(lambda: self.topo.klass("voice")["uplink"] == "wan1", 5,
                   "class voice back on wan1 after the hold-down")
        back = time.monotonic() - met
        print(f"sla: back on wan1 {back:.2f} s after wan1 met the SLA again (hold-down 2 s)")
        self.assertGreaterEqual(back, 1.7, "failed back before the hold-down ended")
        self.assertLess(back, 3.5)
        self.assertEqual(self.where(VOICE), {"wan1"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
