#include "common/net.h"

#include <netinet/in.h>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace pathsteer {

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  // inet_pton reads a C string: "10.0.0.1\0junk" would be 10.0.0.1.
  if (s.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::string str(s);
  IpAddr a;
  if (inet_pton(AF_INET, str.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, str.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  IpAddr a;
  a.family = AF_INET;
  uint32_t n = htonl(host_order);
  std::memcpy(a.bytes.data(), &n, 4);
  return a;
}

std::string IpAddr::to_string() const {
  if (family != AF_INET && family != AF_INET6) {
    return "unspec";
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return buf;
}

bool IpAddr::is_unspecified() const {
  for (size_t i = 0; i < size(); ++i) {
    if (bytes[i] != 0)
      return false;
  }
  return true;
}

std::optional<Prefix> Prefix::parse(std::string_view s, std::string* why) {
  auto fail = [&](std::string msg) -> std::optional<Prefix> {
    if (why)
      *why = std::move(msg);
    return std::nullopt;
  };
  auto slash = s.find('/');
  auto addr = IpAddr::parse(s.substr(0, slash));
  if (!addr) {
    return fail("'" + std::string(s.substr(0, slash)) + "' is not an IPv4 or IPv6 address");
  }
  int max_len = addr->is_v4() ? 32 : 128;
  int len = max_len;
  if (slash != std::string_view::npos) {
    auto tail = s.substr(slash + 1);
    auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), len);
    if (ec != std::errc() || p != tail.data() + tail.size() || tail.empty()) {
      return fail("prefix length '" + std::string(tail) + "' is not a number");
    }
    if (len < 0 || len > max_len) {
      return fail("prefix length " + std::to_string(len) + " is out of range 0-" +
                  std::to_string(max_len));
    }
  }
  for (int bit = len; bit < max_len; ++bit) {
    if (addr->bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return fail("'" + std::string(s) + "' has host bits set beyond /" + std::to_string(len));
    }
  }
  return Prefix{.addr = *addr, .len = static_cast<uint8_t>(len)};
}

Prefix Prefix::default_route(int family) {
  Prefix p;
  p.addr.family = family;
  p.len = 0;
  return p;
}

std::string Prefix::to_string() const {
  return addr.to_string() + "/" + std::to_string(len);
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.family != addr.family)
    return false;
  for (int bit = 0; bit < len; ++bit) {
    uint8_t m = 0x80 >> (bit % 8);
    if ((a.bytes[bit / 8] & m) != (addr.bytes[bit / 8] & m))
      return false;
  }
  return true;
}

std::string family_name(int family) {
  return family == AF_INET ? "inet" : family == AF_INET6 ? "inet6" : "unspec";
}

const char* ip_proto_name(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_GRE:
      return "gre";
  }
  return nullptr;
}

}  // namespace pathsteer
