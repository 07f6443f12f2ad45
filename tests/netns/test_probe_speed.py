#!/usr/bin/env python3
"""Probe speed (issue 5): how fast pathsteerd notices wan1 going bad, and that it does not
come back or leave "degraded" too early. Times are CLOCK_REALTIME: the daemon's log lines
carry "HH:MM:SS.mmm" (UTC, truncated to the millisecond), the test stamps its own actions.

* Blackhole: nftables drops everything arriving at wan1's far end. wan1 probes every 50 ms
  (timeout 150, down_after 3); it must be down within interval x down_after + timeout + one
  interval = 350 ms, measured from just before `nft` is started to the log line
  "uplink wan1 is down" (+1 ms for the truncation). Three trials.
* Recovery: after the blackhole is removed, wan1 must come back only after up_after = 5 good
  rounds: the TUN delay line (delayline/, 2 ms) in wan1's far end logs every probe that
  went through, so the number of probes answered between the removal and the log line
  "uplink wan1 is up" must be exactly up_after (one target, one probe per round).
* Carrier: wan1's far end is set admin down; a netlink listener in the GW stamps the
  RTM_NEWLINK in which wan1 loses IFF_LOWER_UP; the log line "uplink wan1 is down" must
  follow within 20 ms.
* Degraded: degraded_if.rtt_ms 100, recover_if.rtt_ms 60, the delay line moving the RTT
  20 -> 80 (stays up) -> 120 (degraded) -> 80 (stays degraded) -> 30 (up again). "Stays" is
  watched for 30 probes at the new delay (the rtt_ms window is 10 replies).
"""

import datetime
import re
import subprocess
import sys
import threading
import time
import unittest

from delayline.harness import DelayLine
from fixture import NetnsTestCase, wait_until
from infra_util import LinkFlipper

LOG_LINE_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) pathsteer \w+: (.*)$")

POLICY = """\
version: 1
lan_interfaces: [lan0]
datapath: {{ mode: mark }}
wans:
  wan1:
    interface: wan1
    gateway: auto
    probes:
{probes}
    health:
      interval_ms: {interval}
      timeout_ms: {timeout}
      down_after: {down_after}
      up_after: {up_after}
{extra}
  wan2:
    interface: wan2
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
classes:
  default:
    strategy: failover
    paths: [wan1, wan2]
"""
V4_TARGET = "      - { method: icmp, target: 203.0.113.10 }"
BOTH_TARGETS = V4_TARGET + "\n      - { method: icmp, target: 2001:db8:ffff::10 }"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def realtime_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def mono_to_realtime_offset_ns():
    """CLOCK_REALTIME - CLOCK_MONOTONIC now (read back to back; error well below 1 ms)."""
    a = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    r = realtime_ns()
    b = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    return r - (a + b) // 2


class LogEvent:
    def __init__(self, t_ns, text):
        self.t_ns, self.text = t_ns, text


def daemon_log_events(path, near_ns):
    """(realtime ns, text) of every line of the daemon's log; the date (the log has only the
    time of day, UTC) is the one that puts the line nearest to near_ns."""
    near = datetime.datetime.fromtimestamp(near_ns / 1e9, tz=datetime.timezone.utc)
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_LINE_RE.match(line.rstrip("\n"))
            if not m:
                continue
            hh, mm, ss, ms = (int(x) for x in m.groups()[:4])
            best = None
            for day in (-1, 0, 1):
                d = (near + datetime.timedelta(days=day)).replace(
                    hour=hh, minute=mm, second=ss, microsecond=ms * 1000)
                t = int(d.timestamp()) * 10**9 + ms * 10**6
                if best is None or abs(t - near_ns) < abs(best - near_ns):
                    best = t
            out.append(LogEvent(best, m.group(5)))
    return out


# Runs in its own process inside the namespace, so that the receive time is not delayed by
# this test's threads (a thread would wait for the GIL: we saw 10 ms).
LINK_MONITOR = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((0, 1))  # RTMGRP_LINK
print("ready", flush=True)
while True:
    data = s.recv(65536)
    t = time.clock_gettime_ns(time.CLOCK_REALTIME)
    off = 0
    while off + 16 <= len(data):
        length, typ = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if typ == 16 and length >= 32:  # RTM_NEWLINK: ifinfomsg index, flags
            _f, _p, _t, index, flags, _c = struct.unpack_from("=BBHiII", data, off + 16)
            print(t, index, flags, flush=True)
        off += (length + 3) & ~3
"""


class LinkMonitor:
    """RTM_NEWLINK notifications of one namespace, stamped with CLOCK_REALTIME on arrival by
    a separate process blocked in recv()."""

    IFF_LOWER_UP = 0x10000

    def __init__(self, ns):
        self.ns = ns
        self.events = []  # (t_ns, ifindex, flags)
        self.proc = None
        self.thread = None
        self.lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c",
                                      LINK_MONITOR], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the link monitor did not start")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            t, index, flags = (int(x) for x in line.split())
            with self.lock:
                self.events.append((t, index, flags))

    def first_lost_carrier(self, ifindex, after_ns):
        with self.lock:
            return next((t for t, i, f in self.events
                         if i == ifindex and t >= after_ns and not f & self.IFF_LOWER_UP), None)

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.thread.join(2)
            self.proc.stdout.close()
            self.proc = None


class ProbeSpeed(NetnsTestCase):

    def start_with(self, probes=V4_TARGET, interval=50, timeout=150, down_after=3, up_after=5,
                   extra=""):
        path = f"{self.topo.tmpdir}/speed.yaml"
        with open(path, "w") as f:
            f.write(POLICY.format(probes=probes, interval=interval, timeout=timeout,
                                  down_after=down_after, up_after=up_after, extra=extra))
        self.start_daemon(path)
        return self.topo.wait_all_up()

    def log_events(self, near_ns, after_ns, text):
        """Daemon log lines containing `text` stamped at or after after_ns - 1 ms."""
        return [e for e in daemon_log_events(self.topo.daemon.log_path, near_ns)
                if text in e.text and e.t_ns >= after_ns - 1_000_000]

    def wait_log(self, after_ns, text, timeout):
        return wait_until(lambda: self.log_events(after_ns, after_ns, text), timeout,
                          f"log line {text!r}")[0]

    def wait_state(self, state, timeout=5):
        return wait_until(lambda: self.topo.wan("wan1")["state"] == state, timeout,
                          f"wan1 {state}")

    def test_blackhole_down_within_budget_then_recovery_after_up_after(self):
        interval, timeout, down_after, up_after = 50, 150, 3, 5
        budget_ms = interval * down_after + timeout + interval
        line = DelayLine(self.topo, "wan1", delay_ms=2, targets=("203.0.113.10",)).start()
        self.addCleanup(line.stop)
        self.start_with(interval=interval, timeout=timeout, down_after=down_after,
                        up_after=up_after)
        offset = mono_to_realtime_offset_ns()
        results = []
        for trial in range(3):
            t0 = realtime_ns()
            self.topo.blackhole("wan1", True)
            t0_after = realtime_ns()
            down = self.wait_log(t0, "uplink wan1 is down", 2)
            took = (down.t_ns + 1_000_000 - t0) / 1e6
            results.append(took)
            log(f"trial {trial}: blackhole -> \"{down.text}\" after {took:.0f} ms (budget "
                f"{budget_ms} ms; nft itself took {(t0_after - t0) / 1e6:.1f} ms)")
            self.assertLessEqual(took, budget_ms, down.text)

            t_heal = realtime_ns()
            self.topo.blackhole("wan1", False)
            up = self.wait_log(t_heal, "uplink wan1 is up", 3)
            answered = [r for r in line.records() if r.is_echo_request
                        and t_heal <= r.written_ns + offset <= up.t_ns + 1_000_000]
            log(f"trial {trial}: healed -> \"{up.text}\" after {(up.t_ns - t_heal) / 1e6:.0f} "
                f"ms, {len(answered)} probes answered in between (up_after {up_after})")
            self.assertEqual(len(answered), up_after,
                             [(r.icmp_seq, (r.written_ns + offset - t_heal) / 1e6)
                              for r in answered])
        log(f"blackhole detection: {', '.join(f'{x:.0f}' for x in results)} ms "
            f"(budget {budget_ms} ms)")

    def test_carrier_loss_down_within_20ms(self):
        self.start_with()
        mon = LinkMonitor(self.topo.ns["gw"]).start()
        self.addCleanup(mon.stop)
        ifindex = self.topo.gw_link("wan1")["ifindex"]
        # wan1's far end down with one rtnetlink request from this process: the kernel takes
        # the veth peer's carrier down while it handles it, so t0 is not delayed by an `ip`
        # process's start-up (which a loaded host stretches to 20 ms).
        flipper = LinkFlipper(self.topo.ns["up1"], "up0")
        self.addCleanup(flipper.close)
        t0 = realtime_ns()
        flipper.set(False)
        t1 = realtime_ns()
        t_event = wait_until(lambda: mon.first_lost_carrier(ifindex, t0), 2,
                             "RTM_NEWLINK: wan1 without LOWER_UP")
        log(f"carrier: the kernel took wan1's far end down within {(t1 - t0) / 1e6:.2f} ms "
            "of the request")
        down = self.wait_log(t0, "uplink wan1 is down", 2)
        lag = (down.t_ns + 1_000_000 - t_event) / 1e6
        log(f"carrier: RTM_NEWLINK at +{(t_event - t0) / 1e6:.1f} ms, \"{down.text}\" logged "
            f"{lag:.1f} ms after it (<= 1 ms of it is the log's truncation)")
        self.assertIn("carrier", down.text)
        # What the daemon answers for is its lag behind the link event as user space on this
        # host can see it. The kernel sends RTM_NEWLINK for a carrier change from its
        # linkwatch worker, a kworker that competes for the CPU like everyone else: beside
        # scripts/soak.sh's two busy loops it ran 18-20 ms after the request, so a bound taken
        # from the request measures the host's load, not the daemon. The rig's own listener
        # (a process blocked in recv(), like the daemon) stamps when the event became
        # visible; the daemon must have logged the uplink down within 20 ms of that.
        bound = (down.t_ns + 1_000_000 - t0) / 1e6
        log(f"carrier: from the request to the log line: {bound:.1f} ms, of which the "
            f"event's delivery to user space took {(t_event - t0) / 1e6:.1f} ms")
        self.assertLessEqual(lag, 20.0)

    def test_degraded_and_recovery_thresholds(self):
        line = DelayLine(self.topo, "wan1", delay_ms=20).start()
        self.addCleanup(line.stop)
        extra = ("      degraded_if: { rtt_ms: 100 }\n"
                 "      recover_if: { rtt_ms: 60 }")
        try:
            self.start_with(probes=BOTH_TARGETS, interval=20, timeout=400, down_after=3,
                            up_after=3, extra=extra)
        except Exception as e:
            if "recover_if" in str(e) or "degraded" in str(e):
                self.fail(f"pending: the daemon does not take recover_if yet (helper P1): {e}")
            raise

        def hold(delay, want, probes=30):
            """Sets the delay; the state must be `want` until `probes` probes came back."""
            line.set(delay)
            t = time.monotonic_ns()
            seen = []

            def enough():
                state = self.topo.wan("wan1")["state"]
                seen.append(state)
                n = sum(1 for r in line.records() if r.is_echo_request and r.arrival_ns > t)
                return n >= probes

            wait_until(enough, 10, f"{probes} probes at {delay} ms")
            log(f"{delay} ms: states seen {sorted(set(seen))} over {len(seen)} readings")
            self.assertEqual(set(seen), {want}, f"at {delay} ms")

        def reach(delay, want):
            line.set(delay)
            t = realtime_ns()
            self.wait_state(want, 5)
            log(f"{delay} ms: {want} after {(realtime_ns() - t) / 1e6:.0f} ms")

        hold(80, "up")            # above recover_if, below degraded_if: nothing to do
        reach(120, "degraded")    # crossed degraded_if
        hold(80, "degraded")      # below degraded_if but not yet below recover_if
        reach(30, "up")           # below recover_if


if __name__ == "__main__":
    unittest.main(verbosity=2)
