#include "bpf/dns_names.h"

#include <vector>

#include "bpf/pathsteer_abi.h"

namespace pathsteer {

uint64_t dns_pattern_key(std::string_view pattern) {
  uint64_t kind = PS_DNS_KIND_EXACT;
  if (pattern.starts_with("*.")) {
    pattern.remove_prefix(2);
    kind = PS_DNS_KIND_BELOW;
  }
  // Label hashes left to right, folded right to left (as the parser does).
  std::vector<uint64_t> labels;
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t dot = pattern.find('.', start);
    size_t end = dot == std::string_view::npos ? pattern.size() : dot;
    std::string_view label = pattern.substr(start, end - start);
    uint64_t h = ps_dns_hash_byte(PS_DNS_HASH_SEED, static_cast<uint8_t>(label.size()));
    for (char c : label) {
      auto b = static_cast<uint8_t>(c);
      if (b >= 'A' && b <= 'Z')
        b = static_cast<uint8_t>(b + ('a' - 'A'));
      h = ps_dns_hash_byte(h, b);
    }
    labels.push_back(h);
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  uint64_t h = PS_DNS_HASH_SEED;
  for (auto it = labels.rbegin(); it != labels.rend(); ++it)
    h = ps_dns_hash_mix(h, *it);
  return ps_dns_hash_mix(h, kind);
}

}  // namespace pathsteer
