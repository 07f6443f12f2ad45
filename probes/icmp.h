// ICMP/ICMPv6 echo packets as raw sockets send and receive them.
// Pure byte handling; no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace pathsteer {

struct EchoId {
  uint16_t ident = 0;
  uint16_t seq = 0;
  friend bool operator==(const EchoId&, const EchoId&) = default;
};

// An echo request (type 8 for AF_INET, 128 for AF_INET6) with a short fixed
// payload ("pathsteer", to be recognisable in captures). The IPv4 checksum is
// filled in; for IPv6 it is left 0 because the kernel always computes it on
// IPPROTO_ICMPV6 raw sockets.
std::vector<uint8_t> build_echo_request(int family, EchoId id);

// Parses one datagram from a raw socket: AF_INET data starts with the IPv4
// header, AF_INET6 data with the ICMPv6 header. Returns the id of an echo
// reply (type 0 / 129, code 0), nothing for anything else or truncated data.
std::optional<EchoId> parse_echo_reply(int family, const uint8_t* data, size_t len);

// RFC 1071 Internet checksum.
uint16_t inet_checksum(const uint8_t* data, size_t len);

}  // namespace pathsteer
