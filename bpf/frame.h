// Builds Ethernet frames for BPF_PROG_TEST_RUN: `explain` (a 5-tuple run
// through the loaded classifier) and the data-plane tests. Checksums are left
// zero (the classifier does not check them). TCP and UDP carry the ports;
// ICMP/ICMPv6 get an echo request header. The kernel's test run refuses
// frames shorter than the Ethernet header plus the L3 header, so every frame
// built here has at least the full L4 header.
#pragma once

#include <cstdint>
#include <vector>

#include "common/net.h"

namespace pathsteer {

struct FrameSpec {
  IpAddr src;  // src and dst must be of one family
  IpAddr dst;
  uint8_t proto = 6;  // IPPROTO_*
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t dscp = 0;   // 0..63
  bool vlan = false;  // an in-band 802.1Q tag
  uint16_t vlan_id = 42;
  uint8_t ip_option_words = 0;  // IPv4 options (NOPs), in 4-byte words
  uint16_t frag_off = 0;        // IPv4 flags + fragment offset (host order)
  uint16_t ether_type = 0;      // 0: from the address family
};

std::vector<uint8_t> build_frame(const FrameSpec& f);

}  // namespace pathsteer
