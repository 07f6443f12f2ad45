#!/usr/bin/env python3
"""Paced UDP sender and recording receiver for the netns tests.

Runs inside a namespace (started with `ip netns exec NS python3 udp_tool.py ...`).

  send --dst ADDR --port N --count N --rate PPS --stream ID
      Sends COUNT datagrams from one socket (so one flow: one source port) at RATE
      packets/s on an absolute schedule (a late packet is sent at once, never skipped).
      Payload: magic "PST1", stream id (u32), seq (u32, 0..COUNT-1), send time
      (i64, CLOCK_MONOTONIC ns; all namespaces share that clock), zero padding.
      Prints one JSON line when done: {"sent", "errors", "start_ns", "end_ns", "sport"}.

  recv --out FILE --port N [--port N ...]
      One dual-stack socket per port bound to [::] (IPv4 arrives v4-mapped). Appends one
      line per valid datagram, written with a single write(2) so readers see whole lines:
          "<stream> <seq> <send_ns> <recv_ns> <dport>\\n"
      Writes "# ready\\n" after all ports are bound. Runs until SIGTERM.
"""

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC = b"PST1"
HEADER = struct.Struct("!4sIIq")
PAYLOAD_LEN = 64


def send(args):
    family = socket.AF_INET6 if ":" in args.dst else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    # Bind now so the source port (the flow) is fixed and reportable before the first packet.
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    dest = (args.dst, args.port)
    interval_ns = int(1e9 / args.rate)
    padding = bytes(PAYLOAD_LEN - HEADER.size)
    errors = 0
    start_ns = time.monotonic_ns()
    for seq in range(args.count):
        due = start_ns + seq * interval_ns
        now = time.monotonic_ns()
        if due > now:
            time.sleep((due - now) / 1e9)
        payload = HEADER.pack(MAGIC, args.stream, seq, time.monotonic_ns()) + padding
        try:
            sock.sendto(payload, dest)
        except OSError:
            errors += 1  # e.g. ENETUNREACH while routes change; counted, not fatal
    end_ns = time.monotonic_ns()
    print(json.dumps({"sent": args.count, "errors": errors, "start_ns": start_ns,
                      "end_ns": end_ns, "sport": sock.getsockname()[1]}), flush=True)
    return 0


def recv(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    socks = {}
    for port in args.port:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("::", port))
        sock.setblocking(False)
        socks[sock.fileno()] = (sock, port)
    out = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(out, b"# ready\n")
    poller = select.poll()
    for fd in socks:
        poller.register(fd, select.POLLIN)
    while not stop:
        try:
            events = poller.poll(200)
        except InterruptedError:
            continue
        for fd, _ in events:
            sock, port = socks[fd]
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                recv_ns = time.monotonic_ns()
                if len(data) < HEADER.size:
                    continue
                magic, stream, seq, send_ns = HEADER.unpack_from(data)
                if magic != MAGIC:
                    continue
                os.write(out, f"{stream} {seq} {send_ns} {recv_ns} {port}\n".encode())
    os.close(out)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--stream", type=int, required=True)
    r = sub.add_parser("recv")
    r.add_argument("--out", required=True)
    r.add_argument("--port", type=int, action="append", required=True)
    args = parser.parse_args()
    return send(args) if args.cmd == "send" else recv(args)


if __name__ == "__main__":
    sys.exit(main())
