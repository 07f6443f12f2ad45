#!/usr/bin/env python3
"""The REST API against the real daemon (DESIGN section 9): every endpoint, and every error
code with the error body {"error": {"code", "message"}}.

Intents (POST/GET/DELETE /v1/intents, with TTLs moving real traffic) and explain have their
own test (test_intents.py); here they are covered for their error codes. Also:
* `PUT /v1/policy?dry_run=true` returns the plan difference and changes nothing in the kernel
  (the owned rules and routes, the data plane's steering, the file, the generation);
  without dry_run the same policy is applied at once and real traffic follows.
* `GET /metrics` passes `promtool check metrics` (Debian's prometheus package).
* GET /v1/wans/{name}/history grows one sample per second with rtt/jitter/loss/state."""

import os
import subprocess
import unittest

from fixture import UPLINKS, NetnsTestCase, wait_until

VIDEO = 5001
MOVE_VIDEO = ("    paths: [wan2, wan1]\n", "    paths: [wan1, wan2]\n")


class Api(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.policy, self.text = self.private_policy()
        self.assertEqual(self.text.count(MOVE_VIDEO[0]), 1, "two-wan.yaml's video class changed")
        self.token_path, self.token = self.topo.write_token()
        self.start_daemon(policy=self.policy, extra_args=["--token-file", self.token_path])
        self.topo.wait_all_up()

    def call(self, method, path, body=None, token=True, **kw):
        return self.topo.http(method, path, body, token=self.token if token else None, **kw)

    def assert_error(self, want, method, path, body=None, token=True, needle=None, **kw):
        code, err, raw = self.call(method, path, body, token, **kw)
        self.assertEqual(code, want, f"{method} {path}: {raw[:300]!r}")
        self.assertIsInstance(err, dict, raw[:300])
        self.assertEqual(set(err), {"error"}, err)
        self.assertIsInstance(err["error"].get("code"), str, err)
        self.assertIsInstance(err["error"].get("message"), str, err)
        if needle:
            self.assertIn(needle, err["error"]["message"])
        return err

    def where(self, port):
        result = self.topo.run_stream(port, count=200, rate=1000)
        return {u for u in UPLINKS if result.count(u) > 0}

    def test_read_endpoints(self):
        code, body, _ = self.call("GET", "/healthz", token=False)
        self.assertEqual((code, body), (200, {"status": "ok"}))
        code, st, _ = self.call("GET", "/v1/status", token=False)
        self.assertEqual(code, 200)
        for key in ("version", "uptime_s", "policy_generation", "wans", "classes", "intents"):
            self.assertIn(key, st)
        code, pol, _ = self.call("GET", "/v1/policy", token=False)
        self.assertEqual(code, 200)
        self.assertEqual(pol["text"], self.text)
        self.assertEqual(pol["path"], self.policy)

        hist = wait_until(lambda: (lambda h: h if len(h["samples"]) >= 2 else None)(
            self.call("GET", "/v1/wans/wan1/history", token=False)[1]), 10,
            "two history samples of wan1")
        self.assertEqual(hist["wan"], "wan1")
        self.assertGreaterEqual(len(hist["samples"]), 2)
        last = hist["samples"][-1]
        self.assertEqual(last["state"], "up")
        self.assertIsInstance(last["rtt_ms"], float)
        self.assertEqual(set(last), {"t_ms", "state", "rtt_ms", "jitter_ms", "loss_pct"})
        gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(hist["samples"], hist["samples"][1:])]
        self.assertTrue(all(800 <= g <= 1300 for g in gaps), gaps)
        code, newer, _ = self.call("GET", f"/v1/wans/wan1/history?since_ms={last['t_ms']}",
                                   token=False)
        self.assertEqual(code, 200)
        self.assertTrue(all(s["t_ms"] > last["t_ms"] for s in newer["samples"]))

        code, _, metrics = self.call("GET", "/metrics", token=False)
        self.assertEqual(code, 200)
        text = metrics.decode()
        for name in ("pathsteer_uplink_rtt_seconds{uplink=\"wan1\"}",
                     "pathsteer_uplink_up{uplink=\"wan2\"} 1",
                     "pathsteer_class_packets_total{class=\"video\"}",
                     "pathsteer_reconcile_runs_total", "pathsteer_probes_sent_total"):
            self.assertIn(name, text)
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics,
                               capture_output=True)
        self.assertEqual(check.returncode, 0,
                         f"promtool: {check.stdout.decode()} {check.stderr.decode()}")

    def test_error_codes(self):
        self.assert_error(404, "GET", "/v1/nosuch", token=False)
        self.assert_error(404, "GET", "/v1/wans/nosuch/history", token=False, needle="nosuch")
        self.assert_error(400, "GET", "/v1/wans/wan1/history?since_ms=soon", token=False)
        self.assert_error(405, "POST", "/healthz", token=False)
        self.assert_error(405, "DELETE", "/v1/status", token=False)
        self.assert_error(405, "POST", "/metrics", token=False)
        self.assert_error(405, "GET", "/v1/explain", token=False)
        self.assert_error(405, "PATCH", "/v1/policy")
        # Changes need the token; reads and explain do not.
        put = {"text": self.text}
        self.assert_error(401, "PUT", "/v1/policy", put, token=False, needle="Bearer")
        code, err, _ = self.topo.http("PUT", "/v1/policy", put, token="not-the-token")
        self.assertEqual(code, 401, err)
        self.assert_error(401, "POST", "/v1/intents",
                          {"class": "video", "paths": ["wan1"], "ttl_s": 5}, token=False)
        self.assert_error(401, "DELETE", "/v1/intents/i-0000000000000000", token=False)
        # 400 malformed, 422 valid JSON that breaks the policy's rules.
        self.assert_error(400, "PUT", "/v1/policy", b"{not json")
        self.assert_error(400, "PUT", "/v1/policy", {"txt": self.text}, needle="text")
        self.assert_error(400, "PUT", "/v1/policy?dry_run=maybe", put, needle="dry_run")
        err = self.assert_error(422, "PUT", "/v1/policy",
                                {"text": self.text.replace("interval_ms", "intervl_ms", 1)},
                                needle="intervl_ms")
        self.assertRegex(err["error"]["details"][0]["message"], r":\d+:\d+: ")
        self.assert_error(400, "POST", "/v1/explain", {"dst": "203.0.113.10"}, token=False,
                          needle="src")
        self.assert_error(422, "POST", "/v1/explain", {"src": "192.168.77.2", "dst": "2001:db8::1"},
                          token=False, needle="families")
        self.assert_error(404, "DELETE", "/v1/intents/i-0000000000000000", needle="i-0")
        self.assert_error(404, "GET", "/v1/intents/i-0000000000000000", token=False)
        req = {"class": "video", "paths": ["wan1"], "ttl_s": 30}
        code, first, _ = self.call("POST", "/v1/intents", req)
        self.assertEqual(code, 201, first)
        self.assert_error(409, "POST", "/v1/intents", req, needle=first["id"])
        code, got, _ = self.call("GET", f"/v1/intents/{first['id']}", token=False)
        self.assertEqual((code, got["class"]), (200, "video"))
        # 413: a body over 1 MiB is refused before anything parses it.
        big = b'{"text": "' + b"#" * (2 << 20) + b'"}'
        self.assert_error(413, "PUT", "/v1/policy", big)
        self.assertEqual(self.topo.status()["policy_generation"], 1)

    def test_dry_run_changes_nothing_then_put_applies(self):
        new_text = self.text.replace(*MOVE_VIDEO)
        before = self.topo.owned_state()
        code, res, raw = self.call("PUT", "/v1/policy?dry_run=true", {"text": new_text})
        self.assertEqual(code, 200, raw)
        self.assertEqual((res["dry_run"], res["applied"]), (True, False))
        moved = [c for c in res["diff"]["classes"] if c["class"] == "video"]
        self.assertEqual(len(moved), 1, res["diff"])
        self.assertEqual((moved[0]["before"]["uplink"], moved[0]["after"]["uplink"]),
                         ("wan2", "wan1"))
        self.assertTrue(res["diff"]["datapath_changed"], res["diff"])
        # Nothing changed (the dry run answered after planning, and changes nothing later):
        # kernel objects, steering, file, generation.
        self.assertEqual(self.topo.owned_state(), before)
        self.assertEqual(self.where(VIDEO), {"wan2"})
        with open(self.policy) as f:
            self.assertEqual(f.read(), self.text)
        st = self.topo.status()
        self.assertEqual(st["policy_generation"], 1)
        self.assertEqual(self.topo.klass("video", st)["uplink"], "wan2")

        # The CLI's diff prints the same move; put applies it.
        cli = self.topo.cli(self.bin["PATHSTEER"], "policy", "diff", self.write(new_text),
                            "--token-file", self.token_path).stdout
        self.assertIn("class video: wan2 (preferred) -> wan1 (preferred)", cli)
        code, res, raw = self.call("PUT", "/v1/policy", {"text": new_text})
        self.assertEqual(code, 200, raw)
        self.assertEqual((res["applied"], res["generation"]), (True, 2))
        self.assertEqual(self.topo.klass("video")["uplink"], "wan1")
        self.assertEqual(self.where(VIDEO), {"wan1"})
        with open(self.policy) as f:
            self.assertEqual(f.read(), new_text, "PUT must persist the policy file")
        # The file watch sees our own write and finds nothing to reload.
        wait_until(lambda: "rewritten with the policy in force" in self.topo.daemon.log_tail(200),
                   5, "the file watch to skip the daemon's own write")
        self.assertEqual(self.topo.status()["policy_generation"], 2)

    needs = ("PATHSTEERD", "PATHSTEER")

    def write(self, text):
        path = os.path.join(self.topo.tmpdir, "new.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path


if __name__ == "__main__":
    unittest.main(verbosity=2)
