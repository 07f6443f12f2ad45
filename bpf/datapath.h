// Datapath: the user-space owner of the TC classifier and its pinned maps.
//
// Contract:
// * The only user-space code that knows map layouts (bpf/pathsteer_abi.h).
// * open() loads the classifier embedded in the binary (never a .o from disk)
//   and reuses maps pinned under pin_dir, so a restarted daemon keeps the rules
//   and counters the kernel is using. The TC filters are not removed when a
//   Datapath is destroyed: they keep running the last loaded program until
//   detach() (or until attach() from a new process replaces them).
// * program() is atomic for packets: a packet sees either the old or the new
//   rule set, never a mix (two generations, written inactive-first, then a
//   flip of ps_config.active_gen).
// * Only bits inside DatapathPlan::mark_mask are ever written to skb->mark.
// * Not thread-safe; owned by the event-loop thread. Needs CAP_BPF/CAP_NET_ADMIN
//   (root) for everything but construction of plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/policy.h"

struct ps_classifier;  // the generated skeleton (ps_classifier.skel.h)
struct ps_rule;        // bpf/pathsteer_abi.h

namespace pathsteer {

// TC filter identity reserved for pathsteer on clsact ingress; detach() removes
// exactly this (handle, priority) and nothing else.
inline constexpr uint32_t kTcHandle = 0x7053;  // "pS"
inline constexpr uint32_t kTcPriority = 0x7053;

// Capacity of one generation (PS_MAX_RULES / PS_MAX_CLASSES in the ABI).
inline constexpr size_t kMaxRules = 1024;
inline constexpr size_t kMaxClasses = 256;

struct DatapathClass {
  std::string name;               // for errors and diagnostics only
  std::vector<MatchEntry> match;  // empty = matches all; entries are OR'ed
  uint32_t mark = 0;              // must lie inside mark_mask; 0 = clear our bits
  bool leave_mark = false;        // true: skb->mark is left untouched
  friend bool operator==(const DatapathClass&, const DatapathClass&) = default;
};

struct DatapathPlan {
  uint32_t mark_mask = 0;
  std::vector<DatapathClass> classes;  // policy order; class_id = index
  friend bool operator==(const DatapathPlan&, const DatapathPlan&) = default;
};

struct ClassCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  friend bool operator==(const ClassCounters&, const ClassCounters&) = default;
};

// Sums over all CPUs. classes has one entry per class of the active generation.
struct DatapathCounters {
  std::vector<ClassCounters> classes;
  uint64_t parse_errors = 0;  // truncated / malformed IP packets (passed untouched)
  uint64_t non_ip = 0;        // EtherType neither IPv4 nor IPv6 (passed untouched)
  uint64_t unclassified = 0;  // parsed, no class matched (passed untouched)
};

// The verdict of one packet run through the loaded classifier.
struct SimulateResult {
  uint32_t mark = 0;                 // skb->mark after the program
  int retval = 0;                    // TC action (always TC_ACT_UNSPEC: never ends the chain)
  std::optional<uint32_t> class_id;  // the matching class (index in the plan); nullopt: none
};

class Datapath {
 public:
  // Loads the embedded classifier; pin_dir is created if missing; if pin_dir is
  // under /sys/fs/bpf and no bpffs is mounted there, mounts one. Refuses pinned
  // state whose config map is not ours (other magic) or has our magic and a
  // newer abi_version than this binary knows. Load failures carry the
  // verifier log (its tail) in Error::kernel_message.
  static Result<std::unique_ptr<Datapath>> open(const std::string& pin_dir);

  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // Creates clsact on ifindex if needed (an existing one is shared) and
  // attaches our program at (kTcHandle, kTcPriority), replacing a previous
  // pathsteer program there. Idempotent.
  Result<void> attach(int ifindex);
  // Removes only our (kTcHandle, kTcPriority) filter; never the clsact qdisc.
  // Succeeds if the filter (or the interface's clsact) is already gone.
  Result<void> detach(int ifindex);

  // Writes the plan. If the flattened rules equal those of the last program()
  // of this Datapath, only the per-class actions and the mask are updated in
  // place; otherwise the inactive generation is written, then flipped to.
  // Errors: kInvalidPolicy if a mark has bits outside mark_mask;
  // kUnrealizable if the plan exceeds kMaxClasses / kMaxRules (names the class).
  Result<void> program(const DatapathPlan& plan);

  Result<DatapathCounters> read_counters() const;

  // Runs one Ethernet frame through the loaded program against the live maps
  // (BPF_PROG_TEST_RUN), with skb->mark = mark_in. Counts like a real packet.
  Result<SimulateResult> simulate(std::span<const uint8_t> frame, uint32_t mark_in = 0) const;

  // Removes our pinned maps and pin_dir if it is then empty (--flush-on-exit,
  // tests). This Datapath's maps stay usable until it is destroyed.
  Result<void> unpin();

  const std::string& pin_dir() const { return pin_dir_; }

 private:
  Datapath(std::string pin_dir, ps_classifier* skel);

  std::string pin_dir_;
  ps_classifier* skel_ = nullptr;  // owned; destroyed in ~Datapath
  bool have_last_rules_ = false;
  std::vector<ps_rule> last_rules_;  // flattened rules of the last full program()
};

}  // namespace pathsteer
