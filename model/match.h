// What a class matches, as a value shared by the policy (controller/policy.h)
// and the data plane's compiler (bpf/compile.h). Depends on common/ only.
//
// One MatchEntry is one rule: every present field must hold; a list holds if
// any element does; an absent or empty field holds for every packet.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace pathsteer {

struct MatchEntry {
  std::optional<uint8_t> proto{};  // IPPROTO_TCP / IPPROTO_UDP / IPPROTO_ICMP / IPPROTO_ICMPV6
  std::vector<PortRange> sport{};  // any of these
  std::vector<PortRange> dport{};  // any of these
  std::vector<Prefix> src{};       // any of these (both families may appear)
  std::vector<Prefix> dst{};       // any of these
  std::optional<uint8_t> dscp{};   // 0..63 (names ef, afXY, csN accepted in the file)
  std::vector<std::string> iif{};  // ingress interface names, any of these (no duplicates)
  // Socket-owner uids, any of these ranges. Only the gateway's own traffic has
  // an owner: an entry with `uid` never matches forwarded traffic (the data
  // plane skips it) and is compiled to ip rules only (controller/local_rules.h).
  std::vector<UidRange> uid{};
  friend bool operator==(const MatchEntry&, const MatchEntry&) = default;
};

// How the classifier acts on a classified packet (DESIGN §3): set the owned
// mark bits, or look the next hop up and redirect.
enum class DatapathMode { kMark, kRedirect };

// The policy file's spellings, indexed by the enum's value.
inline constexpr std::string_view kDatapathModeNames[] = {"mark", "redirect"};
const char* to_string(DatapathMode m);

}  // namespace pathsteer
