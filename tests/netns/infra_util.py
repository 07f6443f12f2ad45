"""Helpers for the operational tests (issue 8): the classifier's TC filter, a process's fd
count and RSS, link flaps through rtnetlink, and running the daemon in a private mount
namespace, and a meter of the host's own scheduling lateness. Python 3 standard library
only."""

import json
import os
import socket
import struct
import subprocess
import sys

from fixture import in_netns, run

TC_HANDLE, TC_PRIORITY = 0x7053, 0x7053
RTM_NEWLINK = 16
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
IFF_UP = 0x1
NLMSG_HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")


def classifier_prog(topo, dev, role="gw"):
    """The BPF program id of pathsteer's filter on `dev`'s clsact ingress, or None."""
    res = run(["tc", "-n", topo.ns[role], "-j", "filter", "show", "dev", dev, "ingress"],
              check=False)
    if res.returncode != 0:
        return None
    for f in json.loads(res.stdout or "[]"):
        opts = f.get("options", {})
        if (f.get("kind") == "bpf" and f.get("pref") == TC_PRIORITY and
                opts.get("handle") == hex(TC_HANDLE)):
            return opts.get("prog", {}).get("id")
    return None


def proc_usage(pid):
    """(open fds, VmRSS in KiB, threads) of process `pid`."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return fds, rss, threads


class LinkFlipper:
    """Sets one interface admin up/down in namespace `ns` with one rtnetlink request each
    (no process per flap, so 20 changes a second cost nothing measurable)."""

    def __init__(self, ns, ifname):
        self.sock = in_netns(ns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
        self.sock.bind((0, 0))
        self.ifindex = in_netns(ns, lambda: socket.if_nametoindex(ifname))
        self.seq = 0

    def set(self, up):
        self.seq += 1
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, self.ifindex, IFF_UP if up else 0, IFF_UP)
        msg = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK,
                             self.seq, 0) + body
        self.sock.send(msg)
        reply = self.sock.recv(4096)
        _, typ, _, _, _ = NLMSG_HDR.unpack_from(reply, 0)
        if typ == NLMSG_ERROR:
            err = struct.unpack_from("=i", reply, NLMSG_HDR.size)[0]
            if err != 0:
                raise OSError(-err, f"RTM_NEWLINK ifindex {self.ifindex}: {os.strerror(-err)}")

    def close(self):
        self.sock.close()


# A process that wakes every INTERVAL on an absolute deadline (as the prober does) and
# records how late each wake-up was, until its stdin closes; then it prints the figures.
_LATENESS_METER = r"""
import json, sys, threading, time
INTERVAL_NS = 10_000_000
late, stop = [], threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
nxt = time.monotonic_ns() + INTERVAL_NS
while not stop.is_set():
    now = time.monotonic_ns()
    if nxt > now:
        time.sleep((nxt - now) / 1e9)
    late.append(max(0, time.monotonic_ns() - nxt) / 1e6)
    nxt += INTERVAL_NS
    if nxt < time.monotonic_ns():  # overran: the next deadline is the next one ahead
        nxt = time.monotonic_ns() + INTERVAL_NS
late.sort()
q = lambda p: late[min(len(late) - 1, int(p * len(late)))] if late else None
print(json.dumps({"n": len(late), "p50_ms": q(0.5), "p99_ms": q(0.99),
                  "max_ms": late[-1] if late else None}))
"""


class HostLateness:
    """How late an ordinary process on this host wakes from a timed sleep, measured beside a
    test: the rig's own figure for what host load does to any timer (the daemon's probes
    included), so that a lateness bound can be the daemon's budget on top of the host's,
    never a fixed figure that other work on the machine moves.

        meter = HostLateness().start(); ...; figures = meter.stop()  # {"n", "p50_ms", ...}
    """

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _LATENESS_METER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def stop(self):
        if self.proc is None:
            return None
        out, _ = self.proc.communicate(input="", timeout=30)
        self.proc = None
        return json.loads(out)

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def lateness_bound_ms(hist, host_p99_ms, own_ms):
    """The bound for the p99 bucket edge of a lateness histogram `hist` ({edge_s: count}, as
    test_slow_clients.parse_lateness gives): the daemon's own budget on top of the host's
    p99, rounded up to the next of the histogram's edges (it says only "at most this")."""
    want = max(0.0, host_p99_ms) + own_ms
    return next((e * 1000 for e in sorted(hist) if e * 1000 >= want), float("inf"))


def in_private_mounts(script):
    """A daemon command prefix that runs `script` (sh) in a private mount namespace and then
    execs the daemon there (same pid: unshare and sh exec). The host's mounts are untouched."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
            script + '\nexec "$@"', "sh"]
