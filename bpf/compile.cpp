#include "bpf/compile.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "bpf/dns_names.h"
#include "bpf/pathsteer_abi.h"

namespace pathsteer {

static_assert(kMaxDomainPatterns == PS_DNS_MAX_PATTERNS && 2 * kMaxDomainBitmaps == PS_DNS_MAX_BM);
static_assert(kMaxRules == PS_MAX_RULES && kMaxClasses == PS_MAX_CLASSES &&
              kMaxMembers == PS_MAX_MEMBERS && kMaxBitmaps == PS_MAX_BITMAPS &&
              kMaxBitmapWords == PS_MAX_BM_WORDS && kMaxPrefixes == PS_MAX_PREFIXES &&
              kFields == PS_FIELDS && kMaxUplinkId + 1 == PS_MAX_UPLINKS &&
              kFlowEntries == PS_FLOW_ENTRIES);

namespace {

constexpr size_t kPorts = 65536;

struct Rule {
  uint32_t class_id = 0;
  const MatchEntry* entry = nullptr;
};

struct RuleIdsHash {
  size_t operator()(const RuleIds& ids) const noexcept {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ids.size();
    for (uint32_t r : ids) {
      h = (h ^ r) * 0xff51afd7ed558ccdULL;
      h ^= h >> 32;
    }
    return static_cast<size_t>(h);
  }
};

// The non-zero 64-bit words of a sorted set.
size_t words_of(const RuleIds& ids) {
  size_t n = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i == 0 || ids[i] / 64 != ids[i - 1] / 64)
      ++n;
  }
  return n;
}

// Interns listed sets: equal sets share one bitmap (a million prefixes of one
// class need one bitmap, not a million). Index 0 is the empty set.
class BitmapPool {
 public:
  BitmapPool() { intern(RuleIds{}); }
  uint32_t intern(const RuleIds& s) {
    auto [it, inserted] = index_.try_emplace(s, static_cast<uint32_t>(sets_.size()));
    if (inserted) {
      sets_.push_back(s);
      words_ += words_of(s);
    }
    return it->second;
  }
  const RuleIds& at(uint32_t index) const { return sets_.at(index); }
  std::vector<RuleIds> take() { return std::move(sets_); }
  size_t size() const { return sets_.size(); }
  size_t words() const { return words_; }

 private:
  std::vector<RuleIds> sets_;
  std::unordered_map<RuleIds, uint32_t, RuleIdsHash> index_;
  size_t words_ = 0;
};

template <typename Pred>
RuleIds rules_where(const std::vector<Rule>& rules, Pred pred) {
  RuleIds s;
  for (size_t r = 0; r < rules.size(); ++r) {
    if (pred(*rules[r].entry))
      s.push_back(static_cast<uint32_t>(r));
  }
  return s;
}

// Elementary intervals by a sweep over range boundaries: ports[p] is the
// set of rules with a range holding p; slot 65536 (no ports) lists none.
std::vector<uint32_t> compile_ports(const std::vector<Rule>& rules, bool dport, BitmapPool& pool) {
  auto ranges_of = [dport](const MatchEntry& e) -> const std::vector<PortRange>& {
    return dport ? e.dport : e.sport;
  };
  // (position, rule, +1 at lo / -1 past hi); overlapping ranges of one rule are counted.
  struct Event {
    uint32_t pos;
    uint32_t rule;
    int delta;
  };
  std::vector<Event> events;
  for (size_t r = 0; r < rules.size(); ++r) {
    for (const PortRange& pr : ranges_of(*rules[r].entry)) {
      events.push_back({pr.lo, static_cast<uint32_t>(r), +1});
      events.push_back({static_cast<uint32_t>(pr.hi) + 1, static_cast<uint32_t>(r), -1});
    }
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.pos < b.pos; });
  std::vector<uint32_t> out(kPorts + 1, 0);
  std::vector<int> depth(rules.size(), 0);
  std::set<uint32_t> current;
  size_t next = 0;
  uint32_t bitmap = 0;
  for (uint32_t port = 0; port < kPorts; ++port) {
    if (next < events.size() && events[next].pos == port) {
      for (; next < events.size() && events[next].pos == port; ++next) {
        int& d = depth[events[next].rule];
        d += events[next].delta;
        if (d > 0)
          current.insert(events[next].rule);
        else
          current.erase(events[next].rule);
      }
      bitmap = pool.intern(RuleIds(current.begin(), current.end()));
    }
    out[port] = bitmap;
  }
  return out;
}

struct PrefixKey {
  std::array<uint8_t, 16> addr{};
  uint8_t len = 0;
  friend bool operator<(const PrefixKey& a, const PrefixKey& b) {
    return a.addr != b.addr ? a.addr < b.addr : a.len < b.len;
  }
  friend bool operator==(const PrefixKey&, const PrefixKey&) = default;
};

bool covers(const PrefixKey& outer, const PrefixKey& inner) {
  if (outer.len > inner.len)
    return false;
  for (size_t i = 0; i < 16; ++i) {
    int bits = std::clamp(static_cast<int>(outer.len) - static_cast<int>(i) * 8, 0, 8);
    auto mask = static_cast<uint8_t>(0xff00 >> bits);
    if ((inner.addr[i] & mask) != outer.addr[i])
      return false;
  }
  return true;
}

PrefixKey key_of(const Prefix& p) {
  PrefixKey k;
  k.len = p.len;
  for (size_t i = 0; i < p.addr.size(); ++i) {
    int bits = std::clamp(static_cast<int>(p.len) - static_cast<int>(i) * 8, 0, 8);
    k.addr[i] = p.addr.bytes[i] & static_cast<uint8_t>(0xff00 >> bits);
  }
  return k;
}

RuleIds merged(const RuleIds& a, const RuleIds& b) {
  RuleIds out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// One trie (src or dst, one family). Each stored prefix P maps to every rule
// listing a prefix that covers P: the kernel returns the longest stored
// prefix holding the address, and every listed prefix holding it covers that
// one (a miss lists no rule; the field's free rules are added in the kernel).
// Prefixes sorted by (address, length) visit each one after all that cover
// it, so a stack of open ancestors yields the union in one pass.
Result<std::vector<CompiledPrefix>> compile_prefixes(const std::vector<Rule>& rules, bool dst,
                                                     int family, BitmapPool& pool) {
  auto list_of = [dst](const MatchEntry& e) -> const std::vector<Prefix>& {
    return dst ? e.dst : e.src;
  };
  std::vector<std::pair<PrefixKey, uint32_t>> listed;
  for (size_t r = 0; r < rules.size(); ++r) {
    for (const Prefix& p : list_of(*rules[r].entry)) {
      if (p.addr.family == family)
        listed.emplace_back(key_of(p), static_cast<uint32_t>(r));
    }
  }
  // Prefix lists are mostly kept sorted (one file, one rule): then the sort is
  // a check.
  if (!std::is_sorted(listed.begin(), listed.end()))
    std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  std::vector<CompiledPrefix> out;
  out.reserve(listed.size());
  std::vector<PrefixKey> stack;  // open ancestors
  // Their sets by stack depth; vectors past the stack's depth are spare
  // buffers (no allocation per prefix).
  std::vector<RuleIds> sets;
  RuleIds own;
  uint32_t last = 0;  // the set interned last: neighbours mostly share theirs
  for (size_t i = 0; i < listed.size();) {
    const PrefixKey key = listed[i].first;
    own.clear();
    for (; i < listed.size() && listed[i].first == key; ++i)
      own.push_back(listed[i].second);
    if (out.size() == kMaxPrefixes) {
      return unrealizable_error(std::string("datapath: the ") + (dst ? "dst" : "src") +
                                (family == AF_INET ? " IPv4" : " IPv6") +
                                " prefixes exceed the capacity of " + std::to_string(kMaxPrefixes) +
                                " per generation");
    }
    while (!stack.empty() && !covers(stack.back(), key))
      stack.pop_back();
    const size_t depth = stack.size();
    if (sets.size() == depth)
      sets.emplace_back();
    RuleIds& s = sets[depth];
    s.clear();
    if (depth == 0) {
      s.assign(own.begin(), own.end());
    } else {
      const RuleIds& up = sets[depth - 1];
      std::set_union(up.begin(), up.end(), own.begin(), own.end(), std::back_inserter(s));
    }
    if (pool.at(last) != s)
      last = pool.intern(s);
    stack.push_back(key);
    out.push_back(CompiledPrefix{.addr = key.addr, .len = key.len, .bitmap = last});
  }
  return out;
}

// Every pattern with its rules, and the union of those with each listed set
// the dst tries give (an address under a listed prefix and learned for a
// domain admits both kinds of rules; a miss in the tries gives set 0, none).
Result<void> compile_domains(const std::vector<Rule>& rules, CompiledRules& out, BitmapPool& pool) {
  std::map<std::string, RuleIds> listed;
  std::map<std::string, uint32_t> first;
  for (size_t r = 0; r < rules.size(); ++r) {
    for (const std::string& d : rules[r].entry->domain) {
      RuleIds& ids = listed[d];
      if (ids.empty() || ids.back() != r)  // rules ascend: sorted, no duplicates
        ids.push_back(static_cast<uint32_t>(r));
      first.try_emplace(d, static_cast<uint32_t>(r));
    }
  }
  if (listed.empty())
    return ok();
  if (listed.size() > kMaxDomainPatterns) {
    return unrealizable_error("datapath: " + std::to_string(listed.size()) +
                              " domain patterns exceed the capacity of " +
                              std::to_string(kMaxDomainPatterns));
  }
  std::map<uint64_t, std::string> by_key;
  for (const auto& [pattern, set] : listed) {
    uint64_t key = dns_pattern_key(pattern);
    if (auto [it, inserted] = by_key.emplace(key, pattern); !inserted) {
      return unrealizable_error("datapath: domains '" + it->second + "' and '" + pattern +
                                "' have the same hash; rename one");
    }
    out.domains.push_back(
        CompiledDomain{.pattern = pattern, .key = key, .prio = first.at(pattern)});
  }
  std::set<uint32_t> lpm{0};
  for (const auto* trie : {&out.dst4, &out.dst6}) {
    for (const CompiledPrefix& p : *trie)
      lpm.insert(p.bitmap);
  }
  if (listed.size() * lpm.size() > kMaxDomainBitmaps) {
    return unrealizable_error("datapath: " + std::to_string(listed.size()) +
                              " domain patterns times " + std::to_string(lpm.size()) +
                              " distinct destination rule sets exceed the capacity of " +
                              std::to_string(kMaxDomainBitmaps));
  }
  for (const CompiledDomain& d : out.domains) {
    for (uint32_t b : lpm) {
      RuleIds s = merged(pool.at(b), listed.at(d.pattern));  // a copy: intern may reallocate
      out.domain_bitmaps.push_back(
          CompiledDomainBitmap{.key = d.key, .lpm_bitmap = b, .bitmap = pool.intern(s)});
    }
  }
  return ok();
}

std::string class_ref(const DatapathClass& c, size_t i) {
  return "class '" + c.name + "' (#" + std::to_string(i) + ")";
}

// The tries of the last compile_rules() and what they were made from: every
// rule listing src or dst prefixes, by number. The tries are compiled first
// into an empty pool, so the same input gives the same tries and the same
// pool: a reload that changes ports, protocols or classes elsewhere (or the
// second compile of one policy: the capacity check, then the data plane)
// takes them from here instead of sorting a million prefixes again. Lists
// read from one unchanged prefix file share their vector, so telling the
// input unchanged costs a comparison per rule, not per prefix.
struct TrieInput {
  uint32_t rule = 0;
  PrefixList src;
  PrefixList dst;
  friend bool operator==(const TrieInput&, const TrieInput&) = default;
};

struct TrieMemo {
  std::vector<TrieInput> input;
  std::array<SharedList<CompiledPrefix>, 4> tries;  // src4 dst4 src6 dst6
  BitmapPool pool;
};

std::mutex trie_memo_mu;
std::optional<TrieMemo> trie_memo;  // guarded by trie_memo_mu

std::vector<TrieInput> trie_input(const std::vector<Rule>& rules) {
  std::vector<TrieInput> in;
  for (size_t r = 0; r < rules.size(); ++r) {
    const MatchEntry& e = *rules[r].entry;
    if (!e.src.empty() || !e.dst.empty())
      in.push_back(TrieInput{.rule = static_cast<uint32_t>(r), .src = e.src, .dst = e.dst});
  }
  return in;
}

}  // namespace

Result<CompiledRules> compile_rules(const DatapathPlan& plan) {
  if (plan.classes.size() > kMaxClasses) {
    return unrealizable_error("datapath: " + std::to_string(plan.classes.size()) +
                              " classes exceed the capacity of " + std::to_string(kMaxClasses));
  }
  static const MatchEntry kAny{};
  std::vector<Rule> rules;
  for (size_t i = 0; i < plan.classes.size(); ++i) {
    const DatapathClass& c = plan.classes[i];
    if (c.match.empty())
      rules.push_back(Rule{.class_id = static_cast<uint32_t>(i), .entry = &kAny});
    for (const MatchEntry& e : c.match) {
      if (!e.uid.empty())
        continue;  // the gateway's own traffic only (ip rules); never forwarded packets
      rules.push_back(Rule{.class_id = static_cast<uint32_t>(i), .entry = &e});
    }
    if (rules.size() > kMaxRules) {
      return unrealizable_error("datapath: " + class_ref(c, i) + " brings the match entries to " +
                                std::to_string(rules.size()) + ", over the capacity of " +
                                std::to_string(kMaxRules));
    }
  }

  CompiledRules out;
  out.rule_count = static_cast<uint32_t>(rules.size());
  out.class_count = static_cast<uint32_t>(plan.classes.size());
  for (const Rule& r : rules)
    out.rule_class.push_back(r.class_id);
  const RuleIds all = rules_where(rules, [](const MatchEntry&) { return true; });
  for (RuleIds& f : out.free)
    f = all;
  BitmapPool pool;

  auto any_rule = [&](auto pred) {
    return std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return pred(*r.entry); });
  };
  // Tries first: a change of another field then leaves the prefixes' bitmap
  // indices as they were, and a reload writes only the tries' difference.
  struct Trie {
    bool dst;
    int family;
    SharedList<CompiledPrefix>* out;
  };
  const bool src_used = any_rule([](const MatchEntry& e) { return !e.src.empty(); });
  const bool dst_used =
      any_rule([](const MatchEntry& e) { return !e.dst.empty() || !e.domain.empty(); });
  if (src_used) {
    out.fields |= PS_FIELD_SRC;
    out.free[PS_F_SRC] = rules_where(rules, [](const MatchEntry& e) { return e.src.empty(); });
  }
  if (dst_used) {
    out.fields |= PS_FIELD_DST;
    // A `domain` entry constrains the destination too: not free in the dst term.
    out.free[PS_F_DST] =
        rules_where(rules, [](const MatchEntry& e) { return e.dst.empty() && e.domain.empty(); });
  }
  const std::array<Trie, 4> tries{Trie{false, AF_INET, &out.src4}, Trie{true, AF_INET, &out.dst4},
                                  Trie{false, AF_INET6, &out.src6},
                                  Trie{true, AF_INET6, &out.dst6}};
  std::vector<TrieInput> input = trie_input(rules);
  bool remembered = false;
  {
    std::lock_guard lock(trie_memo_mu);
    if (trie_memo && trie_memo->input == input) {
      for (size_t i = 0; i < tries.size(); ++i)
        *tries[i].out = trie_memo->tries[i];
      pool = trie_memo->pool;
      remembered = true;
    }
  }
  if (!remembered) {
    for (const Trie& t : tries) {
      if (!(t.dst ? dst_used : src_used))
        continue;
      auto compiled = compile_prefixes(rules, t.dst, t.family, pool);
      if (!compiled)
        return compiled.take_error();
      *t.out = std::move(*compiled);
    }
  }
  {
    // Remembered with the newest lists (a hit too: equal lists that were not
    // shared are shared from now on, so the next comparison is a pointer's).
    std::lock_guard lock(trie_memo_mu);
    trie_memo = TrieMemo{
        .input = std::move(input), .tries = {out.src4, out.dst4, out.src6, out.dst6}, .pool = pool};
  }
  if (any_rule([](const MatchEntry& e) { return !e.iif.empty(); })) {
    out.fields |= PS_FIELD_IIF;
    out.free[PS_F_IIF] = rules_where(rules, [](const MatchEntry& e) { return e.iif.empty(); });
    std::map<int, std::set<uint32_t>> by_ifindex;
    for (const auto& entry : plan.interfaces) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
      const std::string& name = entry.first;
      int ifindex = entry.second;
      if (ifindex <= 0)
        continue;
      RuleIds s = rules_where(rules, [&](const MatchEntry& e) {
        return std::find(e.iif.begin(), e.iif.end(), name) != e.iif.end();
      });
      // Two names for one ifindex (a rename in flight): both admit it.
      by_ifindex[ifindex].insert(s.begin(), s.end());
    }
    for (const auto& [ifindex, s] : by_ifindex)
      out.iif[ifindex] = pool.intern(RuleIds(s.begin(), s.end()));
  }
  if (any_rule([](const MatchEntry& e) { return e.proto.has_value(); })) {
    out.fields |= PS_FIELD_PROTO;
    out.free[PS_F_PROTO] = rules_where(rules, [](const MatchEntry& e) { return !e.proto; });
    for (uint32_t p = 0; p < 256; ++p) {
      out.proto.push_back(
          pool.intern(rules_where(rules, [p](const MatchEntry& e) { return e.proto == p; })));
    }
  }
  if (any_rule([](const MatchEntry& e) { return e.dscp.has_value(); })) {
    out.fields |= PS_FIELD_DSCP;
    out.free[PS_F_DSCP] = rules_where(rules, [](const MatchEntry& e) { return !e.dscp; });
    for (uint32_t d = 0; d < 64; ++d) {
      out.dscp.push_back(
          pool.intern(rules_where(rules, [d](const MatchEntry& e) { return e.dscp == d; })));
    }
  }
  if (any_rule([](const MatchEntry& e) { return !e.sport.empty(); })) {
    out.fields |= PS_FIELD_SPORT;
    out.free[PS_F_SPORT] = rules_where(rules, [](const MatchEntry& e) { return e.sport.empty(); });
    out.sport = compile_ports(rules, false, pool);
  }
  if (any_rule([](const MatchEntry& e) { return !e.dport.empty(); })) {
    out.fields |= PS_FIELD_DPORT;
    out.free[PS_F_DPORT] = rules_where(rules, [](const MatchEntry& e) { return e.dport.empty(); });
    out.dport = compile_ports(rules, true, pool);
  }
  if (auto r = compile_domains(rules, out, pool); !r)
    return r.take_error();
  if (pool.size() > kMaxBitmaps) {
    return unrealizable_error("datapath: the match entries need " + std::to_string(pool.size()) +
                              " distinct rule sets, over the capacity of " +
                              std::to_string(kMaxBitmaps));
  }
  if (pool.words() > kMaxBitmapWords) {
    return unrealizable_error(
        "datapath: the match entries' distinct rule sets need " + std::to_string(pool.words()) +
        " bitmap words, over the capacity of " + std::to_string(kMaxBitmapWords));
  }
  out.listed_words = pool.words();
  out.listed = pool.take();
  return out;
}

Result<CompiledActions> compile_actions(const DatapathPlan& plan) {
  CompiledActions out;
  out.mark_mask = plan.mark_mask;
  out.redirect = plan.mode == DatapathMode::kRedirect;
  out.flow_idle_s = plan.flow_idle_s;
  out.flow_quota = plan.flow_quota;
  out.uplinks.resize(kMaxUplinkId + 1);
  for (const DatapathUplink& u : plan.uplinks) {
    if (u.id == 0 || u.id >= kMaxUplinkId) {
      return unrealizable_error("datapath: uplink id " + std::to_string(u.id) + " outside 1.." +
                                std::to_string(kMaxUplinkId - 1));
    }
    if ((u.mark & ~plan.mark_mask) != 0) {
      return policy_error("datapath: uplink " + std::to_string(u.id) + " mark " +
                          std::to_string(u.mark) + " has bits outside mark_mask " +
                          std::to_string(plan.mark_mask));
    }
    out.uplinks[u.id] = u;
  }
  for (size_t i = 0; i < plan.classes.size(); ++i) {
    const DatapathClass& c = plan.classes[i];
    CompiledClass cc;
    cc.set_mark = !c.leave_mark;
    cc.mark = c.mark;
    cc.source_affinity_s = c.source_affinity_s;
    if (!c.leave_mark && (c.mark & ~plan.mark_mask) != 0) {
      return policy_error("datapath: " + class_ref(c, i) + " mark " + std::to_string(c.mark) +
                          " has bits outside mark_mask " + std::to_string(plan.mark_mask));
    }
    uint64_t sum = 0;
    for (const DatapathMember& m : c.members) {
      if (m.weight == 0)
        continue;
      if (m.uplink_id == 0 || m.uplink_id >= kMaxUplinkId) {
        return unrealizable_error("datapath: " + class_ref(c, i) + " names uplink id " +
                                  std::to_string(m.uplink_id));
      }
      sum += m.weight;
      if (sum > UINT32_MAX) {
        return unrealizable_error("datapath: " + class_ref(c, i) + " weights add up over 2^32");
      }
      cc.members.push_back(
          CompiledMember{.uplink_id = m.uplink_id, .cum_weight = static_cast<uint32_t>(sum)});
    }
    if (cc.members.size() > kMaxMembers) {
      return unrealizable_error("datapath: " + class_ref(c, i) + " has " +
                                std::to_string(cc.members.size()) + " members, over the " +
                                std::to_string(kMaxMembers) + " a class can spread flows over");
    }
    out.classes.push_back(std::move(cc));
  }
  return out;
}

}  // namespace pathsteer
