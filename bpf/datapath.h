// Datapath: the user-space owner of the TC classifier and its pinned maps.
//
// Contract:
// * The only user-space code that knows map layouts (bpf/pathsteer_abi.h);
//   docs/DATAPLANE.md describes the maps, the generation switch and flows.
// * open() loads the classifier embedded in the binary (never a .o from disk),
//   reuses maps pinned under pin_dir (so a restarted daemon keeps the rules,
//   the flow table and the counters the kernel is using) and probes whether
//   the kernel's bpf_fib_lookup takes a table id (redirect mode; Linux 6.5+).
//   The TC filters are not removed when a Datapath is destroyed: they keep
//   running the last loaded program until detach() (or until attach() from a
//   new process replaces them).
// * program() is atomic for packets: a packet sees either the old or the new
//   plan, never a mix (generations written inactive-first, then one flip).
//   It never resets the flow table: a flow keeps its uplink while that uplink
//   is live, across policy and preference changes.
// * Only bits inside DatapathPlan::mark_mask are ever written to skb->mark.
// * Not thread-safe; owned by the event-loop thread. Needs CAP_BPF/CAP_NET_ADMIN
//   (root) for everything but construction of plain values.
#pragma once

#include <array>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/compile.h"
#include "bpf/dataplane_port.h"
#include "common/fd.h"
#include "common/result.h"

struct ps_classifier;  // the generated skeleton (ps_classifier.skel.h)

namespace pathsteer {

// TC filter identity reserved for pathsteer on clsact ingress; detach() removes
// exactly this (handle, priority) and nothing else.
inline constexpr uint32_t kTcHandle = 0x7053;  // "pS"
inline constexpr uint32_t kTcPriority = 0x7053;

struct DatapathOptions {
  // Behave as on a kernel without table lookups (tests of the fallback).
  bool disable_fib_table_lookup = false;
};

class Datapath final : public DataplanePort {
 public:
  // Loads the embedded classifier; pin_dir is created if missing; if pin_dir is
  // under /sys/fs/bpf and no bpffs is mounted there, mounts one. Refuses pinned
  // state whose config map is not ours (other magic), has our magic and a
  // newer abi_version than this binary knows, or belongs to a newer layout
  // (a ps_cfg_v<N> with N > ours in pin_dir). Pins of older layouts are
  // removed (their maps live on while an old program still uses them). Load
  // failures carry the verifier log (its tail) in Error::kernel_message.
  static Result<std::unique_ptr<Datapath>> open(const std::string& pin_dir,
                                                const DatapathOptions& options = {});

  ~Datapath() override;
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // Creates clsact on ifindex if needed (an existing one is shared) and
  // attaches our program at (kTcHandle, kTcPriority), replacing a previous
  // pathsteer program there. Idempotent.
  Result<void> attach(int ifindex) override;
  // Removes only our (kTcHandle, kTcPriority) filter; never the clsact qdisc.
  // Succeeds if the filter (or the interface's clsact) is already gone.
  Result<void> detach(int ifindex) override;

  // Writes the plan. If its compiled rules equal those of the active rule
  // generation as last written by this Datapath, only the action generation
  // (classes, uplinks, mask, mode) is written and flipped; otherwise both.
  // Errors: kInvalidPolicy if a mark has bits outside mark_mask;
  // kUnrealizable if the plan exceeds a capacity (compile.h; names the class).
  // On error the previous plan stays in force.
  Result<void> program(const DatapathPlan& plan) override;

  Result<DatapathCounters> read_counters() const override;

  const DatapathFeatures& features() const override { return features_; }
  // What a plan's mode becomes on this kernel: "mark", "redirect", or
  // "mark (redirect unsupported: ...)" when table lookups are missing.
  std::string effective_mode(DatapathMode requested) const override;

  // Runs one Ethernet frame through the loaded program against the live maps
  // (BPF_PROG_TEST_RUN), with skb->mark = mark_in, arriving on
  // ingress_ifindex (0: the loopback device of the caller's namespace; redirect
  // mode looks routes up in that namespace). Counts and creates flow entries
  // like a real packet.
  // record_flow = false (explain): the flow table is left exactly as it was.
  Result<SimulateResult> simulate(std::span<const uint8_t> frame, uint32_t mark_in = 0,
                                  int ingress_ifindex = 0, bool record_flow = true) const override;

  int program_fd() const;  // the classifier, for BPF_PROG_TEST_RUN in benchmarks and tests

  // Removes our pinned maps and pin_dir if it is then empty (--flush-on-exit,
  // tests). This Datapath's maps stay usable until it is destroyed.
  Result<void> unpin() override;

  // DNS learning (bpf/kern/lib/dns_learn.h; datapath_dns.cpp). attach() also
  // puts ps_dns_learn on the interface's clsact egress (same handle and
  // priority), detach() removes it.
  Result<std::vector<LearnedAddress>> learned_addresses() const override;
  Result<void> expire_learned() override;
  Result<bool> mirror_rules() override;
  int dns_program_fd() const;  // ps_dns_learn, for BPF_PROG_TEST_RUN in tests and benchmarks
  // The kernel's jiffies64 now (the clock of expiries and flows).
  Result<uint64_t> jiffies() const;

  const std::string& pin_dir() const { return pin_dir_; }

 private:
  Datapath(std::string pin_dir, ps_classifier* skel);
  // previous: what generation gen holds (this Datapath wrote it), or null.
  Result<void> write_rules(uint32_t gen, const CompiledRules& rules, const CompiledRules* previous);
  Result<void> write_actions(uint32_t act_gen, const CompiledActions& actions, uint32_t hz);
  // datapath_dns.cpp: the (pattern, dst bitmap) table of rule generation gen
  // and its bit in ps_dnscfg_d1.gens, written before the flip; after it, the
  // patterns the parser looks up and the lifetime options.
  Result<void> write_domain_rules(uint32_t gen, const CompiledRules& rules);
  Result<void> write_domain_names(const CompiledRules& rules, const DnsOptions& dns, uint32_t hz);
  // Clears ps_dnscfg_d1.gens (open(), when the classifier's maps are new).
  Result<void> forget_domain_generations();
  // A flip leaves the old generation to packets that read the state before
  // it. start_grace_period() begins an RCU grace period on another thread, at
  // once, so the flip's caller does not wait; wait_for_readers() returns when
  // it has ended (at once, unless plans come faster than grace periods), so
  // the old generation can be rewritten.
  Result<void> start_grace_period();
  Result<void> wait_for_readers();

  std::string pin_dir_;
  ps_classifier* skel_ = nullptr;  // owned; destroyed in ~Datapath
  DatapathFeatures features_;
  // What each rule generation holds, when known: written by this Datapath,
  // or empty in maps this Datapath created. A plan equal to the active one
  // writes no rules; a rule change writes only the tries' difference to what
  // the generation held.
  std::array<std::optional<CompiledRules>, 2> gen_rules_;  // by rule generation
  std::optional<uint32_t> active_rule_gen_;  // the generation program() last made active
  // The rules in force, once program() ran in this process (else null).
  const CompiledRules* active_rules() const {
    return active_rule_gen_ && gen_rules_[*active_rule_gen_] ? &*gen_rules_[*active_rule_gen_]
                                                             : nullptr;
  }
  // An array-of-maps slot and a map to put in it: an update of such a map
  // returns after an RCU grace period (the kernel's maybe_wait_bpf_programs).
  Fd barrier_outer_, barrier_inner_;
  // The grace period after the last flip: 0 or -errno. Invalid before the
  // first program() (a hitless restart's predecessor may have flipped just
  // before it exited: that one waits in place). Declared after the maps it
  // uses, so it is waited for before they close.
  std::future<int> grace_period_;
  bool waited_once_ = false;
  DnsOptions dns_;            // of the last plan
  bool dns_written_ = false;  // write_domain_names() ran in this process
  uint32_t flow_idle_s_ = 0;  // of the last plan (0: no plan yet)
};

// Benchmarks and tests: runs a TC program (e.g. Datapath::program_fd()) `repeat`
// times on frame, on this CPU, with a real packet's effects on its maps (no
// simulation magic); returns the kernel's mean ns per run.
Result<uint32_t> run_program_repeated(int prog_fd, std::span<const uint8_t> frame, uint32_t repeat);

}  // namespace pathsteer
