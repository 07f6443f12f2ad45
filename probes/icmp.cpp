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
constexpr size_t kIp6Header = 40;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr char kPayload[] = "pathsteer probe";  // 16 bytes with the NUL

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Strips the IPv4 header of a raw AF_INET datagram; AF_INET6 data already
// starts at the ICMPv6 header.
bool icmp_part(int family, const uint8_t*& data, size_t& len) {
  if (family != AF_INET)
    return true;
  if (len < 20 || data[0] >> 4 != 4)
    return false;
  size_t ihl = static_cast<size_t>(data[0] & 0x0f) * 4;
  if (ihl < 20 || len < ihl)
    return false;
  data += ihl;
  len -= ihl;
  return true;
}

bool is_error_type(int family, uint8_t type) {
  if (family == AF_INET)
    return type == 3 || type == 11 || type == 12;
  return type == 1 || type == 3 || type == 4;
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

static_assert(kEchoRequestLen == kIcmpHeader + sizeof(kPayload));

size_t write_echo_request(int family, EchoId id, std::span<uint8_t> out) {
  if (out.size() < kEchoRequestLen)
    return 0;
  uint8_t* pkt = out.data();
  std::memset(pkt, 0, kIcmpHeader);
  pkt[0] = family == AF_INET ? kEchoRequest4 : kEchoRequest6;
  put16(&pkt[4], id.ident);
  put16(&pkt[6], id.seq);
  std::memcpy(&pkt[kIcmpHeader], kPayload, sizeof(kPayload));
  if (family == AF_INET)
    put16(&pkt[2], inet_checksum(pkt, kEchoRequestLen));
  return kEchoRequestLen;
}

size_t write_ipv4_echo_request(const IpAddr& dst, EchoId id, std::span<uint8_t> out) {
  if (!dst.is_v4() || out.size() < kIpv4HeaderLen + kEchoRequestLen)
    return 0;
  uint8_t* ip = out.data();
  std::memset(ip, 0, kIpv4HeaderLen);
  ip[0] = 0x45;  // version 4, 5 words
  ip[6] = 0x40;  // DF
  ip[8] = 64;    // TTL
  ip[9] = kProtoIcmp;
  std::memcpy(ip + 16, dst.bytes.data(), 4);
  return kIpv4HeaderLen + write_echo_request(AF_INET, id, out.subspan(kIpv4HeaderLen));
}

std::vector<uint8_t> build_echo_request(int family, EchoId id) {
  std::vector<uint8_t> pkt(kEchoRequestLen);
  write_echo_request(family, id, pkt);
  return pkt;
}

std::optional<EchoId> parse_echo_reply(int family, const uint8_t* data, size_t len) {
  if (!icmp_part(family, data, len))
    return std::nullopt;
  uint8_t want_type = family == AF_INET ? kEchoReply4 : kEchoReply6;
  if (len < kIcmpHeader || data[0] != want_type || data[1] != 0)
    return std::nullopt;
  return EchoId{.ident = get16(data + 4), .seq = get16(data + 6)};
}

std::optional<EchoError> parse_echo_error(int family, const uint8_t* data, size_t len) {
  if (!icmp_part(family, data, len))
    return std::nullopt;
  if (len < kIcmpHeader || !is_error_type(family, data[0]))
    return std::nullopt;
  EchoError e{.type = data[0], .code = data[1]};
  const uint8_t* inner = data + kIcmpHeader;  // the quoted datagram
  size_t inner_len = len - kIcmpHeader;
  const uint8_t* quoted_icmp = nullptr;
  if (family == AF_INET) {
    if (inner_len < 20 || inner[0] >> 4 != 4 || inner[9] != kProtoIcmp)
      return std::nullopt;
    size_t ihl = static_cast<size_t>(inner[0] & 0x0f) * 4;
    if (ihl < 20 || inner_len < ihl + kIcmpHeader)
      return std::nullopt;
    e.dst.family = AF_INET;
    std::memcpy(e.dst.bytes.data(), inner + 16, 4);
    quoted_icmp = inner + ihl;
  } else {
    if (inner_len < kIp6Header + kIcmpHeader || inner[0] >> 4 != 6 || inner[6] != kProtoIcmp6)
      return std::nullopt;
    e.dst.family = AF_INET6;
    std::memcpy(e.dst.bytes.data(), inner + 24, 16);
    quoted_icmp = inner + kIp6Header;
  }
  uint8_t request = family == AF_INET ? kEchoRequest4 : kEchoRequest6;
  if (quoted_icmp[0] != request)
    return std::nullopt;
  e.id = EchoId{.ident = get16(quoted_icmp + 4), .seq = get16(quoted_icmp + 6)};
  return e;
}

}  // namespace pathsteer
