// ICMP/ICMPv6 echo packets as raw sockets send and receive them.
// Pure byte handling; no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/net.h"

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
// The same request written into `out` without allocating; returns its length
// (kEchoRequestLen), or 0 if `out` is shorter than that.
inline constexpr size_t kEchoRequestLen = 24;
size_t write_echo_request(int family, EchoId id, std::span<uint8_t> out);

// For an IPv4 raw socket with IP_HDRINCL: a 20-byte IPv4 header (DF, TTL 64,
// protocol ICMP, destination `dst`; total length, identification, header
// checksum and source address 0, which the kernel fills in: the source from
// the route, the ID stays 0 because of DF) followed by the echo request.
// Returns kIpv4HeaderLen + kEchoRequestLen, or 0 if `out` is too short or
// `dst` is not IPv4.
inline constexpr size_t kIpv4HeaderLen = 20;
size_t write_ipv4_echo_request(const IpAddr& dst, EchoId id, std::span<uint8_t> out);

// Parses one datagram from a raw socket: AF_INET data starts with the IPv4
// header, AF_INET6 data with the ICMPv6 header. Returns the id of an echo
// reply (type 0 / 129, code 0), nothing for anything else or truncated data.
std::optional<EchoId> parse_echo_reply(int family, const uint8_t* data, size_t len);

// An ICMP error (IPv4: destination unreachable 3, time exceeded 11, parameter
// problem 12; IPv6: destination unreachable 1, time exceeded 3, parameter
// problem 4) quoting one of our echo requests: the quoted request's id and
// destination, and the error's type and code. Same input conventions as
// parse_echo_reply(); the quoted IPv6 header must be followed directly by the
// ICMPv6 header (no extension headers, as our requests carry none).
struct EchoError {
  EchoId id;
  IpAddr dst;  // the quoted request's destination (the probe target)
  uint8_t type = 0;
  uint8_t code = 0;
};
std::optional<EchoError> parse_echo_error(int family, const uint8_t* data, size_t len);

// RFC 1071 Internet checksum.
uint16_t inet_checksum(const uint8_t* data, size_t len);

}  // namespace pathsteer
