#!/usr/bin/env python3
"""dns_latency_bench: the DNS reply latency a LAN client sees through the gateway, without
DNS learning (no pathsteerd), with the learning program parsing replies that name no domain of
the policy, and with it learning every reply's address (each query a new name, a new address).
See bench/README.md.

    sudo PATHSTEERD=build/daemon/pathsteerd bench/dns_latency_bench.py [--queries 5000] [--rounds 5]

Rig: tests/netns/fixture.py's namespaces; Debian's dnsmasq in the GW answers from a hosts file
(the local road, no upstream in the measurement). The client in the LAN namespace sends one
query at a time and times send -> reply with time.perf_counter_ns (so the figures include
Python's own overhead, the same in every variant). Per round and variant: p50 and p99 of
--queries round trips; the table gives the median over rounds and the range.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "netns"))

import dns_tools  # noqa: E402
import fixture  # noqa: E402

POLICY = """\
version: 1
lan_interfaces: [lan0]
dns: { min_ttl_s: 60, grace_s: 300, max_addrs_per_name: 256 }
wans:
  wan1: { interface: wan1, gateway: auto, probes: [ { method: icmp, target: 203.0.113.10 } ] }
  wan2: { interface: wan2, gateway: auto, probes: [ { method: icmp, target: 203.0.113.10 } ] }
classes:
  app:
    match: [ { domain: ["*.learn.example"] } ]
    paths: [wan2, wan1]
  default: { paths: [wan1, wan2] }
"""


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def measure(sock, names):
    out = []
    for i, name in enumerate(names):
        q = dns_tools.query(i & 0xffff, name, 1)
        t0 = time.perf_counter_ns()
        sock.sendto(q, (fixture.GW_LAN_V4, 53))
        sock.recv(4096)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("dns_latency_bench must run as root")
    daemon_bin = fixture.find_binary("PATHSTEERD", "pathsteerd")
    topo = fixture.Topology()
    dnsmasq = None
    try:
        topo.setup()
        n = args.queries * args.rounds
        hosts = os.path.join(topo.tmpdir, "hosts")
        with open(hosts, "w") as f:
            for i in range(n):
                f.write(f"{dns_tools.v4(1, i)} q{i}.learn.example\n")
                f.write(f"{dns_tools.v4(2, i)} q{i}.other.example\n")
        os.chmod(topo.tmpdir, 0o755)
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", topo.ns["gw"], "/usr/sbin/dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
             "--cache-size=0", f"--listen-address={fixture.GW_LAN_V4}", "--bind-interfaces",
             "--user=root", "--group=root", f"--pid-file={topo.tmpdir}/dnsmasq.pid"],
            stderr=subprocess.DEVNULL)
        sock = fixture.in_netns(topo.ns["lan"], lambda: socket.socket(socket.AF_INET,
                                                                      socket.SOCK_DGRAM))
        sock.settimeout(2)
        fixture.wait_until(lambda: _answers(sock), 10, "dnsmasq answering")
        results = {"no learning program": [], "parsing, no domain": [], "learning": []}
        # Without pathsteerd first (nothing on lan0's egress), then with it.
        for r in range(args.rounds):
            names = [f"q{r * args.queries + i}.other.example" for i in range(args.queries)]
            results["no learning program"].append(measure(sock, names))
        policy = os.path.join(topo.tmpdir, "p.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
        topo.start_daemon(daemon_bin, policy)
        for r in range(args.rounds):
            base = r * args.queries
            variants = [("parsing, no domain", "other"), ("learning", "learn")]
            if r % 2:
                variants.reverse()
            for label, zone in variants:
                names = [f"q{base + i}.{zone}.example" for i in range(args.queries)]
                results[label].append(measure(sock, names))
        code, body = topo.http_get("/v1/domains")
        learned = body.count(b'"address"') if code == 200 else -1

        print("dns_latency_bench: DNS round trip LAN client -> dnsmasq in the GW (hosts file)")
        print(f"machine: {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs; "
              f"{args.queries} queries per round, {args.rounds} rounds; "
              f"{learned} addresses learned at the end")
        print(f"{'variant':24s} {'p50 us':>22s} {'p99 us':>22s}")
        base50 = base99 = None
        for label, rounds in results.items():
            p50 = [percentile(v, 50) for v in rounds]
            p99 = [percentile(v, 99) for v in rounds]
            m50, m99 = statistics.median(p50), statistics.median(p99)
            if base50 is None:
                base50, base99 = m50, m99
            print(f"{label:24s} {m50:8.1f} [{min(p50):.1f}..{max(p50):.1f}] "
                  f"{m99:8.1f} [{min(p99):.1f}..{max(p99):.1f}]   "
                  f"added: p50 {m50 - base50:+.1f}, p99 {m99 - base99:+.1f}")
    finally:
        if dnsmasq:
            dnsmasq.kill()
            dnsmasq.wait()
        topo.teardown()


def _answers(sock):
    try:
        sock.sendto(dns_tools.query(1, "q0.other.example", 1), (fixture.GW_LAN_V4, 53))
        sock.recv(4096)
        return True
    except socket.timeout:
        return False


if __name__ == "__main__":
    main()
