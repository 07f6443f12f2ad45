// FleetAgent: one node of the fleet (DESIGN §13) — one more writer of policy
// and intents beside the file and the API, and the writer of status/<node>.
//
//   etcd ── list + watch [intents/, policy0) ──► mirror ──► select_policy ──► FleetSink
//        ◄── status/<node> under the node's lease (kept alive) ◄── the sink's snapshot
//
// Threads: the watcher thread lists and watches (resuming from the last
// revision + 1, re-listing after a compaction, backoff with jitter between
// attempts); the session thread grants and keeps the lease alive (every
// TTL/3) and writes the status. Each has its own EtcdClient. Everything they
// learn is posted to the loop; the FleetSink and all agent state are used on
// the loop thread only. The session thread's failure to keep the lease alive
// is what says "etcd unreachable": it then also breaks the watch, so the
// watcher re-connects (a watch stream alone can sit silent through a partition).
//
// Contract:
// * The policy is the most specific key (node > groups, later first > default),
//   validated like a file by the sink; a rejected one is never applied, its
//   errors go to status. The same key at the same revision is tried once.
// * The last applied fleet policy and the node's fleet intents are cached
//   atomically in <state-dir>/fleet.json (fsynced); load_cache() gives what a
//   node starts from when etcd is unreachable at start. While etcd is
//   unreachable nothing changes: the node keeps steering as last applied.
// * Rollback (confirm_s > 0): after applying a fleet policy the agent checks
//   every second for confirm_s (fleet/logic.h rollback_reason()); on a reason
//   it re-applies the previous policy (fleet or file), reports
//   "rolled-back: <reason>" and does not re-apply that key@revision.
// * Status: written at most once per second on a change of state, figures at
//   most every status_figures_s; the key lives under the lease (status_ttl_s)
//   and so disappears with the node.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "controller/core.h"
#include "controller/runtime.h"
#include "controller/service.h"
#include "fleet/etcd_client.h"
#include "fleet/logic.h"

namespace pathsteer::fleet {

// The node side, on the loop thread.
class FleetSink {
 public:
  virtual ~FleetSink() = default;
  // Validates and applies (nullopt: no fleet key, the file's policy again).
  virtual Result<void> apply_fleet_policy(const std::optional<FleetPolicyText>& policy) = 0;
  virtual void set_fleet_intents(std::vector<Intent> intents) = 0;
  virtual StatusSnapshot snapshot() const = 0;

 protected:
  FleetSink() = default;
  FleetSink(const FleetSink&) = default;
  FleetSink& operator=(const FleetSink&) = default;
};

// What <state-dir>/fleet.json holds.
struct FleetCache {
  std::optional<FleetPolicyText> policy;  // the last applied fleet policy
  std::vector<Intent> intents;            // the fleet intents that selected this node
  std::string refused_origin;             // rolled back: not applied again
};
// nullopt when there is no cache; an unreadable or corrupt one is logged and ignored.
std::optional<FleetCache> load_cache(const std::string& state_dir);
Result<void> save_cache(const std::string& state_dir, const FleetCache& cache);

// The status/<node> value's two parts (pure): `state` changes rarely and is
// written within a second; `figures` (rtt, jitter, loss) at most every
// status_figures_s.
struct NodeStatus {
  std::string state;    // JSON
  std::string figures;  // JSON
  size_t uplinks = 0, up = 0, down = 0;
};
struct AgentReport {
  std::string policy_state;  // file | applied | rejected | rolled-back | cached
  std::vector<std::string> policy_errors;
  std::string rollback;  // none | watching | confirmed | rolled-back
  std::string rollback_reason;
  bool etcd_reachable = false;
};
NodeStatus node_status(const std::string& node, const std::vector<std::string>& groups,
                       const StatusSnapshot& s, const AgentReport& report);

class FleetAgent {
 public:
  struct Options {
    FleetSpec spec;                          // node filled in
    std::string state_dir;                   // empty: no cache (the bench)
    std::string user, password;              // from the token file
    std::optional<FleetCache> started_from;  // what the node started with
  };

  FleetAgent(Options options, Runtime& rt, std::function<void(std::function<void()>)> post,
             FleetSink& sink);
  ~FleetAgent();  // on the loop thread: stops and joins the threads
  FleetAgent(const FleetAgent&) = delete;
  FleetAgent& operator=(const FleetAgent&) = delete;

  Result<void> start();
  const AgentReport& report() const { return report_; }
  int64_t applied_revision() const { return applied_revision_; }

 private:
  struct Shared;  // what the threads and the loop exchange, under a mutex

  void watcher_main();
  void session_main();
  bool wait_stop(std::chrono::milliseconds d);  // true: stopping

  // Loop thread.
  void on_list(RangeResult r);
  void on_watch(WatchResponse w);
  void on_reachable(bool reachable);
  void recompute();
  void update_intents();
  void tick();
  void save();

  Options opts_;
  KeyLayout keys_;
  Runtime& rt_;
  std::function<void(std::function<void()>)> post_;
  FleetSink& sink_;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);

  // Threads.
  std::unique_ptr<EtcdClient> watch_client_, session_client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::optional<std::string> pending_status_;  // to write (session thread takes it)
  bool status_written_ = false;                // the key exists under the current lease
  std::thread watcher_, session_;

  // Loop thread.
  Mirror mirror_;
  WatchCursor cursor_;                      // watcher thread only
  std::optional<FleetPolicyText> applied_;  // the fleet policy in force
  int64_t applied_revision_ = 0;
  std::string last_tried_origin_;
  std::string refused_origin_;
  std::vector<Intent> intents_;
  std::map<std::string, int64_t> first_seen_ms_;  // fleet intents without created_ms
  AgentReport report_;
  StatusThrottle throttle_;
  struct Confirm {
    std::optional<FleetPolicyText> previous;
    bool previous_had_uplink = false;
    bool previous_had_etcd = false;
    Runtime::SteadyTime deadline;
    std::string origin;
  };
  std::optional<Confirm> confirm_;
  std::optional<Runtime::TimerId> tick_timer_;
};

}  // namespace pathsteer::fleet
