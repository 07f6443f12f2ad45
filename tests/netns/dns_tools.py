#!/usr/bin/env python3
"""DNS pieces for test_dns_classes.py, run inside the namespaces (standard library only).

  dns_tools.py auth ADDR          an authoritative test server on ADDR:53 (the uplink side)
  dns_tools.py recv PORT          counts UDP datagrams to any local address on PORT, per tag;
                                  prints {"tag": count} as JSON when stdin closes
  dns_tools.py client SPEC.json   resolves and sends the first packet at once (see client())

Addresses are derived from the names, so every first packet goes to an address never seen
before: case k, item i -> 10.(100+k).(i>>8).(i&255) and 2001:db8:ffff:k::i+1 (hex).
"""

import json
import socket
import struct
import sys

ROT = {"v4": 0, "v6": 0}


def v4(case, i):
    return f"10.{100 + case}.{(i >> 8) & 255}.{i & 255}"


def v6(case, i):
    return f"2001:db8:ffff:{case:x}::{i + 1:x}"


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, off):
    labels, jumps, end = [], 0, None
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels), (end if end is not None else off + 1)
        if n & 0xc0 == 0xc0:
            if end is None:
                end = off + 2
            off = ((n & 0x3f) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 16:
                raise ValueError("loop")
            continue
        labels.append(msg[off + 1:off + 1 + n].decode(errors="replace"))
        off += 1 + n


def query(qid, name, qtype):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire_name(name) + \
        struct.pack("!HH", qtype, 1)


def rr(name_bytes, rtype, ttl, rdata):
    return name_bytes + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def answers_of(msg):
    """[(type, rdata bytes)] of the answer section; raises on anything malformed."""
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    out = []
    for _ in range(an):
        _, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        out.append((rtype, msg[off:off + rdlen]))
        off += rdlen
    return out


# -- hostile replies (raw), by first label of the question ----------------------------------

def hostile(kind, qid, qname):
    head = lambda an: struct.pack("!HHHHHH", qid, 0x8180, 1, an, 0, 0)  # noqa: E731
    q = wire_name(qname) + struct.pack("!HH", 1, 1)
    a = socket.inet_aton("10.99.0.1")
    if kind == "loop":  # the answer's owner points at itself
        return head(1) + q + b"\xc0" + bytes([12 + len(q)]) + struct.pack("!HHIH", 1, 1, 60, 4) + a
    if kind == "truncated":  # rdlength 4, 2 bytes present
        return head(1) + q + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + a[:2]
    if kind == "many":  # 10,000 announced, 80 present (one unfragmented datagram)
        return head(10000) + q + (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + a) * 80
    if kind == "longname":  # a 255-character name (257 bytes on the wire) in the answer
        long_name = ".".join(["a" * 63] * 3 + ["b" * 61]) + ".hostile.example"
        long_name = long_name[-255:].lstrip(".")
        while len(long_name) < 255:
            long_name = "c" + long_name
        return head(1) + q + rr(wire_name(long_name), 1, 60, a)
    if kind == "class":  # an answer of class CHAOS
        return head(1) + q + b"\xc0\x0c" + struct.pack("!HHIH", 1, 3, 60, 4) + a
    if kind == "type":  # a type nobody knows, on the chain
        return head(1) + q + b"\xc0\x0c" + struct.pack("!HHIH", 0xff00, 1, 60, 4) + a
    raise ValueError(kind)


def auth(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((addr, 53))
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            qid, _, _, _, _, _ = struct.unpack("!HHHHHH", msg[:12])
            qname, off = read_name(msg, 12)
            qtype, _ = struct.unpack("!HH", msg[off:off + 4])
        except Exception:
            continue
        labels = qname.lower().split(".")
        if labels[-2:] == ["hostile", "example"]:
            s.sendto(hostile(labels[0], qid, qname), peer)
            continue
        body = wire_name(qname) + struct.pack("!HH", qtype, 1)
        ans = []
        owner = b"\xc0\x0c"
        try:
            if labels[0] == "rot":  # one exact name, a new address at every query (a CDN)
                fam_key = "v4" if qtype == 1 else "v6"
                i = ROT[fam_key]
                ROT[fam_key] += 1
                case = int(labels[1][1:]) if labels[1].startswith("k") else 0
                target = (case, i)
            else:
                case, i = int(labels[1][1:]), int(labels[0][1:])
                target = (case, i)
                if labels[0].startswith("c"):  # c<i>.k<case>.alias.other -> t<i>.k<case>.cdn.example
                    tname = f"t{i}.k{case}.cdn.example"
                    ans.append(rr(owner, 5, 30, wire_name(tname)))
                    owner = wire_name(tname)
            if qtype == 1:
                ans.append(rr(owner, 1, 30, socket.inet_aton(v4(*target))))
            elif qtype == 28:
                ans.append(rr(owner, 28, 30, socket.inet_pton(socket.AF_INET6, v6(*target))))
        except (ValueError, IndexError):
            ans = []
        reply = struct.pack("!HHHHHH", qid, 0x8580, 1, len(ans), 0, 0) + body + b"".join(ans)
        s.sendto(reply, peer)


def recv(port):
    import select
    socks = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind((addr, port))
        s.setblocking(False)
        socks.append(s)
    print("ready", flush=True)
    counts = {}
    while True:
        r, _, _ = select.select(socks + [sys.stdin], [], [])
        for s in r:
            if s is sys.stdin:
                if not sys.stdin.readline():
                    for so in socks:  # what is still queued
                        while True:
                            try:
                                data = so.recv(256)
                            except BlockingIOError:
                                break
                            tag = data.split(b" ")[0].decode()
                            counts[tag] = counts.get(tag, 0) + 1
                    print(json.dumps(counts), flush=True)
                    return
                continue
            while True:
                try:
                    data = s.recv(256)
                except BlockingIOError:
                    break
                tag = data.split(b" ")[0].decode()
                counts[tag] = counts.get(tag, 0) + 1


def client(spec_path):
    """SPEC: {"resolver": ADDR, "port": N, "cases": [{"tag", "names": [...], "qtype"}]}.
    For each name: one query, and at once (no delay) one UDP datagram "<tag> <i>" from a new
    socket to the first address of the reply. Prints {"tag": {"sent", "unresolved"}}."""
    with open(spec_path) as f:
        spec = json.load(f)
    res = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    res.settimeout(2)
    out = {}
    qid = 1
    for case in spec["cases"]:
        tag, qtype = case["tag"], case["qtype"]
        sent = unresolved = 0
        for i, name in enumerate(case["names"]):
            qid = (qid + 1) & 0xffff
            res.sendto(query(qid, name, qtype), (spec["resolver"], 53))
            try:
                while True:
                    msg = res.recv(4096)
                    if struct.unpack("!H", msg[:2])[0] == qid:
                        break
            except socket.timeout:
                unresolved += 1
                continue
            addr = None
            for rtype, rdata in answers_of(msg):
                if rtype == 1 and len(rdata) == 4:
                    addr = (socket.AF_INET, socket.inet_ntop(socket.AF_INET, rdata))
                    break
                if rtype == 28 and len(rdata) == 16:
                    addr = (socket.AF_INET6, socket.inet_ntop(socket.AF_INET6, rdata))
                    break
            if addr is None:
                unresolved += 1
                continue
            u = socket.socket(addr[0], socket.SOCK_DGRAM)
            u.sendto(f"{tag} {i}".encode(), (addr[1], spec["port"]))
            u.close()
            sent += 1
        out[tag] = {"sent": sent, "unresolved": unresolved}
    print(json.dumps(out), flush=True)


def raw(server, name):
    """One query straight to server (through the gateway, no resolver); prints the reply hex."""
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(query(0x4242, name, 1), (server, 53))
    print(s.recv(65535).hex(), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "auth":
        auth(sys.argv[2])
    elif cmd == "recv":
        recv(int(sys.argv[2]))
    elif cmd == "client":
        client(sys.argv[2])
    elif cmd == "raw":
        raw(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
