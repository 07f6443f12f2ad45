#include "probes/stamp.h"

#include <cmath>
#include <cstring>

namespace pathsteer {

namespace {

// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
constexpr uint64_t kNtpUnixOffset = 2208988800ULL;
constexpr uint64_t kNanosPerSec = 1000000000ULL;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void put_ts(uint8_t* p, StampTimestamp ts) {
  put32(p, ts.sec);
  put32(p + 4, ts.frac);
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
StampTimestamp get_ts(const uint8_t* p) {
  return {.sec = get32(p), .frac = get32(p + 4)};
}

uint64_t as_u64(StampTimestamp ts) {
  return (static_cast<uint64_t>(ts.sec) << 32) | ts.frac;
}

}  // namespace

bool operator==(const StampTimestamp& a, const StampTimestamp& b) {
  return a.sec == b.sec && a.frac == b.frac;
}

StampTimestamp to_stamp_timestamp(const timespec& realtime) {
  uint64_t sec = static_cast<uint64_t>(realtime.tv_sec) + kNtpUnixOffset;
  uint64_t frac =
      ((static_cast<uint64_t>(realtime.tv_nsec) << 32) + kNanosPerSec / 2) / kNanosPerSec;
  if (frac >> 32 != 0) {  // only for tv_nsec out of range; keep it a valid fraction
    sec += frac >> 32;
    frac &= 0xffffffffULL;
  }
  return {.sec = static_cast<uint32_t>(sec), .frac = static_cast<uint32_t>(frac)};
}

timespec from_stamp_timestamp(const StampTimestamp& ts) {
  uint64_t nsec = ((static_cast<uint64_t>(ts.frac) * kNanosPerSec) + (1ULL << 31)) >> 32;
  int64_t sec = static_cast<int64_t>(ts.sec) - static_cast<int64_t>(kNtpUnixOffset);
  if (nsec >= kNanosPerSec) {  // a fraction within half a nanosecond of the next second
    nsec -= kNanosPerSec;
    ++sec;
  }
  timespec out{};
  out.tv_sec = static_cast<time_t>(sec);
  out.tv_nsec = static_cast<long>(nsec);
  return out;
}

std::array<uint8_t, kStampPacketSize> encode_sender_packet(uint32_t seq, StampTimestamp t1) {
  return encode_sender_packet(seq, t1, kStampDefaultErrorEstimate);
}

std::array<uint8_t, kStampPacketSize> encode_sender_packet(uint32_t seq, StampTimestamp t1,
                                                           uint16_t error_estimate) {
  std::array<uint8_t, kStampPacketSize> pkt{};  // MBZ bytes 14..43 stay zero
  put32(pkt.data(), seq);
  put_ts(pkt.data() + 4, t1);
  put16(pkt.data() + 12, error_estimate);
  return pkt;
}

std::optional<StampSenderPacket> decode_sender_packet(std::span<const uint8_t> pkt) {
  if (pkt.size() < kStampPacketSize)
    return std::nullopt;
  return StampSenderPacket{
      .seq = get32(pkt.data()),
      .t1 = get_ts(pkt.data() + 4),
      .error_estimate = get16(pkt.data() + 12),
  };
}

std::optional<StampReflected> decode_reflected_packet(std::span<const uint8_t> pkt) {
  if (pkt.size() < kStampPacketSize)
    return std::nullopt;
  const uint8_t* p = pkt.data();
  return StampReflected{
      .seq = get32(p),
      .t3 = get_ts(p + 4),
      .t2 = get_ts(p + 16),
      .sender_seq = get32(p + 24),
      .t1 = get_ts(p + 28),
      .sender_ttl = p[40],
      .error_estimate = get16(p + 12),
      .sender_error_estimate = get16(p + 36),
  };
}

bool encode_reflected_packet(const StampReflected& r, std::span<uint8_t> out) {
  if (out.size() < kStampPacketSize)
    return false;
  std::memset(out.data(), 0, out.size());
  uint8_t* p = out.data();
  put32(p, r.seq);
  put_ts(p + 4, r.t3);
  put16(p + 12, r.error_estimate);
  put_ts(p + 16, r.t2);
  put32(p + 24, r.sender_seq);
  put_ts(p + 28, r.t1);
  put16(p + 36, r.sender_error_estimate);
  p[40] = r.sender_ttl;
  return true;
}

double stamp_rtt_ms(const StampReflected& r, const timespec& t4_kernel_rx) {
  StampTimestamp t4 = to_stamp_timestamp(t4_kernel_rx);
  // Unsigned (modular) arithmetic, then a signed view: a difference across the NTP era
  // boundary (2036) still comes out right, and t2/t3 from the network cannot overflow a
  // signed subtraction.
  const auto whole = static_cast<int64_t>(as_u64(t4) - as_u64(r.t1));        // our clock
  const auto residence = static_cast<int64_t>(as_u64(r.t3) - as_u64(r.t2));  // the reflector's
  // The reflector's figures are trusted only when they make sense: a residence time below
  // zero or longer than the whole round trip is a broken or lying reflector, and the round
  // trip is then ours alone. A round trip below zero (the wall clock stepped back between
  // send and receive) is no measurement of the path: 0.
  if (whole <= 0)
    return 0.0;
  const int64_t units = residence >= 0 && residence <= whole ? whole - residence : whole;
  return std::ldexp(static_cast<double>(units), -32) * 1000.0;
}

}  // namespace pathsteer
