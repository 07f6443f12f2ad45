#include "controller/local_rules.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace pathsteer {

namespace {

// One ip-rule selector: every set field must hold.
struct Selector {
  int family = AF_INET;
  std::optional<Prefix> src;
  std::optional<Prefix> dst;
  uint8_t proto = 0;
  std::optional<PortRange> sport;
  std::optional<PortRange> dport;
  uint8_t tos = 0;
  std::optional<UidRange> uid;
};

// Expands a match entry to selectors (the cross product of its lists, per
// family). An entry's src/dst families were checked compatible by the parser.
std::vector<Selector> expand(const MatchEntry& e) {
  std::vector<Selector> out;
  if (!e.iif.empty())
    return out;  // arrives on a LAN interface: never the gateway's own traffic
  if (!e.domain.empty())
    return out;  // learned addresses live in the data plane only; no ip rule names them
  for (int family : {AF_INET, AF_INET6}) {
    if (e.proto == 1 && family != AF_INET)
      continue;
    if (e.proto == 58 && family != AF_INET6)
      continue;
    auto of_family = [&](const std::vector<Prefix>& list) {
      std::vector<std::optional<Prefix>> v;
      for (const auto& p : list) {
        if (p.addr.family == family)
          v.push_back(p);
      }
      if (list.empty())
        v.push_back(std::nullopt);
      return v;
    };
    auto ports = [](const std::vector<PortRange>& list) {
      std::vector<std::optional<PortRange>> v(list.begin(), list.end());
      if (v.empty())
        v.push_back(std::nullopt);
      return v;
    };
    for (const auto& src : of_family(e.src)) {
      for (const auto& dst : of_family(e.dst)) {
        for (const auto& sp : ports(e.sport)) {
          for (const auto& dp : ports(e.dport)) {
            std::vector<std::optional<UidRange>> uids(e.uid.begin(), e.uid.end());
            if (uids.empty())
              uids.push_back(std::nullopt);
            for (const auto& uid : uids) {
              Selector s;
              s.family = family;
              s.src = src;
              s.dst = dst;
              s.proto = e.proto.value_or(0);
              s.sport = sp;
              s.dport = dp;
              s.tos = static_cast<uint8_t>(e.dscp.value_or(0) << 2);
              s.uid = uid;
              out.push_back(s);
            }
          }
        }
      }
    }
  }
  return out;
}

// How many selectors expand(e) gives, without making them: an entry with a
// million prefixes (a dst_file) never fits in the band, and learning that
// must not cost a million selectors on every plan. Saturates at kCountCap.
constexpr uint64_t kCountCap = uint64_t{1} << 32;

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  return a != 0 && b > kCountCap / a ? kCountCap : std::min(a * b, kCountCap);
}

// A prefix list's selectors per family ({IPv4, IPv6}), in one pass: an empty
// list is one selector (any address) of each.
std::array<uint64_t, 2> by_family(const std::vector<Prefix>& list) {
  if (list.empty())
    return {1, 1};
  std::array<uint64_t, 2> n{};
  for (const auto& p : list)
    ++n[p.addr.family == AF_INET ? 0 : 1];
  return n;
}

uint64_t count_selectors(const MatchEntry& e) {
  if (!e.iif.empty() || !e.domain.empty())
    return 0;  // as expand()
  auto at_least_one = [](size_t n) { return std::max<uint64_t>(n, 1); };
  const uint64_t per_pair =
      saturating_mul(saturating_mul(at_least_one(e.sport.size()), at_least_one(e.dport.size())),
                     at_least_one(e.uid.size()));
  if (e.proto != 1 && e.proto != 58 && (e.src.empty() || e.dst.empty())) {
    // Both families, one side any address: each listed prefix is one pair
    // (without a scan of a million-prefix list on every plan).
    uint64_t listed = e.src.size() + e.dst.size();
    return saturating_mul(listed == 0 ? 2 : listed, per_pair);
  }
  const auto src = by_family(e.src);
  const auto dst = by_family(e.dst);
  uint64_t total = 0;
  for (int i : {0, 1}) {
    if ((e.proto == 1 && i != 0) || (e.proto == 58 && i != 1))
      continue;
    total = std::min(total + saturating_mul(saturating_mul(src[i], dst[i]), per_pair), kCountCap);
  }
  return total;
}

Rule rule_for(const Selector& s, const Ownership& own, uint32_t priority) {
  Rule r;
  r.family = s.family;
  r.priority = priority;
  r.protocol = own.route_protocol;
  r.iifname = "lo";
  r.src = s.src;
  r.dst = s.dst;
  r.ip_proto = s.proto;
  r.sport = s.sport;
  r.dport = s.dport;
  r.tos = s.tos;
  r.uid_range = s.uid;
  return r;
}

}  // namespace

void add_local_rules(const Policy& policy, const std::vector<PlannedPath>& uplinks,
                     std::vector<PlannedClass>& classes, std::vector<Rule>& rules) {
  const Ownership& own = policy.ownership;
  uint32_t next = own.rule_priority_base + kLocalRuleOffset;
  const uint32_t end = own.rule_priority_base + 999;  // last_resort's slot
  bool full = false;
  for (size_t i = 0; i < classes.size(); ++i) {
    PlannedClass& pc = classes[i];
    // Planned classes keep policy order: a scan per class was O(n^2), a
    // fifth of a reload's time at 4,096 classes.
    const ClassSpec* spec = policy.find_class(pc.name, i);
    if (spec == nullptr)
      continue;
    if (full) {
      pc.local = kLocalNoRoom;
      continue;
    }
    const PlannedPath* up = nullptr;
    for (const auto& u : uplinks) {
      if (pc.uplink && u.name == *pc.uplink)
        up = &u;
    }
    bool to_main =
        spec->action ? *spec->action == LastResort::kMain : policy.last_resort == LastResort::kMain;
    if (up == nullptr && to_main) {
      // Nothing to install; local traffic of this class falls through to
      // the main table, as the class's forwarded traffic does.
      pc.local = kLocalMain;
      continue;
    }
    uint64_t count = spec->match.empty() ? 2 : 0;
    for (const auto& e : spec->match)
      count = std::min(count + count_selectors(e), kCountCap);
    if (count == 0) {
      pc.local = kLocalLanOnly;  // every entry names a LAN interface (iif)
      continue;
    }
    const uint64_t per = up != nullptr ? 2 : 1;
    std::vector<Selector> selectors;
    if (next + per * count <= end) {
      if (spec->match.empty()) {
        selectors = {Selector{.family = AF_INET}, Selector{.family = AF_INET6}};
      } else {
        for (const auto& e : spec->match) {
          auto more = expand(e);
          selectors.insert(selectors.end(), more.begin(), more.end());
        }
      }
    }
    if (selectors.empty() || next + per * selectors.size() > end) {
      pc.local = kLocalNoRoom;
      full = true;
      continue;
    }
    for (const auto& s : selectors) {
      if (up != nullptr) {
        Rule suppress = rule_for(s, own, next++);
        suppress.table = RT_TABLE_MAIN;
        suppress.suppress_prefixlen = 0;
        rules.push_back(suppress);
        Rule lookup = rule_for(s, own, next++);
        lookup.table = up->table;
        rules.push_back(lookup);
      } else {
        Rule r = rule_for(s, own, next++);
        r.action =
            policy.last_resort == LastResort::kUnreachable ? FR_ACT_UNREACHABLE : FR_ACT_BLACKHOLE;
        rules.push_back(r);
      }
    }
    pc.local = kLocalSteered;
  }
}

}  // namespace pathsteer
