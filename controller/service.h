// ControlService: the controller as every surface sees it — the REST API
// (api/), the dashboard, the fleet client. Typed calls that return domain
// results, never HTTP or JSON: api/ owns routes, status codes, JSON mapping
// and auth.
//
// Read side: status (also what /metrics is made of), the policy in force, the
// intents, a wan's history, explain, and the event log with a subscription
// for streams. Write side: every call names who asked (Caller), which the
// event log records.
//
// Errors (common/result.h kinds): kInvalidPolicy (a policy or a request that
// breaks the policy's rules; an invalid policy text carries every finding in
// details), kMalformed, kConflict (a second intent for a class), kNotFound
// (an intent or wan that does not exist), kSystem (the policy file could not
// be written; the data plane could not run explain's packet).
// Threading: every call on the loop thread (the API posts to it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bpf/dataplane_port.h"
#include "common/result.h"
#include "controller/events.h"
#include "controller/explain.h"
#include "controller/history.h"
#include "controller/intents.h"
#include "controller/planner.h"
#include "controller/policy.h"
#include "netlink/sync.h"
#include "probes/prober_port.h"

namespace pathsteer {

// Who asked for a change.
struct Caller {
  enum class Kind {
    kApi,     // the REST API with the bearer token
    kCli,     // the pathsteer CLI (through the API)
    kFleet,   // the fleet store (DESIGN §13)
    kFile,    // the policy file changed
    kSignal,  // SIGHUP
    kDaemon,  // the daemon itself (start, expiry)
  };
  Kind kind = Kind::kDaemon;
  std::string name;  // a detail, e.g. the fleet node; may be empty

  std::string to_string() const;  // "api", "cli", "fleet:branch-042", "file", "signal", "daemon"
};

struct WanStatus {
  PlannedUplink planned;
  std::string interface;
  int64_t state_since_ms = 0;          // Unix ms of its last state change (or the daemon's start)
  DegradedIf degraded_if;              // the policy's thresholds, for graphs
  std::optional<UplinkHealth> health;  // nullopt: not known to the prober
  std::vector<TargetHealth> targets;
  std::optional<ClassCounters> traffic;  // nullopt: the counters could not be read
};

struct OverlayStatus {
  PlannedOverlay planned;
  Overlay spec;
  std::optional<UplinkHealth> health;  // its own probes, through the tunnel
  std::vector<TargetHealth> targets;
};

struct ClassStatus {
  PlannedClass planned;
  std::optional<SlaSpec> sla;            // in force: an intent's, else the policy's (sla classes)
  std::optional<ClassCounters> traffic;  // nullopt: the counters could not be read
};

struct IntentView {
  Intent intent;
  bool applies = false;  // its class and paths exist in the policy in force
  // "local" (the API, kept in the state dir) or "fleet" (intents/<id> in etcd;
  // a local intent for the same class wins over it).
  std::string source = "local";
};

struct DataplaneStatus {
  DatapathMode mode = DatapathMode::kMark;
  std::string effective_mode;
  bool fib_table_lookup = false;
  std::optional<DatapathCounters> counters;  // nullopt: could not be read
};

struct StatusSnapshot {
  std::string version;
  double uptime_s = 0;
  uint64_t generation = 0;
  std::vector<std::string> policy_errors;  // of the last rejected reload; empty when in force
  uint64_t policy_rejections = 0;
  std::string policy_source = "file";  // or the fleet key in force, "etcd:<key>@<revision>"
  bool synced = false;                 // the kernel holds the plan and the data plane took it
  SyncState sync_state = SyncState::kAwaiting;
  std::vector<std::string> errors;  // data plane, kernel sync, policy, state directory
  std::vector<std::string> conflicts;
  SyncCounters reconcile;
  uint64_t overruns = 0;
  double last_run_ms = 0;
  std::vector<WanStatus> wans;  // policy order
  std::vector<OverlayStatus> overlays;
  std::vector<ClassStatus> classes;  // policy order
  std::vector<IntentView> intents;
  ProberStats prober;
  LatencyHistogram lateness;
  DataplaneStatus datapath;
};

struct PolicyView {
  std::string path;  // the file, or the fleet key in force ("etcd:<key>@<revision>")
  uint64_t generation = 0;
  std::string text;                 // the text in force
  std::vector<std::string> errors;  // of the last rejected reload
};

// What applying a policy would change, seen from the plan in force.
struct PlanDiff {
  enum class Change { kAdded, kMoved, kRemoved };
  struct ClassChange {
    std::string klass;
    Change change = Change::kMoved;
    std::optional<PlannedClass> before;
    std::optional<PlannedClass> after;
  };
  std::vector<ClassChange> classes;  // moved or re-reasoned, added, removed
  std::vector<std::string> rules_add, rules_remove, routes_add, routes_remove;
  bool datapath_changed = false;
};
// Pure.
PlanDiff diff_plans(const DesiredState& before, const DesiredState& after);

struct PolicyChange {
  bool dry_run = false;
  bool applied = false;
  uint64_t generation = 0;  // after applying
  PlanDiff diff;
};

// One address learned from DNS (DESIGN §10, GET /v1/domains).
struct DomainView {
  std::string domain;         // the policy's pattern that owns it ("*.cdn.example")
  std::string address;        // canonical text
  std::string klass;          // the class of the pattern's first entry; "" if not in the policy
  uint32_t ttl_s = 0;         // of the answer that carried it last
  int64_t expires_in_ms = 0;  // < 0: expired, held while a flow to it lives
};

struct HistoryView {
  std::string wan;
  int64_t interval_s = 0;
  size_t capacity = 0;
  std::vector<HealthSample> samples;  // oldest first
};

class ControlService {
 public:
  virtual ~ControlService() = default;

  virtual StatusSnapshot status() const = 0;
  virtual PolicyView policy() const = 0;
  virtual std::vector<IntentView> intents() const = 0;
  virtual Result<IntentView> intent(const std::string& id) const = 0;
  // Samples newer than since_ms (Unix ms), at 1 s (the last hour) or 1 min
  // (the last 24 h, kept across restarts). kNotFound: no such wan in the policy.
  virtual Result<HistoryView> history(const std::string& wan, int64_t since_ms,
                                      HistoryResolution resolution) const = 0;
  // kInvalidPolicy: no such interface; kSystem: the packet could not be run.
  virtual Result<ExplainAnswer> explain(const ExplainQuery& query) const = 0;
  virtual std::vector<ControlEvent> events(uint64_t since_id) const = 0;
  // The addresses learned from DNS, by domain then address; only class
  // `klass` if not empty (kNotFound: no such class in the policy). kSystem:
  // the data plane could not be read.
  virtual Result<std::vector<DomainView>> domains(const std::string& klass) const = 0;
  virtual Subscription subscribe(std::function<void(const ControlEvent&)> listener) = 0;

  // Validates and plans `text`; unless dry_run, writes it to the policy source
  // and applies it. A rejected text leaves the running policy in force.
  // kConflict while a fleet policy is in force (change it in etcd).
  virtual Result<PolicyChange> apply_policy(const std::string& text, bool dry_run,
                                            const Caller& by) = 0;
  virtual Result<IntentView> add_intent(IntentRequest request, const Caller& by) = 0;
  virtual Result<void> delete_intent(const std::string& id, const Caller& by) = 0;

 protected:
  ControlService() = default;
  ControlService(const ControlService&) = default;
  ControlService& operator=(const ControlService&) = default;
};

}  // namespace pathsteer
