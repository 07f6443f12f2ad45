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

    def run(self):
        variants = ["none", "ours", "nft-mwan3", "nft-walk"]
        metrics = ["tcp_gbps", "udp64_kpps", "newflow_kpps"]
        results = {v: {m: [] for m in metrics} for v in variants}
        for rnd in range(self.args.rounds):
            order = variants[rnd % 4:] + variants[:rnd % 4]
            for v in order:
                self.enable(v)
                try:
                    results[v]["tcp_gbps"].append(self.iperf(udp=False))
                    results[v]["udp64_kpps"].append(self.iperf(udp=True))
                    results[v]["newflow_kpps"].append(self.newflow())
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
    try:
        b.setup()
        results = b.run()
    finally:
        b.teardown()

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
    print("\ntargets:")
    for name, met, ratio in checks:
        print(f"  {name}: {ratio:.2f}x  {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
