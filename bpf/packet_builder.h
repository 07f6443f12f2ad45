// Ethernet frames for BPF_PROG_TEST_RUN (explain, tests and benchmarks): one
// plain struct describes the packet, build() lays it out. Checksums are left
// zero: the classifier never reads them.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/net.h"

namespace pathsteer::testing {

struct V6Ext {
  uint8_t type = IPPROTO_HOPOPTS;  // HOPOPTS, ROUTING, DSTOPTS, FRAGMENT, AH
  uint16_t frag_offset = 0;        // FRAGMENT only, in 8-byte units
};

struct Frame {
  std::string src = "10.9.9.9";
  std::string dst = "10.8.8.8";
  uint8_t proto = IPPROTO_TCP;
  uint16_t sport = 40000;
  uint16_t dport = 9999;
  uint8_t dscp = 0;
  uint8_t ttl = 64;
  bool vlan = false;
  uint8_t ip_option_words = 0;  // IPv4 options, in 4-byte words
  uint16_t frag_off = 0;        // IPv4 flags + offset (host order)
  uint16_t ether_type = 0;      // 0 = from the address family
  std::vector<V6Ext> v6_ext;    // IPv6 extension headers before the upper layer
  size_t payload = 0;           // bytes after the L4 header
};

inline void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

inline std::vector<uint8_t> l4_header(const Frame& f) {
  std::vector<uint8_t> b;
  if (f.proto != IPPROTO_TCP && f.proto != IPPROTO_UDP) {
    b.resize(8, 0);  // ICMP-sized
    return b;
  }
  put16(b, f.sport);
  put16(b, f.dport);
  if (f.proto == IPPROTO_TCP) {
    b.resize(20, 0);
    b[12] = 5 << 4;  // data offset
  } else {
    b.resize(8, 0);
  }
  b.resize(b.size() + f.payload, 0);
  return b;
}

inline std::vector<uint8_t> build(const Frame& f) {
  IpAddr src = *IpAddr::parse(f.src);
  IpAddr dst = *IpAddr::parse(f.dst);
  std::vector<uint8_t> b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  if (f.vlan) {
    put16(b, 0x8100);
    put16(b, 42);
  }
  put16(b, f.ether_type ? f.ether_type : (src.is_v4() ? 0x0800 : 0x86dd));
  std::vector<uint8_t> payload = l4_header(f);
  if (src.is_v4()) {
    uint16_t ihl = 5 + f.ip_option_words;
    b.push_back(static_cast<uint8_t>(0x40 | ihl));
    b.push_back(static_cast<uint8_t>(f.dscp << 2));
    put16(b, static_cast<uint16_t>(ihl * 4 + payload.size()));
    put16(b, 1);  // id
    put16(b, f.frag_off);
    b.push_back(f.ttl);
    b.push_back(f.proto);
    put16(b, 0);  // checksum
    b.insert(b.end(), src.bytes.begin(), src.bytes.begin() + 4);
    b.insert(b.end(), dst.bytes.begin(), dst.bytes.begin() + 4);
    b.insert(b.end(), f.ip_option_words * 4u, 0x01);  // NOPs
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
  }
  // Extension headers, each 8 bytes, chained to the upper layer.
  std::vector<uint8_t> ext;
  for (size_t i = 0; i < f.v6_ext.size(); ++i) {
    uint8_t next = i + 1 < f.v6_ext.size() ? f.v6_ext[i + 1].type : f.proto;
    const V6Ext& e = f.v6_ext[i];
    ext.push_back(next);
    if (e.type == IPPROTO_FRAGMENT) {
      ext.push_back(0);
      put16(ext, static_cast<uint16_t>(e.frag_offset << 3));
      ext.insert(ext.end(), {0, 0, 0, 1});
    } else {
      // Length 0 means 8 bytes both for AH, (0 + 2) * 4, and for the others, (0 + 1) * 8.
      ext.push_back(0);
      ext.insert(ext.end(), 6, 0);
    }
  }
  uint32_t tclass = static_cast<uint32_t>(f.dscp) << 2;
  b.push_back(static_cast<uint8_t>(0x60 | (tclass >> 4)));
  b.push_back(static_cast<uint8_t>((tclass & 0xf) << 4));
  b.insert(b.end(), 2, 0);
  put16(b, static_cast<uint16_t>(ext.size() + payload.size()));
  b.push_back(f.v6_ext.empty() ? f.proto : f.v6_ext[0].type);
  b.push_back(f.ttl);
  b.insert(b.end(), src.bytes.begin(), src.bytes.end());
  b.insert(b.end(), dst.bytes.begin(), dst.bytes.end());
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

}  // namespace pathsteer::testing
