#!/usr/bin/env python3
"""The fleet (DESIGN section 13) end to end: a real 3-member etcd cluster on loopback in a test
namespace, three gateway labs each running the real pathsteerd as node gw0..gw2 in group
`branch`, real traffic.

One rig for the whole class (building 13 namespaces and 3 daemons costs ~10 s on a loaded
2-core machine); the tests run in name order and each leaves the fleet as it found it (no
policy key, no intent), except the last ones, which restart members and nodes.
"""

import json
import os
import signal
import statistics
import sys
import time
import unittest

import fixture
import fleet_rig
from fleet_rig import PREFIX, two_wan_with, only_wan1

GROUP_KEY = f"{PREFIX}/policy/groups/branch"
# How long a wait for a change to show may take before it counts as lost. Not a figure of
# merit (test_1 holds apply latency to the rig's own budget, test_7 rollback to confirm_s):
# a loaded 2-core machine, where etcd's fsync and raft heartbeats queue behind everything
# else, took over 5 s for a put to show now and then in the soak.
SETTLE_S = 15


def p99(values):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


class Fleet(unittest.TestCase):
    rig = None

    @classmethod
    def setUpClass(cls):
        fixture.require_root()
        for tool in (fleet_rig.ETCD, fleet_rig.ETCDCTL):
            if not os.access(tool, os.X_OK):
                msg = f"{tool} is missing (apt install etcd-server etcd-client)"
                if os.environ.get("CI") == "true":
                    raise RuntimeError(msg + ", and CI=true: refusing to skip")
                raise unittest.SkipTest(msg)
        cls.pathsteerd = fixture.find_binary("PATHSTEERD", "pathsteerd")
        cls.pathsteer = fixture.find_binary("PATHSTEER", "pathsteer")
        cls.rig = fleet_rig.FleetRig(labs=3, confirm_s=8)
        try:
            cls.rig.setup(cls.pathsteerd)
        except BaseException:
            print(cls.rig.diagnostics() if cls.rig.etcd else "", file=sys.stderr)
            cls.rig.teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.rig:
            codes = [lab.stop_daemon() for lab in cls.rig.labs]
            cls.rig.teardown()
            for i, rc in enumerate(codes):
                if rc not in (None, 0):
                    raise AssertionError(f"gw{i}'s pathsteerd exited with {rc} on SIGTERM")

    def run(self, result=None):
        self._result = result
        return super().run(result)

    def tearDown(self):
        r = self._result
        if r is not None and (r.failures or r.errors):
            print("\n" + self.rig.diagnostics(), file=sys.stderr)

    # -- helpers --

    @property
    def labs(self):
        return self.rig.labs

    def wait_video(self, lab, want, timeout, what):
        return fixture.wait_until(lambda: self.rig.video(lab) == want, timeout, what)

    def assert_traffic(self, lab, port, want, count=200):
        result = lab.run_stream(port, count=count, rate=1000)
        self.assertEqual(result.count(want), count, result.describe())

    def cli(self, *args, lab=0):
        eps = ",".join(self.rig.etcd.endpoints(host=f"10.250.{lab}.1"))
        return self.labs[lab].cli(self.pathsteer, "fleet", *args, "--endpoints", eps)

    def local_apply_latency(self, rounds=5):
        """The rig's own figure: how long this loaded machine takes from a policy PUT on a
        node's API to its status showing the move (no etcd involved), p99 over `rounds`."""
        lab = self.labs[0]
        token = lab.token
        # The local API refuses a PUT while a fleet policy is in force: measure first.
        took = []
        for k in range(rounds):
            want = "wan1" if self.rig.video(lab) == "wan2" else "wan2"
            other = "wan2" if want == "wan1" else "wan1"
            text = self.rig.local_policy(0).replace("paths: [wan2, wan1]",
                                                    f"paths: [{want}, {other}]", 1)
            t0 = time.monotonic()
            code, _, raw = lab.http("PUT", "/v1/policy", body={"text": text}, token=token)
            self.assertEqual(code, 200, raw)
            self.wait_video(lab, want, 10, f"the local PUT to move video to {want}")
            took.append(time.monotonic() - t0)
        # Back to the file's own text.
        lab.http("PUT", "/v1/policy", body={"text": self.rig.local_policy(0)}, token=token)
        self.wait_video(lab, "wan2", 10, "video back on wan2")
        return p99(took)

    def node_status(self, i):
        key = f"{PREFIX}/status/gw{i}"
        return json.loads(self.rig.etcd.get_json(key).get(key, "{}"))

    def wait_confirmed(self, nodes, rev):
        """Until each node's status says it confirmed the group key at revision `rev` (a
        status still showing the previous change's "confirmed" does not count)."""
        origin = f"etcd:{GROUP_KEY}@{rev}"

        def confirmed(i):
            s = self.node_status(i)
            return (s.get("policy", {}).get("source") == origin
                    and s.get("rollback", {}).get("state") == "confirmed")

        fixture.wait_until(lambda: all(confirmed(i) for i in nodes), self.rig.confirm_s + SETTLE_S,
                           f"nodes {list(nodes)} to confirm {origin}")

    # -- the tests, in order --

    def test_1_group_policy_steers_all_three(self):
        for lab in self.labs:
            self.assertEqual(self.rig.video(lab), "wan2")  # the file's policy
        budget = 1.0 + self.local_apply_latency()
        took = []
        want = "wan2"
        for k in range(20):
            want = "wan1" if want == "wan2" else "wan2"
            other = "wan2" if want == "wan1" else "wan1"
            t0 = time.monotonic()
            self.rig.etcd.put(GROUP_KEY, two_wan_with([want, other]))
            # Polled on all three at once; the last one to show it ends the round.
            fixture.wait_until(lambda: all(self.rig.video(lab) == want for lab in self.labs),
                               10, f"change {k}: video on {want} on all three nodes",
                               interval=0.01)
            took.append(time.monotonic() - t0)
        print(f"\nfleet: group put -> applied on all 3 nodes over {len(took)} changes: "
              f"p50 {statistics.median(took) * 1000:.0f} ms, p99 {p99(took) * 1000:.0f} ms, "
              f"max {max(took) * 1000:.0f} ms (budget 1 s + the rig's local apply p99 = "
              f"{budget * 1000:.0f} ms)", file=sys.stderr)
        self.assertLessEqual(p99(took), budget)
        # Real traffic follows on every node (the last change put video on `want`).
        for lab in self.labs:
            self.assert_traffic(lab, 5001, want)
            st = lab.status()
            self.assertTrue(st["policy_source"].startswith(f"etcd:{GROUP_KEY}@"), st["policy_source"])
        # Deleting the key gives each node its file's policy back.
        self.rig.etcd.ctl("del", GROUP_KEY)
        for i, lab in enumerate(self.labs):
            self.wait_video(lab, "wan2", SETTLE_S, f"gw{i} back on its file's policy")
            self.assertEqual(lab.status()["policy_source"], "file")

    def test_2_node_key_overrides_the_group_for_that_node_only(self):
        self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan2", "wan1"]))
        for lab in self.labs:
            self.wait_video(lab, "wan2", SETTLE_S, "the group policy")
        node_key = f"{PREFIX}/policy/nodes/gw1"
        self.rig.etcd.put(node_key, two_wan_with(["wan1", "wan2"]))
        self.wait_video(self.labs[1], "wan1", SETTLE_S, "gw1 to take its node key")
        self.assertTrue(self.labs[1].status()["policy_source"].startswith(f"etcd:{node_key}@"))
        for i in (0, 2):
            self.assertEqual(self.rig.video(self.labs[i]), "wan2", f"gw{i} moved")
            self.assertTrue(self.labs[i].status()["policy_source"].startswith(f"etcd:{GROUP_KEY}@"))
        self.assert_traffic(self.labs[1], 5001, "wan1")
        self.assert_traffic(self.labs[0], 5001, "wan2")
        # A bad node key is rejected on that node, with the errors in its status key; the
        # node keeps the group's... its last applied policy.
        self.rig.etcd.put(node_key, "version: 1\nwans: {}\n")
        def rejected():
            s = json.loads(self.rig.etcd.get_json(f"{PREFIX}/status/gw1").get(
                f"{PREFIX}/status/gw1", "{}"))
            return s if s.get("policy", {}).get("state") == "rejected" else None
        s = fixture.wait_until(rejected, SETTLE_S, "gw1's status to say rejected")
        self.assertTrue(any("etcd:" + node_key in e for e in s["policy"]["errors"]), s)
        self.assertEqual(self.rig.video(self.labs[1]), "wan1")
        self.rig.etcd.ctl("del", node_key)
        self.wait_video(self.labs[1], "wan2", SETTLE_S, "gw1 back on the group's policy")

    def test_3_fleet_intent_for_one_node_moves_only_it_and_expires(self):
        for lab in self.labs:
            self.wait_video(lab, "wan2", SETTLE_S, "video on wan2")
        ttl = 8
        out = self.cli("intent", "add", "--class", "video", "--paths", "wan1", "--ttl", str(ttl),
                       "--nodes", "gw2", "--id", "move-gw2").stdout.strip()
        self.assertEqual(out, "move-gw2")
        t0 = time.monotonic()
        self.wait_video(self.labs[2], "wan1", ttl, "gw2 to take the fleet intent")
        body = json.loads(self.labs[2].http_get("/v1/intents")[1])
        listed = body if isinstance(body, list) else body.get("intents", body)
        self.assertTrue(any(it["id"] == "move-gw2" and it["source"] == "fleet" for it in listed),
                        listed)
        self.assert_traffic(self.labs[2], 5001, "wan1")
        for i in (0, 1):
            self.assertEqual(self.rig.video(self.labs[i]), "wan2", f"gw{i} moved")
        self.assert_traffic(self.labs[0], 5001, "wan2")
        # It expires (created_ms + ttl_s) without anyone deleting the key.
        self.wait_video(self.labs[2], "wan2", ttl + 5, "the fleet intent to expire on gw2")
        self.assertGreaterEqual(time.monotonic() - t0, ttl - 1)
        self.cli("intent", "del", "move-gw2")

    def test_4_status_keys_and_cli(self):
        out = self.cli("status", "--json").stdout
        nodes = {s["node"]: s for s in json.loads(out)}
        self.assertEqual(sorted(nodes), ["gw0", "gw1", "gw2"])
        for name, s in nodes.items():
            self.assertEqual(len(s["wans"]), 2, s)
            self.assertGreater(s["generation"], 0)
        table = self.cli("status").stdout
        for name in ("gw0", "gw1", "gw2"):
            self.assertIn(name, table)
        # put-policy validates before it writes.
        bad = os.path.join(self.labs[0].tmpdir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("version: 1\nwans:\n  wan1: { interface: eth1 }\nclasses: {}\nbogus: 1\n")
        r = self.labs[0].cli(self.pathsteer, "fleet", "put-policy", "--group", "branch", bad,
                             "--endpoints",
                             ",".join(self.rig.etcd.endpoints(host="10.250.0.1")), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.yaml:5:1", r.stderr)
        self.assertEqual(self.rig.etcd.get_json(GROUP_KEY), {
            GROUP_KEY: two_wan_with(["wan2", "wan1"])})

    def test_5_leader_killed_nothing_moves_and_changes_apply_after(self):
        leader = self.rig.etcd.leader()
        self.assertIsNotNone(leader)
        before = [self.rig.video(lab) for lab in self.labs]
        gens = [lab.status()["policy_generation"] for lab in self.labs]
        streams = [lab.send(5001, count=2000, rate=1000) for lab in self.labs]
        self.rig.etcd.stop(leader, signal.SIGKILL)
        survivors = [k for k in range(3) if k != leader]
        fixture.wait_until(lambda: self.rig.etcd.leader() in survivors, 20, "a new leader")
        for lab, stream, want in zip(self.labs, streams, before):
            result = lab.result(stream)
            self.assertEqual(result.count(want), 2000, result.describe())
        self.assertEqual([lab.status()["policy_generation"] for lab in self.labs], gens)
        self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan1", "wan2"]))
        for i, lab in enumerate(self.labs):
            self.wait_video(lab, "wan1", 15, f"gw{i} to apply a change after the re-election")
        self.rig.etcd.start(leader)
        self.rig.etcd.wait_ready()

    def test_6_all_etcd_stopped_nodes_steer_and_restart_from_cache(self):
        rev = self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan1", "wan2"]))
        for lab in self.labs:
            self.wait_video(lab, "wan1", 10, "the group policy")
        # Past confirm_s: etcd lost within it would (rightly) roll the change back.
        self.wait_confirmed(range(3), rev)
        for k in range(3):
            self.rig.etcd.stop(k)
        for lab in self.labs:
            self.assert_traffic(lab, 5001, "wan1")
        # A node restarted without etcd starts from its cached fleet policy.
        lab = self.labs[0]
        self.assertEqual(lab.stop_daemon(), 0)
        self.rig.start_node(0)
        lab.wait_all_up()
        self.assertTrue(lab.status()["policy_source"].startswith(f"etcd:{GROUP_KEY}@"))
        self.assertEqual(self.rig.video(lab), "wan1")
        self.assert_traffic(lab, 5001, "wan1")
        # etcd returns: the node reconnects and takes a new change.
        for k in range(3):
            self.rig.etcd.start(k)
        self.rig.etcd.wait_ready()
        self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan2", "wan1"]))
        for i, l in enumerate(self.labs):
            self.wait_video(l, "wan2", 30, f"gw{i} to reconnect and apply the change")

    def test_7_rollback_on_the_node_where_the_only_uplink_cannot_work(self):
        self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan2", "wan1"]))
        for lab in self.labs:
            self.wait_video(lab, "wan2", 10, "the group policy")
        # On gw2 the interface the new policy names does not exist (renamed away).
        gw2 = self.labs[2]
        gw2.ip("gw", "link", "set", "wan1", "down")
        gw2.ip("gw", "link", "set", "wan1", "name", "wan1x")
        gw2.ip("gw", "link", "set", "wan1x", "up")
        t0 = time.monotonic()
        rev = self.rig.etcd.put(GROUP_KEY, only_wan1())
        for i in (0, 1):
            self.wait_video(self.labs[i], "wan1", 10, f"gw{i} to take the one-uplink policy")
        def rolled_back():
            s = json.loads(self.rig.etcd.get_json(f"{PREFIX}/status/gw2").get(
                f"{PREFIX}/status/gw2", "{}"))
            return s if s.get("rollback", {}).get("state") == "rolled-back" else None
        s = fixture.wait_until(rolled_back, self.rig.confirm_s + 5, "gw2 to roll back")
        took = time.monotonic() - t0
        self.assertLessEqual(took, self.rig.confirm_s + 2, s)
        self.assertEqual(gw2.klass("default")["uplink"], "wan2")
        self.assert_traffic(gw2, 5002, "wan2")
        # The others keep it past confirm_s.
        self.wait_confirmed((0, 1), rev)
        for i in (0, 1):
            self.assertEqual(self.labs[i].klass("default")["uplink"], "wan1")

    # 60 s, as the issue asks: longer than the node's own clocks, the status lease
    # (status_ttl_s, 15 s: the key must expire and the node re-grant) and the watcher's
    # backoff cap (10 s: the reconnect must run through it) several times over.
    DROP_S = 60

    def test_8_cut_off_by_a_drop_catches_up_after_a_compaction(self):
        lab, i = self.labs[0], 0
        rev = self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan2", "wan1"]))
        for l in self.labs[:2]:
            self.wait_video(l, "wan2", 10, "the group policy")
        self.wait_confirmed((0, 1), rev)
        table = f"psfleet{os.getpid()}"
        nft = ["ip", "netns", "exec", lab.ns["gw"], "nft"]
        fixture.run(nft + ["add", "table", "inet", table])
        self.addCleanup(fixture.run, nft + ["delete", "table", "inet", table], check=False)
        for hook in ("input", "output"):
            fixture.run(nft + ["add", "chain", "inet", table, hook,
                               f"{{ type filter hook {hook} priority 0 ; }}"])
        fixture.run(nft + ["add", "rule", "inet", table, "output", "ip", "daddr",
                           f"10.250.{i}.1", "drop"])
        fixture.run(nft + ["add", "rule", "inet", table, "input", "ip", "saddr",
                           f"10.250.{i}.1", "drop"])
        t_drop = time.monotonic()
        # Changes the node misses: the group's and then its own key, then a compaction of
        # everything up to now, so the revision it would resume from is gone.
        self.rig.etcd.put(GROUP_KEY, two_wan_with(["wan1", "wan2"]))
        node_key = f"{PREFIX}/policy/nodes/gw{i}"
        rev = self.rig.etcd.put(node_key, two_wan_with(["wan1", "wan2"], ["wan2", "wan1"]))
        self.rig.etcd.ctl("compact", str(rev))
        self.wait_video(self.labs[1], "wan1", 10, "gw1 (not cut off) to take the change")
        # The node's status key expires with its lease.
        fixture.wait_until(lambda: not self.node_status(i), self.rig.confirm_s + 25,
                           "gw0's status key to expire")
        # Until the drop ends, the cut-off node steers as before, checked all along.
        while time.monotonic() - t_drop < self.DROP_S:
            self.assertEqual(self.rig.video(lab), "wan2")
            self.assertEqual(lab.klass("default")["uplink"], "wan1")
            time.sleep(0.5)  # a sampling interval, not a wait for a condition
        self.assert_traffic(lab, 5001, "wan2")
        fixture.run(nft + ["delete", "table", "inet", table])
        t_up = time.monotonic()
        # It catches up with both changes (its node key wins) through a re-list.
        fixture.wait_until(lambda: lab.klass("default")["uplink"] == "wan2", 30,
                           "gw0 to catch up with its node key")
        print(f"\nfleet: gw0 caught up {time.monotonic() - t_up:.1f} s after a "
              f"{t_up - t_drop:.0f} s drop", file=sys.stderr)
        self.assertEqual(self.rig.video(lab), "wan1")
        self.assertTrue(lab.status()["policy_source"].startswith(f"etcd:{node_key}@"))
        with open(lab.daemon.log_path, errors="replace") as f:
            self.assertIn("was compacted", f.read())
        fixture.wait_until(lambda: self.node_status(i).get("node") == "gw0", SETTLE_S,
                           "gw0's status key to come back")
        self.assert_traffic(lab, 5002, "wan2")
        self.rig.etcd.ctl("del", node_key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
