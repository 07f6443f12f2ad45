// Domain patterns as the DNS-learning program sees them: the 64-bit keys of
// ps_dnsname_d1 (bpf/pathsteer_abi.h, "DNS-learned destinations"), computed
// with the same hash functions the BPF parser uses on the wire names.
//
// dns_pattern_key("video.example") is the key of that exact name;
// dns_pattern_key("*.cdn.example") the key matching every name below
// cdn.example. The pattern is taken as the policy parser normalized it
// (lowercase, no trailing dot); ASCII case is folded again here all the same.
#pragma once

#include <cstdint>
#include <string_view>

namespace pathsteer {

uint64_t dns_pattern_key(std::string_view pattern);

}  // namespace pathsteer
