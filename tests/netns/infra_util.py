"""Helpers for the operational tests (issue 8): the classifier's TC filter, a process's fd
count and RSS, link flaps through rtnetlink, and running the daemon in a private mount
namespace. Python 3 standard library only."""

import json
import os
import socket
import struct

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


def in_private_mounts(script):
    """A daemon command prefix that runs `script` (sh) in a private mount namespace and then
    execs the daemon there (same pid: unshare and sh exec). The host's mounts are untouched."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
            script + '\nexec "$@"', "sh"]
