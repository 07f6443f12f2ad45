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
#include "common/shared_list.h"

namespace pathsteer {

// A list of prefixes whose copies share one vector (common/shared_list.h): a
// million-prefix file (src_file/dst_file) is held once however many
// policies, plans and caches name it, copying a plan costs nothing for it,
// and two lists that share their vector compare equal at once.
using PrefixList = SharedList<Prefix>;

struct MatchEntry {
  std::optional<uint8_t> proto{};  // IPPROTO_TCP / IPPROTO_UDP / IPPROTO_ICMP / IPPROTO_ICMPV6
  std::vector<PortRange> sport{};  // any of these
  std::vector<PortRange> dport{};  // any of these
  PrefixList src{};                // any of these (both families may appear)
  PrefixList dst{};                // any of these
  std::optional<uint8_t> dscp{};   // 0..63 (names ef, afXY, csN accepted in the file)
  std::vector<std::string> iif{};  // ingress interface names, any of these (no duplicates)
  // Socket-owner uids, any of these ranges. Only the gateway's own traffic has
  // an owner: an entry with `uid` never matches forwarded traffic (the data
  // plane skips it) and is compiled to ip rules only (controller/local_rules.h).
  std::vector<UidRange> uid{};
  // DNS names whose learned addresses are the entry's destinations (DESIGN
  // §10), any of these: "video.example" (that name) or "*.cdn.example" (every
  // name below cdn.example, not cdn.example itself). Lowercase, no trailing
  // dot, no duplicates (the parser normalizes). An entry with domains has no
  // `dst` (the parser refuses the pair) and never matches the gateway's own
  // traffic (no ip rule can name a domain).
  std::vector<std::string> domain{};
  friend bool operator==(const MatchEntry&, const MatchEntry&) = default;
};

// The policy's `dns:` options: how long an address learned from a DNS answer
// stays a destination of its domain's entries. It lives max(TTL, min_ttl_s) +
// grace_s after the last answer that carried it, and as long as a flow to it
// is in the flow table; a name keeps at most max_addrs_per_name addresses
// (the oldest go first).
struct DnsOptions {
  uint32_t min_ttl_s = 60;
  uint32_t grace_s = 300;
  uint32_t max_addrs_per_name = 256;
  friend bool operator==(const DnsOptions&, const DnsOptions&) = default;
};

// How the classifier acts on a classified packet (DESIGN §3): set the owned
// mark bits, or look the next hop up and redirect.
enum class DatapathMode { kMark, kRedirect };

// The policy file's spellings, indexed by the enum's value.
inline constexpr std::string_view kDatapathModeNames[] = {"mark", "redirect"};
const char* to_string(DatapathMode m);

}  // namespace pathsteer
