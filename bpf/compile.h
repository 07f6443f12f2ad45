// The data-plane plan and its compilation to map contents (pure: no kernel).
//
// DatapathPlan is what the planner asks of the classifier. compile_rules()
// turns its match entries into the per-field lookup tables of one rule
// generation (Linear Bit Vector Search: every field value maps to the bitmap
// of rules it admits; docs/DATAPLANE.md); compile_actions() turns classes and
// uplinks into one action generation. Datapath (datapath.h) writes both.
//
// Semantics, per match entry (one rule): every listed field must hold; a list
// holds if any element does; an absent or empty field holds for every packet.
// Rules keep policy order (class by class, entry by entry): the first rule
// that matches decides the class. A packet without ports (non-first fragment,
// not TCP/UDP, IPv6 extension chain too long) fails every rule that lists a
// port. An entry listing only IPv4 prefixes for src (or dst) never matches
// IPv6, and vice versa. `iif` names not in DatapathPlan::interfaces match
// nothing.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/shared_list.h"
#include "model/match.h"

namespace pathsteer {

// Capacities (pathsteer_abi.h has the same numbers).
inline constexpr size_t kMaxRules = 16384;  // match entries, all classes together
inline constexpr size_t kMaxClasses = 8192;
inline constexpr size_t kMaxMembers = 16;          // uplinks one class chooses among
inline constexpr size_t kMaxBitmaps = 65536;       // distinct listed rule sets in one generation
inline constexpr size_t kMaxBitmapWords = 262144;  // their non-zero 64-bit words, together
inline constexpr size_t kMaxPrefixes = 1048576;    // per trie: src/dst x IPv4/IPv6
inline constexpr size_t kFields = 8;               // PS_F_*: iif src dst proto sport dport dscp
inline constexpr uint32_t kMaxUplinkId = 255;      // ids 1..254
inline constexpr uint32_t kDefaultFlowIdleS = 300;
inline constexpr size_t kMaxDomainPatterns = 65536;  // distinct `domain` patterns
inline constexpr size_t kMaxDomainBitmaps = 65536;   // (pattern, dst set) pairs per generation
inline constexpr uint32_t kFlowEntries = 262144;     // flow table entries per family
// The share of the flow table one source may take by default: 1/16 of it,
// at least 4,096 flows.
inline constexpr uint32_t kDefaultFlowQuota = std::max<uint32_t>(kFlowEntries / 16, 4096);

struct DatapathMember {
  uint32_t uplink_id = 0;  // DatapathUplink::id
  uint32_t weight = 0;     // share of new flows; 0: never chosen
  friend bool operator==(const DatapathMember&, const DatapathMember&) = default;
};

struct DatapathClass {
  std::string name;               // for errors and diagnostics only
  std::vector<MatchEntry> match;  // empty = matches all; entries are OR'ed
  // The uplinks a new flow of the class is spread over, by weight. Empty: the
  // class sets `mark` (last_resort, when every path is down).
  std::vector<DatapathMember> members;
  uint32_t mark = 0;        // without members; inside mark_mask; 0 = clear our bits
  bool leave_mark = false;  // true: skb->mark is left untouched (members unused)
  // 0: each new flow is spread on its own. Otherwise a source address's new
  // flow takes the member its previous new flow took, while that is a live
  // member and the source started a flow within this many seconds.
  uint32_t source_affinity_s = 0;
  friend bool operator==(const DatapathClass&, const DatapathClass&) = default;
};

struct DatapathUplink {
  uint32_t id = 0;     // 1..254, stable (UplinkIds)
  uint32_t mark = 0;   // inside mark_mask
  uint32_t table = 0;  // its routing table (redirect mode looks the next hop up there)
  int ifindex = 0;     // 0: the interface does not exist
  bool live = false;   // false: flows on it are re-chosen at their next packet
  friend bool operator==(const DatapathUplink&, const DatapathUplink&) = default;
};

struct DatapathPlan {
  uint32_t mark_mask = 0;
  DatapathMode mode = DatapathMode::kMark;
  uint32_t flow_idle_s = kDefaultFlowIdleS;  // a flow unseen this long is new again
  // New flow entries one source address may create per two flow_idle_s
  // windows; beyond, its new flows are classified at every packet and not
  // written (they cannot evict other sources' flows). 0: no limit.
  uint32_t flow_quota = kDefaultFlowQuota;
  std::vector<DatapathClass> classes;     // policy order; class_id = index
  std::vector<DatapathUplink> uplinks;    // any order
  std::map<std::string, int> interfaces;  // `iif` name -> ifindex (PlanInput::interfaces)
  DnsOptions dns;                         // lifetime of learned addresses (domain entries)
  friend bool operator==(const DatapathPlan&, const DatapathPlan&) = default;
};

// A set of rules (match entries numbered in policy order), sorted ascending:
// sparse, as most sets a field value names hold a few rules.
using RuleIds = std::vector<uint32_t>;

struct CompiledPrefix {
  std::array<uint8_t, 16> addr{};  // network order, host bits zero; IPv4 in the first 4
  uint8_t len = 0;
  uint32_t bitmap = 0;
  friend bool operator==(const CompiledPrefix&, const CompiledPrefix&) = default;
};

// A domain pattern of the policy (MatchEntry::domain) as the DNS-learning
// program looks it up.
struct CompiledDomain {
  std::string pattern;  // "video.example", "*.cdn.example"
  uint64_t key = 0;     // dns_pattern_key(pattern)
  uint32_t prio = 0;    // the first rule naming it: lower owns an address
  friend bool operator==(const CompiledDomain&, const CompiledDomain&) = default;
};

// The dst listed set of an address learned for `key` whose dst trie lookup
// gave listed set `lpm_bitmap` (0 for a miss): that set plus the rules naming
// the pattern.
struct CompiledDomainBitmap {
  uint64_t key = 0;
  uint32_t lpm_bitmap = 0;
  uint32_t bitmap = 0;
  friend bool operator==(const CompiledDomainBitmap&, const CompiledDomainBitmap&) = default;
};

// One rule generation's map contents. The rules a field admits for a value
// are free[field] | listed[index the field's table gives for the value];
// listed[0] is the empty set (a value no rule lists).
//
// Domains: a rule with `domain` constrains the destination like `dst` does
// (it is not in free[dst]); the classifier adds it for an address learned for
// one of its patterns, through domain_bitmaps (every pattern times every
// listed set the dst tries give, the empty one of a miss included).
struct CompiledRules {
  uint32_t rule_count = 0;
  uint32_t class_count = 0;
  uint32_t fields = 0;               // PS_FIELD_*: fields some rule constrains
  std::vector<uint32_t> rule_class;  // rule -> class id
  // By PS_F_*: the rules that leave the field free; every rule for a field
  // not in use.
  std::array<RuleIds, kFields> free;
  std::vector<RuleIds> listed;
  size_t listed_words = 0;      // the non-zero 64-bit words of all listed sets
  std::vector<uint32_t> proto;  // 256
  std::vector<uint32_t> dscp;   // 64
  std::vector<uint32_t> sport;  // 65537: ports, then "no ports"
  std::vector<uint32_t> dport;
  std::map<int, uint32_t> iif;  // ifindex -> bitmap
  // Shared by copies (a million keys are not copied with the rules, and an
  // unchanged trie compares equal at once).
  SharedList<CompiledPrefix> src4, dst4, src6, dst6;
  std::vector<CompiledDomain> domains;  // by pattern
  std::vector<CompiledDomainBitmap> domain_bitmaps;
  friend bool operator==(const CompiledRules&, const CompiledRules&) = default;
};

struct CompiledMember {
  uint32_t uplink_id = 0;
  uint32_t cum_weight = 0;
  friend bool operator==(const CompiledMember&, const CompiledMember&) = default;
};

struct CompiledClass {
  bool set_mark = true;
  uint32_t mark = 0;
  std::vector<CompiledMember> members;  // weight > 0 only
  uint32_t source_affinity_s = 0;       // DatapathClass::source_affinity_s
  friend bool operator==(const CompiledClass&, const CompiledClass&) = default;
};

// One action generation's map contents.
struct CompiledActions {
  uint32_t mark_mask = 0;
  bool redirect = false;
  uint32_t flow_idle_s = kDefaultFlowIdleS;
  uint32_t flow_quota = kDefaultFlowQuota;
  std::vector<CompiledClass> classes;   // by class id
  std::vector<DatapathUplink> uplinks;  // by id (index = id); absent ids not live
  friend bool operator==(const CompiledActions&, const CompiledActions&) = default;
};

// kUnrealizable when a capacity is exceeded (the message gives the numbers and
// names the class where one is to blame).
Result<CompiledRules> compile_rules(const DatapathPlan& plan);
// kInvalidPolicy for a mark outside mark_mask; kUnrealizable for more than
// kMaxMembers members, an uplink id outside 1..254, weights over 2^32.
Result<CompiledActions> compile_actions(const DatapathPlan& plan);

}  // namespace pathsteer
