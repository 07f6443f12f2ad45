// Datapath's side of DNS learning (bpf/kern/lib/dns_learn.h): the maps the
// loader fills from the plan, the learned addresses it lists and expires, the
// counters it reads. Layouts: bpf/pathsteer_abi.h, "DNS-learned destinations".
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/pathsteer_abi.h"
#include "bpf/prog_run.h"
#include "ps_classifier.skel.h"

namespace pathsteer {

namespace {

// TTLs beyond a week are taken as a week (no overflow, no immortal address).
constexpr uint32_t kMaxTtlS = 7 * 24 * 3600;
// An expired address kept for a live flow is looked at again this much later.
constexpr uint64_t kFlowHoldS = 2;

struct Learned {
  ps_dns_addr_key key;
  ps_dns_addr value;
};

Result<std::vector<Learned>> read_learned(const bpf_map* map) {
  std::vector<Learned> out;
  int fd = bpf_map__fd(map);
  // Batches of 4096; a hash map's batch may end early with ENOENT (done).
  constexpr uint32_t kBatch = 4096;
  std::vector<ps_dns_addr_key> keys(kBatch);
  std::vector<ps_dns_addr> values(kBatch);
  uint64_t in_batch = 0;
  uint64_t out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, &opts);
    int e = errno;
    for (uint32_t i = 0; i < count; ++i)
      out.push_back(Learned{.key = keys[i], .value = values[i]});
    if (err != 0) {
      if (e == ENOENT)
        break;
      return system_error(std::string("read map ") + bpf_map__name(map), e);
    }
    in_batch = out_batch;
    first = false;
  }
  return out;
}

IpAddr addr_of(const ps_dns_addr_key& k) {
  IpAddr a;
  a.family = k.family == 4 ? AF_INET : AF_INET6;
  std::memcpy(a.bytes.data(), k.addr, k.family == 4 ? 4 : 16);
  return a;
}

// The destination addresses of the flow entries seen within idle jiffies, read
// in batches (a full table is 262,144 entries per family: one syscall per
// 4,096, not two per entry).
template <typename Key>
std::set<std::array<uint32_t, 4>> live_destinations(const bpf_map* map, uint64_t now,
                                                    uint64_t idle) {
  std::set<std::array<uint32_t, 4>> out;
  int fd = bpf_map__fd(map);
  constexpr uint32_t kBatch = 4096;
  std::vector<Key> keys(kBatch);
  std::vector<ps_flow> values(kBatch);
  uint64_t in_batch = 0;
  uint64_t out_batch = 0;
  bool first = true;
  // Bounded by the table's size (an LRU may change under us).
  for (uint32_t seen = 0; seen <= PS_FLOW_ENTRIES;) {
    uint32_t count = kBatch;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, &opts);
    for (uint32_t i = 0; i < count; ++i) {
      if (now - values[i].last_seen <= idle) {
        std::array<uint32_t, 4> d{};
        std::memcpy(d.data(), &keys[i].daddr, sizeof(keys[i].daddr));
        out.insert(d);
      }
    }
    seen += count;
    if (err != 0)
      break;  // ENOENT: the end (another error: what was read is what we know)
    in_batch = out_batch;
    first = false;
  }
  return out;
}

const char* failure_name(uint32_t reason) {
  switch (reason) {
    case PS_DCNT_ERR_SHORT:
      return "short";
    case PS_DCNT_ERR_LOOP:
      return "loop";
    case PS_DCNT_ERR_NAME:
      return "name";
    case PS_DCNT_ERR_COUNT:
      return "count";
    case PS_DCNT_ERR_CLASS:
      return "class";
    case PS_DCNT_ERR_RDATA:
      return "rdata";
    case PS_DCNT_ERR_CHAIN:
      return "chain";
    case PS_DCNT_ERR_BIG:
      return "too-big";
    case PS_DCNT_ERR_FRAGMENT:
      return "fragment";
    default:
      return nullptr;
  }
}

}  // namespace

Result<void> Datapath::write_domain_rules(uint32_t gen, const CompiledRules& rules) {
  const auto& m = skel_->maps;
  int fd = bpf_map__fd(m.ps_dnsbm_d1);
  // Stale keys of the generation being replaced.
  std::vector<ps_dns_bm_key> doomed;
  ps_dns_bm_key key{};
  ps_dns_bm_key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.gen == gen)
      doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : doomed) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return system_error("delete from map ps_dnsbm_d1", errno);
  }
  for (const CompiledDomainBitmap& b : rules.domain_bitmaps) {
    ps_dns_bm_key k{.pattern = b.key, .gen = gen, .lpm_bitmap = b.lpm_bitmap};
    if (bpf_map_update_elem(fd, &k, &b.bitmap, BPF_ANY) != 0)
      return system_error("update map ps_dnsbm_d1", errno);
  }
  uint32_t zero = 0;
  ps_dns_config cfg{};
  if (bpf_map_lookup_elem(bpf_map__fd(m.ps_dnscfg_d1), &zero, &cfg) != 0)
    return system_error("read map ps_dnscfg_d1", errno);
  const uint32_t bit = 1U << gen;
  cfg.gens = rules.domains.empty() ? cfg.gens & ~bit : cfg.gens | bit;
  if (bpf_map_update_elem(bpf_map__fd(m.ps_dnscfg_d1), &zero, &cfg, BPF_ANY) != 0)
    return system_error("update map ps_dnscfg_d1", errno);
  return ok();
}

Result<void> Datapath::forget_domain_generations() {
  int fd = bpf_map__fd(skel_->maps.ps_dnscfg_d1);
  uint32_t zero = 0;
  ps_dns_config cfg{};
  if (bpf_map_lookup_elem(fd, &zero, &cfg) != 0)
    return system_error("read map ps_dnscfg_d1", errno);
  cfg.gens = 0;
  if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) != 0)
    return system_error("update map ps_dnscfg_d1", errno);
  return ok();
}

Result<void> Datapath::write_domain_names(const CompiledRules& rules, const DnsOptions& dns,
                                          uint32_t hz) {
  const auto& m = skel_->maps;
  uint32_t zero = 0;
  ps_dns_config cfg{};
  if (bpf_map_lookup_elem(bpf_map__fd(m.ps_dnscfg_d1), &zero, &cfg) != 0)
    return system_error("read map ps_dnscfg_d1", errno);
  cfg.magic = PS_DNS_MAGIC;
  cfg.version = PS_DNS_VERSION;
  cfg.min_ttl_s = dns.min_ttl_s;
  cfg.grace_s = dns.grace_s;
  cfg.max_ttl_s = kMaxTtlS;
  cfg.hz = hz;
  if (bpf_map_update_elem(bpf_map__fd(m.ps_dnscfg_d1), &zero, &cfg, BPF_ANY) != 0)
    return system_error("update map ps_dnscfg_d1", errno);

  int fd = bpf_map__fd(m.ps_dnsname_d1);
  std::set<uint64_t> wanted;
  for (const CompiledDomain& d : rules.domains) {
    ps_dns_name_key k{.pattern = d.key};
    ps_dns_name v{.prio = d.prio, .reserved = 0};
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0)
      return system_error("update map ps_dnsname_d1", errno);
    wanted.insert(d.key);
  }
  std::vector<ps_dns_name_key> doomed;
  ps_dns_name_key key{};
  ps_dns_name_key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!wanted.count(next.pattern))
      doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : doomed) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return system_error("delete from map ps_dnsname_d1", errno);
  }
  return ok();
}

Result<uint64_t> Datapath::jiffies() const {
  std::vector<uint8_t> frame(64, 0);
  auto run = test_run(bpf_program__fd(skel_->progs.ps_dns_clock), frame, 0, 0);
  if (!run)
    return run.take_error();
  return (uint64_t{run->ctx.cb[1]} << 32) | run->ctx.cb[0];
}

int Datapath::dns_program_fd() const {
  return bpf_program__fd(skel_->progs.ps_dns_learn);
}

Result<std::vector<LearnedAddress>> Datapath::learned_addresses() const {
  auto all = read_learned(skel_->maps.ps_dnsaddr_d1);
  if (!all)
    return all.take_error();
  auto now = jiffies();
  if (!now)
    return now.take_error();
  uint32_t zero = 0;
  ps_dns_config cfg{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.ps_dnscfg_d1), &zero, &cfg) != 0)
    return system_error("read map ps_dnscfg_d1", errno);
  const uint64_t hz = cfg.hz != 0 ? cfg.hz : 1000;
  std::unordered_map<uint64_t, const CompiledDomain*> domains;
  const CompiledRules* active = active_rules();
  if (active) {
    for (const CompiledDomain& d : active->domains)
      domains[d.key] = &d;
  }
  std::vector<LearnedAddress> out;
  out.reserve(all->size());
  for (const Learned& l : *all) {
    LearnedAddress a;
    a.addr = addr_of(l.key);
    a.ttl_s = l.value.ttl;
    a.expires_in_ms = (static_cast<int64_t>(l.value.expires) - static_cast<int64_t>(*now)) * 1000 /
                      static_cast<int64_t>(hz);
    if (auto it = domains.find(l.value.pattern); it != domains.end()) {
      a.domain = it->second->pattern;
      if (it->second->prio < active->rule_class.size())
        a.class_id = active->rule_class[it->second->prio];
    }
    out.push_back(std::move(a));
  }
  return out;
}

Result<void> Datapath::expire_learned() {
  const CompiledRules* active = active_rules();
  if (!active)
    return ok();  // no plan yet: what the pins hold is kept as it is
  const auto& m = skel_->maps;
  auto all = read_learned(m.ps_dnsaddr_d1);
  if (!all)
    return all.take_error();
  if (all->empty())
    return ok();
  auto now = jiffies();
  if (!now)
    return now.take_error();
  uint32_t zero = 0;
  ps_dns_config cfg{};
  if (bpf_map_lookup_elem(bpf_map__fd(m.ps_dnscfg_d1), &zero, &cfg) != 0)
    return system_error("read map ps_dnscfg_d1", errno);
  const uint64_t hz = cfg.hz != 0 ? cfg.hz : 1000;

  std::set<uint64_t> patterns;
  for (const CompiledDomain& d : active->domains)
    patterns.insert(d.key);
  std::vector<const Learned*> doomed;
  std::vector<const Learned*> expired;
  std::unordered_map<uint64_t, std::vector<const Learned*>> by_name;
  for (const Learned& l : *all) {
    if (!patterns.count(l.value.pattern)) {
      doomed.push_back(&l);  // its domain left the policy
    } else if (l.value.expires < *now) {
      expired.push_back(&l);
    } else {
      by_name[l.value.name].push_back(&l);
    }
  }
  int fd = bpf_map__fd(m.ps_dnsaddr_d1);
  if (!expired.empty()) {
    const uint64_t idle = uint64_t{flow_idle_s_} * hz;
    auto live4 = live_destinations<ps_flow4_key>(m.ps_flow4_v4, *now, idle);
    auto live6 = live_destinations<ps_flow6_key>(m.ps_flow6_v4, *now, idle);
    for (const Learned* l : expired) {
      std::array<uint32_t, 4> d{};
      std::memcpy(d.data(), l->key.addr, sizeof(l->key.addr));
      const bool live =
          l->key.family == 4 ? live4.count(std::array<uint32_t, 4>{d[0], 0, 0, 0}) : live6.count(d);
      if (!live) {
        doomed.push_back(l);
        continue;
      }
      // A flow to it lives: hold it a little longer, unless an answer
      // refreshed it meanwhile (then the newer expiry stands).
      ps_dns_addr v = l->value;
      v.expires = *now + kFlowHoldS * hz;
      ps_dns_addr cur{};
      if (bpf_map_lookup_elem(fd, &l->key, &cur) == 0 && cur.expires == l->value.expires)
        bpf_map_update_elem(fd, &l->key, &v, BPF_EXIST);
    }
  }
  // max_addrs_per_name: the least recently answered go first.
  for (auto& [name, list] : by_name) {
    if (list.size() <= dns_.max_addrs_per_name)
      continue;
    std::sort(list.begin(), list.end(), [](const Learned* a, const Learned* b) {
      return a->value.refreshed < b->value.refreshed;
    });
    for (size_t i = 0; i + dns_.max_addrs_per_name < list.size(); ++i)
      doomed.push_back(list[i]);
  }
  uint64_t evicted = 0;
  for (const Learned* l : doomed) {
    // An answer may have refreshed it since it was read: keep it then.
    ps_dns_addr cur{};
    if (bpf_map_lookup_elem(fd, &l->key, &cur) != 0)
      continue;
    if (cur.refreshed != l->value.refreshed)
      continue;
    if (bpf_map_delete_elem(fd, &l->key) == 0)
      ++evicted;
  }
  if (evicted == 0)
    return ok();
  // The loader's own counter slot: CPU 0's value of PS_DCNT_EVICTED.
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return system_error("count possible CPUs", -ncpu);
  std::vector<ps_counter> values(static_cast<size_t>(ncpu));
  uint32_t index = PS_DCNT_EVICTED;
  int cfd = bpf_map__fd(m.ps_dnscnt_d1);
  if (bpf_map_lookup_elem(cfd, &index, values.data()) != 0)
    return system_error("read map ps_dnscnt_d1", errno);
  values[0].packets += evicted;
  if (bpf_map_update_elem(cfd, &index, values.data(), BPF_ANY) != 0)
    return system_error("update map ps_dnscnt_d1", errno);
  return ok();
}

// Part of read_counters(): the DNS counters.
Result<DnsCounters> read_dns_counters(const bpf_map* map) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return system_error("count possible CPUs", -ncpu);
  std::vector<ps_counter> values(static_cast<size_t>(ncpu));
  std::vector<uint64_t> sums(PS_DCNT_MAX, 0);
  for (uint32_t i = 0; i < PS_DCNT_MAX; ++i) {
    if (bpf_map_lookup_elem(bpf_map__fd(map), &i, values.data()) != 0)
      return system_error(std::string("read map ") + bpf_map__name(map), errno);
    for (const ps_counter& v : values)
      sums[i] += v.packets;
  }
  DnsCounters c;
  c.replies = sums[PS_DCNT_REPLIES];
  c.learned = sums[PS_DCNT_LEARNED];
  c.refreshed = sums[PS_DCNT_REFRESHED];
  c.evicted = sums[PS_DCNT_EVICTED];
  c.full = sums[PS_DCNT_FULL];
  c.no_match = sums[PS_DCNT_NO_MATCH];
  c.truncated = sums[PS_DCNT_TRUNCATED];
  c.not_answer = sums[PS_DCNT_NOT_ANSWER];
  c.skipped_records = sums[PS_DCNT_SKIPPED_RR];
  for (uint32_t i = PS_DCNT_ERR_SHORT; i < PS_DCNT_MAX; ++i) {
    if (const char* name = failure_name(i); name != nullptr && sums[i] != 0)
      c.failures[name] = sums[i];
  }
  return c;
}

}  // namespace pathsteer
