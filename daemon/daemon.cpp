#include "daemon/daemon.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "common/log.h"

namespace pathsteer {

namespace {

// The fleet's view of the controller: the agent calls it on the loop thread.
class ControllerSink final : public fleet::FleetSink {
 public:
  ControllerSink(Controller& c, std::string node) : c_(c), node_(std::move(node)) {}
  Result<void> apply_fleet_policy(const std::optional<FleetPolicyText>& policy) override {
    return c_.set_fleet_policy(policy, Caller{.kind = Caller::Kind::kFleet, .name = node_});
  }
  void set_fleet_intents(std::vector<Intent> intents) override {
    c_.set_fleet_intents(std::move(intents), Caller{.kind = Caller::Kind::kFleet, .name = node_});
  }
  StatusSnapshot snapshot() const override { return c_.status(); }

 private:
  Controller& c_;
  std::string node_;
};

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  return buf;
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(DaemonOptions opts, Policy policy) {
  std::unique_ptr<Daemon> d(new Daemon(std::move(opts)));
  if (auto r = d->start(std::move(policy)); !r)
    return r.take_error();
  return d;
}

Daemon::~Daemon() = default;

// The signals the loop handles, blocked first of all: a SIGTERM during start-up (BPF load,
// the first plan) then waits for the loop instead of killing the process, and every
// thread started from here on (conntrack, the data plane's grace periods, the API's I/O)
// inherits the mask, so the kernel cannot deliver one to a thread with the default action.
sigset_t Daemon::handled_signals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  return mask;
}

Result<void> Daemon::start(Policy policy) {
  const sigset_t mask = handled_signals();
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
    return system_error("sigprocmask", errno);
  if (!opts_.token_file.empty()) {
    auto token = read_token_file(opts_.token_file);
    if (!token)
      return token.take_error();
    token_ = *token;
  }
  state_ = std::make_unique<StateDir>(opts_.state_dir);
  if (auto n = SystemdNotifier::from_environment(); n)
    notifier_ = std::move(*n);
  else
    PS_LOG(kError) << "systemd notification: " << n.error().to_string();

  auto loop = EventLoop::create();
  if (!loop)
    return loop.take_error();
  loop_ = std::move(*loop);
  if (opts_.loop_slow_ms > 0)
    loop_->set_slow_log_threshold(std::chrono::milliseconds(opts_.loop_slow_ms));
  auto runtime = LoopRuntime::create(*loop_);
  if (!runtime)
    return runtime.take_error();
  runtime_ = std::move(*runtime);
  conntrack_ = std::make_unique<ConntrackWorker>(*loop_);

  auto nl = NetlinkSocket::open();
  if (!nl)
    return nl.take_error();
  nl_.emplace(std::move(*nl));
  auto kernel = KernelObserver::open(*loop_, *runtime_, *nl_, opts_.netlink_rcvbuf);
  if (!kernel)
    return kernel.take_error();
  kernel_ = std::move(*kernel);

  auto dp = Datapath::open(opts_.pin_dir);
  if (!dp)
    return dp.take_error();
  datapath_ = std::move(*dp);

  // The prober reports from loop callbacks only, after the controller exists.
  prober_ = std::make_unique<Prober>(
      *loop_, [this](const std::string& path, const UplinkHealth& h, bool state_changed) {
        if (controller_)
          controller_->on_probe_report(path, h, state_changed);
      });
  programmer_ = std::make_unique<Programmer>(
      *runtime_, *datapath_, *nl_, [this](const std::string& uplink, ConntrackFilter filter) {
        conntrack_->submit(
            uplink, std::move(filter), [uplink](const Result<ConntrackFlushReport>& report) {
              if (!report) {
                PS_LOG(kError) << "conntrack cleanup for uplink " << uplink << ": "
                               << report.error().to_string();
                return;
              }
              PS_LOG(kInfo) << "conntrack: deleted " << report->deleted << " of "
                            << report->examined << " entries NAT'ed through uplink " << uplink
                            << (report->failed ? " (" + std::to_string(report->failed) + " failed)"
                                               : "");
            });
      });
  policy_file_ = std::make_unique<PolicyFile>(opts_.policy_path);
  controller_ = std::make_unique<Controller>(
      Controller::Options{.version = PATHSTEER_VERSION,
                          .overruns = [this] { return kernel_->overruns(); }},
      CoreParts{.runtime = *runtime_,
                .kernel = kernel_->view(),
                .prober = *prober_,
                .programmer = *programmer_,
                .state = *state_,
                .policy_source = *policy_file_});
  controller_->set_hooks(Controller::Hooks{
      .reloading =
          [this] {
            notify("RELOADING=1\nMONOTONIC_USEC=" +
                   std::to_string(SystemdNotifier::monotonic_usec()));
          },
      .ready = [this] { notify("READY=1\nSTATUS=" + controller_->status_line()); }});
  auto text = policy_file_->read();
  // A fleet node starts from its cached fleet policy, so a restart without
  // etcd steers as before it (DESIGN §13).
  std::optional<fleet::FleetCache> cache;
  std::optional<FleetPolicyText> start_fleet_text;
  if (policy.fleet) {
    if (policy.fleet->node.empty())
      policy.fleet->node = host_name();
    cache = fleet::load_cache(opts_.state_dir);
    if (cache && cache->policy) {
      auto cached = parse_policy(cache->policy->text, cache->policy->origin,
                                 directory_of(policy_file_->path()));
      if (cached && !cached->fleet) {
        cached->fleet = policy.fleet;
        policy = std::move(*cached);
        start_fleet_text = cache->policy;
        PS_LOG(kInfo) << "fleet: starting from the cached " << cache->policy->origin;
      } else {
        PS_LOG(kError) << "fleet: the cached policy " << cache->policy->origin
                       << " is not valid here; starting from the file";
        cache->policy.reset();
      }
    }
  }
  const std::optional<FleetSpec> fleet_spec = policy.fleet;
  if (auto r = controller_->start(std::move(policy), text ? *text : "", start_fleet_text); !r)
    return r;
  if (fleet_spec) {
    if (cache && !cache->intents.empty())
      controller_->set_fleet_intents(
          cache->intents, Caller{.kind = Caller::Kind::kFleet, .name = fleet_spec->node});
    if (auto r = start_fleet(cache); !r)
      return r;
  }
  kernel_->set_listener([this](const KernelDelta& d) { controller_->on_kernel_change(d); });
  policy_file_->watch(*loop_, *runtime_, [this](const PolicyFile::Settled& s) {
    if (s.gone) {
      controller_->policy_file_gone();
    } else {
      // A prefix file changed: parse again even if the policy's text is the same.
      controller_->reload(/*file_changed=*/!s.prefix_file_changed,
                          Caller{.kind = Caller::Kind::kFile});
    }
  });
  if (auto r = watch_signals(); !r)
    return r;

  ApiOptions api_options{.token = token_,
                         .tls_cert = opts_.tls_cert,
                         .tls_key = opts_.tls_key,
                         .insecure_http = opts_.insecure_http};
  if (!opts_.listen.empty())
    api_options.listen = opts_.listen;
  auto api = ApiServer::start(std::move(api_options), *loop_, *controller_);
  if (!api)
    return api.take_error();
  api_ = std::move(*api);
  return ok();
}

Result<void> Daemon::start_fleet(const std::optional<fleet::FleetCache>& cache) {
  const FleetSpec& spec = *controller_->policy_in_force().fleet;
  fleet::FleetAgent::Options o{.spec = spec, .state_dir = opts_.state_dir, .started_from = cache};
  if (!spec.token_file.empty()) {
    auto token = read_token_file(spec.token_file);
    if (!token)
      return token.take_error();
    auto colon = token->find(':');
    if (colon == std::string::npos || colon == 0)
      return policy_error("fleet.token_file " + spec.token_file +
                          ": expected one line USER:PASSWORD for etcd");
    o.user = token->substr(0, colon);
    o.password = token->substr(colon + 1);
  }
  fleet_sink_ = std::make_unique<ControllerSink>(*controller_, spec.node);
  fleet_ = std::make_unique<fleet::FleetAgent>(
      std::move(o), *runtime_, [this](std::function<void()> fn) { loop_->post(std::move(fn)); },
      *fleet_sink_);
  return fleet_->start();
}

// Signals that came during start-up are pending: the signalfd reports them at once.
Result<void> Daemon::watch_signals() {
  const sigset_t mask = handled_signals();
  signal_fd_ = Fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid())
    return system_error("signalfd", errno);
  return loop_->add_fd(signal_fd_.get(), EPOLLIN, [this](uint32_t) { on_signal(); });
}

void Daemon::on_signal() {
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGHUP) {
      controller_->reload(/*file_changed=*/false, Caller{.kind = Caller::Kind::kSignal});
    } else {
      PS_LOG(kInfo) << "signal " << si.ssi_signo << ": stopping";
      notify("STOPPING=1");
      loop_->stop();
    }
  }
}

void Daemon::notify(const std::string& state) const {
  if (auto r = notifier_.send(state); !r)
    PS_LOG(kWarn) << "systemd notification: " << r.error().to_string();
}

Result<void> Daemon::run() {
  PS_LOG(kInfo) << "pathsteerd " << PATHSTEER_VERSION << " running policy " << opts_.policy_path
                << " (generation " << controller_->generation() << ")";
  // start() has programmed the first plan (data plane, classifier, rules and
  // routes) and the API listens: that is "ready" for the service manager.
  notify("READY=1\nSTATUS=" + controller_->status_line());
  if (auto period = SystemdNotifier::watchdog_period()) {
    if (auto t = start_watchdog(*loop_, notifier_, *period); !t)
      PS_LOG(kError) << "systemd watchdog: " << t.error().to_string();
  }
  auto r = loop_->run();
  api_.reset();
  fleet_.reset();
  controller_->persist();
  if (opts_.flush_on_exit)
    controller_->flush_owned_state();
  else
    PS_LOG(kInfo) << "stopped; the data plane and owned rules stay as last planned";
  return r;
}

}  // namespace pathsteer
