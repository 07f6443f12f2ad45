// pathsteerd's wiring (DESIGN §1): the owners, built around one EventLoop
// and connected, and nothing else.
//
//   KernelObserver ─ KernelDelta ──► Controller ◄── probe reports ── Prober
//   PolicyFile (watch) ── settled ─► Controller ◄── SIGHUP
//   Controller ──► Programmer ──► Datapath (DataplanePort), NetlinkSocket
//                                 (KernelPort), ConntrackWorker
//   ApiServer (HTTP, on cpprest threads, posting to the loop) ──► ControlService
//   FleetAgent (with a `fleet:` block; etcd on its own threads, posting to the
//   loop) ──► Controller::set_fleet_policy / set_fleet_intents, status ──► etcd
//   systemd (sd_notify): READY=1 after the first plan and after each reload,
//   RELOADING=1 before it, WATCHDOG=1, STOPPING=1.
//
// Lifecycle: create() does every fallible start-up step and returns an error
// naming what failed; run() serves until SIGTERM/SIGINT. On exit the data
// plane and owned kernel state stay as last planned (hitless restart) unless
// flush_on_exit.
#pragma once

#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/server.h"
#include "bpf/datapath.h"
#include "common/event_loop.h"
#include "common/fd.h"
#include "common/sd_notify.h"
#include "controller/core.h"
#include "controller/kernel_view.h"
#include "controller/policy_file.h"
#include "controller/programmer.h"
#include "controller/runtime.h"
#include "controller/state_dir.h"
#include "fleet/agent.h"
#include "netlink/conntrack.h"
#include "netlink/socket.h"
#include "probes/prober.h"

namespace pathsteer {

struct DaemonOptions {
  std::string policy_path;
  std::string state_dir = "/var/lib/pathsteer";
  std::string pin_dir = "/sys/fs/bpf/pathsteer";
  std::vector<std::string> listen;  // empty: 127.0.0.1:9370
  std::string token_file;
  std::string tls_cert, tls_key;
  bool insecure_http = false;
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
  explicit Daemon(DaemonOptions opts) : opts_(std::move(opts)) {}
  Result<void> start(Policy policy);
  Result<void> start_fleet(const std::optional<fleet::FleetCache>& cache);
  static sigset_t handled_signals();
  Result<void> watch_signals();
  void on_signal();
  void notify(const std::string& state) const;

  // Declaration order is construction order; destruction runs backwards, so
  // the API stops first and the loop goes last.
  DaemonOptions opts_;
  std::string token_;
  SystemdNotifier notifier_;  // inactive outside systemd (no $NOTIFY_SOCKET)
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<LoopRuntime> runtime_;
  std::unique_ptr<ConntrackWorker> conntrack_;  // posts to the loop
  std::optional<NetlinkSocket> nl_;
  std::unique_ptr<KernelObserver> kernel_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<StateDir> state_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<Programmer> programmer_;
  std::unique_ptr<PolicyFile> policy_file_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<fleet::FleetSink> fleet_sink_;
  std::unique_ptr<fleet::FleetAgent> fleet_;
  Fd signal_fd_;
};

}  // namespace pathsteer
