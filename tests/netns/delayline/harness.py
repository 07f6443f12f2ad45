"""Puts the TUN delay line (ps_delayline, delayline.cpp) into an uplink's far-end namespace.

    line = DelayLine(topo, "wan1", delay_ms=50).start()
    line.set(150, jitter_ms=5)      # applies to packets read from now on
    records = line.records()        # what it has written back so far (DelayRecord)
    line.stop()

Wiring inside the uplink namespace (UP1 for wan1), for the far end's own addresses
203.0.113.10 and 2001:db8:ffff::10 (and any extra `targets`) only:

    ip rule pref 10  iif up0 to <target> lookup 100     (v4 and v6)
    ip rule pref 100 lookup local                       (moved down from pref 0, so that
                                                         pref 10 sees local destinations)
    table 100: default dev tun0                         (v4 and v6)
    forwarding on, rp_filter 0

A probe arriving on up0 is thus forwarded into tun0; the delay line holds it and writes it
back; it arrives on tun0, where rule 10 does not match, and is delivered locally. The reply
is sent straight back through up0, undelayed: RTT = delay + the veth's few microseconds.
Neighbour discovery and everything else addressed to the far end's link addresses are not
touched (forwarding would decrement the ND hop limit of 255 and break it).

The delay line runs SCHED_FIFO with locked memory, so a CPU hog at normal priority does not
move its releases. stop() (and the fixture's namespace teardown) ends it; its TUN device goes
away with it and the rules stay behind in the namespace, which teardown deletes.
"""

import os
import select
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from fixture import DST_V4, DST_V6, find_binary, in_netns  # noqa: E402

TABLE = 100
SO_TIMESTAMPNS = 35


class DelayRecord:
    """One packet the delay line wrote back (times in CLOCK_MONOTONIC ns, delays in ms)."""

    __slots__ = ("arrival_ns", "written_ns", "applied_ms", "nominal_ms", "late_ms", "family",
                 "proto",
                 "icmp_type", "icmp_id", "icmp_seq", "length")

    def __init__(self, line):
        f = [int(x) for x in line.split()]
        self.arrival_ns, self.written_ns = f[0], f[1]
        self.applied_ms, self.nominal_ms, self.late_ms = f[2] / 1000.0, f[3] / 1000.0, \
            f[4] / 1000.0
        self.family, self.proto, self.icmp_type, self.icmp_id, self.icmp_seq, self.length = f[5:]

    @property
    def is_echo_request(self):
        return (self.family, self.proto, self.icmp_type) in ((4, 1, 8), (6, 58, 128))

    def __repr__(self):
        return (f"<v{self.family} proto {self.proto} type {self.icmp_type} seq {self.icmp_seq} "
                f"applied {self.applied_ms:.3f} ms nominal {self.nominal_ms:.3f} ms>")


class DelayLine:
    def __init__(self, topo, uplink="wan1", delay_ms=0.0, jitter_ms=0.0, seed=None,
                 dev="tun0", targets=(DST_V4, DST_V6)):
        self.topo, self.uplink, self.dev = topo, uplink, dev
        self.role = topo._uplink_role(uplink)
        self.ns = topo.ns[self.role]
        self.delay_ms, self.jitter_ms, self.seed = delay_ms, jitter_ms, seed
        self.targets = targets
        self.binary = find_binary("PS_DELAYLINE", "ps_delayline")
        self.log_path = os.path.join(topo.tmpdir, f"delayline-{uplink}.log")
        self.proc = None

    def start(self, timeout=5.0):
        cmd = ["ip", "netns", "exec", self.ns, self.binary, "--dev", self.dev,
               "--delay-ms", str(self.delay_ms), "--jitter-ms", str(self.jitter_ms),
               "--log", self.log_path]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1,
                                     start_new_session=True)
        self._expect("ready", timeout)
        self._wire()
        return self

    def _wire(self):
        t = self.topo
        t.sysctl(self.role, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                 *[f"net.ipv4.conf.{k}.rp_filter=0" for k in ("all", "default", "up0",
                                                                self.dev)])
        for fam in ("-4", "-6"):
            t.ip(self.role, fam, "rule", "add", "pref", "100", "lookup", "local")
            t.ip(self.role, fam, "rule", "del", "pref", "0", "lookup", "local")
            t.ip(self.role, fam, "route", "add", "default", "dev", self.dev, "table", str(TABLE))
        for target in self.targets:
            fam = "-6" if ":" in target else "-4"
            t.ip(self.role, fam, "rule", "add", "pref", "10", "iif", "up0", "to", target,
                 "lookup", str(TABLE))

    def _expect(self, word, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith(word):
            err = ""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            raise RuntimeError(f"ps_delayline: expected {word!r}, got {line!r} "
                               f"(exit {self.proc.poll()}) {err}")

    def set(self, delay_ms, jitter_ms=0.0):
        """New delay and jitter for packets that arrive from now on (queued ones keep theirs)."""
        self.proc.stdin.write(f"set {delay_ms} {jitter_ms}\n")
        self.proc.stdin.flush()
        self._expect("ok", 2.0)
        self.delay_ms, self.jitter_ms = delay_ms, jitter_ms

    def records(self):
        """Every packet written back so far, in write order."""
        with open(self.log_path) as f:
            lines = f.read().split("\n")[:-1]  # the last piece may be a line being written
        return [DelayRecord(line) for line in lines]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.stdin.close()  # end of stdin ends it
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None

    def ping_rtts(self, count=5, family=4, interval=0.05, timeout=2.0):
        """RTTs (ms) of `count` echo requests from the GW through this uplink to the far end
        (a raw socket bound to the uplink; kernel receive timestamps). Lost ones are left out."""
        dst = DST_V6 if family == 6 else DST_V4
        return in_netns(self.topo.ns["gw"], lambda: ping(self.uplink, dst, count, interval,
                                                         timeout))


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(ifname, dst, count, interval, timeout):
    """A minimal ping (no ping binary in the image): RTT = kernel receive timestamp
    (SO_TIMESTAMPNS) - CLOCK_REALTIME just before sendto. Returns the list of RTTs in ms."""
    v6 = ":" in dst
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    req_type, rep_type = (128, 129) if v6 else (8, 0)
    ident = os.getpid() & 0xFFFF
    rtts = []
    with socket.socket(fam, socket.SOCK_RAW, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        for seq in range(count):
            payload = struct.pack("!d", time.time())
            hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
            csum = 0 if v6 else _checksum(hdr + payload)  # the kernel fills ICMPv6's
            pkt = struct.pack("!BBHHH", req_type, 0, csum, ident, seq) + payload
            sent = time.clock_gettime_ns(time.CLOCK_REALTIME)
            s.sendto(pkt, (dst, 0))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([s], [], [], left)[0]:
                    break
                data, anc, _, _ = s.recvmsg(2048, 256)
                off = 0 if v6 else (data[0] & 0x0F) * 4
                typ, _, _, rid, rseq = struct.unpack_from("!BBHHH", data, off)
                if typ != rep_type or rid != ident or rseq != seq:
                    continue
                for level, kind, val in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("@qq", val[:16])
                        rtts.append((sec * 10**9 + nsec - sent) / 1e6)
                break
            time.sleep(interval)
    return rtts


class CpuHog:
    """`n` busy loops at normal priority (`python3 -c 'while 1: pass'`), one per core by
    default; stop() kills them and returns the CPU share (in cores) they actually got, so a
    test can show that the machine really was busy."""

    def __init__(self, n=None):
        self.n = n or os.cpu_count() or 2
        self.procs = []
        self.t0 = None

    def start(self):
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", "while 1: pass"],
                                               stdin=subprocess.DEVNULL,
                                               start_new_session=True))
        self.t0 = time.monotonic()
        return self

    @staticmethod
    def _cpu_s(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cores_used(self):
        """CPU seconds of all hogs so far / wall seconds since start()."""
        wall = time.monotonic() - self.t0
        return sum(self._cpu_s(p.pid) for p in self.procs if p.poll() is None) / wall

    def stop(self):
        used = self.cores_used() if self.procs else 0.0
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []
        return used
