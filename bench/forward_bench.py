#!/usr/bin/env python3
"""forward_bench: forwarding through a gateway namespace with no classifier, with pathsteer's
classifier and with an nftables mark chain holding the same rules (mwan3-style, conntrack mark
restored first, and a plain chain walked by every packet), compared A/B in short alternating
slices so that a noisy host's swings fall on all variants alike. See bench/README.md.

    sudo bench/forward_bench.py --build BUILD_DIR [--rules 1000] [--rounds 3] [--seconds 1]
                                [--settle 0.25] [--cycles 3] [--warmup 1] [--cpu N]

Topology (namespaces fb-<pid>-{src,gw,dst}):
    src  src0 10.77.1.2/24 --- lan0 10.77.1.1/24  gw  up0 10.77.2.1/24 --- dst0 10.77.2.2/24  dst

The gateway has conntrack on in every variant (an nftables `ct state invalid drop` rule in its
forward hook, as any NAT'ing gateway has), so the variants differ only in the classifier.
Rule i < N-1 matches {udp, dport 1000+i, daddr 198.18.x.y} (never the traffic); the last rule
matches daddr 10.77.2.2, so every measured packet walks to the last rule, in all variants.

Method. Every variant stays loaded for the whole run and a switch only flips what packets
pass through: our classifier is attached or detached by forward_bench_attach --serve (its maps
and flow table kept), and the nftables rules sit in two regular chains (`mwan3`, `walk`) that
no hook reaches until a one-rule base chain `pre` (prerouting, `jump mwan3` or `jump walk`)
is created, replaced or deleted in one nft transaction. A round runs three measurement
kinds, each with one long-running generator started once for the kind:
  tcp_gbps     iperf3 TCP, one stream: bytes the far side's interface received per second
  udp64_kpps   iperf3 UDP, 64-byte payload, unlimited rate: packets received per second
  newflow_kpps forward_bench_flood --fresh: small UDP packets, each with a 5-tuple never sent
               before in the run (a new flow each for conntrack and for our flow table). It
               warms up under ours until conntrack's table is full (nf_conntrack_max, global),
               so every slice sees the steady state of a flood: a new flow evicts an unreplied
               conntrack entry and (in ours) an LRU flow-table entry.
While the generator runs, the variants take turns in slices of --seconds: in mirrored
cycles A B C D D C B A (the round's rotation of the four variants), --cycles cycles, so every
variant gets 2 x cycles slices whose mean position in time is the same (linear drift
cancels). Each switch is followed by a --settle gap that is not measured; a slice's count
is the difference of counters read at its edges: the far side's dst0 rx_bytes/rx_packets,
every CPU's softirq time (/proc/stat) and, in our slices, the classifier's run_time_ns and
run_cnt (kernel.bpf_stats_enabled on for the run, restored after).

Per round and kind, ours / other = median over cycles of the cycle's ratio, where a cycle's
rate for a variant is its two slices' summed count over their summed time. Reported: the
per-variant rates (median [min..max] over rounds), the per-round ratios of ours to none,
nft-mwan3 and nft-walk (median [min..max]), the CPU per forwarded packet of every variant
(softirq time of the pinned CPU / packets received), our program's in-situ ns/packet beside
ours - none, and the rounds in which new flows ran >= 0.95x none and above both nft variants.

Pinning: the senders run on --cpu (default: the last CPU); the iperf3 receiver and this script
(slice edges, switches, the attach helper) on another.
A veth's transmit hands the packet to its peer's backlog on the sending CPU (netif_rx; RPS is
off, written 0 on every veth), so the gateway's whole forwarding path, and the far side's
receive, run in NET_RX softirq on the sender's CPU. The share of softirq time seen on that
CPU during the slices is printed as the check.
"""

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC, GW_LAN, GW_UP, DST = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
MARK = 0x00100000
MASK = 0x0FF00000
VARIANTS = ["none", "ours", "nft-mwan3", "nft-walk"]
OTHERS = ["none", "nft-mwan3", "nft-walk"]
KINDS = ["tcp_gbps", "udp64_kpps", "newflow_kpps"]
NS_PER_TICK = 1e9 / os.sysconf("SC_CLK_TCK")
IPERF_PORT = 5201


def sh(cmd, check=True, timeout=60):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"failed: {cmd}\n{p.stderr}")
    return p.stdout


def wait_for(what, cond, deadline_s, poll_s=0.05, required=True):
    """Polls cond until it holds; past the deadline raises, or (not required) warns."""
    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            if required:
                raise RuntimeError(f"timed out after {deadline_s} s waiting for {what}")
            print(f"warning: gave up after {deadline_s} s waiting for {what}", file=sys.stderr)
            return
        time.sleep(poll_s)


def softirq_ticks():
    """Every CPU's softirq time (USER_HZ ticks), by CPU number."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                fields = line.split()
                out[int(fields[0][3:])] = int(fields[7])
    return out


def med_range(xs, fmt="{:.2f}"):
    if not xs:
        return "-"
    return (fmt.format(statistics.median(xs)) + " [" + fmt.format(min(xs)) + ".."
            + fmt.format(max(xs)) + "]")


class Slice:
    """Counter differences over one measured slice of one variant."""

    def __init__(self, variant, cycle, a, b):
        self.variant = variant
        self.cycle = cycle
        self.seconds = b["t"] - a["t"]
        self.packets = b["rx_packets"] - a["rx_packets"]
        self.bytes = b["rx_bytes"] - a["rx_bytes"]
        self.softirq = {c: b["softirq"][c] - a["softirq"][c] for c in a["softirq"]}
        self.bpf = None
        if a.get("bpf") and b.get("bpf"):
            self.bpf = (b["bpf"][0] - a["bpf"][0], b["bpf"][1] - a["bpf"][1])

    def count(self, kind):
        return self.bytes * 8 / 1e9 if kind == "tcp_gbps" else self.packets / 1e3


def rate(slices, kind):
    t = sum(s.seconds for s in slices)
    return sum(s.count(kind) for s in slices) / t if t > 0 else 0.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = f"fb-{os.getpid()}"
        self.ns = {r: f"{self.tag}-{r}" for r in ("src", "gw", "dst")}
        self.pin_dir = f"/sys/fs/bpf/{self.tag}"
        self.tmp = tempfile.mkdtemp(prefix=self.tag)
        self.attach = os.path.join(args.build, "bench", "forward_bench_attach")
        self.flood = os.path.join(args.build, "bench", "forward_bench_flood")
        ncpu = os.cpu_count() or 1
        self.cpu = args.cpu if args.cpu is not None else ncpu - 1
        self.rx_cpu = 0 if self.cpu != 0 or ncpu == 1 else 1
        self.helper = None  # forward_bench_attach --serve in the gw namespace
        self.helper_err = None  # its stderr (a file: libbpf may say a lot)
        self.holder = None  # a sleep in the dst namespace: its /proc/PID/net/dev is dst's
        self.ours_on = False
        self.nft_on = None  # "mwan3", "walk" or None: where the base chain jumps
        self.flood_next = 0  # the flood's next 5-tuple index, so no tuple is sent twice
        self.switch_s = {"ours": [], "nft": []}  # wall time of each attach/detach, nft flip

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
        # nf_conntrack_max is global (read-only in a namespace); the flood fills it.
        self.x("gw", "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                     "net.ipv4.conf.lan0.rp_filter=0", check=False)
        self.x("dst", f"ip addr add {DST}/24 dev dst0")
        self.x("dst", "ip link set dst0 up")
        self.x("dst", f"ip route add default via {GW_UP}")
        # RPS off (a host's net.core.rps_default_mask could have set it): each veth's receive
        # then runs on the CPU that transmitted to it, the pinned sender's.
        for role, dev in (("src", "src0"), ("gw", "lan0"), ("gw", "up0"), ("dst", "dst0")):
            self.x(role, f"sh -c 'echo 0 > /sys/class/net/{dev}/queues/rx-0/rps_cpus'",
                   check=False)
        base = os.path.join(self.tmp, "base.nft")
        with open(base, "w") as f:
            f.write("table inet fbbase {\n chain fbfwd {\n  type filter hook forward priority 0;\n"
                    "  ct state invalid drop\n }\n}\n")
        self.x("gw", f"nft -f {base}")
        marks = os.path.join(self.tmp, "fbmark.nft")
        with open(marks, "w") as f:
            f.write(self.nft_rules())
        self.x("gw", f"nft -f {marks}")
        self.holder = subprocess.Popen(["ip", "netns", "exec", self.ns["dst"], "sleep", "infinity"])
        self.helper_err = open(os.path.join(self.tmp, "attach.err"), "w")
        self.helper = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns['gw']}", "--", self.attach, "--pin-dir",
             self.pin_dir, "--iface", "lan0", "--entries", str(self.args.rules), "--match-dst",
             DST, "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.helper_err, text=True)
        first = self.helper.stdout.readline()
        if "attached" not in first:
            raise RuntimeError(f"forward_bench_attach: {first}{self.helper_err_text()}")
        self.ours_on = True
        self.switch("none")
        self.switch_s["ours"].clear()
        wait_for("the dst namespace's holder", lambda: os.path.exists(self.net_dev_path()), 5)
        # Reachability (no ping on minimal systems): one flood packet must arrive.
        before = self.rx()["rx_packets"]
        self.x("src", f"{self.flood} --src {SRC} --dst {DST} --seconds 0.2")
        wait_for("a packet across the gateway", lambda: self.rx()["rx_packets"] > before, 2)

    def teardown(self):
        for ns in self.ns.values():
            sh(f"ip netns pids {ns} | xargs -r kill", check=False)
            sh(f"ip netns del {ns}", check=False)
        for p in (self.helper, self.holder):
            if p is not None:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.helper_err is not None:
            self.helper_err.close()
        sh(f"rm -rf {self.pin_dir} {self.tmp}", check=False)

    def helper_err_text(self):
        self.helper_err.flush()
        with open(self.helper_err.name) as f:
            return f.read()

    # -- variants --

    def nft_rules(self):
        """Both nft variants as regular chains (no hook), entered by jump from `pre`."""
        n = self.args.rules
        lines = ["table ip fbmark {"]
        for chain, mwan3 in (("mwan3", True), ("walk", False)):
            lines.append(f" chain {chain} {{")
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
            lines.append(" }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def helper_cmd(self, cmd):
        self.helper.stdin.write(cmd + "\n")
        self.helper.stdin.flush()
        line = self.helper.stdout.readline().strip()
        if not line or line.startswith("error"):
            raise RuntimeError(f"forward_bench_attach {cmd}: {line}{self.helper_err_text()}")
        return line

    def switch(self, variant):
        """Makes packets meet exactly this variant's classifier; a no-op if they already do."""
        want_ours = variant == "ours"
        want_nft = variant[len("nft-"):] if variant.startswith("nft-") else None
        if want_ours != self.ours_on:
            t0 = time.monotonic()
            self.helper_cmd("attach" if want_ours else "detach")
            self.switch_s["ours"].append(time.monotonic() - t0)
            self.ours_on = want_ours
        if want_nft != self.nft_on:
            t0 = time.monotonic()
            if want_nft is None:
                cmds = "flush chain ip fbmark pre\ndelete chain ip fbmark pre"
            elif self.nft_on is None:
                cmds = ("add chain ip fbmark pre "
                        "{ type filter hook prerouting priority mangle ; }\n"
                        f"add rule ip fbmark pre jump {want_nft}")
            else:
                cmds = f"flush chain ip fbmark pre\nadd rule ip fbmark pre jump {want_nft}"
            # One nft invocation is one transaction: packets see the old or the new chain.
            sh(f"nsenter --net=/run/netns/{self.ns['gw']} nft '{cmds}'")
            self.switch_s["nft"].append(time.monotonic() - t0)
            self.nft_on = want_nft

    # -- counters --

    def net_dev_path(self):
        return f"/proc/{self.holder.pid}/net/dev"

    def rx(self):
        with open(self.net_dev_path()) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name.strip() == "dst0":
                    fields = rest.split()
                    return {"rx_bytes": int(fields[0]), "rx_packets": int(fields[1])}
        raise RuntimeError("no dst0 in the dst namespace")

    def sample(self, ours):
        s = self.rx()
        s["softirq"] = softirq_ticks()
        if ours:
            s["bpf"] = tuple(int(v) for v in self.helper_cmd("stats").split())
        s["t"] = time.monotonic()
        return s

    def ct_count(self):
        return int(sh(f"nsenter --net=/run/netns/{self.ns['gw']} "
                      "cat /proc/sys/net/netfilter/nf_conntrack_count"))

    # -- generators: one per kind, running across all of the kind's slices --

    def start(self, kind, seconds):
        """Starts the kind's traffic; returns (sender, receiver or None)."""
        pin = ["taskset", "-c", str(self.cpu)]
        if kind == "newflow_kpps":
            sender = subprocess.Popen(
                ["ip", "netns", "exec", self.ns["src"], *pin, self.flood, "--src", SRC, "--dst",
                 DST, "--seconds", str(seconds), "--fresh", "--first", str(self.flood_next)],
                stdout=subprocess.PIPE, text=True)
            return sender, None
        server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["dst"], "taskset", "-c", str(self.rx_cpu), "iperf3",
             "-s", "-1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("iperf3 -s to listen", lambda: listening(server.pid, IPERF_PORT), 10)
        extra = ["-u", "-l", "64", "-b", "0"] if kind == "udp64_kpps" else []
        sender = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["src"], *pin, "iperf3", "-c", DST, "-t", str(seconds),
             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return sender, server

    def stop(self, kind, sender, server):
        if kind == "newflow_kpps":
            sender.send_signal(signal.SIGTERM)
            out, _ = sender.communicate(timeout=10)
            self.flood_next += int(out.strip() or 0)
            return
        # iperf3's client tells the server it ends; `-s -1` then exits.
        sender.send_signal(signal.SIGINT)
        for p in (sender, server):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def phase(self, kind, order):
        """One kind in one round: the slices of all variants, mirrored cycles of `order`."""
        seq = []
        for _ in range(self.args.cycles):
            seq += order + order[::-1]
        # A ceiling only (a leaked generator ends by itself); stop() ends them.
        budget = math.ceil(60 + self.args.warmup
                           + len(seq) * (self.args.seconds + self.args.settle + 1.0))
        self.x("gw", "conntrack -F", check=False)
        # New flows warm up under ours: the flood fills conntrack's table and our flow table.
        self.switch("ours" if kind == "newflow_kpps" else seq[0])
        before = self.rx()["rx_packets"]
        sender, server = self.start(kind, budget)
        slices = []
        try:
            wait_for(f"{kind} traffic at the far side", lambda: self.rx()["rx_packets"] > before,
                     10)
            if kind == "newflow_kpps":
                # From here on every new flow finds conntrack's table full (the same in every
                # variant): each also evicts an unreplied entry.
                full = int(sh("cat /proc/sys/net/netfilter/nf_conntrack_max"))
                wait_for("the flood to fill conntrack", lambda: self.ct_count() >= 0.95 * full,
                         30, 0.2, required=False)
            time.sleep(self.args.warmup)
            for i, v in enumerate(seq):
                self.switch(v)
                time.sleep(self.args.settle)
                a = self.sample(v == "ours")
                time.sleep(self.args.seconds)
                b = self.sample(v == "ours")
                if sender.poll() is not None:
                    raise RuntimeError(f"the {kind} sender ended early ({sender.returncode})")
                slices.append(Slice(v, i // (2 * len(order)), a, b))
        finally:
            self.stop(kind, sender, server)
        return slices

    def run(self):
        self.rounds = []  # per round: {kind: [Slice]}
        for rnd in range(self.args.rounds):
            order = VARIANTS[rnd % 4:] + VARIANTS[:rnd % 4]
            per_kind = {}
            for kind in KINDS:
                per_kind[kind] = self.phase(kind, order)
                rs = Summary.round_rates(per_kind[kind], kind)
                rat = Summary.round_ratios(per_kind[kind], kind)
                print(f"round {rnd + 1}/{self.args.rounds} {kind}: "
                      + ", ".join(f"{v} {rs[v]:.2f}" for v in VARIANTS) + "; ours/"
                      + ", ours/".join(f"{o} {rat[o]:.2f}" for o in OTHERS), file=sys.stderr)
            self.rounds.append(per_kind)


def listening(pid, port):
    """Whether the process's namespace has a TCP socket listening on port (v4 or v6)."""
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


class Summary:
    """Per-round figures from the slices."""

    @staticmethod
    def round_rates(slices, kind):
        return {v: rate([s for s in slices if s.variant == v], kind) for v in VARIANTS}

    @staticmethod
    def round_ratios(slices, kind):
        """ours / other: the median over cycles of the ratio of the cycle's summed rates."""
        out = {}
        for other in OTHERS:
            rs = []
            for c in sorted({s.cycle for s in slices}):
                ours = rate([s for s in slices if s.cycle == c and s.variant == "ours"], kind)
                them = rate([s for s in slices if s.cycle == c and s.variant == other], kind)
                if them > 0:
                    rs.append(ours / them)
            out[other] = statistics.median(rs) if rs else 0.0
        return out

    @staticmethod
    def softirq_ns(slices, variant, cpu):
        """Softirq time of the pinned CPU per packet the far side received."""
        mine = [s for s in slices if s.variant == variant]
        pkts = sum(s.packets for s in mine)
        return sum(s.softirq[cpu] for s in mine) * NS_PER_TICK / pkts if pkts else 0.0

    @staticmethod
    def insitu_ns(slices):
        runs = [s.bpf for s in slices if s.variant == "ours" and s.bpf]
        cnt = sum(r[1] for r in runs)
        return sum(r[0] for r in runs) / cnt if cnt else None


def report(b, args):
    rounds = b.rounds
    uname = sh("uname -sr").strip()
    print(f"forward_bench: {uname}, {os.cpu_count()} CPUs; {args.rules} rules; {args.rounds} "
          f"rounds; per round and kind {args.cycles} mirrored cycles (ABCD DCBA) of "
          f"{args.seconds} s slices after a {args.settle} s settle gap per switch; senders on "
          f"cpu{b.cpu}; median [min..max] over rounds")
    for what, label in (("ours", "attach/detach of ours"), ("nft", "nft transaction (pre)")):
        sw = b.switch_s[what]
        if sw:
            print(f"switch time, {label}: median {statistics.median(sw) * 1e3:.2f} ms, "
                  f"max {max(sw) * 1e3:.2f} ms, over {len(sw)}")
    print(f"\n{'variant':<12}" + "".join(f"{m:>26}" for m in KINDS))
    for v in VARIANTS:
        cells = [med_range([Summary.round_rates(r[k], k)[v] for r in rounds]).rjust(26)
                 for k in KINDS]
        print(f"{v:<12}" + "".join(cells))

    ratios = {o: {k: [Summary.round_ratios(r[k], k)[o] for r in rounds] for k in KINDS}
              for o in OTHERS}
    print("\nper-round ratios, ours / other variant in the same round (median over the round's "
          "cycles): median [min..max]")
    print(f"{'ours /':<12}" + "".join(f"{m:>26}" for m in KINDS))
    for o in OTHERS:
        print(f"{o:<12}" + "".join(med_range(ratios[o][k]).rjust(26) for k in KINDS))
    nf = ratios["none"]["newflow_kpps"]
    print("  new flows, ours / none by round:  " + " ".join(f"{r:.2f}" for r in nf))

    print(f"\nCPU per forwarded packet, ns: softirq time of cpu{b.cpu} (/proc/stat) / packets "
          "dst0 received")
    print(f"{'':<22}" + "".join(f"{m:>22}" for m in KINDS))
    soft = {v: {k: [Summary.softirq_ns(r[k], v, b.cpu) for r in rounds] for k in KINDS}
            for v in VARIANTS}
    for v in VARIANTS:
        print(f"{v:<22}" + "".join(med_range(soft[v][k], "{:.0f}").rjust(22) for k in KINDS))
    diff = {k: [o - n for o, n in zip(soft["ours"][k], soft["none"][k])] for k in KINDS}
    print(f"{'ours - none':<22}" + "".join(med_range(diff[k], "{:.0f}").rjust(22) for k in KINDS))
    insitu = {k: [x for x in (Summary.insitu_ns(r[k]) for r in rounds) if x is not None]
              for k in KINDS}
    print(f"{'ours in situ (bpf)':<22}"
          + "".join(med_range(insitu[k], "{:.0f}").rjust(22) for k in KINDS))
    shares, ticks = [], []
    for k in KINDS:
        mine = sum(s.softirq[b.cpu] for r in rounds for s in r[k])
        total = sum(sum(s.softirq.values()) for r in rounds for s in r[k])
        shares.append(f"{k} {mine / total:.0%}" if total else f"{k} -")
        per = [sum(s.softirq[b.cpu] for s in r[k] if s.variant == v) for r in rounds
               for v in VARIANTS]
        ticks.append(f"{k} {statistics.median(per):.0f}")
    print("  in situ: our classifier's run_time_ns / run_cnt. TCP's packets are the stack's GSO\n"
          "  super-packets, and its ACKs are forwarded on the receiver's CPU, outside the count.")
    print(f"  pinning check, share of all softirq time that was cpu{b.cpu}'s: " + ", ".join(shares))
    print("  resolution, /proc/stat softirq ticks (1/USER_HZ) behind each figure, median: "
          + ", ".join(ticks))

    wins = sum(1 for a, m, w in zip(nf, ratios["nft-mwan3"]["newflow_kpps"],
                                    ratios["nft-walk"]["newflow_kpps"])
               if a >= 0.95 and m > 1 and w > 1)
    print("\ntargets (medians of the per-round ratios):")
    print(f"  new flows ours >= 0.95x none and above both nft variants in {wins} of "
          f"{len(rounds)} rounds (target: 8 of 9)")
    checks = [
        ("tcp throughput ours >= 0.95x none", ratios["none"]["tcp_gbps"], 0.95),
        ("udp64 rate ours >= 0.95x none", ratios["none"]["udp64_kpps"], 0.95),
        ("new-flow rate ours >= 0.90x none", nf, 0.90),
        ("new-flow rate ours >= 0.95x none", nf, 0.95),
        ("new-flow rate ours > nft-mwan3", ratios["nft-mwan3"]["newflow_kpps"], None),
        ("new-flow rate ours > nft-walk", ratios["nft-walk"]["newflow_kpps"], None),
    ]
    for name, rs, floor in checks:
        m = statistics.median(rs) if rs else 0.0
        met = m >= floor if floor is not None else m > 1
        print(f"  {name}: {m:.3f}x  {'MET' if met else 'MISSED'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one measured slice")
    ap.add_argument("--settle", type=float, default=0.25,
                    help="unmeasured gap after each switch")
    ap.add_argument("--cycles", type=int, default=3,
                    help="mirrored cycles (ABCD DCBA) per round and kind")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="unmeasured time after a generator starts")
    ap.add_argument("--cpu", type=int, default=None,
                    help="CPU of the senders, whose softirq does the forwarding (default: last)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("forward_bench must run as root")
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally below removes namespaces and pins.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signo, _frame: sys.exit(128 + signo))
    b = Bench(args)
    # This script's own work (slice edges, nft, the attach helper) stays off the senders' CPU.
    os.sched_setaffinity(0, {b.rx_cpu})
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_was = f.read().strip()
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        b.setup()
        b.run()
    finally:
        b.teardown()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)
    report(b, args)


if __name__ == "__main__":
    main()
