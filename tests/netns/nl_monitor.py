"""A tiny rtnetlink listener for the netns tests (Python 3 standard library only).

NetlinkMonitor(ns) subscribes, inside network namespace `ns`, to the IPv4/IPv6 route and rule
notification groups and records every RTM_NEWROUTE/DELROUTE/NEWRULE/DELRULE with the
monotonic time (ns) its datagram was received. A dedicated thread blocks in recv(), so the
receive time is within a fraction of a millisecond of the kernel's notification; two events'
delay is therefore measured on one clock and one socket, without `ip monitor` parsing.

    with NetlinkMonitor(topo.ns["gw"]) as mon:
        ...                                  # change something
        ev = mon.wait_for(lambda e: e.kind == "route" and e.table == 201, 1.0, "table 201")

Events are NlEvent objects: op ("new"/"del"), kind ("route"/"rule"), family (4/6), t_ns,
nl_flags, and the decoded fields: routes have table, protocol, dst ("default" or "a/len"),
gateway, oif, metric, type; rules have priority, table, protocol, fwmark, fwmask, action.
A receive-buffer overrun (ENOBUFS) is recorded as an event with op "overrun".
"""

import errno
import socket
import struct
import threading
import time

from fixture import in_netns

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
SO_RCVBUFFORCE = 33
RTNLGRP = {"route4": 7, "rule4": 8, "route6": 11, "rule6": 19}
RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWRULE, RTM_DELRULE = 24, 25, 32, 33
NLMSG_HDR = struct.Struct("=IHHII")
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg and fib_rule_hdr share this layout
NLA_HDR = struct.Struct("=HH")
# rtattr types (RTA_*) and rule attribute types (FRA_*) that the tests look at
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
FRA_PRIORITY, FRA_FWMARK, FRA_TABLE, FRA_FWMASK, FRA_PROTOCOL = 6, 10, 15, 16, 21
NLM_F_REPLACE = 0x100


class NlEvent:
    def __init__(self, t_ns, op, kind, family, nl_flags, fields):
        self.t_ns, self.op, self.kind, self.family, self.nl_flags = t_ns, op, kind, family, \
            nl_flags
        self.fields = fields
        self.__dict__.update(fields)

    def __repr__(self):
        body = " ".join(f"{k}={v}" for k, v in self.fields.items())
        replace = " (NLM_F_REPLACE)" if self.nl_flags & NLM_F_REPLACE else ""
        return f"<{self.op}{replace} {self.kind} v{self.family} {body} @{self.t_ns / 1e6:.3f}ms>"


def _attrs(data, off):
    out = {}
    while off + NLA_HDR.size <= len(data):
        length, typ = NLA_HDR.unpack_from(data, off)
        if length < NLA_HDR.size:
            break
        out[typ & 0x3FFF] = data[off + NLA_HDR.size:off + length]
        off += (length + 3) & ~3
    return out


def _u32(b):
    return struct.unpack("=I", b[:4])[0] if b is not None else None


def _addr(family, b):
    if b is None:
        return None
    return socket.inet_ntop(socket.AF_INET if family == socket.AF_INET else socket.AF_INET6, b)


def _decode(msg_type, nl_flags, body, t_ns):
    fam, dst_len, _src_len, _tos, table, b5, b6, b7, _flags = RTMSG.unpack_from(body, 0)
    if fam not in (socket.AF_INET, socket.AF_INET6):
        return None
    family = 4 if fam == socket.AF_INET else 6
    a = _attrs(body, RTMSG.size)
    op = "new" if msg_type in (RTM_NEWROUTE, RTM_NEWRULE) else "del"
    if msg_type in (RTM_NEWROUTE, RTM_DELROUTE):
        # rtmsg: ... rtm_table, rtm_protocol, rtm_scope, rtm_type, rtm_flags
        dst = _addr(fam, a.get(RTA_DST))
        fields = {"table": _u32(a.get(RTA_TABLE)) or table, "protocol": b5,
                  "dst": f"{dst}/{dst_len}" if dst else "default",
                  "gateway": _addr(fam, a.get(RTA_GATEWAY)), "oif": _u32(a.get(RTA_OIF)),
                  "metric": _u32(a.get(RTA_PRIORITY)), "type": b7}
        return NlEvent(t_ns, op, "route", family, nl_flags, fields)
    # fib_rule_hdr: ... table, res1, res2, action, flags
    fields = {"priority": _u32(a.get(FRA_PRIORITY)) or 0,
              "table": _u32(a.get(FRA_TABLE)) or table,
              "protocol": a[FRA_PROTOCOL][0] if FRA_PROTOCOL in a else 0,
              "fwmark": _u32(a.get(FRA_FWMARK)), "fwmask": _u32(a.get(FRA_FWMASK)),
              "action": b7}
    return NlEvent(t_ns, op, "rule", family, nl_flags, fields)


class NetlinkMonitor:
    """Records route and rule notifications of namespace `ns` (see the module docstring)."""

    def __init__(self, ns, groups=("route4", "route6", "rule4", "rule6"), rcvbuf=16 << 20):
        self.ns, self.groups, self.rcvbuf = ns, groups, rcvbuf
        self.events = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = None
        self._thread = None

    def start(self):
        def open_socket():
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            s.bind((0, 0))
            for g in self.groups:
                s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP[g])
            return s

        self._sock = in_netns(self.ns, open_socket)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._reader, name=f"nlmon-{self.ns}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._sock:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _reader(self):
        while not self._stop.is_set():
            try:
                data = self._sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self._append([NlEvent(time.monotonic_ns(), "overrun", "-", 0, 0, {})])
                    continue
                if self._stop.is_set():
                    return
                raise
            t_ns = time.monotonic_ns()
            batch, off = [], 0
            while off + NLMSG_HDR.size <= len(data):
                length, msg_type, flags, _seq, _pid = NLMSG_HDR.unpack_from(data, off)
                if length < NLMSG_HDR.size:
                    break
                if msg_type in (RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWRULE, RTM_DELRULE):
                    ev = _decode(msg_type, flags, data[off + NLMSG_HDR.size:off + length], t_ns)
                    if ev is not None:
                        batch.append(ev)
                off += (length + 3) & ~3
            self._append(batch)

    def _append(self, batch):
        with self._lock:
            self.events.extend(batch)

    def snapshot(self, since=0):
        """The events recorded so far (from index `since`)."""
        with self._lock:
            return list(self.events[since:])

    def mark(self):
        """An index for snapshot()/wait_for(since=...): only events after this call."""
        with self._lock:
            return len(self.events)

    def wait_for(self, predicate, timeout, what, since=0):
        """The first recorded event (from index `since`) for which predicate(ev) holds;
        TimeoutError naming `what` if none arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.snapshot(since):
                if predicate(ev):
                    return ev
            if time.monotonic() >= deadline:
                seen = self.snapshot(since)
                raise TimeoutError(f"timed out after {timeout:g} s waiting for netlink event: "
                                   f"{what}; saw {len(seen)} events: {seen[-8:]!r}")
            time.sleep(0.005)
