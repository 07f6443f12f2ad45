#!/usr/bin/env python3
"""Slow API clients cannot stall the daemon (issue 7).

While 4 x 64 hostile connections sit on the API —
  (a) a request header sent one byte every 0.2 s, never finished,
  (b) 100 pipelined GET /metrics and the responses never read, with a 4 KiB receive buffer,
  (c) connected, nothing sent,
  (d) a POST /v1/explain (needs no token: a change without one is refused before its body)
      whose 1,000-byte body comes one byte every 0.2 s (cpprestsdk dispatched a request once its
      header was in, so this is the case that used to pin a server thread each) —
the daemon must keep probing on time (lateness p99 <= 20 ms beyond the host's own p99, which
a process timing its sleeps beside the test measures, over the attack window, from the
/metrics histogram; the 5 ms target is bench/api_bench's), answer GET /healthz from another client quickly (every call 200, p99
< 250 ms, none over 1 s), fail over on a carrier pull within test_failover's budget, not burn
CPU, and afterwards still answer and exit 0 on SIGTERM."""

import os
import socket
import sys
import threading
import time
import unittest

from fixture import API_PORT, NetnsTestCase, in_netns, wait_until
from infra_util import HostLateness, lateness_bound_ms

PER_KIND = 64
DRIBBLE_S = 0.2
ATTACK_S = 8.0
CARRIER_BUDGET_MS = 100  # as test_failover
HEALTHZ_P99_MS = 250
HEALTHZ_MAX_MS = 1000
# A stall caused by the clients would last seconds (the old failure pinned every server thread
# for 5 s); 20 ms leaves room for the carrier pull inside the window and a busy CI machine,
# where the p99 of ~160 probes is the second-worst one. bench/api_bench holds the 5 ms target.
LATENESS_P99_MS = 20.0
DAEMON_CPU_PCT = 50.0


def parse_lateness(metrics_text):
    """{le_seconds (float, inf for +Inf): cumulative count} of pathsteer_probe_lateness_seconds."""
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith("pathsteer_probe_lateness_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def window_quantile(before, after, q):
    """The upper edge (ms) of the bucket that holds quantile q of the samples added between two
    histogram snapshots; None without samples."""
    edges = sorted(after)
    total = after[float("inf")] - before.get(float("inf"), 0)
    if total <= 0:
        return None
    for le in edges:
        if after[le] - before.get(le, 0) >= q * total:
            return le * 1000
    return float("inf")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SlowClients(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon()
        self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("default")["uplink"], "wan1")
        self.socks = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for s in self.socks:
            s.close()
        self.socks = []

    def open_conns(self, n, rcvbuf=None):
        def make():
            out = []
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if rcvbuf:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                s.connect(("127.0.0.1", API_PORT))
                out.append(s)
            return out

        conns = in_netns(self.topo.ns["gw"], make)
        self.socks.extend(conns)
        return conns

    def metrics(self):
        code, body = self.topo.http_get("/metrics", timeout=5)
        self.assertEqual(code, 200)
        return parse_lateness(body.decode())

    def test_slow_clients_do_not_stall_the_daemon(self):
        pid = self.topo.daemon.proc.pid
        hist0, cpu0, t0 = self.metrics(), cpu_seconds(pid), time.monotonic()
        meter = HostLateness().start()
        self.addCleanup(meter.kill)

        header_a = (b"GET /v1/status HTTP/1.1\r\nHost: a\r\n" + b"X-Slow: " + b"x" * 400)
        head_d = (b"POST /v1/explain HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        kind_a = self.open_conns(PER_KIND)
        kind_b = self.open_conns(PER_KIND, rcvbuf=4096)
        self.open_conns(PER_KIND)  # kind c: nothing is ever sent
        kind_d = self.open_conns(PER_KIND)
        for s in kind_b:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n" * 100)
        for s in kind_d:
            s.sendall(head_d)

        stop = threading.Event()

        def dribble():
            i = 0
            while not stop.wait(DRIBBLE_S):
                for s in kind_a:
                    s.send(header_a[i % len(header_a):i % len(header_a) + 1])
                for s in kind_d:
                    s.send(b" ")
                i += 1

        latencies, failures = [], []

        def poll_healthz():
            while not stop.is_set():
                start = time.monotonic()
                try:
                    code, _ = self.topo.http_get("/healthz", timeout=5)
                    if code != 200:
                        failures.append(f"status {code}")
                except OSError as e:
                    failures.append(repr(e))
                latencies.append((time.monotonic() - start) * 1000)
                stop.wait(0.05)

        threads = [threading.Thread(target=dribble), threading.Thread(target=poll_healthz)]
        for t in threads:
            t.start()
        try:
            time.sleep(ATTACK_S / 2)
            # A carrier pull in the middle of it: class default must leave wan1 as fast as
            # without the attack (a 1,000 pkt/s stream measures the interruption).
            stream = self.topo.send(5002, count=3000, rate=1000)
            wait_until(lambda: len(self.topo.received(stream)["wan1"]) >= 300, 10,
                       "300 packets of the stream at wan1's far end")
            self.topo.set_carrier("wan1", False)
            result = self.topo.result(stream)
            time.sleep(max(0.0, ATTACK_S - (time.monotonic() - t0)))
            hist1, cpu1, t1 = self.metrics(), cpu_seconds(pid), time.monotonic()
            host = meter.stop()
        finally:
            stop.set()
            for t in threads:
                t.join()

        lat = sorted(latencies)
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None
        late50 = window_quantile(hist0, hist1, 0.5)
        late99 = window_quantile(hist0, hist1, 0.99)
        cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
        late_bound = lateness_bound_ms(hist1, host["p99_ms"], LATENESS_P99_MS)
        print(f"\n{4 * PER_KIND} slow connections for {t1 - t0:.1f} s: GET /healthz x{len(lat)}"
              f" p50 {lat[len(lat) // 2]:.1f} ms p99 {p99:.1f} ms max {lat[-1]:.1f} ms, "
              f"{len(failures)} failed; probe lateness p50 <= {late50} ms, p99 <= {late99} ms "
              f"(bucket edges; bound {late_bound} ms: the host's own p99 {host['p99_ms']:.1f} ms + "
              f"{LATENESS_P99_MS} ms); daemon cpu {cpu_pct:.1f} % of one core; carrier pull: "
              f"{result.describe()}", file=sys.stderr)

        self.assertFalse(failures, f"GET /healthz failed under slow clients: {failures[:5]}")
        self.assertGreater(len(lat), ATTACK_S / 0.5, "too few /healthz calls completed")
        self.assertLess(p99, HEALTHZ_P99_MS)
        self.assertLess(lat[-1], HEALTHZ_MAX_MS)
        self.assertIsNotNone(late99, "no probes sent during the attack")
        self.assertLessEqual(late99, late_bound)
        self.assertLess(cpu_pct, DAEMON_CPU_PCT)
        at1, at2 = result.seqs("wan1"), result.seqs("wan2")
        self.assertTrue(at2, f"nothing moved to wan2: {result.describe()}")
        self.assertIn(result.stream.count - 1, at2, result.describe())
        self.assertLessEqual(result.interruption_ms, CARRIER_BUDGET_MS, result.describe())
        self.assertEqual(self.topo.klass("default")["uplink"], "wan2")

        # (b)'s connections got real responses queued (the server is blocked writing to them,
        # not idle): a few bytes are there to read.
        kind_b[0].settimeout(2)
        self.assertTrue(kind_b[0].recv(64).startswith(b"HTTP/1.1 200"))

        self.close_all()
        code, _ = self.topo.http_get("/healthz")
        self.assertEqual(code, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
