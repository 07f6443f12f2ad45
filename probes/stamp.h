// STAMP (RFC 8762, Simple Two-way Active Measurement Protocol), unauthenticated mode: the wire
// format of the Session-Sender and Session-Reflector test packets, NTP timestamp conversion and
// the RTT arithmetic. Interoperates with TWAMP-light reflectors (same unauthenticated layout).
// All multi-byte fields are big-endian (network order). Timestamps are NTP 64-bit (RFC 5905:
// seconds since 1900-01-01 UTC, 32.32 fixed point), the RFC 8762 default (Z bit = 0).
// The reflector lives in probes/reflector.h.
#pragma once

#include <time.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace pathsteer {

inline constexpr size_t kStampPacketSize = 44;  // both directions, unauthenticated
inline constexpr uint16_t kStampDefaultPort = 862;

// NTP 64-bit timestamp: seconds since 1900 and a binary fraction of a second.
struct StampTimestamp {
  uint32_t sec = 0;
  uint32_t frac = 0;
};
bool operator==(const StampTimestamp& a, const StampTimestamp& b);

// CLOCK_REALTIME (Unix epoch) -> NTP. The fraction is rounded to the nearest 2^-32 s.
StampTimestamp to_stamp_timestamp(const timespec& realtime);
// NTP -> Unix epoch timespec (nanoseconds rounded to nearest). Era 0 (until 2036) only.
timespec from_stamp_timestamp(const StampTimestamp& ts);

// Error Estimate (RFC 8762 §4.2.1 referring to RFC 4656 §4.1.2), 16 bits:
//   S (1 bit, clock synchronized to UTC) | Z (1 bit, 0 = NTP format) | Scale (6) | Multiplier (8)
// error = Multiplier * 2^(-32) * 2^Scale seconds. Multiplier must not be 0.
// Our default: S = 0 (we do not know whether the host is synchronized), Z = 0, Scale/Multiplier
// claiming about 1 ms (Scale 22, Multiplier 1 -> 2^-10 s = 0.98 ms).
inline constexpr uint16_t kStampErrorEstimateS = 0x8000;
inline constexpr uint16_t kStampErrorEstimateZ = 0x4000;
inline constexpr uint16_t kStampDefaultErrorEstimate = (22u << 8) | 1u;

// Session-Sender test packet, unauthenticated (RFC 8762 §4.2.1), 44 bytes:
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 MBZ (30)
std::array<uint8_t, kStampPacketSize> encode_sender_packet(uint32_t seq, StampTimestamp t1);
std::array<uint8_t, kStampPacketSize> encode_sender_packet(uint32_t seq, StampTimestamp t1,
                                                           uint16_t error_estimate);

struct StampSenderPacket {  // decoded Session-Sender test packet
  uint32_t seq = 0;
  StampTimestamp t1;
  uint16_t error_estimate = 0;
};
// nullopt when shorter than kStampPacketSize. Longer packets (padding) are accepted; MBZ not
// checked (RFC 8762 §4.2.1: the receiver ignores it).
std::optional<StampSenderPacket> decode_sender_packet(std::span<const uint8_t> pkt);

// Session-Reflector test packet, unauthenticated (RFC 8762 §4.3.1), 44 bytes:
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 MBZ (2)
//   16 Receive Timestamp (8) | 24 Session-Sender Sequence Number (4) | 28 Session-Sender Timestamp
//   (8) 36 Session-Sender Error Estimate (2) | 38 MBZ (2) | 40 Ses-Sender TTL (1) | 41 MBZ (3)
struct StampReflected {  // Session-Reflector test packet (RFC 8762 §4.3.1)
  uint32_t seq;          // reflector's sequence number
  StampTimestamp t3;     // reflector transmit timestamp
  StampTimestamp t2;     // reflector receive timestamp
  uint32_t sender_seq;
  StampTimestamp t1;  // sender timestamp echoed
  uint8_t sender_ttl;
  // Additions (beyond the contract):
  uint16_t error_estimate = 0;         // reflector's
  uint16_t sender_error_estimate = 0;  // echoed
};
// nullopt when shorter than kStampPacketSize; longer (padded) packets are accepted.
std::optional<StampReflected> decode_reflected_packet(std::span<const uint8_t> pkt);

// Writes a Session-Reflector test packet into out (out.size() >= kStampPacketSize; bytes past 44
// are zeroed: RFC 8762 §4.3 lets the reflector answer padded packets at the same length).
// Returns false when out is too small.
bool encode_reflected_packet(const StampReflected& r, std::span<uint8_t> out);

// RTT with the reflector's residence time subtracted: (t4 - t1) - (t3 - t2), in ms, computed
// modulo 2^64 units of 2^-32 s (right across the NTP era boundary). t2 and t3 are whatever the
// reflector wrote: a residence time below zero or longer than t4 - t1 is ignored (the RTT is
// then t4 - t1), and a t4 - t1 below zero (the wall clock stepped back) gives 0. So the result
// is in [0, t4 - t1], whatever the network sent.
double stamp_rtt_ms(const StampReflected& r, const timespec& t4_kernel_rx);

}  // namespace pathsteer
