// DNS replies as Ethernet frames for BPF_PROG_TEST_RUN (tests, benchmarks,
// fuzzing of the parser): one plain struct describes the reply, build_dns()
// lays out the message and dns_frame() wraps it in Ethernet, IPv4 or IPv6 and
// UDP from port 53 with correct lengths (checksums zero: never read).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace pathsteer::testing {

inline constexpr uint16_t kDnsA = 1;
inline constexpr uint16_t kDnsCname = 5;
inline constexpr uint16_t kDnsAaaa = 28;

struct DnsRecord {
  std::string name;  // owner; the question's name is written as a pointer to it
  uint16_t type = kDnsA;
  uint16_t cls = 1;  // IN
  uint32_t ttl = 60;
  std::vector<uint8_t> rdata;
};

struct DnsReply {
  uint16_t id = 0x1234;
  uint16_t flags = 0x8180;  // response, RD, RA, NOERROR
  std::string qname = "video.example";
  uint16_t qtype = kDnsA;
  uint16_t qclass = 1;
  std::vector<DnsRecord> answers;
  std::optional<uint16_t> qdcount;  // default 1
  std::optional<uint16_t> ancount;  // default answers.size()
};

inline void put_u16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

inline void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  put_u16(b, static_cast<uint16_t>(v >> 16));
  put_u16(b, static_cast<uint16_t>(v));
}

// Uncompressed wire form of a dotted name ("" or "." is the root).
inline std::vector<uint8_t> dns_name(std::string_view name) {
  std::vector<uint8_t> b;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    size_t end = dot == std::string_view::npos ? name.size() : dot;
    b.push_back(static_cast<uint8_t>(end - start));
    b.insert(b.end(), name.begin() + static_cast<ptrdiff_t>(start),
             name.begin() + static_cast<ptrdiff_t>(end));
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

inline std::vector<uint8_t> dns_addr(const char* text) {
  IpAddr a = *IpAddr::parse(text);
  return std::vector<uint8_t>(a.bytes.begin(), a.bytes.begin() + static_cast<ptrdiff_t>(a.size()));
}

inline DnsRecord dns_a(std::string name, const char* addr, uint32_t ttl = 60) {
  return DnsRecord{.name = std::move(name), .type = kDnsA, .ttl = ttl, .rdata = dns_addr(addr)};
}

inline DnsRecord dns_aaaa(std::string name, const char* addr, uint32_t ttl = 60) {
  return DnsRecord{.name = std::move(name), .type = kDnsAaaa, .ttl = ttl, .rdata = dns_addr(addr)};
}

inline DnsRecord dns_cname(std::string name, std::string_view target, uint32_t ttl = 60) {
  return DnsRecord{
      .name = std::move(name), .type = kDnsCname, .ttl = ttl, .rdata = dns_name(target)};
}

inline std::vector<uint8_t> build_dns(const DnsReply& r) {
  std::vector<uint8_t> b;
  put_u16(b, r.id);
  put_u16(b, r.flags);
  put_u16(b, r.qdcount.value_or(1));
  put_u16(b, r.ancount.value_or(static_cast<uint16_t>(r.answers.size())));
  put_u16(b, 0);
  put_u16(b, 0);
  auto q = dns_name(r.qname);
  b.insert(b.end(), q.begin(), q.end());
  put_u16(b, r.qtype);
  put_u16(b, r.qclass);
  for (const DnsRecord& rr : r.answers) {
    if (rr.name == r.qname) {
      put_u16(b, 0xc00c);  // a pointer to the question's name
    } else {
      auto n = dns_name(rr.name);
      b.insert(b.end(), n.begin(), n.end());
    }
    put_u16(b, rr.type);
    put_u16(b, rr.cls);
    put_u32(b, rr.ttl);
    put_u16(b, static_cast<uint16_t>(rr.rdata.size()));
    b.insert(b.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return b;
}

// The reply from server to client in a frame, over IPv4 or IPv6 (by the
// addresses' family). sport is the server's port (53 for a DNS reply).
inline std::vector<uint8_t> dns_frame(const std::vector<uint8_t>& msg,
                                      const char* server = "10.1.0.1",
                                      const char* client = "10.1.0.2", uint16_t sport = 53) {
  IpAddr src = *IpAddr::parse(server);
  IpAddr dst = *IpAddr::parse(client);
  std::vector<uint8_t> b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  put_u16(b, src.is_v4() ? 0x0800 : 0x86dd);
  std::vector<uint8_t> udp;
  put_u16(udp, sport);
  put_u16(udp, 33333);
  put_u16(udp, static_cast<uint16_t>(8 + msg.size()));
  put_u16(udp, 0);
  udp.insert(udp.end(), msg.begin(), msg.end());
  if (src.is_v4()) {
    b.push_back(0x45);
    b.push_back(0);
    put_u16(b, static_cast<uint16_t>(20 + udp.size()));
    put_u16(b, 1);
    put_u16(b, 0);
    b.push_back(64);
    b.push_back(17);
    put_u16(b, 0);
    b.insert(b.end(), src.bytes.begin(), src.bytes.begin() + 4);
    b.insert(b.end(), dst.bytes.begin(), dst.bytes.begin() + 4);
  } else {
    b.insert(b.end(), {0x60, 0, 0, 0});
    put_u16(b, static_cast<uint16_t>(udp.size()));
    b.push_back(17);
    b.push_back(64);
    b.insert(b.end(), src.bytes.begin(), src.bytes.end());
    b.insert(b.end(), dst.bytes.begin(), dst.bytes.end());
  }
  b.insert(b.end(), udp.begin(), udp.end());
  return b;
}

}  // namespace pathsteer::testing
