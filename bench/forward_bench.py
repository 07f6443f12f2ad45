#!/usr/bin/env python3
"""forward_bench: forwarding through a gateway namespace with no classifier, with pathsteer's
classifier and with an nftables mark chain holding the same rules (mwan3-style, conntrack mark
restored first, and a plain chain walked by every packet). See bench/README.md.

    sudo bench/forward_bench.py --build BUILD_DIR [--rules 1000] [--rounds 3] [--seconds 4]

Topology (namespaces fb-<pid>-{src,gw,dst}):
    src  src0 10.77.1.2/24 --- lan0 10.77.1.1/24  gw  up0 10.77.2.1/24 --- dst0 10.77.2.2/24  dst

The gateway has conntrack on in every variant (an nftables `ct state invalid drop` rule in its
forward hook, as any NAT'ing gateway has), so the variants differ only in the classifier.
Rule i < N-1 matches {udp, dport 1000+i, daddr 198.18.x.y} (never the traffic); the last rule
matches daddr 10.77.2.2, so every measured packet walks to the last rule, in all variants.

Measures, per variant and round (variants rotate per round), median over rounds:
  tcp_gbps     iperf3 TCP, one stream, receiver's rate
  udp64_kpps   iperf3 UDP, 64-byte payload, unlimited rate: packets received per second
  newflow_kpps forward_bench_flood --fresh: small UDP packets, every one from the next
               source port (a new flow each): packets the far side received per second
Per round, the ratio of ours to each other variant measured in the same round (median and
range over rounds): a shared host's throughput moves by tens of percent between rounds, a
ratio within one round much less. And the in-situ cost of our program while the traffic
flows: kernel.bpf_stats_enabled on for the run (restored after), the attached program's
run_time_ns / run_cnt over each measurement (bpftool prog show), so ns per packet for the
TCP stream and the UDP stream (established flows) and for the flood (new flows).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SRC, GW_LAN, GW_UP, DST = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
MARK = 0x00100000
MASK = 0x0FF00000


def sh(cmd, check=True, timeout=60):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"failed: {cmd}\n{p.stderr}")
    return p.stdout


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = f"fb-{os.getpid()}"
        self.ns = {r: f"{self.tag}-{r}" for r in ("src", "gw", "dst")}
        self.pin_dir = f"/sys/fs/bpf/{self.tag}"
        self.tmp = tempfile.mkdtemp(prefix=self.tag)
        self.attach = os.path.join(args.build, "bench", "forward_bench_attach")
        self.flood = os.path.join(args.build, "bench", "forward_bench_flood")

    def x(self, role, cmd, **kw):
        return sh(f"ip netns exec {self.ns[role]} {cmd}", **kw)

    def setup(self):
        for ns in self.ns.values():
            sh(f"ip netns add {ns}")
            sh(f"ip -n {ns} link set lo up")
        sh(f"ip link add src0 netns {self.ns['src']} type veth peer name lan0 netns {self.ns['gw']}")
        sh(f"ip link add up0 netns {self.ns['gw']} type veth peer name dst0 netns {self.ns['dst']}")
        self.x("src", f"ip addr add {SRC}/24 dev src0")
        self.x("src", "ip link set src0 up")
        self.x("src", f"ip route add default via {GW_LAN}")
        self.x("gw", f"ip addr add {GW_LAN}/24 dev lan0")
        self.x("gw", f"ip addr add {GW_UP}/24 dev up0")
        self.x("gw", "ip link set lan0 up")
        self.x("gw", "ip link set up0 up")
        self.x("gw", "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                     "net.ipv4.conf.lan0.rp_filter=0 net.netfilter.nf_conntrack_max=1048576",
               check=False)
        self.x("dst", f"ip addr add {DST}/24 dev dst0")
        self.x("dst", "ip link set dst0 up")
        self.x("dst", f"ip route add default via {GW_UP}")
        base = os.path.join(self.tmp, "base.nft")
        with open(base, "w") as f:
            f.write("table inet fbbase {\n chain fbfwd {\n  type filter hook forward priority 0;\n"
                    "  ct state invalid drop\n }\n}\n")
        self.x("gw", f"nft -f {base}")
        # Reachability (no ping on minimal systems): one flood packet must arrive.
        before = self.rx_packets()
        self.x("src", f"{self.flood} --src {SRC} --dst {DST} --seconds 0.2")
        time.sleep(0.2)
        if self.rx_packets() <= before:
            raise RuntimeError("no packet crossed the gateway")

    def prog_stats(self):
        """(run_time_ns, run_cnt) of the program attached to the gateway's lan0 ingress."""
        out = self.x("gw", "tc -j filter show dev lan0 ingress")
        ids = [f["options"]["prog"]["id"] for f in json.loads(out or "[]")
               if "prog" in f.get("options", {})]
        if not ids:
            raise RuntimeError("no BPF program attached to lan0 ingress")
        p = json.loads(sh(f"bpftool -j prog show id {ids[0]}"))
        return p.get("run_time_ns", 0), p.get("run_cnt", 0)

    def teardown(self):
        for ns in self.ns.values():
            sh(f"ip netns pids {ns} | xargs -r kill", check=False)
            sh(f"ip netns del {ns}", check=False)
        sh(f"rm -rf {self.pin_dir} {self.tmp}", check=False)

    # -- variants --

    def nft_rules(self, mwan3):
        n = self.args.rules
        lines = ["table ip fbmark {", " chain pre {",
                 "  type filter hook prerouting priority mangle;"]
        if mwan3:
            # mwan3: restore the connection's mark; a marked packet skips the rules.
            lines.append(f"  meta mark & {MASK:#x} == 0 ct mark & {MASK:#x} != 0 "
                         "meta mark set ct mark")
            lines.append(f"  meta mark & {MASK:#x} != 0 return")
        save = " ct mark set meta mark" if mwan3 else ""
        for i in range(n - 1):
            lines.append(f"  ip daddr 198.18.{i // 256}.{i % 256} udp dport {1000 + i} "
                         f"meta mark set {MARK:#x}{save} return")
        lines.append(f"  ip daddr {DST} meta mark set {MARK:#x}{save} return")
        lines += [" }", "}"]
        return "\n".join(lines) + "\n"

    def enable(self, variant):
        if variant == "ours":
            out = sh(f"nsenter --net=/run/netns/{self.ns['gw']} -- {self.attach} --pin-dir "
                     f"{self.pin_dir} --iface lan0 --entries {self.args.rules} --match-dst {DST}")
            assert "attached" in out, out
        elif variant.startswith("nft"):
            path = os.path.join(self.tmp, f"{variant}.nft")
            with open(path, "w") as f:
                f.write(self.nft_rules(mwan3=variant == "nft-mwan3"))
            self.x("gw", f"nft -f {path}")

    def disable(self, variant):
        if variant == "ours":
            self.x("gw", "tc filter del dev lan0 ingress pref 28755", check=False)
            sh(f"rm -rf {self.pin_dir}", check=False)
        elif variant.startswith("nft"):
            self.x("gw", "nft delete table ip fbmark", check=False)
        self.x("gw", "conntrack -F", check=False)

    # -- measurements --

    def iperf(self, udp):
        server = subprocess.Popen(["ip", "netns", "exec", self.ns["dst"], "iperf3", "-s", "-1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            extra = "-u -l 64 -b 0" if udp else ""
            out = self.x("src", f"iperf3 -c {DST} -t {self.args.seconds} -J {extra}",
                         timeout=self.args.seconds + 30)
        finally:
            server.wait(timeout=10)
        j = json.loads(out)
        if udp:
            s = j["end"]["sum"]
            return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3
        return j["end"]["sum_received"]["bits_per_second"] / 1e9

    def rx_packets(self):
        return int(self.x("dst", "cat /sys/class/net/dst0/statistics/rx_packets"))

    def newflow(self):
        before = self.rx_packets()
        t0 = time.monotonic()
        self.x("src", f"{self.flood} --src {SRC} --dst {DST} --seconds 3 --fresh", timeout=30)
        elapsed = time.monotonic() - t0
        time.sleep(0.2)
        return (self.rx_packets() - before) / elapsed / 1e3

    def measured(self, variant, fn, insitu, name):
        """fn()'s result; for ours, also the program's ns/packet meanwhile into insitu[name]."""
        if variant != "ours":
            return fn()
        t0, n0 = self.prog_stats()
        r = fn()
        t1, n1 = self.prog_stats()
        if n1 > n0:
            insitu[name].append((t1 - t0) / (n1 - n0))
        return r

    def run(self):
        variants = ["none", "ours", "nft-mwan3", "nft-walk"]
        metrics = ["tcp_gbps", "udp64_kpps", "newflow_kpps"]
        results = {v: {m: [] for m in metrics} for v in variants}
        self.insitu = {m: [] for m in metrics}
        for rnd in range(self.args.rounds):
            order = variants[rnd % 4:] + variants[:rnd % 4]
            for v in order:
                self.enable(v)
                try:
                    results[v]["tcp_gbps"].append(
                        self.measured(v, lambda: self.iperf(udp=False), self.insitu, "tcp_gbps"))
                    results[v]["udp64_kpps"].append(
                        self.measured(v, lambda: self.iperf(udp=True), self.insitu, "udp64_kpps"))
                    results[v]["newflow_kpps"].append(
                        self.measured(v, self.newflow, self.insitu, "newflow_kpps"))
                finally:
                    self.disable(v)
                print(f"round {rnd + 1}/{self.args.rounds} {v}: "
                      + ", ".join(f"{m} {results[v][m][-1]:.2f}" for m in metrics),
                      file=sys.stderr)
        return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("forward_bench must run as root")
    b = Bench(args)
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_was = f.read().strip()
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        b.setup()
        results = b.run()
    finally:
        b.teardown()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)

    uname = sh("uname -sr").strip()
    cpus = os.cpu_count()
    print(f"forward_bench: {uname}, {cpus} CPUs; {args.rules} rules; {args.rounds} rounds of "
          f"{args.seconds} s iperf3 runs and 3 s floods; median [min..max]")
    metrics = ["tcp_gbps", "udp64_kpps", "newflow_kpps"]
    print(f"{'variant':<12}" + "".join(f"{m:>26}" for m in metrics))
    med = {}
    for v, ms in results.items():
        med[v] = {m: statistics.median(ms[m]) for m in metrics}
        print(f"{v:<12}" + "".join(
            f"{med[v][m]:>10.2f} [{min(ms[m]):.2f}..{max(ms[m]):.2f}]".rjust(26) for m in metrics))
    none, ours = med["none"], med["ours"]
    checks = [
        ("tcp throughput ours >= 95% of none", ours["tcp_gbps"] >= 0.95 * none["tcp_gbps"],
         ours["tcp_gbps"] / none["tcp_gbps"]),
        ("udp64 rate ours >= 95% of none", ours["udp64_kpps"] >= 0.95 * none["udp64_kpps"],
         ours["udp64_kpps"] / none["udp64_kpps"]),
        ("new-flow rate ours >= 90% of none",
         ours["newflow_kpps"] >= 0.90 * none["newflow_kpps"],
         ours["newflow_kpps"] / none["newflow_kpps"]),
        ("new-flow rate ours > nft-mwan3", ours["newflow_kpps"] > med["nft-mwan3"]["newflow_kpps"],
         ours["newflow_kpps"] / med["nft-mwan3"]["newflow_kpps"]),
        ("new-flow rate ours > nft-walk", ours["newflow_kpps"] > med["nft-walk"]["newflow_kpps"],
         ours["newflow_kpps"] / med["nft-walk"]["newflow_kpps"]),
    ]
    print("\nper-round ratios, ours / other variant in the same round: median [min..max]")
    print(f"{'ours /':<12}" + "".join(f"{m:>26}" for m in metrics))
    ratios = {}
    for other in ("none", "nft-mwan3", "nft-walk"):
        ratios[other] = {}
        cells = []
        for m in metrics:
            rs = [o / n for o, n in zip(results["ours"][m], results[other][m]) if n > 0]
            ratios[other][m] = rs
            cells.append(f"{statistics.median(rs):>10.2f} [{min(rs):.2f}..{max(rs):.2f}]".rjust(26)
                         if rs else "-".rjust(26))
        print(f"{other:<12}" + "".join(cells))
    print("\nin situ, our program (bpf_stats: run_time_ns / run_cnt over each run), ns/packet:")
    for m, label in (("tcp_gbps", "TCP stream (established)"),
                     ("udp64_kpps", "UDP 64-byte stream (established)"),
                     ("newflow_kpps", "flood (new flows)")):
        xs = b.insitu[m]
        if xs:
            print(f"  {label:<34} {statistics.median(xs):7.0f} [{min(xs):.0f}..{max(xs):.0f}]")
    nf = ratios["none"]["newflow_kpps"]
    wins = sum(1 for a, b_, c in zip(results["ours"]["newflow_kpps"],
                                     results["nft-mwan3"]["newflow_kpps"],
                                     results["nft-walk"]["newflow_kpps"]) if a > b_ and a > c)
    checks.append((f"new flows ours >= 0.95x none (per-round median)",
                   bool(nf) and statistics.median(nf) >= 0.95,
                   statistics.median(nf) if nf else 0.0))
    print("\ntargets:")
    print(f"  new flows ours above both nft variants in {wins} of {args.rounds} rounds "
          f"(target: 8 of 9)")
    for name, met, ratio in checks:
        print(f"  {name}: {ratio:.2f}x  {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
