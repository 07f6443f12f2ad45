#!/usr/bin/env python3
"""pathsteerd speaks sd_notify (issue 8) to a test that plays the service manager: a unix
datagram socket named by NOTIFY_SOCKET (a path, and an abstract '@name'), with WATCHDOG_USEC
set. READY=1 arrives only once the first plan is in the kernel (classifier on the LAN
interface, owned rules, routes); WATCHDOG=1 comes at half of WATCHDOG_USEC; SIGHUP brings
RELOADING=1 with MONOTONIC_USEC and then READY=1 (also when the new file is rejected, with the
rejection in STATUS=); so do a change of the policy file and PUT /v1/policy; SIGTERM brings
STOPPING=1."""

import os
import signal
import socket
import statistics
import sys
import time
import unittest

from fixture import NetnsTestCase, in_netns, wait_until
from infra_util import classifier_prog

WATCHDOG_USEC = 200_000  # pings expected every 100 ms
RULE_BASE, PROTOCOL = 10000, "201"


class ServiceManager:
    """The NOTIFY_SOCKET end: records (monotonic time, {VAR: value}) per datagram."""

    def __init__(self, name, netns):
        """Abstract unix socket names are per network namespace: the socket is made in the
        daemon's (`netns`)."""
        self.name = name
        self.sock = in_netns(netns, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)
        self.messages = []

    def close(self):
        self.sock.close()
        if not self.name.startswith("@") and os.path.exists(self.name):
            os.unlink(self.name)

    def pump(self, timeout):
        """Reads datagrams for up to `timeout` s (returns early when one arrives)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        msg = (time.monotonic(), fields)
        self.messages.append(msg)
        return msg

    def wait_for(self, key, timeout, value="1", on_arrival=None):
        """Pumps until a message with key=value arrives; returns its fields. on_arrival(fields)
        runs the moment it is read (before any later datagram is looked at)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.pump(deadline - time.monotonic())
            if msg and msg[1].get(key) == value:
                if on_arrival:
                    on_arrival(msg[1])
                return msg[1]
        raise TimeoutError(f"no {key}={value} within {timeout} s; got "
                           f"{[m[1] for m in self.messages][-10:]}")

    def keys(self, since=0):
        return [k for _, f in self.messages[since:] for k in f if k != "STATUS"]


class SdNotify(NetnsTestCase):

    def start_with_notify(self, name):
        self.sm = ServiceManager(name, self.topo.ns["gw"])
        self.addCleanup(self.sm.close)
        os.environ["NOTIFY_SOCKET"] = name
        os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        try:
            # The fixture waits for /healthz; the datagrams queue in our socket meanwhile.
            self.start_daemon()
        finally:
            del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]

    def kernel_has_first_plan(self, _fields=None):
        """What "the first plan is programmed" means in the kernel, read at READY=1."""
        state = self.topo.owned_state(RULE_BASE, PROTOCOL)
        self.ready_snapshot = {
            "classifier": classifier_prog(self.topo, "lan0") is not None,
            "rules": {f: len(state["rules"][f]) for f in (4, 6)},
            "routes": {f: len(state["routes"][f]) for f in (4, 6)},
        }

    def check_protocol(self):
        ready = self.sm.wait_for("READY", 10, on_arrival=self.kernel_has_first_plan)
        snap = self.ready_snapshot
        print(f"\nat READY=1: {snap}; STATUS={ready.get('STATUS')!r}", file=sys.stderr)
        self.assertTrue(snap["classifier"], "READY=1 before the classifier was attached")
        for f in (4, 6):
            self.assertGreater(snap["rules"][f], 0, f"READY=1 before the v{f} rules: {snap}")
            self.assertGreater(snap["routes"][f], 0, f"READY=1 before the v{f} routes: {snap}")
        self.assertIn("generation 1", ready.get("STATUS", ""))
        first = self.sm.keys()
        self.assertEqual(first[0], "READY", f"something before READY=1: {first}")

        # Watchdog cadence: half of WATCHDOG_USEC, measured over 2 s of pings.
        start = len(self.sm.messages)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            self.sm.pump(deadline - time.monotonic())
        pings = [t for t, f in self.sm.messages[start:] if f.get("WATCHDOG") == "1"]
        gaps = [(b - a) * 1000 for a, b in zip(pings, pings[1:])]
        median, worst = statistics.median(gaps), max(gaps)
        print(f"watchdog: {len(pings)} pings in 2 s, gap median {median:.1f} ms, "
              f"max {worst:.1f} ms (WATCHDOG_USEC={WATCHDOG_USEC})", file=sys.stderr)
        self.assertTrue(15 <= len(pings) <= 23, f"{len(pings)} pings in 2 s")
        self.assertTrue(90 <= median <= 110, f"median gap {median:.1f} ms")
        self.assertLess(worst, WATCHDOG_USEC / 1000, "a gap that would trip the watchdog")

        # SIGHUP: RELOADING=1 with this clock's MONOTONIC_USEC, then READY=1.
        pid = self.topo.daemon.proc.pid
        since = len(self.sm.messages)
        t_hup = time.clock_gettime(time.CLOCK_MONOTONIC)
        os.kill(pid, signal.SIGHUP)
        reloading = self.sm.wait_for("RELOADING", 5)
        mono = int(reloading["MONOTONIC_USEC"]) / 1e6
        self.assertTrue(t_hup <= mono <= t_hup + 2, f"MONOTONIC_USEC {mono} vs {t_hup}")
        ready = self.sm.wait_for("READY", 5)
        self.assertIn("generation 2", ready.get("STATUS", ""))
        order = [k for k in self.sm.keys(since) if k not in ("WATCHDOG", "MONOTONIC_USEC")]
        self.assertEqual(order[:2], ["RELOADING", "READY"], order)

        # SIGTERM: STOPPING=1, exit 0.
        since = len(self.sm.messages)
        rc = self.topo.stop_daemon()
        self.assertEqual(rc, 0)
        while self.sm.pump(0.2):
            pass
        self.assertIn("STOPPING", self.sm.keys(since))

    def test_path_socket(self):
        self.start_with_notify(os.path.join(self.topo.tmpdir, "notify.sock"))
        self.check_protocol()

    def test_abstract_socket(self):
        self.start_with_notify(f"@{self.topo.run_id}-notify")
        self.check_protocol()

    def test_rejected_reload_is_in_status(self):
        self.start_with_notify(f"@{self.topo.run_id}-notify")
        self.sm.wait_for("READY", 10)
        # Run from a copy of the policy, then break the copy.
        self.topo.stop_daemon()
        policy = os.path.join(self.topo.tmpdir, "policy.yaml")
        with open(self.topo.daemon.policy) as src, open(policy, "w") as dst:
            dst.write(src.read())
        os.environ["NOTIFY_SOCKET"] = self.sm.name
        try:
            self.start_daemon(policy)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.sm.wait_for("READY", 10)
        with open(policy, "w") as f:
            f.write("version: 1\nwans: [\n")
        os.kill(self.topo.daemon.proc.pid, signal.SIGHUP)
        self.sm.wait_for("RELOADING", 5)
        ready = self.sm.wait_for("READY", 5)
        print(f"\nafter a rejected reload: STATUS={ready.get('STATUS')!r}", file=sys.stderr)
        self.assertIn("reload rejected", ready.get("STATUS", ""))
        self.assertIn("generation 1", ready.get("STATUS", ""))
        self.assertIn("YAML syntax error", ready.get("STATUS", ""))
        self.assertTrue(self.topo.status()["policy_errors"])

    def test_file_and_api_reloads_are_framed(self):
        token_path, token = self.topo.write_token()
        name = f"@{self.topo.run_id}-notify"
        self.sm = ServiceManager(name, self.topo.ns["gw"])
        self.addCleanup(self.sm.close)
        policy, text = self.private_policy()  # the test edits it
        os.environ["NOTIFY_SOCKET"] = name
        try:
            self.start_daemon(policy, extra_args=["--token-file", token_path])
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.sm.wait_for("READY", 10)

        def expect_reload(generation, why):
            since = len(self.sm.messages)
            self.sm.wait_for("RELOADING", 5)
            ready = self.sm.wait_for("READY", 5)
            print(f"\n{why}: STATUS={ready.get('STATUS')!r}", file=sys.stderr)
            self.assertIn(f"generation {generation}", ready.get("STATUS", ""), why)
            return since

        # The file changes (no SIGHUP): the watch reloads it.
        with open(policy, "a") as f:
            f.write("# edited\n")
        expect_reload(2, "after the file changed")
        # PUT /v1/policy: one reload, framed; the watch then sees our own text and
        # does not reload again.
        code, body, _ = self.topo.http("PUT", "/v1/policy", {"text": text + "# put\n"},
                                       token=token)
        self.assertEqual(code, 200, body)
        since = expect_reload(3, "after PUT /v1/policy")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.sm.pump(deadline - time.monotonic())
        reloads = [k for k in self.sm.keys(since) if k == "RELOADING"]
        self.assertEqual(len(reloads), 1, self.sm.keys(since))


if __name__ == "__main__":
    unittest.main(verbosity=2)
