#!/usr/bin/env python3
"""`pathsteer reflector` (STAMP, RFC 8762) answers a Session-Sender built from the RFC's packet
layout (stamp_rfc_sender.py, struct.pack; none of our C++ code) over IPv4 and IPv6.

The reflector runs with its defaults (0.0.0.0:862 and [::]:862) in the up1 namespace; senders
run in the gw namespace (one hop, the reflector sees the sender's TTL) and in the lan namespace
(through the gw's forwarding: TTL - 1). Every reply is checked field by field: sizes, reflector
and sender sequence numbers (stateless reflector: equal), echoed timestamp and error estimate,
MBZ and padding zero, t1 <= t2 <= t3 <= t4 on the one shared clock, the received TTL, and the
source address (the one the sender addressed, also on a multi-homed reflector).
"""

import ipaddress
import struct
import unittest

import fixture
import stamp_rfc_sender as rfc
from fixture import NetnsTestCase
from reflector_rig import Reflector

PORT = 862
SEND_TTL = 50
# Wraps the 32-bit sequence number on purpose.
SEQS = [0, 1, 2, 1000, 0xFFFFFFFE, 0xFFFFFFFF, 0, 7]
ROUNDING_NS = 10  # NTP has 0.23 ns resolution; both sides round or truncate once
MAX_RESIDENCE_NS = 20_000_000  # generous: two cores, other tests may run in between


class StampReflectorNetns(NetnsTestCase):
    needs = ("PATHSTEER",)

    def setUp(self):
        super().setUp()
        self.reflector = Reflector(self.topo, self.bin["PATHSTEER"], "up1", ["--verbose"])
        self.addCleanup(self.reflector.kill)  # runs before the topology's teardown
        text = self.reflector.log()
        self.assertIn("listening on 0.0.0.0 port 862", text)
        self.assertIn("listening on :: port 862", text)

    def stop_reflector(self):
        """SIGTERM; the reflector must exit 0. Returns its log."""
        self.reflector.stop()
        return self.reflector.log()

    def exchange(self, role, target, seqs=SEQS, size=rfc.PACKET_SIZE, short_first=False):
        return fixture.in_netns(self.topo.ns[role], lambda: rfc.exchange(
            target, PORT, seqs, ttl=SEND_TTL, size=size, short_first=short_first))

    def check_replies(self, recs, target, want_ttl, size=rfc.PACKET_SIZE):
        want_from = ipaddress.ip_address(target)
        for rec in recs:
            seq = rec["seq"]
            r = rec["reply"]
            with self.subTest(target=target, seq=seq):
                self.assertIsNotNone(r, f"no reply to seq {seq} from {target}")
                self.assertEqual(r["size"], size, "reply size = request size (RFC 8762 §4)")
                self.assertEqual(ipaddress.ip_address(rec["from"][0].split("%")[0]), want_from,
                                 "reply source = the address the sender addressed")
                self.assertEqual(rec["from"][1], PORT)
                # Stateless reflector: its Sequence Number is the sender's (RFC 8762 §4.3).
                self.assertEqual(r["sender_seq"], seq)
                self.assertEqual(r["seq"], seq)
                self.assertEqual(r["t1_raw"], struct.unpack_from("!II", rec["sent"], 4),
                                 "Session-Sender Timestamp echoed bit for bit")
                self.assertEqual(r["sender_error_estimate"], rfc.ERROR_ESTIMATE)
                ee = r["error_estimate"]
                self.assertEqual(ee & 0x4000, 0, "reflector's Z bit: NTP format")
                self.assertNotEqual(ee & 0xFF, 0, "Multiplier must not be zero (RFC 4656)")
                self.assertEqual(r["mbz"], bytes(7), "MBZ octets")
                self.assertEqual(r["padding"], bytes(size - rfc.PACKET_SIZE), "padding zero")
                self.assertEqual(r["sender_ttl"], want_ttl, "Ses-Sender TTL")
                t1, t2, t3, t4 = rec["t1_ns"], r["t2_ns"], r["t3_ns"], rec["t4_ns"]
                self.assertIsNotNone(t4, "no kernel receive timestamp at the sender")
                self.assertLessEqual(t1, t2 + ROUNDING_NS, "t1 <= t2 (Receive Timestamp)")
                self.assertLessEqual(t2, t3, "Receive Timestamp <= Timestamp")
                self.assertLessEqual(t3, t4 + ROUNDING_NS, "t3 <= t4")
                self.assertLess(t3 - t2, MAX_RESIDENCE_NS, "residence time")
                self.assertGreaterEqual((t4 - t1) - (t3 - t2), -ROUNDING_NS, "RTT")

    def test_v4_and_v6_one_hop(self):
        _, peer4, _, peer6 = fixture.uplink_addrs("wan1")
        for target in (peer4, peer6):
            self.check_replies(self.exchange("gw", target), target, SEND_TTL)
        text = self.stop_reflector()
        n = 2 * len(SEQS)
        self.assertIn("seq 4294967295 size 44 ttl 50", text)
        self.assertEqual(text.count(" size 44 ttl 50 residence "), n, text)

    def test_through_a_router_ttl_decrements(self):
        _, peer4, _, peer6 = fixture.uplink_addrs("wan1")
        for target in (peer4, peer6):
            self.check_replies(self.exchange("lan", target), target, SEND_TTL - 1)
        self.stop_reflector()

    def test_multihomed_reflector_answers_from_the_addressed_address(self):
        # up1 also owns DST_V4/DST_V6 on lo; the gw routes them over wan1 (metric 10).
        for target in (fixture.DST_V4, fixture.DST_V6):
            self.check_replies(self.exchange("lan", target, seqs=[1, 2, 3]), target,
                               SEND_TTL - 1)
        self.stop_reflector()

    def test_padded_reflected_at_same_length_short_dropped(self):
        _, peer4, _, peer6 = fixture.uplink_addrs("wan1")
        seqs = [10, 11, 12]
        for target in (peer4, peer6):
            # Each 40-octet datagram goes first; had it been answered, that answer would be
            # read in place of the real reply and fail the sequence check.
            recs = self.exchange("gw", target, seqs=seqs, size=128, short_first=True)
            self.check_replies(recs, target, SEND_TTL, size=128)
        text = self.stop_reflector()
        # One stop line per socket: v4 and v6 each dropped len(seqs) short datagrams.
        self.assertEqual(text.count(f"reflected {len(seqs)}, too short {len(seqs)},"), 2, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
