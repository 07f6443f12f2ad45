// Address value types shared by every module: IpAddr and Prefix (IPv4 or IPv6),
// plain values with ==, parsed strictly and printed in canonical form.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pathsteer {

struct IpAddr {
  int family = AF_UNSPEC;           // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  static std::optional<IpAddr> parse(std::string_view s);
  static IpAddr v4(uint32_t host_order);
  std::string to_string() const;
  size_t size() const { return family == AF_INET ? 4 : 16; }
  bool is_v4() const { return family == AF_INET; }
  bool is_v6() const { return family == AF_INET6; }
  bool is_unspecified() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

struct Prefix {
  IpAddr addr;      // host bits are zero
  uint8_t len = 0;  // 0..32 or 0..128

  // Parses "a.b.c.d/n", "x::/n" or a bare address (full length). Host bits set
  // beyond the length are an error (as `ip route` says "Invalid prefix"),
  // reported through *why when given.
  static std::optional<Prefix> parse(std::string_view s, std::string* why = nullptr);
  static Prefix default_route(int family);
  std::string to_string() const;
  bool contains(const IpAddr& a) const;

  friend bool operator==(const Prefix&, const Prefix&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  friend auto operator<=>(const Prefix&, const Prefix&) = default;
};

// An inclusive port range, shared by policy matches and ip rules.
struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// A range of socket-owner uids (ip rule uidrange; policy `uid:` matches).
struct UidRange {
  uint32_t lo = 0;
  uint32_t hi = 0;  // inclusive
  friend bool operator==(const UidRange&, const UidRange&) = default;
};

std::string family_name(int family);  // "inet" / "inet6"
// "tcp", "udp", "icmp", "icmpv6", "sctp", "gre"; nullptr for other protocol numbers.
const char* ip_proto_name(uint8_t proto);

}  // namespace pathsteer
