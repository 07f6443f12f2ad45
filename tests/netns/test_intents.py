#!/usr/bin/env python3
"""Intents and explain against the real daemon (DESIGN sections 6, 8, 9).

* An intent added with `pathsteer intent add` moves a class's real traffic to the named uplink
  at once, shows in status with reason "intent", and expires on time: traffic returns.
* An intent survives a daemon restart (it is persisted in the state directory).
* Changes need the bearer token: none and a wrong one are refused with 401.
* `pathsteer explain` (the loaded classifier run on a crafted packet) names the uplink where
  the same 5-tuple's real packets arrive, IPv4 and IPv6, before and during an intent."""

import time
import unittest

from fixture import (DST_V4, DST_V6, LAN_V4, LAN_V6, UPLINKS, NetnsTestCase, wait_until)

VIDEO, DEFAULT = 5001, 5002  # two-wan.yaml: video = udp/5001 -> [wan2, wan1]; default -> [wan1, wan2]


class Intents(NetnsTestCase):
    needs = ("PATHSTEERD", "PATHSTEER")

    def setUp(self):
        super().setUp()
        self.token_path, self.token = self.topo.write_token()
        self.start_daemon(extra_args=["--token-file", self.token_path])
        self.topo.wait_all_up()

    def cli(self, *args, check=True):
        return self.topo.cli(self.bin["PATHSTEER"], *args, check=check)

    def explain(self, port, family=4):
        import json
        src, dst = (LAN_V6, DST_V6) if family == 6 else (LAN_V4, DST_V4)
        out = self.cli("explain", "--src", src, "--dst", dst, "--proto", "udp", "--sport",
                       "40000", "--dport", str(port), "--json").stdout
        return json.loads(out)

    def where(self, port, family=4, count=200):
        """The uplink(s) where a real 200-packet stream to `port` arrived."""
        result = self.topo.run_stream(port, count=count, rate=1000, family=family)
        got = {u: result.count(u) for u in UPLINKS}
        return {u for u, n in got.items() if n > 0}, got

    def assert_explain_agrees(self, port, want, family=4):
        ex = self.explain(port, family)
        arrived, counts = self.where(port, family)
        self.assertEqual(arrived, {want}, f"real traffic to {port}/v{family}: {counts}")
        self.assertEqual(ex["uplink"], want, ex)
        self.assertEqual(ex["source"], "classifier", ex)
        return ex

    def test_intent_moves_traffic_and_expires(self):
        for family in (4, 6):
            ex = self.assert_explain_agrees(DEFAULT, "wan1", family)
            self.assertEqual(ex["class"], "default", ex)
            self.assertEqual(ex["reason"], "preferred", ex)

        ttl = 4
        added = time.monotonic()
        intent_id = self.cli("intent", "add", "--class", "default", "--paths", "wan2", "--ttl",
                             str(ttl), "--comment", "netns test", "--token-file",
                             self.token_path).stdout.strip()
        self.assertTrue(intent_id.startswith("i-"), intent_id)
        cls = self.topo.klass("default")
        self.assertEqual((cls["uplink"], cls["reason"], cls["intent"]), ("wan2", "intent", True))
        for family in (4, 6):
            ex = self.assert_explain_agrees(DEFAULT, "wan2", family)
            self.assertTrue(ex["intent"], ex)
        # The other class is untouched.
        self.assert_explain_agrees(VIDEO, "wan2")

        listed = self.cli("intent", "list").stdout
        self.assertIn(intent_id, listed)
        self.assertIn("netns test", listed)

        wait_until(lambda: self.topo.klass("default")["uplink"] == "wan1", ttl + 2,
                   "class default back on wan1 after the intent's TTL")
        took = time.monotonic() - added
        print(f"\nintent with ttl {ttl} s expired after {took:.2f} s")
        self.assertGreaterEqual(took, ttl - 0.3)
        self.assertLess(took, ttl + 1.0)
        self.assertEqual(self.topo.status()["intents"], [])
        self.assert_explain_agrees(DEFAULT, "wan1")

    def test_intent_survives_restart(self):
        code, body, _ = self.topo.http("POST", "/v1/intents",
                                       {"class": "default", "paths": ["wan2"], "ttl_s": 600},
                                       token=self.token)
        self.assertEqual(code, 201, body)
        self.assertEqual(self.where(DEFAULT)[0], {"wan2"})
        self.assertEqual(self.topo.stop_daemon(), 0)
        self.start_daemon(extra_args=["--token-file", self.token_path])
        self.topo.wait_all_up()
        status = self.topo.status()
        self.assertEqual([i["id"] for i in status["intents"]], [body["id"]])
        self.assertEqual(self.topo.klass("default", status)["reason"], "intent")
        self.assert_explain_agrees(DEFAULT, "wan2")
        # Deleting it returns the class to its preferred uplink.
        code, _, _ = self.topo.http("DELETE", f"/v1/intents/{body['id']}", token=self.token)
        self.assertEqual(code, 204)
        self.assertEqual(self.topo.klass("default")["uplink"], "wan1")
        code, err, _ = self.topo.http("DELETE", f"/v1/intents/{body['id']}", token=self.token)
        self.assertEqual(code, 404, err)

    def test_changes_need_the_token(self):
        req = {"class": "default", "paths": ["wan2"], "ttl_s": 60}
        for token in (None, "wrong-token"):
            code, err, _ = self.topo.http("POST", "/v1/intents", req, token=token)
            self.assertEqual(code, 401, err)
            self.assertIn("message", err["error"])
        self.assertEqual(self.topo.status()["intents"], [])
        proc = self.cli("intent", "add", "--class", "default", "--paths", "wan2", "--ttl", "60",
                        check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("token", proc.stderr)
        # Errors name the bad input, with the status code that fits.
        cases = [({"class": "nosuch", "paths": ["wan2"], "ttl_s": 60}, 422, "nosuch"),
                 ({"class": "default", "paths": ["wan9"], "ttl_s": 60}, 422, "wan9"),
                 ({"class": "default", "paths": ["wan2"]}, 400, "ttl_s"),
                 (b"{not json", 400, "JSON")]
        for body, want, needle in cases:
            code, err, _ = self.topo.http("POST", "/v1/intents", body, token=self.token)
            self.assertEqual(code, want, (body, err))
            self.assertIn(needle, err["error"]["message"])
        code, first, _ = self.topo.http("POST", "/v1/intents", req, token=self.token)
        self.assertEqual(code, 201, first)
        code, err, _ = self.topo.http("POST", "/v1/intents", req, token=self.token)
        self.assertEqual(code, 409, err)
        self.assertIn(first["id"], err["error"]["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
