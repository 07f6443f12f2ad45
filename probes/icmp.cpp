#include "probes/icmp.h"

#include <sys/socket.h>

#include <cstring>

namespace pathsteer {
namespace {

constexpr uint8_t kEchoRequest4 = 8;
constexpr uint8_t kEchoReply4 = 0;
constexpr uint8_t kEchoRequest6 = 128;
constexpr uint8_t kEchoReply6 = 129;
constexpr size_t kIcmpHeader = 8;
constexpr char kPayload[] = "pathsteer probe";  // 16 bytes with the NUL

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

uint16_t inet_checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += get16(data + i);
  if (len % 2 != 0)
    sum += static_cast<uint32_t>(data[len - 1]) << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::vector<uint8_t> build_echo_request(int family, EchoId id) {
  std::vector<uint8_t> pkt(kIcmpHeader + sizeof(kPayload), 0);
  pkt[0] = family == AF_INET ? kEchoRequest4 : kEchoRequest6;
  put16(&pkt[4], id.ident);
  put16(&pkt[6], id.seq);
  std::memcpy(&pkt[kIcmpHeader], kPayload, sizeof(kPayload));
  if (family == AF_INET)
    put16(&pkt[2], inet_checksum(pkt.data(), pkt.size()));
  return pkt;
}

std::optional<EchoId> parse_echo_reply(int family, const uint8_t* data, size_t len) {
  const uint8_t* icmp = data;
  size_t icmp_len = len;
  uint8_t want_type = kEchoReply6;
  if (family == AF_INET) {
    if (len < 20 || data[0] >> 4 != 4)
      return std::nullopt;
    size_t ihl = static_cast<size_t>(data[0] & 0x0f) * 4;
    if (ihl < 20 || len < ihl)
      return std::nullopt;
    icmp += ihl;
    icmp_len -= ihl;
    want_type = kEchoReply4;
  }
  if (icmp_len < kIcmpHeader || icmp[0] != want_type || icmp[1] != 0)
    return std::nullopt;
  return EchoId{.ident = get16(icmp + 4), .seq = get16(icmp + 6)};
}

}  // namespace pathsteer
