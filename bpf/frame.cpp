#include "bpf/frame.h"

#include <netinet/in.h>

namespace pathsteer {

namespace {

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put_addr(std::vector<uint8_t>& b, const IpAddr& a) {
  b.insert(b.end(), a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()));
}

std::vector<uint8_t> l4(const FrameSpec& f) {
  std::vector<uint8_t> b;
  if (f.proto == IPPROTO_TCP) {
    put16(b, f.sport);
    put16(b, f.dport);
    b.resize(20, 0);
    b[12] = 5 << 4;  // data offset
    b[13] = 0x02;    // SYN: the first packet of a flow
  } else if (f.proto == IPPROTO_UDP) {
    put16(b, f.sport);
    put16(b, f.dport);
    put16(b, 8);  // length
    put16(b, 0);
  } else if (f.proto == IPPROTO_ICMP || f.proto == IPPROTO_ICMPV6) {
    b = {static_cast<uint8_t>(f.proto == IPPROTO_ICMP ? 8 : 128), 0, 0, 0, 0, 1, 0, 1};
  } else {
    b.resize(8, 0);
  }
  return b;
}

}  // namespace

std::vector<uint8_t> build_frame(const FrameSpec& f) {
  std::vector<uint8_t> b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  if (f.vlan) {
    put16(b, 0x8100);
    put16(b, f.vlan_id);
  }
  put16(b, f.ether_type ? f.ether_type : (f.src.is_v4() ? 0x0800 : 0x86dd));
  std::vector<uint8_t> payload = l4(f);
  uint8_t tos = static_cast<uint8_t>(f.dscp << 2);
  if (f.src.is_v4()) {
    uint16_t ihl = 5 + f.ip_option_words;
    b.push_back(static_cast<uint8_t>(0x40 | ihl));
    b.push_back(tos);
    put16(b, static_cast<uint16_t>(ihl * 4 + payload.size()));
    put16(b, 1);  // id
    put16(b, f.frag_off);
    b.push_back(64);
    b.push_back(f.proto);
    put16(b, 0);
    put_addr(b, f.src);
    put_addr(b, f.dst);
    b.insert(b.end(), f.ip_option_words * 4u, 0x01);
  } else {
    b.push_back(static_cast<uint8_t>(0x60 | (tos >> 4)));
    b.push_back(static_cast<uint8_t>(tos << 4));
    b.insert(b.end(), 2, 0);
    put16(b, static_cast<uint16_t>(payload.size()));
    b.push_back(f.proto);
    b.push_back(64);
    put_addr(b, f.src);
    put_addr(b, f.dst);
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

}  // namespace pathsteer
