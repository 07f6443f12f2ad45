// Fuzz target: the parsers of what comes back from the network to the prober and the reflector.
// The first byte modulo 4 picks the parser, the rest is the datagram:
//   0 a STAMP Session-Sender test packet (decode_sender_packet), as the reflector reads it;
//   1 a STAMP Session-Reflector test packet (decode_reflected_packet, stamp_rtt_ms);
//   2 an IPv4 raw ICMP datagram, IP header first (parse_echo_reply, parse_echo_error);
//   3 an ICMPv6 datagram, ICMPv6 header first (the same two).
// Besides no crash, hang, leak or UB: a STAMP packet decodes exactly when it is at least 44
// bytes, and its fields re-encode to the bytes they came from; no ICMP datagram is both an
// echo reply and an error, and an error's quoted destination has the datagram's family.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "probes/icmp.h"
#include "probes/stamp.h"

namespace {

using namespace pathsteer;

void require(bool ok) {
  if (!ok)
    std::abort();
}

// The bytes of `pkt` at [offset, offset + n) equal those of `encoded`.
bool same(std::span<const uint8_t> pkt, std::span<const uint8_t> encoded, size_t offset, size_t n) {
  return std::memcmp(pkt.data() + offset, encoded.data() + offset, n) == 0;
}

void sender_packet(std::span<const uint8_t> pkt) {
  auto s = decode_sender_packet(pkt);
  require(s.has_value() == (pkt.size() >= kStampPacketSize));
  if (!s)
    return;
  auto encoded = encode_sender_packet(s->seq, s->t1, s->error_estimate);
  require(same(pkt, encoded, 0, 14));  // sequence number, timestamp, error estimate
}

void reflected_packet(std::span<const uint8_t> pkt) {
  auto r = decode_reflected_packet(pkt);
  require(r.has_value() == (pkt.size() >= kStampPacketSize));
  if (!r)
    return;
  std::array<uint8_t, kStampPacketSize> encoded{};
  require(encode_reflected_packet(*r, encoded));
  // Every field but the MBZ octets (14-15, 38-39, 41-43), which decoding ignores.
  require(same(pkt, encoded, 0, 14) && same(pkt, encoded, 16, 22) && same(pkt, encoded, 40, 1));
  timespec t4{.tv_sec = 1'700'000'000, .tv_nsec = 123'456'789};
  (void)stamp_rtt_ms(*r, t4);
  (void)from_stamp_timestamp(r->t1);
}

void icmp(int family, std::span<const uint8_t> pkt) {
  auto reply = parse_echo_reply(family, pkt.data(), pkt.size());
  auto error = parse_echo_error(family, pkt.data(), pkt.size());
  require(!(reply && error));
  if (error)
    require(error->dst.family == family);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::span<const uint8_t> pkt(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      sender_packet(pkt);
      break;
    case 1:
      reflected_packet(pkt);
      break;
    case 2:
      icmp(AF_INET, pkt);
      break;
    default:
      icmp(AF_INET6, pkt);
      break;
  }
  return 0;
}
