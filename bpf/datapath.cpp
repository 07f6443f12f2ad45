#include "bpf/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "bpf/pathsteer_abi.h"
#include "common/fd.h"
#include "common/log.h"
#include "ps_classifier.skel.h"

namespace pathsteer {

static_assert(kMaxRules == PS_MAX_RULES && kMaxClasses == PS_MAX_CLASSES);

namespace {

constexpr const char* kBpffsRoot = "/sys/fs/bpf";
constexpr size_t kVerifierLogSize = 1 << 20;
constexpr size_t kVerifierLogTail = 8192;  // the end of the log says why

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

bool under_bpffs_root(const std::string& dir) {
  std::string root = kBpffsRoot;
  return dir == root || dir.starts_with(root + "/");
}

Result<void> ensure_bpffs(const std::string& pin_dir) {
  if (!under_bpffs_root(pin_dir)) {
    return ok();
  }
  struct statfs st {};
  if (::statfs(kBpffsRoot, &st) != 0) {
    return system_error(std::string("statfs ") + kBpffsRoot, errno);
  }
  if (static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC) {
    return ok();
  }
  if (::mount("bpf", kBpffsRoot, "bpf", 0, "mode=0700") != 0) {
    return system_error(std::string("mount bpffs on ") + kBpffsRoot, errno);
  }
  PS_LOG(kInfo) << "mounted bpffs on " << kBpffsRoot;
  return ok();
}

Result<void> make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return system_error("create pin dir " + dir, ec.value());
  }
  return ok();
}

// A same-named map has the same layout by our versioning rule (PS_ABI_LAYOUT);
// the value size is still checked before reading so a foreign file cannot
// make us overrun a buffer.
Result<void> check_pinned_config(const std::string& pin_dir) {
  std::string path = pin_dir + "/" + PS_CONFIG_MAP;
  if (::access(path.c_str(), F_OK) != 0) {
    return ok();  // fresh pin dir
  }
  Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) {
    return system_error("open pinned " + path, errno);
  }
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd.get(), &info, &info_len); err != 0) {
    return system_error("inspect pinned " + path, -err);
  }
  if (info.value_size != sizeof(ps_config) || info.max_entries != 1) {
    return unrealizable_error("pinned " + path +
                              " has an unknown layout; remove the pin dir to start over");
  }
  ps_config cfg{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd.get(), &key, &cfg) != 0) {
    return system_error("read pinned " + path, errno);
  }
  if (cfg.magic == 0) {
    return ok();  // created but never initialised
  }
  if (cfg.magic != PS_ABI_MAGIC) {
    return unrealizable_error("pinned " + path + " is not pathsteer's (magic " +
                              std::to_string(cfg.magic) + ")");
  }
  if (cfg.abi_version > PS_ABI_VERSION) {
    return unrealizable_error(
        "pinned datapath state in " + pin_dir + " was written by a newer pathsteer (abi_version " +
        std::to_string(cfg.abi_version) + ", this binary knows up to " +
        std::to_string(PS_ABI_VERSION) + "); run the newer version or flush the pin dir");
  }
  return ok();
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

ps_prefix to_ps_prefix(const Prefix& p) {
  uint8_t addr[16] = {};
  uint8_t mask[16] = {};
  for (size_t i = 0; i < p.addr.size(); ++i) {
    int bits = std::clamp(static_cast<int>(p.len) - static_cast<int>(i) * 8, 0, 8);
    mask[i] = static_cast<uint8_t>(0xff00 >> bits);
    addr[i] = p.addr.bytes[i] & mask[i];
  }
  ps_prefix out{};
  std::memcpy(out.addr, addr, sizeof(out.addr));
  std::memcpy(out.mask, mask, sizeof(out.mask));
  out.len = p.len;
  return out;
}

uint8_t ps_family(int af) {
  return af == AF_INET ? PS_FAMILY_IPV4 : PS_FAMILY_IPV6;
}

bool is_any_port(const PortRange& r) {
  return r.lo == 0 && r.hi == 65535;
}

// Cross product src × dst × sport × dport of one entry, in that nesting order.
// A prefix fixes the rule's family; a v4/v6 src/dst pair can never match.
void flatten_entry(uint32_t class_id, const MatchEntry& e, std::vector<ps_rule>& out) {
  const std::vector<std::optional<Prefix>> any_prefix{std::nullopt};
  const std::vector<PortRange> any_port{PortRange{}};
  std::vector<std::optional<Prefix>> srcs(e.src.begin(), e.src.end());
  std::vector<std::optional<Prefix>> dsts(e.dst.begin(), e.dst.end());
  const auto& src_list = srcs.empty() ? any_prefix : srcs;
  const auto& dst_list = dsts.empty() ? any_prefix : dsts;
  const auto& sports = e.sport.empty() ? any_port : e.sport;
  const auto& dports = e.dport.empty() ? any_port : e.dport;

  for (const auto& src : src_list) {
    for (const auto& dst : dst_list) {
      if (src && dst && src->addr.family != dst->addr.family) {
        continue;
      }
      for (const PortRange& sp : sports) {
        for (const PortRange& dp : dports) {
          ps_rule r{};
          r.class_id = class_id;
          r.proto = e.proto.value_or(0);
          if (src) {
            r.family = ps_family(src->addr.family);
            r.src = to_ps_prefix(*src);
          }
          if (dst) {
            r.family = ps_family(dst->addr.family);
            r.dst = to_ps_prefix(*dst);
          }
          r.sport_lo = sp.lo;
          r.sport_hi = sp.hi;
          r.dport_lo = dp.lo;
          r.dport_hi = dp.hi;
          if (!is_any_port(sp) || !is_any_port(dp)) {
            r.flags |= PS_RULE_F_PORTS;
          }
          out.push_back(r);
        }
      }
    }
  }
}

Result<std::vector<ps_rule>> flatten(const DatapathPlan& plan) {
  if (plan.classes.size() > kMaxClasses) {
    return unrealizable_error("datapath: " + std::to_string(plan.classes.size()) +
                              " classes exceed the capacity of " + std::to_string(kMaxClasses));
  }
  std::vector<ps_rule> rules;
  for (size_t i = 0; i < plan.classes.size(); ++i) {
    const DatapathClass& c = plan.classes[i];
    if (!c.leave_mark && (c.mark & ~plan.mark_mask) != 0) {
      return policy_error("datapath: class '" + c.name + "' mark " + std::to_string(c.mark) +
                          " has bits outside mark_mask " + std::to_string(plan.mark_mask));
    }
    if (c.match.empty()) {
      flatten_entry(static_cast<uint32_t>(i), MatchEntry{}, rules);
    }
    for (const MatchEntry& e : c.match) {
      flatten_entry(static_cast<uint32_t>(i), e, rules);
    }
    if (rules.size() > kMaxRules) {
      return unrealizable_error("datapath: class '" + c.name + "' (#" + std::to_string(i) +
                                ") brings the flattened rules to " + std::to_string(rules.size()) +
                                ", over the capacity of " + std::to_string(kMaxRules));
    }
  }
  return rules;
}

bool same_rules(const std::vector<ps_rule>& a, const std::vector<ps_rule>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(ps_rule)) == 0);
}

ps_action to_ps_action(const DatapathClass& c) {
  ps_action a{};
  if (!c.leave_mark) {
    a.flags = PS_ACTION_F_SET_MARK;
    a.mark = c.mark;
  }
  return a;
}

Result<void> update(const bpf_map* map, uint32_t key, const void* value) {
  if (bpf_map_update_elem(bpf_map__fd(map), &key, value, BPF_ANY) != 0) {
    return system_error(
        std::string("update map ") + bpf_map__name(map) + " index " + std::to_string(key), errno);
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

bpf_tc_hook ingress_hook(int ifindex) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  return hook;
}

}  // namespace

Datapath::Datapath(std::string pin_dir, ps_classifier* skel)
    : pin_dir_(std::move(pin_dir)), skel_(skel) {}

Datapath::~Datapath() {
  ps_classifier__destroy(skel_);
}

Result<std::unique_ptr<Datapath>> Datapath::open(const std::string& pin_dir) {
  libbpf_set_print(libbpf_print);
  if (pin_dir.empty() || pin_dir.front() != '/') {
    return policy_error("datapath: pin dir must be an absolute path, got '" + pin_dir + "'");
  }
  if (auto r = ensure_bpffs(pin_dir); !r) {
    return r.take_error();
  }
  if (auto r = make_dirs(pin_dir); !r) {
    return r.take_error();
  }
  if (auto r = check_pinned_config(pin_dir); !r) {
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

  auto cfg = read_config(raw->maps.ps_cfg_v1);
  if (!cfg) {
    return cfg.take_error();
  }
  if (cfg->magic != PS_ABI_MAGIC || cfg->abi_version < PS_ABI_VERSION) {
    // New maps, or maps of an older compatible version: claim them.
    cfg->magic = PS_ABI_MAGIC;
    cfg->abi_version = PS_ABI_VERSION;
    if (auto r = update(raw->maps.ps_cfg_v1, 0, &*cfg); !r) {
      return r.take_error();
    }
  }
  return dp;
}

Result<void> Datapath::attach(int ifindex) {
  bpf_tc_hook hook = ingress_hook(ifindex);
  // libbpf creates clsact with NLM_F_EXCL: EEXIST means someone (maybe us) has one.
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    return system_error("create clsact qdisc on ifindex " + std::to_string(ifindex), -err);
  }
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = bpf_program__fd(skel_->progs.ps_classifier);
  opts.flags = BPF_TC_F_REPLACE;
  if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
    return system_error("attach classifier to ingress of ifindex " + std::to_string(ifindex), -err);
  }
  return ok();
}

Result<void> Datapath::detach(int ifindex) {
  bpf_tc_hook hook = ingress_hook(ifindex);
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  int err = bpf_tc_detach(&hook, &opts);
  // ENOENT: no such filter; EINVAL: no clsact qdisc (the kernel's answer for a
  // missing parent). Either way nothing of ours is attached.
  if (err != 0 && err != -ENOENT && err != -EINVAL) {
    return system_error("detach classifier from ingress of ifindex " + std::to_string(ifindex),
                        -err);
  }
  return ok();
}

Result<void> Datapath::program(const DatapathPlan& plan) {
  auto rules = flatten(plan);
  if (!rules) {
    return rules.take_error();
  }
  auto cfg = read_config(skel_->maps.ps_cfg_v1);
  if (!cfg) {
    return cfg.take_error();
  }
  const bool in_place = have_last_rules_ && same_rules(*rules, last_rules_);
  const uint32_t gen = in_place ? (cfg->active_gen & 1) : ((cfg->active_gen & 1) ^ 1);

  if (!in_place) {
    for (size_t i = 0; i < rules->size(); ++i) {
      auto r = update(skel_->maps.ps_rules_v1, gen * PS_MAX_RULES + i, &(*rules)[i]);
      if (!r) {
        return r;
      }
    }
  }
  for (size_t c = 0; c < plan.classes.size(); ++c) {
    ps_action a = to_ps_action(plan.classes[c]);
    if (auto r = update(skel_->maps.ps_act_v1, gen * PS_MAX_CLASSES + c, &a); !r) {
      return r;
    }
  }
  cfg->mark_mask = plan.mark_mask;
  cfg->rule_count[gen] = static_cast<uint32_t>(rules->size());
  cfg->class_count[gen] = static_cast<uint32_t>(plan.classes.size());
  cfg->active_gen = gen;
  // The flip: one value write; packets read active_gen once.
  if (auto r = update(skel_->maps.ps_cfg_v1, 0, &*cfg); !r) {
    return r;
  }
  if (!in_place) {
    last_rules_ = std::move(*rules);
    have_last_rules_ = true;
  }
  return ok();
}

Result<DatapathCounters> Datapath::read_counters() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) {
    return system_error("count possible CPUs", -ncpu);
  }
  auto cfg = read_config(skel_->maps.ps_cfg_v1);
  if (!cfg) {
    return cfg.take_error();
  }
  std::vector<ps_counter> per_cpu(static_cast<size_t>(ncpu));
  auto sum = [&](const bpf_map* map, uint32_t key) -> Result<ClassCounters> {
    if (bpf_map_lookup_elem(bpf_map__fd(map), &key, per_cpu.data()) != 0) {
      return system_error(
          std::string("read map ") + bpf_map__name(map) + " index " + std::to_string(key), errno);
    }
    ClassCounters total;
    for (const ps_counter& c : per_cpu) {
      total.packets += c.packets;
      total.bytes += c.bytes;
    }
    return total;
  };

  DatapathCounters out;
  uint32_t classes = std::min<uint32_t>(cfg->class_count[cfg->active_gen & 1], PS_MAX_CLASSES);
  for (uint32_t i = 0; i < classes; ++i) {
    auto c = sum(skel_->maps.ps_ccnt_v1, i);
    if (!c) {
      return c.take_error();
    }
    out.classes.push_back(*c);
  }
  struct {
    uint32_t index;
    uint64_t* dest;
  } globals[] = {{PS_GCNT_PARSE_ERROR, &out.parse_errors},
                 {PS_GCNT_NOT_IP, &out.non_ip},
                 {PS_GCNT_UNCLASSIFIED, &out.unclassified}};
  for (const auto& g : globals) {
    auto c = sum(skel_->maps.ps_gcnt_v1, g.index);
    if (!c) {
      return c.take_error();
    }
    *g.dest = c->packets;
  }
  return out;
}

Result<SimulateResult> Datapath::simulate(std::span<const uint8_t> frame, uint32_t mark_in) const {
  __sk_buff ctx{};
  ctx.mark = mark_in;
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.ctx_out = &ctx;
  opts.ctx_size_out = sizeof(ctx);
  opts.repeat = 1;
  int fd = bpf_program__fd(skel_->progs.ps_classifier);
  if (int err = bpf_prog_test_run_opts(fd, &opts); err != 0) {
    return system_error("run classifier on a " + std::to_string(frame.size()) + "-byte frame",
                        -err);
  }
  SimulateResult out{.mark = ctx.mark, .retval = static_cast<int>(opts.retval)};
  if (ctx.cb[PS_CB_CLASS] != 0)
    out.class_id = ctx.cb[PS_CB_CLASS] - 1;
  return out;
}

Result<void> Datapath::unpin() {
  bpf_map* maps[] = {skel_->maps.ps_cfg_v1, skel_->maps.ps_rules_v1, skel_->maps.ps_act_v1,
                     skel_->maps.ps_ccnt_v1, skel_->maps.ps_gcnt_v1};
  for (bpf_map* m : maps) {
    std::string path = pin_dir_ + "/" + bpf_map__name(m);
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
