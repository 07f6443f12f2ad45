#!/usr/bin/env python3
"""`pathsteer reflector` cannot be turned against others (DESIGN §8): it never answers a packet
from its own port or a port below 1024, nor one sent to a broadcast or multicast address; it
rate-limits each source, answers only an --allow list when given one, and runs without
privileges once its sockets are bound.

The reflector runs in the up1 namespace (100.64.1.1, 2001:db8:1::1 on up0). The rig sends from
the gw namespace (one hop: 100.64.1.2, 2001:db8:1::2 on wan1) and from the lan namespace
(192.168.77.2, fd00:77::2, routed by the gw) as a second, independent source.

"Gets no answer" is shown twice over. By order: the refused datagrams go first, then one the
reflector must answer, on the same path to the same reflector socket; once that answer is in,
the refused ones have been handled, and an answer to them would have come first. By the
reflector's own counters (logged when it stops): each refused datagram is counted under its
reason and `reflected` counts only the answers the rig received, so a datagram lost on the
way cannot pass for a refused one.
"""

import os
import pwd
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

import fixture
import stamp_rfc_sender as rfc
from fixture import NetnsTestCase, in_netns, wait_until
from reflector_rig import Reflector

PORT = 862
UP1_V4, UP1_V6 = "100.64.1.1", "2001:db8:1::1"
GW_V4, GW_V6 = "100.64.1.2", "2001:db8:1::2"
REPLY_TIMEOUT = 3.0  # generous: a busy two-core host
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IPV6_MULTICAST_IF = getattr(socket, "IPV6_MULTICAST_IF", 17)


def udp_socket(bind_addr, bind_port=0, device=None, broadcast=False):
    family = socket.AF_INET6 if ":" in bind_addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, rfc.SO_TIMESTAMPNS, 1)
    if device:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, device.encode())
    if broadcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind((bind_addr, bind_port))
    return s


def send_probe(sock, dst, seq, port=PORT):
    """One Session-Sender test packet; dst is an address or a full sockaddr tuple."""
    addr = dst if isinstance(dst, tuple) else (dst, port)
    sock.sendto(rfc.build_sender_packet(seq, time.time_ns()), addr)


def replies_until(sock, seq, timeout=REPLY_TIMEOUT):
    """Reads replies on sock until the one to `seq` arrives; returns the sender sequence
    numbers of all of them in order (the last is seq). Fails after `timeout` s."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        got = rfc.receive(sock, max(0.0, deadline - time.monotonic()))
        if got is None:
            raise AssertionError(f"no answer to seq {seq} within {timeout} s; saw {seen}")
        reply = rfc.parse_reflector_packet(got[0])
        seen.append(reply["sender_seq"] if reply else None)
        if seen[-1] == seq:
            return seen


def pending(sock):
    """Datagrams already queued on sock (none is waited for)."""
    out = []
    while True:
        try:
            out.append(sock.recv(65536, socket.MSG_DONTWAIT))
        except BlockingIOError:
            return out


def spoof_udp4(src, sport, dst, dport, payload):
    """Sends one IPv4/UDP datagram with any source address and port (a raw socket; the
    kernel fills in the IP checksum, length and id; UDP checksum 0 = none)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    with s:
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP,
                         0, socket.inet_aton(src), socket.inet_aton(dst))
        s.sendto(ip + udp, (dst, 0))


def udp_snmp():
    """{counter: value} of the Udp: lines of this thread's network namespace."""
    with open("/proc/thread-self/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def softnet_dropped():
    """Packets the host dropped because a CPU's backlog queue was full (every namespace)."""
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


def flood(target, rate, seconds, bind_addr):
    """Sends STAMP test packets from one socket at `rate` per second for `seconds` s (a late
    schedule is caught up at once, never skipped) and collects the answers. Returns
    {"sent", "span_s" (first to last send, monotonic), "answers" (kernel receive times, ns),
    "sock"} (the socket stays open for late answers)."""
    s = udp_socket(bind_addr)
    s.connect((target, PORT))
    s.setblocking(False)
    pkt = bytearray(rfc.build_sender_packet(0, time.time_ns()))
    answers, sent = [], 0
    start = time.monotonic()
    last_send = start
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) * rate) + 1
        while sent < due:
            struct.pack_into("!I", pkt, 0, sent)
            try:
                s.send(pkt)
            except (BlockingIOError, OSError):
                break  # ENOBUFS and the like: try again on the next turn
            sent += 1
        last_send = time.monotonic()
        collect(s, answers)
        time.sleep(0.0005)
    return {"sent": sent, "span_s": last_send - start, "answers": answers, "sock": s}


def collect(sock, answers):
    """Appends the kernel receive time of every answer queued on sock."""
    while True:
        try:
            _data, anc, _flags, _addr = sock.recvmsg(128, socket.CMSG_SPACE(16),
                                                     socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == rfc.SO_TIMESTAMPNS:
                sec, nsec = rfc.TIMESPEC.unpack(payload[:rfc.TIMESPEC.size])
                answers.append(sec * 1_000_000_000 + nsec)


def paced_probes(target, interval, stop, bind_addr):
    """Until stop is set: one probe every `interval` s, each waiting up to REPLY_TIMEOUT for its
    answer (checked field by field against what was sent). Returns (sent, answered)."""
    sent = answered = 0
    with udp_socket(bind_addr) as s:
        next_at = time.monotonic()
        while not stop.is_set():
            t1 = time.time_ns()
            s.sendto(rfc.build_sender_packet(sent, t1), (target, PORT))
            deadline = time.monotonic() + REPLY_TIMEOUT
            while True:
                got = rfc.receive(s, max(0.0, deadline - time.monotonic()))
                if got is None:
                    break
                r = rfc.parse_reflector_packet(got[0])
                if r and r["sender_seq"] == sent and r["seq"] == sent and \
                        r["t1_raw"] == rfc.ns_to_ntp(t1):
                    answered += 1
                    break
            sent += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return sent, answered


class ReflectorAbuse(NetnsTestCase):
    needs = ("PATHSTEER",)

    def start(self, role="up1", args=()):
        r = Reflector(self.topo, self.bin["PATHSTEER"], role, args)
        self.addCleanup(r.kill)  # runs before the topology's teardown
        return r

    def in_ns(self, role, fn):
        return in_netns(self.topo.ns[role], fn)

    def test_own_port_and_ports_below_1024_get_no_answer(self):
        refl = self.start(args=["--listen", "0.0.0.0:862", "--listen", "[::]:862",
                                "--listen", f"{UP1_V4}:8620"])

        def rig():
            socks = {p: udp_socket(GW_V4, p) for p in (862, 1023, 8620)}
            v6 = {p: udp_socket(GW_V6, p) for p in (862, 1023)}
            control4, control6 = udp_socket(GW_V4), udp_socket(GW_V6)
            send_probe(socks[862], UP1_V4, 1)     # own port
            send_probe(socks[1023], UP1_V4, 2)    # below 1024
            send_probe(socks[8620], UP1_V4, 3)    # neither: answered
            send_probe(socks[8620], (UP1_V4, 8620), 4)  # own port of the 8620 reflector
            send_probe(v6[862], UP1_V6, 5)
            send_probe(v6[1023], UP1_V6, 6)
            send_probe(control4, UP1_V4, 100)
            send_probe(control4, (UP1_V4, 8620), 101)
            send_probe(control6, UP1_V6, 102)
            out = {"control4": replies_until(control4, 100) + replies_until(control4, 101),
                   "control6": replies_until(control6, 102),
                   "8620": replies_until(socks[8620], 3)}
            out.update({f"v4 from {p}": pending(s) for p, s in socks.items()})
            out.update({f"v6 from {p}": pending(s) for p, s in v6.items()})
            for s in [*socks.values(), *v6.values(), control4, control6]:
                s.close()
            return out

        got = self.in_ns("gw", rig)
        self.assertEqual(got["control4"], [100, 101])
        self.assertEqual(got["control6"], [102])
        self.assertEqual(got["8620"], [3], "port 8620 is not the 862 reflector's own port")
        for key in ("v4 from 862", "v4 from 1023", "v4 from 8620", "v6 from 862",
                    "v6 from 1023"):
            self.assertEqual(got[key], [], f"{key}: answered")
        stats = refl.stop()
        self.assertEqual(stats["0.0.0.0:862"], stats["0.0.0.0:862"] | {
            "received": 4, "reflected": 2, "own port": 1, "low port": 1}, stats)
        self.assertEqual(stats["[::]:862"], stats["[::]:862"] | {
            "received": 3, "reflected": 1, "own port": 1, "low port": 1}, stats)
        self.assertEqual(stats[f"{UP1_V4}:8620"], stats[f"{UP1_V4}:8620"] | {
            "received": 2, "reflected": 1, "own port": 1, "low port": 0}, stats)

    def test_a_spoofed_packet_between_two_reflectors_is_not_bounced(self):
        # Reflector A in up1, reflector B in the gw, both on port 862. One datagram "from B"
        # to A: A answering it would make B answer A, and so on for ever.
        a = self.start("up1")
        b = self.start("gw")
        payload = rfc.build_sender_packet(1, time.time_ns())

        def rig():
            spoof_udp4(GW_V4, PORT, UP1_V4, PORT, payload)
            with udp_socket(GW_V4) as control:  # after the spoofed one, on its path
                send_probe(control, UP1_V4, 2)
                return replies_until(control, 2)

        self.assertEqual(self.in_ns("gw", rig), [2])
        sa, sb = a.stop(), b.stop()
        self.assertEqual(sa["0.0.0.0:862"], sa["0.0.0.0:862"] | {
            "received": 2, "reflected": 1, "own port": 1}, sa)
        self.assertEqual(sb["0.0.0.0:862"]["received"], 0, f"B got an answer from A: {sb}")

    def test_broadcast_and_multicast_destinations_get_no_answer(self):
        refl = self.start()

        def rig():
            s4 = udp_socket(GW_V4, device="wan1", broadcast=True)
            s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(GW_V4))
            send_probe(s4, "100.64.1.255", 1)     # the subnet broadcast of up0
            send_probe(s4, "255.255.255.255", 2)  # limited broadcast
            send_probe(s4, "224.0.0.1", 3)        # all hosts: every interface has joined
            send_probe(s4, UP1_V4, 100)
            wan1 = socket.if_nametoindex("wan1")
            s6 = udp_socket(GW_V6)
            s6.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, wan1)
            send_probe(s6, ("ff02::1", PORT, 0, wan1), 4)  # all nodes
            send_probe(s6, UP1_V6, 101)
            out = {"v4": replies_until(s4, 100), "v6": replies_until(s6, 101)}
            s4.close()
            s6.close()
            return out

        got = self.in_ns("gw", rig)
        self.assertEqual(got, {"v4": [100], "v6": [101]}, "answers besides the unicast ones")
        stats = refl.stop()
        self.assertEqual(stats["0.0.0.0:862"], stats["0.0.0.0:862"] | {
            "received": 4, "reflected": 1, "broadcast": 2, "multicast": 1}, stats)
        self.assertEqual(stats["[::]:862"], stats["[::]:862"] | {
            "received": 2, "reflected": 1, "multicast": 1}, stats)

    def test_allow_list(self):
        # The lan host gets a second address in its subnet; only the first is allowed.
        self.topo.ip("lan", "addr", "add", "192.168.77.3/24", "dev", "lan0")
        self.topo.ip("lan", "addr", "add", "fd00:77::3/64", "dev", "lan0", "nodad")
        refl = self.start(args=["--allow", f"{fixture.LAN_V4}/32",
                                "--allow", f"{fixture.LAN_V6}/128"])

        def rig():
            out = {}
            for refused, allowed, dst in (("192.168.77.3", fixture.LAN_V4, UP1_V4),
                                          ("fd00:77::3", fixture.LAN_V6, UP1_V6)):
                with udp_socket(refused) as no, udp_socket(allowed) as yes:
                    send_probe(no, dst, 1)
                    send_probe(yes, dst, 2)
                    out[dst] = (replies_until(yes, 2), pending(no))
            return out

        got = self.in_ns("lan", rig)
        self.assertEqual(got, {UP1_V4: ([2], []), UP1_V6: ([2], [])})
        stats = refl.stop()
        for listen in ("0.0.0.0:862", "[::]:862"):
            self.assertEqual(stats[listen], stats[listen] | {
                "received": 2, "reflected": 1, "not allowed": 1}, stats)

    def test_a_flood_is_answered_at_the_rate_another_source_normally(self):
        rate, flood_pps, seconds = 200, 10_000, 3.0
        refl = self.start(args=["--rate", str(rate)])
        up1 = self.topo.ns["up1"]
        snmp_before, softnet_before = in_netns(up1, udp_snmp), softnet_dropped()
        stop = threading.Event()
        box = {}

        def other_source():  # the lan host, 20 probes a second: under its own limit
            box["other"] = self.in_ns("lan", lambda: paced_probes(UP1_V4, 0.05, stop,
                                                                  fixture.LAN_V4))

        other = threading.Thread(target=other_source)
        other.start()
        try:
            f = self.in_ns("gw", lambda: flood(UP1_V4, flood_pps, seconds, GW_V4))
        finally:
            stop.set()
            other.join()
        stats = refl.stop()["0.0.0.0:862"]
        lost_in_kernel = (in_netns(up1, udp_snmp)["RcvbufErrors"] -
                          snmp_before["RcvbufErrors"] + softnet_dropped() - softnet_before)
        other_sent, other_answered = box["other"]

        def all_answers_in():  # every answer the reflector sent (a quiet path back)
            collect(f["sock"], f["answers"])
            return len(f["answers"]) + other_answered >= stats["reflected"]

        wait_until(all_answers_in, 5, "the flood's answers to arrive")
        f["sock"].close()
        answers = sorted(f["answers"])
        sent_pps = f["sent"] / f["span_s"]
        # After the first burst (`rate` answers at once), the answers' own spacing.
        steady = answers[rate:]
        steady_pps = (len(steady) - 1) / ((steady[-1] - steady[0]) / 1e9)
        per_second = [sum(1 for t in answers if k <= (t - answers[0]) / 1e9 < k + 1)
                      for k in range(int(seconds) + 1)]
        summary = (f"flood: sent {f['sent']} in {f['span_s']:.2f} s ({sent_pps:.0f}/s), "
                   f"reflector read about {stats['received'] - other_sent} of them, answered "
                   f"{len(answers)} (per second since the first: {per_second}; after the "
                   f"burst {steady_pps:.1f}/s); the other source: {other_answered} of "
                   f"{other_sent} answered; lost in the kernel: {lost_in_kernel}; "
                   f"reflector: {stats}")
        print(f"\n{summary}", file=sys.stderr)
        self.assertGreaterEqual(sent_pps, 10 * rate,
                                f"the rig could not flood fast enough to test a limit: {summary}")
        self.assertEqual(len(answers) + other_answered, stats["reflected"], summary)
        self.assertGreaterEqual(stats["rate limited"], f["sent"] // 2, summary)
        self.assertLessEqual(len(answers), rate + rate * (f["span_s"] + 0.5), summary)
        self.assertGreater(steady_pps, 0.85 * rate, summary)
        self.assertLess(steady_pps, 1.15 * rate, summary)
        self.assertGreater(other_sent, 0, summary)
        self.assertLessEqual(other_sent - other_answered, lost_in_kernel,
                             f"the other source lost answers beyond the kernel's drops: "
                             f"{summary}")

    def test_runs_unprivileged_after_start(self):
        refl = self.start()  # as root, with the defaults: binds port 862, then drops
        pid = refl.proc.pid  # nsenter execs the reflector: the same process
        tasks = os.listdir(f"/proc/{pid}/task")
        nobody = pwd.getpwnam("nobody")
        for tid in tasks:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            with self.subTest(task=tid):
                self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
                self.assertEqual(status["Gid"].split(), [str(nobody.pw_gid)] * 4)
                self.assertEqual(status["Groups"].strip(), "")
                for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                    self.assertEqual(int(status[cap], 16), 0, f"{cap} {status[cap]}")
                self.assertEqual(status["NoNewPrivs"], "1")
        # Still a working reflector for an RFC 8762 sender.
        recs = self.in_ns("gw", lambda: rfc.exchange(UP1_V4, PORT, [7, 8], ttl=64))
        self.assertEqual([r["reply"]["sender_seq"] for r in recs if r["reply"]], [7, 8])
        self.assertEqual(refl.stop()["0.0.0.0:862"]["reflected"], 2)

    def test_refuses_to_run_as_root_or_an_unknown_user(self):
        for user in ("root", "no-such-user-pst"):
            cmd = ["nsenter", f"--net=/run/netns/{self.topo.ns['up1']}", "--",
                   self.bin["PATHSTEER"], "reflector", "--user", user]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            with self.subTest(user=user):
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("dropping privileges", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
