// pathsteerd: wires policy, planner, netlink, probes, the data plane and the
// REST API around one EventLoop (DESIGN §1).
//
// Threading: everything here runs on the loop thread, except HttpServer's
// workers, which only post() to the loop. Lifecycle: create() does every
// fallible start-up step and returns an error naming what failed; run()
// programs the first plan, then serves until SIGTERM/SIGINT. SIGHUP reloads
// the policy (an invalid one is rejected whole and the running one stays).
// On exit the data plane and owned kernel state stay as last planned (hitless
// restart) unless flush_on_exit.
//
// Planning: every input change (health, links, routes, reload) re-plans at
// once. The strategies also need the probes' figures (rtt/jitter/loss), which
// change without a health callback, so the daemon re-plans every smallest
// health interval among the wans and overlays with probes, and once more at the plan's
// next_plan_at (a hold-down or latency sustain running out). Those timed
// re-plans touch the data plane and the kernel only when the plan changed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/http.h"
#include "bpf/datapath.h"
#include "common/event_loop.h"
#include "common/fd.h"
#include "common/sd_notify.h"
#include "controller/history.h"
#include "controller/intents.h"
#include "controller/planner.h"
#include "controller/policy.h"
#include "controller/uplink_ids.h"
#include "netlink/conntrack.h"
#include "netlink/reconcile.h"
#include "netlink/socket.h"
#include "netlink/sync.h"
#include "netlink/types.h"
#include "netlink/watcher.h"
#include "probes/prober.h"

namespace pathsteer {

struct DaemonOptions {
  std::string policy_path;
  std::string state_dir = "/var/lib/pathsteer";
  std::string pin_dir = "/sys/fs/bpf/pathsteer";
  std::string listen = "127.0.0.1:9370";
  std::string token_file;
  bool flush_on_exit = false;
  int netlink_rcvbuf = 4 << 20;  // the event socket's receive buffer (tests shrink it)
  int loop_slow_ms = 0;          // > 0: log every loop callback that runs longer
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> create(DaemonOptions opts, Policy policy);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  Result<void> run();

 private:
  explicit Daemon(DaemonOptions opts);

  Result<void> start(Policy policy);
  Result<void> adopt_policy(Policy policy);
  // Plan, program the data plane, reconcile the kernel. A timed re-plan
  // (`timed`) skips the data plane and the sync state machine when the plan's
  // datapath, rules and routes are what they were (no syscalls, no dump).
  void apply(bool timed = false);
  // What the planner needs, from the observed kernel, the probes and the intents.
  PlanInput plan_input(const Policy& policy, const std::map<std::string, uint32_t>& ids) const;
  void resolve_interfaces(const Policy& policy, DesiredState& plan) const;
  void arm_replan_timer();     // the periodic metrics re-plan, per policy
  void arm_next_plan_timer();  // the single-shot re-plan at desired_.next_plan_at
  void schedule_reconcile();
  void run_sync();  // one reconcile pass if due; arms the retry timer
  Result<void> resync_from_kernel();
  void on_netlink_readable();
  void on_link(const Link& link, bool deleted);
  void on_address(const Address& addr, bool deleted);
  void on_uplink_health(const std::string& uplink, const UplinkHealth& h);
  void flush_conntrack(const std::string& uplink);
  void request_resync();
  void on_route(const Route& route, bool deleted, bool replaced);
  void on_signal();
  // Reloads the policy file; `file_changed`: from the file watch (skipped when
  // the content is what is in force), else SIGHUP.
  void reload(bool file_changed);
  // Validates, plans and applies a policy text; returns its errors (empty: in
  // force). A rejected text leaves the running policy in force.
  std::vector<PolicyError> reload_text(const std::string& text);
  void watch_policy_file();
  void on_policy_dir_event();
  void attach_lan_interfaces();
  void shutdown();
  // Health verdicts survive a restart in <state-dir>/health.json: until the prober's
  // first verdict on an uplink, the new daemon plans with the old one's (else a class
  // that had failed over off a dead uplink would go back to it for a detection time).
  void load_remembered_health();
  HealthState planning_state(const std::string& path, const UplinkHealth* h) const;
  void save_health();
  void load_plan_memory();                // <state-dir>/planner.json (controller/plan_memory.h)
  void save_plan_memory();                // when the part of plan_memory_ that is persisted changed
  void notify(const std::string& state);  // to systemd (sd_notify); errors are logged
  void notify_reloading();                // RELOADING=1 with MONOTONIC_USEC
  std::string notify_status() const;      // the STATUS= line for systemctl status
  // REST API (controller/daemon_api.cpp).
  void handle_http(const HttpRequest& req, HttpServer::Reply reply);
  bool authorized(const HttpRequest& req) const;
  HttpResponse post_intent(const HttpRequest& req);
  HttpResponse delete_intent(const std::string& id);
  HttpResponse list_intents() const;
  HttpResponse post_explain(const HttpRequest& req);
  HttpResponse get_policy() const;
  HttpResponse put_policy(const HttpRequest& req);
  HttpResponse wan_history(const std::string& name, const HttpRequest& req) const;
  std::string metrics_text() const;
  void record_history();  // one sample per uplink (kHistoryInterval timer)
  // Intents: load at start, expire on time, re-plan on every change.
  void load_intents();
  void intents_changed();  // save, re-plan, re-arm the expiry timer
  void arm_intent_timer();
  std::string status_json() const;
  OwnedSlice owned_slice() const;
  static OwnedSlice slice_of(const Ownership& own);
  void release_slice(const Ownership& old);  // after a reload moved our slice
  const Wan* wan_by_interface(const std::string& ifname) const;
  // Overlays: the prober watches them like wans (by name), the planner gets
  // their views, status shows them.
  std::optional<std::string> probed_by_interface(const std::string& ifname) const;
  UplinkProbeConfig probe_config(const std::string& name, const std::string& ifname,
                                 const HealthSpec& health,
                                 const std::vector<ProbeSpec>& probes) const;
  void add_overlay_probes(std::vector<UplinkProbeConfig>& cfg) const;
  void set_overlay_carriers();
  std::map<std::string, OverlayView> overlay_views(const Policy& policy) const;
  nlohmann::json overlays_json() const;

  DaemonOptions opts_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ConntrackWorker> conntrack_;  // before loop_ goes: it posts to it
  std::optional<NetlinkSocket> nl_;
  std::optional<Watcher> watcher_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<HttpServer> http_;
  Fd signal_fd_;

  Policy policy_;
  uint64_t generation_ = 0;
  UplinkIds ids_{1};
  std::string token_;
  std::chrono::steady_clock::time_point started_at_;

  // Observed kernel state (kept current by the watcher).
  std::map<int, Link> links_;               // by ifindex
  std::vector<Address> addresses_;          // every interface's, for conntrack scoping
  std::vector<Route> main_default_routes_;  // main-table default routes, for `gateway: auto`
  std::set<int> attached_;                  // LAN ifindexes carrying our classifier

  DesiredState desired_;
  bool have_plan_ = false;
  PlannerMemory plan_memory_;                          // the last plan's; kept across reloads
  std::optional<PlannerMemory> saved_plan_memory_;     // what planner.json holds (runs cleared)
  std::optional<EventLoop::TimerId> replan_timer_;     // periodic, for the figures
  std::optional<EventLoop::TimerId> next_plan_timer_;  // single-shot, at next_plan_at
  std::optional<PlanTime> next_plan_armed_at_;         // the deadline next_plan_timer_ has
  std::vector<std::string> dataplane_errors_;          // of the last apply()
  SyncStateMachine sync_;                              // the kernel's rules and routes
  std::optional<EventLoop::TimerId> sync_timer_;
  uint64_t overruns_ = 0;
  std::optional<EventLoop::TimerId> reconcile_timer_;
  std::optional<EventLoop::TimerId> resync_timer_;
  std::chrono::steady_clock::time_point last_resync_{};
  std::map<std::string, HealthState> last_health_;        // for down transitions (conntrack)
  std::map<std::string, HealthState> remembered_health_;  // the last run's, until a verdict
  std::string policy_text_;                               // the text in force
  std::vector<std::string> policy_errors_;                // of the last rejected reload
  uint64_t policy_rejections_ = 0;                        // reloads rejected so far
  Fd inotify_;
  std::string policy_basename_;
  std::optional<EventLoop::TimerId> reload_debounce_;
  History history_;
  std::optional<EventLoop::TimerId> history_timer_;
  IntentStore intents_;
  std::optional<EventLoop::TimerId> intent_timer_;
  std::string intents_error_;  // the last failure to persist intents ("" if none)

  // State-file errors (by file), shown in /v1/status "errors" until written again.
  std::map<std::string, std::string> state_errors_;
  SystemdNotifier notifier_;  // inactive outside systemd (no $NOTIFY_SOCKET)
  std::optional<EventLoop::TimerId> watchdog_timer_;
};

}  // namespace pathsteer
