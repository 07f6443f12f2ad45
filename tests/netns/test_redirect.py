#!/usr/bin/env python3
"""redirect mode (`datapath: {mode: redirect}`): the classifier looks the next hop up in the
chosen uplink's table and hands the packet to bpf_redirect_neigh, so real traffic leaves by the
class's uplink without the ip rules; the data-plane counters say it was redirected, not marked
and routed. Needs a kernel whose bpf_fib_lookup takes a table id (6.5+); on older kernels the
test checks that status says redirect runs as mark mode and the traffic still arrives."""

import os
import unittest

from fixture import NetnsTestCase, policy_path

EXPECTED = {5001: "wan2", 5002: "wan1"}  # video = udp/5001 -> [wan2, wan1]; default -> wan1


class Redirect(NetnsTestCase):

    def redirect_policy(self):
        with open(policy_path()) as f:
            text = f.read()
        self.assertIn("datapath: { mode: mark }", text)
        path = os.path.join(self.topo.tmpdir, "redirect.yaml")
        with open(path, "w") as f:
            f.write(text.replace("datapath: { mode: mark }", "datapath: { mode: redirect }"))
        return path

    def test_redirect_forwards_out_of_the_chosen_uplink(self):
        self.start_daemon(self.redirect_policy())
        status = self.topo.wait_all_up()
        dp = status["datapath"]
        self.assertEqual(dp["mode"], "redirect")
        supported = dp["fib_table_lookup"]
        if supported:
            self.assertEqual(dp["effective_mode"], "redirect")
        before = dp["counters"]

        sent = 500 * self.assert_streams_land(EXPECTED, 500)
        after = self.topo.status()["datapath"]["counters"]
        if supported:
            self.assertGreaterEqual(after["redirected"] - before["redirected"], sent,
                                    f"counters: {after}")
            self.assertEqual(after["fallbacks"], before["fallbacks"],
                             "no packet of the streams may fall back to the mark")
        else:
            self.assertIn("mark (redirect unsupported", dp["effective_mode"])
            self.assertGreaterEqual(after["fallbacks"].get("no-kernel-support", 0), sent)
        for name in ("video", "default"):
            klass = self.topo.klass(name)
            self.assertGreaterEqual(klass["packets"], 1000, klass)
        wans = {w["name"]: w for w in self.topo.status()["wans"]}
        self.assertGreaterEqual(wans["wan1"]["packets"], 1000)
        self.assertGreaterEqual(wans["wan2"]["packets"], 1000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
