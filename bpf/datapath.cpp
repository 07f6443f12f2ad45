#include "bpf/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "bpf/pathsteer_abi.h"
#include "bpf/pins.h"
#include "bpf/prog_run.h"
#include "common/log.h"
#include "ps_classifier.skel.h"

namespace pathsteer {

Result<DnsCounters> read_dns_counters(const bpf_map* map);  // datapath_dns.cpp

namespace {

constexpr size_t kVerifierLogSize = 1 << 20;
constexpr size_t kVerifierLogTail = 8192;  // the end of the log says why
constexpr uint32_t kEpochMask = 0x3fffffff;

int libbpf_print(enum libbpf_print_level /*level*/, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  if (n < 0) {
    return n;
  }
  std::string_view msg(buf);
  while (!msg.empty() && msg.back() == '\n') {
    msg.remove_suffix(1);
  }
  PS_LOG(kDebug) << "libbpf: " << msg;
  return n;
}

std::string log_tail(const std::vector<char>& log) {
  std::string s(log.data(), strnlen(log.data(), log.size()));
  if (s.size() > kVerifierLogTail) {
    s = "..." + s.substr(s.size() - kVerifierLogTail);
  }
  while (!s.empty() && s.back() == '\n') {
    s.pop_back();
  }
  return s;
}

Result<void> update(const bpf_map* map, const void* key, const void* value, uint64_t flags = 0) {
  if (bpf_map_update_elem(bpf_map__fd(map), key, value, flags) != 0) {
    return system_error(std::string("update map ") + bpf_map__name(map), errno);
  }
  return ok();
}

// Array maps take one batch per call: far fewer syscalls for the 65,537-slot
// port tables.
template <typename Value>
Result<void> update_array(const bpf_map* map, uint32_t first, const std::vector<Value>& values) {
  if (values.empty()) {
    return ok();
  }
  std::vector<uint32_t> keys(values.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = first + static_cast<uint32_t>(i);
  }
  auto count = static_cast<uint32_t>(values.size());
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  if (bpf_map_update_batch(bpf_map__fd(map), keys.data(), values.data(), &count, &opts) != 0) {
    return system_error(std::string("batch update map ") + bpf_map__name(map) + " from index " +
                            std::to_string(first),
                        errno);
  }
  return ok();
}

Result<ps_config> read_config(const bpf_map* map) {
  ps_config cfg{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(map), &key, &cfg) != 0) {
    return system_error(std::string("read map ") + bpf_map__name(map), errno);
  }
  return cfg;
}

template <typename Key>
Result<void> delete_keys(const bpf_map* map, const std::vector<Key>& keys);

// Deletes every key of generation gen (the first __u32 after an LPM key's
// prefixlen, or an iif key's first field).
template <typename Key>
Result<void> delete_generation(const bpf_map* map, uint32_t gen) {
  int fd = bpf_map__fd(map);
  std::vector<Key> doomed;
  Key key{};
  Key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.gen == gen) {
      doomed.push_back(next);
    }
    key = next;
    prev = &key;
  }
  return delete_keys(map, doomed);
}

// The listed sets as struct ps_bitmap headers and their non-zero words, in
// order (pathsteer_abi.h: word w of a set is at base + rank + the set bits
// of its summary word below w).
void to_ps_bitmaps(const std::vector<RuleIds>& sets, std::vector<ps_bitmap>* headers,
                   std::vector<uint64_t>* words) {
  headers->reserve(sets.size());
  for (const RuleIds& ids : sets) {
    ps_bitmap b{};
    b.base = static_cast<uint32_t>(words->size());
    for (uint32_t r : ids) {
      uint32_t w = r / 64;
      uint64_t bit = uint64_t{1} << (w % 64);
      if (!(b.summary[w / 64] & bit)) {
        b.summary[w / 64] |= bit;
        words->push_back(0);
      }
      words->back() |= uint64_t{1} << (r % 64);
    }
    uint32_t before = 0;
    for (uint32_t s = 0; s < PS_BM_SUMMARY; ++s) {
      b.rank[s] = static_cast<uint16_t>(before);
      before += static_cast<uint32_t>(__builtin_popcountll(b.summary[s]));
      if (b.summary[s] != 0) {
        b.top |= 1U << s;
      }
    }
    headers->push_back(b);
  }
}

std::unique_ptr<ps_free_bitmaps> to_ps_free(const std::array<RuleIds, kFields>& free) {
  auto out = std::make_unique<ps_free_bitmaps>();
  for (size_t f = 0; f < kFields; ++f) {
    for (uint32_t r : free[f]) {
      out->w[f][r / 64] |= uint64_t{1} << (r % 64);
      out->summary[f][r / 4096] |= uint64_t{1} << ((r / 64) % 64);
      out->top[f] |= 1U << (r / 4096);
    }
  }
  return out;
}

// An LPM trie's keys in batches (one syscall per batch, not per prefix); a
// kernel without batch operations on the map falls back to one at a time.
template <typename Key>
Result<void> update_keys(const bpf_map* map, const std::vector<Key>& keys,
                         const std::vector<uint32_t>& values) {
  constexpr size_t kBatch = 16384;
  int fd = bpf_map__fd(map);
  for (size_t i = 0; i < keys.size(); i += kBatch) {
    auto count = static_cast<uint32_t>(std::min(kBatch, keys.size() - i));
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    if (bpf_map_update_batch(fd, &keys[i], &values[i], &count, &opts) == 0) {
      continue;
    }
    if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP) {
      return system_error(std::string("batch update map ") + bpf_map__name(map), errno);
    }
    for (size_t j = i; j < keys.size(); ++j) {
      if (auto r = update(map, &keys[j], &values[j]); !r) {
        return r;
      }
    }
    return ok();
  }
  return ok();
}

template <typename Key>
Result<void> delete_keys(const bpf_map* map, const std::vector<Key>& keys) {
  constexpr size_t kBatch = 16384;
  int fd = bpf_map__fd(map);
  for (size_t i = 0; i < keys.size(); i += kBatch) {
    auto count = static_cast<uint32_t>(std::min(kBatch, keys.size() - i));
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    if (bpf_map_delete_batch(fd, &keys[i], &count, &opts) == 0) {
      continue;
    }
    if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOENT) {
      return system_error(std::string("batch delete from map ") + bpf_map__name(map), errno);
    }
    for (size_t j = i; j < keys.size(); ++j) {
      if (bpf_map_delete_elem(fd, &keys[j]) != 0 && errno != ENOENT) {
        return system_error(std::string("delete from map ") + bpf_map__name(map), errno);
      }
    }
    return ok();
  }
  return ok();
}

// Writes the trie's keys of generation gen: `ps` where it held `*was`
// (null: nothing; both sorted by address and length, as compile_rules() emits
// them): only keys that are new or changed are written, and those no longer
// listed are deleted, so a small policy change costs little whatever the
// trie's size; a trie the generation was written from (shared) is skipped
// without a look at its keys.
template <typename Key>
Result<void> write_trie(const bpf_map* map, uint32_t gen, const SharedList<CompiledPrefix>& ps,
                        const SharedList<CompiledPrefix>* was) {
  if (was != nullptr && was->same(ps))
    return ok();
  const std::vector<CompiledPrefix>& before =
      was != nullptr ? was->vec() : SharedList<CompiledPrefix>().vec();
  auto key_of = [gen](const CompiledPrefix& p) {
    Key k{};
    k.prefixlen = 32 + p.len;
    k.gen = gen;
    std::memcpy(&k.addr, p.addr.data(), sizeof(k.addr));
    return k;
  };
  auto less = [](const CompiledPrefix& a, const CompiledPrefix& b) {
    return a.addr != b.addr ? a.addr < b.addr : a.len < b.len;
  };
  std::vector<Key> keys, doomed;
  std::vector<uint32_t> values;
  size_t i = 0, j = 0;
  while (i < ps.size() || j < before.size()) {
    if (j == before.size() || (i < ps.size() && less(ps[i], before[j]))) {
      keys.push_back(key_of(ps[i]));
      values.push_back(ps[i++].bitmap);
    } else if (i == ps.size() || less(before[j], ps[i])) {
      doomed.push_back(key_of(before[j++]));
    } else {
      if (ps[i].bitmap != before[j].bitmap) {
        keys.push_back(key_of(ps[i]));
        values.push_back(ps[i].bitmap);
      }
      ++i;
      ++j;
    }
  }
  if (auto r = delete_keys(map, doomed); !r) {
    return r;
  }
  return update_keys(map, keys, values);
}

// The sources holding the most of the flow table (flows created in the
// current and previous idle windows, as the quota counts them), and those
// refused entries, kTopSources at most.
constexpr size_t kTopSources = 10;

Result<std::vector<SourceFlows>> top_sources(const bpf_map* map, const ps_act_info& ai,
                                             uint32_t now) {
  std::vector<SourceFlows> all;
  int fd = bpf_map__fd(map);
  ps_src_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ps_src v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      const uint64_t age = static_cast<uint32_t>(now - static_cast<uint32_t>(v.window_start));
      const uint64_t window = ai.flow_idle_jiffies;
      uint64_t flows = age > 2 * window ? 0 : age > window ? v.flows : v.flows + v.prev_flows;
      IpAddr a;
      a.family = next.family == 4 ? AF_INET : AF_INET6;
      std::memcpy(a.bytes.data(), next.addr, a.size());
      all.push_back(
          SourceFlows{.source = a.to_string(), .flows = flows, .over_quota = v.over_quota});
    }
    key = next;
    prev = &key;
  }
  std::sort(all.begin(), all.end(), [](const SourceFlows& a, const SourceFlows& b) {
    return a.flows != b.flows ? a.flows > b.flows : a.over_quota > b.over_quota;
  });
  if (all.size() > kTopSources) {
    all.resize(kTopSources);
  }
  return all;
}

}  // namespace

Datapath::Datapath(std::string pin_dir, ps_classifier* skel)
    : pin_dir_(std::move(pin_dir)), skel_(skel) {}

Datapath::~Datapath() {
  ps_classifier__destroy(skel_);
}

Result<std::unique_ptr<Datapath>> Datapath::open(const std::string& pin_dir,
                                                 const DatapathOptions& options) {
  libbpf_set_print(libbpf_print);
  if (pin_dir.empty() || pin_dir.front() != '/') {
    return policy_error("datapath: pin dir must be an absolute path, got '" + pin_dir + "'");
  }
  if (auto r = prepare_pin_dir(pin_dir); !r) {
    return r.take_error();
  }

  std::vector<char> log(kVerifierLogSize, '\0');
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_dir.c_str();
  opts.kernel_log_buf = log.data();
  opts.kernel_log_size = log.size();
  ps_classifier* raw = ps_classifier__open_opts(&opts);
  if (raw == nullptr) {
    return system_error("open embedded BPF classifier", errno);
  }
  // From here on the Datapath owns the skeleton, so every early return frees it.
  std::unique_ptr<Datapath> dp(new Datapath(pin_dir, raw));
  if (int err = ps_classifier__load(raw); err != 0) {
    return system_error(
        "load BPF classifier (pins in " + pin_dir + "; incompatible pinned maps are refused)", -err,
        log_tail(log));
  }

  auto tbid = probe_fib_table_lookup(bpf_program__fd(raw->progs.ps_probe_fib_tbid));
  if (!tbid) {
    return tbid.take_error();
  }
  dp->features_.fib_table_lookup = *tbid && !options.disable_fib_table_lookup;
  if (!dp->features_.fib_table_lookup) {
    PS_LOG(kWarn) << "datapath: this kernel's bpf_fib_lookup takes no table id (needs Linux "
                     "6.5+); redirect mode will run as mark mode";
  }

  auto cfg = read_config(raw->maps.ps_cfg_v4);
  if (!cfg) {
    return cfg.take_error();
  }
  // Fresh classifier maps (first start, or a new layout): no rule generation
  // holds rules, nor domain entries, whatever an older layout left in the
  // DNS maps.
  if (cfg->magic != PS_ABI_MAGIC) {
    dp->gen_rules_ = {CompiledRules{}, CompiledRules{}};
    if (auto r = dp->forget_domain_generations(); !r) {
      return r.take_error();
    }
  }
  // Pins do not outlive a reboot, so a pinned HZ is this kernel's.
  if (cfg->magic != PS_ABI_MAGIC || cfg->hz == 0) {
    auto hz = measure_hz(bpf_program__fd(raw->progs.ps_probe_jiffies));
    if (!hz) {
      return hz.take_error();
    }
    cfg->hz = *hz;
  }
  // New maps, or maps of an older compatible version: claim them. The
  // features are this kernel's, whoever wrote the maps before.
  cfg->magic = PS_ABI_MAGIC;
  cfg->abi_version = PS_ABI_VERSION;
  cfg->layout = PS_ABI_LAYOUT;
  cfg->features = dp->features_.fib_table_lookup ? PS_FEAT_FIB_TBID : 0;
  uint32_t zero = 0;
  if (auto r = update(raw->maps.ps_cfg_v4, &zero, &*cfg); !r) {
    return r.take_error();
  }
  // Flows carried from an older layout look classified one plan ago: the next
  // packet of each is classified again and keeps its uplink while that is
  // live, as after any plan change.
  const uint32_t stale_epoch = (PS_STATE_EPOCH(cfg->state) - 1) & kEpochMask;
  adopt_older_layouts(pin_dir, raw->maps.ps_flow4_v4, raw->maps.ps_flow6_v4, stale_epoch);
  return dp;
}

Result<void> Datapath::write_rules(uint32_t gen, const CompiledRules& rules,
                                   const CompiledRules* previous) {
  const auto& m = skel_->maps;
  // Stale keys of the generation being replaced (its arrays are overwritten
  // whole). When this Datapath wrote it, the tries get only the difference.
  if (previous == nullptr) {
    for (bpf_map* trie : {m.ps_src4_v4, m.ps_dst4_v4}) {
      if (auto r = delete_generation<ps_lpm4_key>(trie, gen); !r) {
        return r;
      }
    }
    for (bpf_map* trie : {m.ps_src6_v4, m.ps_dst6_v4}) {
      if (auto r = delete_generation<ps_lpm6_key>(trie, gen); !r) {
        return r;
      }
    }
  }
  if (auto r = delete_generation<ps_iif_key>(m.ps_iif_v4, gen); !r) {
    return r;
  }

  std::vector<ps_bitmap> headers;
  std::vector<uint64_t> words;
  to_ps_bitmaps(rules.listed, &headers, &words);
  if (auto r = update_array(m.ps_bmh_v4, gen * PS_MAX_BITMAPS, headers); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_bmw_v4, gen * PS_MAX_BM_WORDS, words); !r) {
    return r;
  }
  auto free = to_ps_free(rules.free);
  if (auto r = update(m.ps_free_v4, &gen, free.get()); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_rcls_v4, gen * PS_MAX_RULES, rules.rule_class); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_proto_v4, gen * 256, rules.proto); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_dscp_v4, gen * 64, rules.dscp); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_sport_v4, gen * PS_PORT_SLOTS, rules.sport); !r) {
    return r;
  }
  if (auto r = update_array(m.ps_dport_v4, gen * PS_PORT_SLOTS, rules.dport); !r) {
    return r;
  }
  // Ingress interfaces: every slot of the array (0, no rule, where no rule
  // names the ifindex), the hash for ifindexes beyond it.
  std::vector<uint32_t> iif_slots(PS_IIF_SLOTS, 0);
  for (const auto& [ifindex, bitmap] : rules.iif) {
    if (ifindex >= 0 && ifindex < PS_IIF_SLOTS) {
      iif_slots[static_cast<size_t>(ifindex)] = bitmap;
      continue;
    }
    ps_iif_key k{.gen = gen, .ifindex = static_cast<uint32_t>(ifindex)};
    if (auto r = update(m.ps_iif_v4, &k, &bitmap); !r) {
      return r;
    }
  }
  if (auto r = update_array(m.ps_iifa_v4, gen * PS_IIF_SLOTS, iif_slots); !r) {
    return r;
  }
  auto was = [previous](const SharedList<CompiledPrefix> CompiledRules::*trie) {
    return previous ? &(previous->*trie) : nullptr;
  };
  if (auto r = write_trie<ps_lpm4_key>(m.ps_src4_v4, gen, rules.src4, was(&CompiledRules::src4));
      !r) {
    return r;
  }
  if (auto r = write_trie<ps_lpm4_key>(m.ps_dst4_v4, gen, rules.dst4, was(&CompiledRules::dst4));
      !r) {
    return r;
  }
  if (auto r = write_trie<ps_lpm6_key>(m.ps_src6_v4, gen, rules.src6, was(&CompiledRules::src6));
      !r) {
    return r;
  }
  if (auto r = write_trie<ps_lpm6_key>(m.ps_dst6_v4, gen, rules.dst6, was(&CompiledRules::dst6));
      !r) {
    return r;
  }
  return write_domain_rules(gen, rules);
}

Result<void> Datapath::write_actions(uint32_t act_gen, const CompiledActions& actions,
                                     uint32_t hz) {
  std::vector<ps_class> classes(PS_MAX_CLASSES);
  for (size_t i = 0; i < actions.classes.size(); ++i) {
    const CompiledClass& c = actions.classes[i];
    ps_class& pc = classes[i];
    pc.flags = c.set_mark ? PS_CLASS_F_SET_MARK : 0;
    pc.mark = c.mark;
    pc.member_count = static_cast<uint32_t>(c.members.size());
    for (size_t j = 0; j < c.members.size(); ++j) {
      pc.members[j].uplink_id = c.members[j].uplink_id;
      pc.members[j].cum_weight = c.members[j].cum_weight;
    }
    pc.total_weight = c.members.empty() ? 0 : c.members.back().cum_weight;
    pc.affinity_jiffies =
        static_cast<uint32_t>(std::min<uint64_t>(uint64_t{c.source_affinity_s} * hz, UINT32_MAX));
  }
  std::vector<ps_uplink> uplinks(PS_MAX_UPLINKS);
  for (size_t id = 0; id < actions.uplinks.size() && id < PS_MAX_UPLINKS; ++id) {
    const DatapathUplink& u = actions.uplinks[id];
    if (u.id == 0) {
      continue;
    }
    uplinks[id].flags = u.live ? PS_UPLINK_F_LIVE : 0;
    uplinks[id].mark = u.mark;
    uplinks[id].table = u.table;
    uplinks[id].ifindex = static_cast<uint32_t>(std::max(u.ifindex, 0));
  }
  if (auto r = update_array(skel_->maps.ps_cls_v4, act_gen * PS_MAX_CLASSES, classes); !r) {
    return r;
  }
  return update_array(skel_->maps.ps_upl_v4, act_gen * PS_MAX_UPLINKS, uplinks);
}

Result<void> Datapath::program(const DatapathPlan& plan) {
  auto rules = compile_rules(plan);
  if (!rules) {
    return rules.take_error();
  }
  auto actions = compile_actions(plan);
  if (!actions) {
    return actions.take_error();
  }
  auto cfg = read_config(skel_->maps.ps_cfg_v4);
  if (!cfg) {
    return cfg.take_error();
  }
  const uint32_t rule_gen = PS_STATE_RULE_GEN(cfg->state);
  const uint32_t act_gen = PS_STATE_ACT_GEN(cfg->state);
  // Packets that read the active generation before the last flip may still be
  // reading the one about to be rewritten: wait for them first.
  if (auto r = wait_for_readers(); !r) {
    return r;
  }
  const bool same_rules = gen_rules_[rule_gen] && *gen_rules_[rule_gen] == *rules;
  const uint32_t next_rule_gen = same_rules ? rule_gen : rule_gen ^ 1;
  const uint32_t next_act_gen = act_gen ^ 1;

  if (!same_rules) {
    // From here on the inactive generation is neither what it was nor what
    // it will be until the write is complete.
    std::optional<CompiledRules> was = std::move(gen_rules_[next_rule_gen]);
    gen_rules_[next_rule_gen].reset();
    if (auto r = write_rules(next_rule_gen, *rules, was ? &*was : nullptr); !r) {
      return r;
    }
  }
  if (auto r = write_actions(next_act_gen, *actions, cfg->hz); !r) {
    return r;
  }
  ps_gen_info& gi = cfg->gen[next_rule_gen];
  gi = ps_gen_info{};
  gi.rule_count = rules->rule_count;
  gi.fields = rules->fields;
  gi.class_count = rules->class_count;
  ps_act_info& ai = cfg->act[next_act_gen];
  ai = ps_act_info{};
  ai.mark_mask = actions->mark_mask;
  ai.mode = actions->redirect ? PS_MODE_REDIRECT : PS_MODE_MARK;
  ai.flow_idle_s = actions->flow_idle_s;
  ai.flow_idle_jiffies = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{actions->flow_idle_s} * cfg->hz, UINT32_MAX));
  ai.touch_jiffies = cfg->hz;
  ai.flow_quota = actions->flow_quota;
  // First the inactive halves' info with the state unchanged, then the flip:
  // the second write changes only the state word.
  uint32_t zero = 0;
  if (auto r = update(skel_->maps.ps_cfg_v4, &zero, &*cfg); !r) {
    return r;
  }
  uint32_t epoch = (PS_STATE_EPOCH(cfg->state) + 1) & kEpochMask;
  cfg->state = PS_STATE_MAKE(next_rule_gen, next_act_gen, epoch);
  if (auto r = update(skel_->maps.ps_cfg_v4, &zero, &*cfg); !r) {
    return r;
  }
  if (auto r = start_grace_period(); !r) {
    return r;
  }
  // The patterns change only with the rules (a health change does not rewrite them).
  if (!same_rules || !dns_written_ || plan.dns != dns_) {
    if (auto r = write_domain_names(*rules, plan.dns, cfg->hz); !r) {
      return r;
    }
    dns_written_ = true;
  }
  dns_ = plan.dns;
  flow_idle_s_ = std::max<uint32_t>(actions->flow_idle_s, 1);
  if (!same_rules) {
    gen_rules_[next_rule_gen] = std::move(*rules);
  }
  active_rule_gen_ = next_rule_gen;
  return ok();
}

Result<bool> Datapath::mirror_rules() {
  if (!active_rule_gen_ || !gen_rules_[*active_rule_gen_])
    return false;
  const uint32_t active = *active_rule_gen_;
  const uint32_t inactive = active ^ 1;
  const CompiledRules& rules = *gen_rules_[active];
  if (gen_rules_[inactive] && *gen_rules_[inactive] == rules)
    return false;
  if (auto r = wait_for_readers(); !r)
    return r.take_error();
  std::optional<CompiledRules> was = std::move(gen_rules_[inactive]);
  gen_rules_[inactive].reset();
  if (auto r = write_rules(inactive, rules, was ? &*was : nullptr); !r)
    return r.take_error();
  gen_rules_[inactive] = rules;
  return true;
}

Result<void> Datapath::start_grace_period() {
  if (!barrier_outer_.valid()) {
    Fd inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ps_rcu_inner", sizeof(uint32_t), sizeof(uint32_t),
                            1, nullptr));
    if (!inner.valid()) {
      return system_error("datapath: create the grace-period map", errno);
    }
    LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner.get()));
    Fd outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "ps_rcu_outer", sizeof(uint32_t),
                            sizeof(uint32_t), 1, &opts));
    if (!outer.valid()) {
      return system_error("datapath: create the grace-period map", errno);
    }
    barrier_inner_ = std::move(inner);
    barrier_outer_ = std::move(outer);
  }
  // An update of an array of maps returns after synchronize_rcu(): every
  // classifier run (TC or BPF_PROG_TEST_RUN, both inside rcu_read_lock) that
  // began before it has ended.
  grace_period_ =
      std::async(std::launch::async, [outer = barrier_outer_.get(), inner = barrier_inner_.get()] {
        uint32_t zero = 0;
        auto inner_fd = static_cast<uint32_t>(inner);
        return bpf_map_update_elem(outer, &zero, &inner_fd, BPF_ANY) == 0 ? 0 : -errno;
      });
  return ok();
}

Result<void> Datapath::wait_for_readers() {
  if (!grace_period_.valid()) {
    if (waited_once_) {
      return ok();  // the last one ended and nothing flipped since
    }
    // The first plan of this process: the pins' last flip may be a moment old.
    if (auto r = start_grace_period(); !r) {
      return r;
    }
  }
  waited_once_ = true;
  if (int err = grace_period_.get(); err != 0) {
    return system_error("datapath: wait for a grace period", -err);
  }
  return ok();
}

Result<DatapathCounters> Datapath::read_counters() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) {
    return system_error("count possible CPUs", -ncpu);
  }
  auto cfg = read_config(skel_->maps.ps_cfg_v4);
  if (!cfg) {
    return cfg.take_error();
  }
  // One batch per map: the per-CPU values of indexes [0, entries). An array
  // map's batch starts at index 0, so a map is read only as far as it is used
  // (copying all 8,192 classes' counters made every /metrics cost ~0.3 ms).
  auto read_all = [&](const bpf_map* map, uint32_t entries) -> Result<std::vector<ClassCounters>> {
    if (entries == 0) {
      return std::vector<ClassCounters>{};
    }
    std::vector<uint32_t> keys(entries);
    std::vector<ps_counter> values(static_cast<size_t>(entries) * static_cast<size_t>(ncpu));
    uint32_t count = entries;
    uint32_t out_batch = 0;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    if (bpf_map_lookup_batch(bpf_map__fd(map), nullptr, &out_batch, keys.data(), values.data(),
                             &count, &opts) != 0 &&
        errno != ENOENT) {
      return system_error(std::string("read map ") + bpf_map__name(map), errno);
    }
    std::vector<ClassCounters> sums(entries);
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t index = keys[i];
      if (index >= entries) {
        continue;
      }
      for (int c = 0; c < ncpu; ++c) {
        const ps_counter& v = values[static_cast<size_t>(i) * ncpu + c];
        sums[index].packets += v.packets;
        sums[index].bytes += v.bytes;
      }
    }
    return sums;
  };

  DatapathCounters out;
  uint32_t class_count =
      std::min<uint32_t>(cfg->gen[PS_STATE_RULE_GEN(cfg->state)].class_count, PS_MAX_CLASSES);
  auto classes = read_all(skel_->maps.ps_ccnt_v4, class_count);
  if (!classes) {
    return classes.take_error();
  }
  out.classes = std::move(*classes);
  auto uplinks = read_all(skel_->maps.ps_ucnt_v4, PS_MAX_UPLINKS);
  if (!uplinks) {
    return uplinks.take_error();
  }
  for (uint32_t id = 1; id < PS_MAX_UPLINKS; ++id) {
    if ((*uplinks)[id].packets != 0) {
      out.uplinks[id] = (*uplinks)[id];
    }
  }
  auto g = read_all(skel_->maps.ps_gcnt_v4, PS_GCNT_MAX);
  if (!g) {
    return g.take_error();
  }
  auto packets = [&](uint32_t index) { return (*g)[index].packets; };
  out.parse_errors = packets(PS_GCNT_PARSE_ERROR);
  out.non_ip = packets(PS_GCNT_NOT_IP);
  out.link_scope = packets(PS_GCNT_LINK_SCOPE);
  out.unclassified = packets(PS_GCNT_UNCLASSIFIED);
  out.fragments = packets(PS_GCNT_FRAGMENT);
  out.no_ports = packets(PS_GCNT_NO_PORTS);
  out.ip_options = packets(PS_GCNT_IP_OPTIONS);
  out.vlan = packets(PS_GCNT_VLAN);
  out.flow_new = packets(PS_GCNT_FLOW_NEW);
  out.flow_hit = packets(PS_GCNT_FLOW_HIT);
  out.flow_reclassified = packets(PS_GCNT_FLOW_RECLASS);
  out.flow_rechosen = packets(PS_GCNT_FLOW_RECHOSEN);
  out.flow_expired = packets(PS_GCNT_FLOW_EXPIRED);
  out.flow_full = packets(PS_GCNT_FLOW_FULL);
  out.no_member = packets(PS_GCNT_NO_MEMBER);
  out.redirected = packets(PS_GCNT_REDIRECTED);
  auto dns = read_dns_counters(skel_->maps.ps_dnscnt_d1);
  if (!dns) {
    return dns.take_error();
  }
  out.dns = std::move(*dns);
  out.over_quota = packets(PS_GCNT_OVER_QUOTA);
  auto now = read_jiffies(bpf_program__fd(skel_->progs.ps_probe_jiffies));
  if (!now) {
    return now.take_error();
  }
  auto top = top_sources(skel_->maps.ps_srcq_v4, cfg->act[PS_STATE_ACT_GEN(cfg->state)], *now);
  if (!top) {
    return top.take_error();
  }
  out.top_sources = std::move(*top);
  for (uint32_t reason = PS_GCNT_FB_NO_FEATURE; reason <= PS_GCNT_FB_FIB + PS_FIB_RET_MAX;
       ++reason) {
    if (reason == PS_GCNT_REDIRECTED || packets(reason) == 0) {
      continue;
    }
    out.fallbacks[fallback_label(reason)] = packets(reason);
  }
  return out;
}

std::string Datapath::effective_mode(DatapathMode requested) const {
  if (requested == DatapathMode::kMark) {
    return "mark";
  }
  if (features_.fib_table_lookup) {
    return "redirect";
  }
  return "mark (redirect unsupported: bpf_fib_lookup takes no table id before Linux 6.5)";
}

int Datapath::program_fd() const {
  return bpf_program__fd(skel_->progs.ps_classifier);
}

Result<void> Datapath::unpin() {
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__pin_path(map) == nullptr) {
      continue;  // .rodata and friends
    }
    std::string path = pin_dir_ + "/" + bpf_map__name(map);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return system_error("unpin " + path, errno);
    }
  }
  if (::rmdir(pin_dir_.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) {
    return system_error("remove pin dir " + pin_dir_, errno);
  }
  return ok();
}

}  // namespace pathsteer
