// The controller core (Open/R's Decision): the policy in force, the plan and
// its application, intents, reasons and the event log. It implements the
// ControlService the surfaces use, and takes its inputs from the other owners:
//
//   probes       on_probe_report(): every decided round and every state change
//                (the one road from a measurement to a plan: a state change
//                re-plans at once, figures re-plan once per loop turn, and only
//                when what the planner sees changed)
//   the kernel   on_kernel_change(): links, addresses, default routes, drift in
//                our slice (re-planned after a 20 ms debounce; carrier at once)
//   the policy   reload() (SIGHUP, the file watch), apply_policy() (the API),
//                policy_file_gone()
//   time         its own timers on the Runtime: a plan's next_plan_at (a
//                hold-down or latency sustain running out), intent expiry, the
//                1 s history sample
//
// Every plan goes to the Programmer: the data plane first (it is what moves
// traffic after a failure), then the LAN attachments, then the kernel slice. A
// re-plan driven by figures alone touches neither when the plan's data plane,
// rules and routes are what they were (no syscalls, no dump).
//
// Lifecycle: start() adopts the first policy (numbers its paths, configures
// the prober, restores intents, remembered health and planner memory) and
// programs the first plan; an error is fatal at start. A reload that fails
// (invalid text, unreadable file, numbering) leaves the running policy in
// force and shows in status (policy_errors, policy_rejections). Every reload
// attempt, whatever asked for it, is framed by Hooks::reloading and
// Hooks::ready (systemd's RELOADING=1 / READY=1), except a file rewritten with
// the content in force.
// Threading: the loop thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/events.h"
#include "controller/history.h"
#include "controller/intents.h"
#include "controller/kernel_view.h"
#include "controller/planner.h"
#include "controller/policy.h"
#include "controller/policy_file.h"
#include "controller/programmer.h"
#include "controller/runtime.h"
#include "controller/service.h"
#include "controller/state_dir.h"
#include "controller/uplink_ids.h"
#include "probes/prober_port.h"

namespace pathsteer {

// A policy from the fleet (DESIGN §13): the YAML of the most specific key, and
// where it came from ("etcd:<key>@<mod_revision>"), which labels its errors.
struct FleetPolicyText {
  std::string text;
  std::string origin;
  friend bool operator==(const FleetPolicyText&, const FleetPolicyText&) = default;
};

struct CoreParts {
  Runtime& runtime;
  const KernelView& kernel;
  ProberPort& prober;
  Programmer& programmer;
  StateDir& state;
  PolicySource& policy_source;
};

class Controller final : public ControlService {
 public:
  static constexpr auto kReconcileDebounce = std::chrono::milliseconds(20);

  struct Hooks {
    std::function<void()> reloading;  // a reload starts
    std::function<void()> ready;      // it ended (status_line() says how)
  };
  struct Options {
    std::string version;                 // shown in status
    std::function<uint64_t()> overruns;  // netlink overruns so far, for status; may be empty
  };

  Controller(Options options, CoreParts parts);
  ~Controller() override;
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // `fleet`: the node starts from a fleet policy (its cache in the state dir);
  // `policy` is then that policy with the file's fleet block, `text` the file's.
  Result<void> start(Policy policy, std::string text,
                     std::optional<FleetPolicyText> fleet = std::nullopt);
  void set_hooks(Hooks hooks) { hooks_ = std::move(hooks); }

  void on_probe_report(const std::string& path, const UplinkHealth& health, bool state_changed);
  void on_kernel_change(const KernelDelta& delta);
  // Reads the policy source and applies it; `file_changed` (the file watch):
  // skipped when the text is the one in force and nothing was rejected since.
  void reload(bool file_changed, const Caller& by);
  // The watched file was deleted: rejected, the running policy stays.
  void policy_file_gone();

  // The fleet's policy (DESIGN §13). `fleet` is validated like a file (and
  // must have no fleet block); the fleet block and anything else the fleet
  // does not give stay the file's. nullopt: no fleet key exists, the file's
  // policy is the policy again. An invalid text is rejected whole (the
  // running policy stays, the error lists every finding, labelled with its
  // origin). The file is never written.
  Result<void> set_fleet_policy(std::optional<FleetPolicyText> fleet, const Caller& by);
  const std::optional<FleetPolicyText>& fleet_policy() const { return fleet_; }
  // The intents from the fleet that select this node, replacing the last set
  // (ids unique, validated against nothing: one whose class or paths the
  // policy lacks does not apply). They expire like local ones; a local intent
  // for the same class wins.
  void set_fleet_intents(std::vector<Intent> intents, const Caller& by);
  const Policy& policy_in_force() const { return policy_; }

  std::string status_line() const;  // for systemd's STATUS=
  uint64_t generation() const { return generation_; }
  const DesiredState& desired() const { return desired_; }
  // --flush-on-exit: every owned rule and route, the classifier, the pins.
  void flush_owned_state();
  // At a clean stop: what is kept across restarts and written lazily (the
  // history's minute ring, with the minute in progress).
  void persist();

  // ControlService.
  StatusSnapshot status() const override;
  PolicyView policy() const override;
  std::vector<IntentView> intents() const override;
  Result<IntentView> intent(const std::string& id) const override;
  Result<HistoryView> history(const std::string& wan, int64_t since_ms,
                              HistoryResolution resolution) const override;
  Result<ExplainAnswer> explain(const ExplainQuery& query) const override;
  Result<std::vector<DomainView>> domains(const std::string& klass) const override;
  std::vector<ControlEvent> events(uint64_t since_id) const override;
  Subscription subscribe(std::function<void(const ControlEvent&)> listener) override;
  Result<PolicyChange> apply_policy(const std::string& text, bool dry_run,
                                    const Caller& by) override;
  Result<IntentView> add_intent(IntentRequest request, const Caller& by) override;
  Result<void> delete_intent(const std::string& id, const Caller& by) override;

 private:
  enum class Trigger { kEvent, kFigures, kTimer };

  Result<void> adopt(Policy policy, bool first);
  Result<void> apply_text(const std::string& text, const Caller& by);
  // The policy to adopt for the file text `file`: the file's, or the fleet's
  // with the file's fleet block. Errors as parse_policy's.
  Result<Policy> compose(const std::string& file) const;
  std::string origin() const { return fleet_ ? fleet_->origin : source_.path(); }
  std::map<std::string, ClassOverride> overrides(const Policy& policy) const;
  void reject(std::vector<std::string> errors, const Caller& by);
  PlanInput plan_input(const Policy& policy, const std::map<std::string, uint32_t>& ids) const;
  void apply(Trigger trigger, const Caller* by = nullptr);
  void record_moves(const DesiredState& next, const Caller* by);
  void arm_next_plan_timer();
  void schedule_reconcile();
  void schedule_figures_replan();
  void set_carriers();
  std::optional<std::string> path_by_interface(const std::string& ifname) const;
  std::string state_reason(const std::string& path, const UplinkHealth& h) const;
  void flush_conntrack(const std::string& uplink);
  void restore_intents();
  void intents_changed(const Caller* by);
  void arm_intent_timer();
  void record_history();
  IntentView view_of(const Intent& it) const;
  OwnedSlice owned_slice() const { return slice_of(policy_.ownership); }
  static OwnedSlice slice_of(const Ownership& own);
  void event(EventKind kind, std::string subject, std::string from, std::string to,
             std::string reason, const Caller* by = nullptr);

  Options options_;
  Runtime& rt_;
  const KernelView& kernel_;
  ProberPort& prober_;
  Programmer& programmer_;
  StateDir& state_;
  PolicySource& source_;
  Hooks hooks_;
  Runtime::SteadyTime started_at_{};
  int64_t started_wall_ms_ = 0;
  bool started_ = false;  // start() is done: reports re-plan

  // The policy in force.
  Policy policy_;
  std::string policy_text_;  // in force: the file's, or the fleet's
  std::string file_text_;    // the file's, as last read
  std::optional<FleetPolicyText> fleet_;
  uint64_t generation_ = 0;
  UplinkIds ids_{1};
  std::vector<std::string> policy_errors_;  // of the last rejected reload
  uint64_t policy_rejections_ = 0;

  // The plan in force, and what the planner remembers.
  DesiredState desired_;
  bool have_plan_ = false;
  std::optional<PlanInput> last_input_;  // of the last plan (figure re-plans skip when equal)
  PlannerMemory plan_memory_;
  std::vector<std::string> dataplane_errors_;  // of the last programming
  std::optional<Runtime::TimerId> next_plan_timer_;
  std::optional<PlanTime> next_plan_armed_at_;
  std::optional<Runtime::TimerId> reconcile_timer_;
  bool figures_replan_pending_ = false;

  // Paths' health: the last verdict per path (conntrack, health.json), and the
  // previous run's until the prober has its own.
  std::map<std::string, HealthState> last_health_;
  std::map<std::string, HealthState> remembered_health_;
  std::map<std::string, int64_t> state_since_ms_;  // Unix ms of each path's last change

  IntentStore intents_;
  IntentStore fleet_intents_;  // not persisted here: the fleet agent caches them
  std::optional<Runtime::TimerId> intent_timer_;
  History history_;
  std::optional<Runtime::TimerId> history_timer_;
  EventLog events_;
};

}  // namespace pathsteer
