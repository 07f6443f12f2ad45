#!/usr/bin/env python3
"""A STAMP Session-Sender (RFC 8762, unauthenticated mode) written from the RFC's packet
layouts with struct, independent of pathsteer's C++ encoder. Standard library only.

Session-Sender test packet, unauthenticated (RFC 8762 §4.2.1), 44 octets:
     0  Sequence Number          4
     4  Timestamp                8   NTP 64-bit: seconds since 1900, 2^-32 s fraction
    12  Error Estimate           2   S|Z|Scale(6)|Multiplier(8), RFC 4656 §4.1.2
    14  MBZ                     30

Session-Reflector test packet, unauthenticated (RFC 8762 §4.3.1), 44 octets:
     0  Sequence Number          4
     4  Timestamp                8   t3, reflector transmit
    12  Error Estimate           2
    14  MBZ                      2
    16  Receive Timestamp        8   t2, reflector receive
    24  Session-Sender Sequence Number    4
    28  Session-Sender Timestamp          8   t1 echoed
    36  Session-Sender Error Estimate     2
    38  MBZ                      2
    40  Ses-Sender TTL           1   TTL / Hop Limit of the packet as the reflector received it
    41  MBZ                      3

Used as a module by test_stamp.py (exchange()), or by hand:
    stamp_rfc_sender.py ADDR [--port 862] [--count 5] [--ttl 64] [--size 44]
"""

import argparse
import json
import select
import socket
import struct
import sys
import time

SENDER_FMT = "!I II H 30x"
REFLECTOR_FMT = "!I II H 2x II I II H 2x B 3x"
PACKET_SIZE = 44
assert struct.calcsize(SENDER_FMT) == PACKET_SIZE
assert struct.calcsize(REFLECTOR_FMT) == PACKET_SIZE

NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # asm-generic value (x86, arm64)
TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux

# Error Estimate: S=0 (not known to be synchronized), Z=0 (NTP format), Scale=20, Multiplier=1
# -> 2^-12 s; a deliberately unusual value so an echo is recognisable.
ERROR_ESTIMATE = (0 << 15) | (0 << 14) | (20 << 8) | 1


def ns_to_ntp(t_ns):
    """Unix nanoseconds -> (NTP seconds, NTP fraction)."""
    sec, nsec = divmod(t_ns, 1_000_000_000)
    return (sec + NTP_UNIX_OFFSET) & 0xFFFFFFFF, (nsec << 32) // 1_000_000_000


def ntp_to_ns(sec, frac):
    """(NTP seconds, fraction) -> Unix nanoseconds (era 0)."""
    return (sec - NTP_UNIX_OFFSET) * 1_000_000_000 + ((frac * 1_000_000_000) >> 32)


def build_sender_packet(seq, t1_ns, error_estimate=ERROR_ESTIMATE, size=PACKET_SIZE):
    sec, frac = ns_to_ntp(t1_ns)
    pkt = struct.pack(SENDER_FMT, seq & 0xFFFFFFFF, sec, frac, error_estimate)
    return pkt + bytes(size - PACKET_SIZE)


def parse_reflector_packet(data):
    """The fields of a Session-Reflector test packet as a dict (times in Unix ns), plus the
    raw MBZ octets; None if shorter than 44 octets."""
    if len(data) < PACKET_SIZE:
        return None
    (seq, t3_sec, t3_frac, ee, t2_sec, t2_frac, s_seq, t1_sec, t1_frac, s_ee,
     ttl) = struct.unpack_from(REFLECTOR_FMT, data)
    return {
        "seq": seq,
        "t3_ns": ntp_to_ns(t3_sec, t3_frac),
        "error_estimate": ee,
        "t2_ns": ntp_to_ns(t2_sec, t2_frac),
        "sender_seq": s_seq,
        "t1_raw": (t1_sec, t1_frac),
        "sender_error_estimate": s_ee,
        "sender_ttl": ttl,
        "mbz": bytes(data[14:16] + data[38:40] + data[41:44]),
        "padding": bytes(data[PACKET_SIZE:]),
        "size": len(data),
    }


def open_socket(family, ttl):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    return s


def receive(s, timeout):
    """(data, source address, kernel receive time in Unix ns) or None on timeout."""
    ready, _, _ = select.select([s], [], [], timeout)
    if not ready:
        return None
    data, anc, _flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(TIMESPEC.size))
    t4 = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = TIMESPEC.unpack(payload[:TIMESPEC.size])
            t4 = sec * 1_000_000_000 + nsec
    return data, addr, t4


def exchange(target, port, seqs, ttl=64, size=PACKET_SIZE, timeout=2.0, short_first=False):
    """Sends one test packet per seq (one at a time, waiting for its reply) to target:port;
    returns a list of dicts: {seq, sent (bytes), t1_ns, reply (parsed or None), from, t4_ns}.
    short_first: send a 40-octet datagram before each packet (must be dropped, not answered)."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    out = []
    with open_socket(family, ttl) as s:
        for seq in seqs:
            if short_first:
                s.sendto(bytes(40), (target, port))
            t1 = time.time_ns()
            pkt = build_sender_packet(seq, t1, size=size)
            s.sendto(pkt, (target, port))
            got = receive(s, timeout)
            rec = {"seq": seq, "sent": pkt, "t1_ns": t1, "reply": None, "from": None,
                   "t4_ns": None}
            if got is not None:
                data, addr, t4 = got
                rec["reply"] = parse_reflector_packet(data)
                rec["from"] = (addr[0], addr[1])
                rec["t4_ns"] = t4
            out.append(rec)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target")
    ap.add_argument("--port", type=int, default=862)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--ttl", type=int, default=64)
    ap.add_argument("--size", type=int, default=PACKET_SIZE)
    args = ap.parse_args()
    lost = 0
    for rec in exchange(args.target, args.port, range(args.count), args.ttl, args.size):
        r = rec["reply"]
        if r is None:
            lost += 1
            print(json.dumps({"seq": rec["seq"], "lost": True}))
            continue
        rtt = (rec["t4_ns"] - rec["t1_ns"]) - (r["t3_ns"] - r["t2_ns"])
        print(json.dumps({"seq": r["sender_seq"], "rtt_us": rtt / 1e3,
                          "residence_us": (r["t3_ns"] - r["t2_ns"]) / 1e3,
                          "ttl": r["sender_ttl"], "size": r["size"]}))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
