#include "controller/daemon.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log.h"
#include "controller/plan_memory.h"
#include "netlink/conntrack.h"
#include "netlink/gateway.h"

namespace pathsteer {

namespace {

constexpr auto kReconcileDebounce = std::chrono::milliseconds(20);
// After an event-socket overrun the full dump is rate-limited: a storm of
// changes that overruns the socket again and again costs at most one dump per
// interval, and the last overrun is always followed by one.
constexpr auto kResyncMinInterval = std::chrono::milliseconds(200);
// How long the policy file must be quiet after a change before it is read.
constexpr auto kPolicySettle = std::chrono::milliseconds(200);

Result<std::string> read_token_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return system_error("--token-file " + path, errno);
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return policy_error("--token-file " + path +
                        " is accessible by group or others; chmod 600 it first");
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty())
    return policy_error("--token-file " + path + " is empty");
  return token;
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    return system_error("creating state directory " + path, errno);
  }
  return ok();
}

Result<std::string> read_policy_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return system_error("reading policy " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return system_error("reading policy " + path, EIO);
  return ss.str();
}

// Replaces path's content by rename, without fsync: the event loop must not wait
// for the disk on every health change, and losing the last write only means a
// restart plans with an older verdict until the probes give theirs.
Result<void> replace_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd.valid())
    return system_error("writing " + tmp, errno);
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return system_error("writing " + tmp, errno == 0 ? EIO : errno);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return system_error("rename to " + path, errno);
  return ok();
}

// A state file's JSON (discarded if it does not parse); nullopt if there is no
// such file (first start, or nothing saved).
std::optional<nlohmann::json> read_state_json(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

// What the planner sees of a path's probes (UplinkView and OverlayView alike).
// `state` is the verdict to plan with (the prober's, or one remembered across
// a restart until the prober has its own).
template <typename View>
void fill_health(View& v, const UplinkHealth* h, HealthState state) {
  v.usable = state != HealthState::kDown;
  if (h == nullptr)
    return;
  v.degraded = state == HealthState::kDegraded;
  if (h->received > 0) {  // before the first reply the figures are not measurements
    v.rtt_ms = h->rtt_ms;
    v.jitter_ms = h->jitter_ms;
    v.loss_pct = h->loss_pct;
  }
}

const char* health_name(const UplinkHealth* h) {
  return h == nullptr ? "unknown" : to_string(h->state);
}

}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)) {}

Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::create(DaemonOptions opts, Policy policy) {
  std::unique_ptr<Daemon> d(new Daemon(std::move(opts)));
  auto r = d->start(std::move(policy));
  if (!r)
    return r.take_error();
  return d;
}

Result<void> Daemon::start(Policy policy) {
  started_at_ = EventLoop::now();
  if (!opts_.token_file.empty()) {
    auto token = read_token_file(opts_.token_file);
    if (!token)
      return token.take_error();
    token_ = *token;
  }
  if (auto r = make_dir(opts_.state_dir); !r) {
    // Steering does not need the state directory; only what it keeps across
    // restarts (the uplink numbering) is at risk, so say so loudly and go on.
    state_errors_["dir"] = "state directory: " + r.error().to_string();
    PS_LOG(kError) << state_errors_["dir"] << "; steering anyway, nothing will be persisted";
  }
  if (auto n = SystemdNotifier::from_environment(); n) {
    notifier_ = std::move(*n);
  } else {
    PS_LOG(kError) << "systemd notification: " << n.error().to_string();
  }

  auto loop = EventLoop::create();
  if (!loop)
    return loop.take_error();
  loop_ = std::move(*loop);
  if (opts_.loop_slow_ms > 0)
    loop_->set_slow_log_threshold(std::chrono::milliseconds(opts_.loop_slow_ms));
  conntrack_ = std::make_unique<ConntrackWorker>(*loop_);

  // Subscribe before dumping so that no change falls between the two.
  auto watcher = Watcher::open(opts_.netlink_rcvbuf);
  if (!watcher)
    return watcher.take_error();
  watcher_.emplace(std::move(*watcher));
  auto nl = NetlinkSocket::open();
  if (!nl)
    return nl.take_error();
  nl_.emplace(std::move(*nl));
  if (auto r = resync_from_kernel(); !r)
    return r;

  auto dp = Datapath::open(opts_.pin_dir);
  if (!dp)
    return dp.take_error();
  datapath_ = std::move(*dp);

  load_intents();

  prober_ = std::make_unique<Prober>(
      *loop_, [this](const std::string& uplink, const UplinkHealth& h, bool changed) {
        if (changed)
          on_uplink_health(uplink, h);
      });

  if (auto r = adopt_policy(std::move(policy)); !r)
    return r;
  if (auto text = read_policy_text(opts_.policy_path))
    policy_text_ = *text;
  watch_policy_file();
  if (auto t = loop_->add_timer(kHistoryInterval, kHistoryInterval, [this] { record_history(); }))
    history_timer_ = *t;
  load_remembered_health();
  load_plan_memory();

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
    return system_error("sigprocmask", errno);
  signal_fd_ = Fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid())
    return system_error("signalfd", errno);
  if (auto r = loop_->add_fd(signal_fd_.get(), EPOLLIN, [this](uint32_t) { on_signal(); }); !r) {
    return r;
  }
  if (auto r = loop_->add_fd(watcher_->fd(), EPOLLIN, [this](uint32_t) { on_netlink_readable(); });
      !r) {
    return r;
  }

  apply();

  auto http = HttpServer::start(opts_.listen, *loop_,
                                [this](const HttpRequest& req, HttpServer::Reply reply) {
                                  handle_http(req, std::move(reply));
                                });
  if (!http)
    return http.take_error();
  http_ = std::move(*http);
  return ok();
}

Result<void> Daemon::adopt_policy(Policy policy) {
  UplinkIds ids(max_uplink_id(policy.ownership), policy.ownership.table_base);
  std::string ids_path = opts_.state_dir + "/uplink-ids.json";
  if (auto r = ids.load(ids_path); !r) {
    // An unreadable state directory at start: number afresh and say so (a
    // corrupt file or a reload stays an error: renumbering would move marks).
    if (r.error().kind != ErrorKind::kSystem || !ids_.ids().empty())
      return r;
    state_errors_["ids-read"] = "state directory: " + r.error().to_string();
    PS_LOG(kError) << state_errors_["ids-read"] << "; numbering uplinks afresh";
  }
  std::vector<std::string> names;
  for (const auto& w : policy.wans)
    names.push_back(w.name);
  for (const auto& o : policy.overlays)
    names.push_back(o.name);
  if (auto r = ids.assign(names); !r)
    return r;
  if (auto r = ids.save(ids_path); !r) {
    // Steering goes on; only the numbering's persistence is at risk.
    state_errors_["ids"] = "cannot persist uplink numbers: " + r.error().to_string();
    PS_LOG(kError) << state_errors_["ids"];
  } else {
    state_errors_.erase("ids");
  }
  ids_ = std::move(ids);
  policy_ = std::move(policy);
  ++generation_;

  std::vector<UplinkProbeConfig> probe_cfg;
  for (const auto& w : policy_.wans)
    probe_cfg.push_back(probe_config(w.name, w.interface, w.health, w.probes));
  add_overlay_probes(probe_cfg);
  if (auto r = prober_->configure(probe_cfg); !r)
    return r;
  for (const auto& w : policy_.wans) {
    for (const auto& [ifindex, link] : links_) {
      if (link.name == w.interface)
        prober_->set_carrier(w.name, link.carrier && link.admin_up);
    }
  }
  set_overlay_carriers();
  arm_replan_timer();
  return ok();
}

void Daemon::record_history() {
  int64_t now_ms = to_unix_ms(WallClock::now());
  std::map<std::string, bool> keep;
  for (const auto& w : policy_.wans) {
    keep[w.name] = true;
    const UplinkHealth* h = prober_->health(w.name);
    HealthSample s;
    s.t_ms = now_ms;
    s.state = health_name(h);
    if (h != nullptr && h->received > 0) {
      s.rtt_ms = h->rtt_ms;
      s.jitter_ms = h->jitter_ms;
      s.loss_pct = h->loss_pct;
    }
    history_.record(w.name, std::move(s));
  }
  history_.retain(keep);
}

void Daemon::load_intents() {
  intents_ = IntentStore(opts_.state_dir + "/intents.json");
  if (auto r = intents_.load(); !r) {
    // Keep the evidence rather than overwrite it with the next save.
    std::string aside = intents_.path() + ".corrupt";
    ::rename(intents_.path().c_str(), aside.c_str());
    PS_LOG(kError) << r.error().to_string() << "; moved to " << aside
                   << ", starting without intents";
    intents_ = IntentStore(opts_.state_dir + "/intents.json");
  }
  auto expired = intents_.expire(WallClock::now());
  for (const auto& it : expired)
    PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass
                  << " expired while stopped";
  if (!expired.empty()) {
    if (auto r = intents_.save(); !r)
      PS_LOG(kError) << "saving intents: " << r.error().to_string();
  }
  for (const auto& it : intents_.intents())
    PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " restored";
  arm_intent_timer();
}

void Daemon::intents_changed() {
  if (auto r = intents_.save(); !r) {
    intents_error_ = "saving intents: " + r.error().to_string();
    PS_LOG(kError) << intents_error_ << " (they apply, but a restart would lose them)";
  } else {
    intents_error_.clear();
  }
  arm_intent_timer();
  apply();
}

void Daemon::arm_intent_timer() {
  if (intent_timer_) {
    loop_->cancel_timer(*intent_timer_);
    intent_timer_.reset();
  }
  auto next = intents_.next_expiry();
  if (!next)
    return;
  // Wall-clock deadline, steady-clock timer: re-checked on firing, so a clock
  // step only delays or hastens the check, never loses an expiry.
  auto delay = std::max(EventLoop::Duration(0),
                        std::chrono::duration_cast<EventLoop::Duration>(*next - WallClock::now()));
  auto t = loop_->add_timer(delay, {}, [this] {
    intent_timer_.reset();
    auto gone = intents_.expire(WallClock::now());
    for (const auto& it : gone)
      PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " expired";
    if (gone.empty())
      arm_intent_timer();
    else
      intents_changed();
  });
  if (t)
    intent_timer_ = *t;
  else
    PS_LOG(kError) << "intent expiry timer: " << t.error().to_string();
}

Result<void> Daemon::resync_from_kernel() {
  auto links = nl_->dump_links();
  if (!links)
    return links.take_error();
  links_.clear();
  for (auto& l : *links)
    links_[l.ifindex] = l;
  auto addrs = nl_->dump_addresses(AF_UNSPEC);
  if (!addrs)
    return addrs.take_error();
  addresses_ = std::move(*addrs);
  main_default_routes_.clear();
  for (int family : {AF_INET, AF_INET6}) {
    auto routes = nl_->dump_routes(family);
    if (!routes)
      return routes.take_error();
    for (auto& r : *routes) {
      if (r.table == RT_TABLE_MAIN && r.dst.len == 0)
        main_default_routes_.push_back(r);
    }
  }
  return ok();
}

const Wan* Daemon::wan_by_interface(const std::string& ifname) const {
  for (const auto& w : policy_.wans) {
    if (w.interface == ifname)
      return &w;
  }
  return nullptr;
}

OwnedSlice Daemon::owned_slice() const {
  return slice_of(policy_.ownership);
}

OwnedSlice Daemon::slice_of(const Ownership& own) {
  OwnedSlice s;
  s.rule_priority_lo = own.rule_priority_base;
  s.rule_priority_hi = own.rule_priority_base + 1000;
  s.table_lo = own.table_base;
  s.table_hi = own.table_base + 256;
  s.protocol = own.route_protocol;
  return s;
}

PlanInput Daemon::plan_input(const Policy& policy,
                             const std::map<std::string, uint32_t>& ids) const {
  PlanInput in;
  in.policy = &policy;
  in.uplink_ids = &ids;
  for (const auto& w : policy.wans) {
    UplinkView v;
    for (const auto& [ifindex, link] : links_) {
      if (link.name == w.interface) {
        v.ifindex = ifindex;
        v.admin_up = link.admin_up;
      }
    }
    const UplinkHealth* h = prober_->health(w.name);
    fill_health(v, h, planning_state(w.name, h));
    if (v.ifindex != 0) {
      v.learned_gateway4 = find_default_gateway(main_default_routes_, v.ifindex, AF_INET,
                                                policy.ownership.route_protocol);
      v.learned_gateway6 = find_default_gateway(main_default_routes_, v.ifindex, AF_INET6,
                                                policy.ownership.route_protocol);
    }
    in.uplinks[w.name] = v;
  }
  in.overlays = overlay_views(policy);
  in.overrides = intents_.overrides(policy);
  return in;
}

// The verdict to plan a path (uplink or overlay) with: the prober's, or the
// last run's until the prober has one.
HealthState Daemon::planning_state(const std::string& path, const UplinkHealth* h) const {
  HealthState state = h == nullptr ? HealthState::kUnknown : h->state;
  if (auto it = remembered_health_.find(path);
      it != remembered_health_.end() && state == HealthState::kUnknown) {
    return it->second;
  }
  return state;
}

// `iif` names -> ifindexes; a name not present matches nothing until it appears.
void Daemon::resolve_interfaces(const Policy& policy, DesiredState& plan) const {
  for (const auto& cls : policy.classes) {
    for (const auto& entry : cls.match) {
      for (const auto& name : entry.iif) {
        for (const auto& [ifindex, link] : links_) {
          if (link.name == name)
            plan.datapath.interfaces[name] = ifindex;
        }
      }
    }
  }
}

void Daemon::apply(bool timed) {
  PlanInput in = plan_input(policy_, ids_.ids());
  DesiredState next = plan(in, plan_memory_, PlanClock::now());
  plan_memory_ = next.memory;
  save_plan_memory();
  resolve_interfaces(policy_, next);

  for (size_t i = 0; i < next.classes.size(); ++i) {
    const auto& c = next.classes[i];
    const PlannedClass* before = nullptr;
    if (have_plan_ && i < desired_.classes.size() && desired_.classes[i].name == c.name)
      before = &desired_.classes[i];
    if (before == nullptr || before->uplink != c.uplink || before->reason != c.reason) {
      PS_LOG(kInfo) << "class " << c.name << " -> " << c.uplink.value_or("last_resort") << " ("
                    << c.reason << ")";
    }
  }

  for (const auto& o : next.overlays) {
    auto before = std::find_if(desired_.overlays.begin(), desired_.overlays.end(),
                               [&](const PlannedOverlay& p) { return p.name == o.name; });
    if (!have_plan_ || before == desired_.overlays.end() || before->underlay != o.underlay ||
        before->reason != o.reason) {
      PS_LOG(kInfo) << "overlay " << o.name << " rides on " << o.underlay.value_or("nothing")
                    << " (" << o.reason << ")";
    }
  }

  // A timed re-plan that changed nothing the kernel sees costs no syscalls.
  bool dataplane_same =
      have_plan_ && dataplane_errors_.empty() && next.datapath == desired_.datapath;
  bool kernel_same = have_plan_ && next.rules == desired_.rules && next.routes == desired_.routes;
  if (timed && dataplane_same && kernel_same) {
    desired_ = std::move(next);
    arm_next_plan_timer();
    return;
  }

  std::vector<std::string> errors;
  // The data plane first: it is what moves traffic after a failure.
  if (auto r = datapath_->program(next.datapath); !r) {
    errors.push_back("data plane: " + r.error().to_string());
  }
  desired_ = std::move(next);
  have_plan_ = true;
  arm_next_plan_timer();

  // Data-plane and attach errors are ours to report; the kernel's rules and
  // routes are the sync state machine's (it retries failed objects with backoff).
  dataplane_errors_ = std::move(errors);
  attach_lan_interfaces();
  for (const auto& e : dataplane_errors_)
    PS_LOG(kError) << e;
  // An event-driven apply always marks the sync dirty: the event (a link
  // coming up, drift in our slice) may be what a failing object waits for.
  if (!timed || !kernel_same)
    sync_.set_desired(DesiredKernel{.rules = desired_.rules, .routes = desired_.routes});
  run_sync();
}

void Daemon::arm_next_plan_timer() {
  if (next_plan_timer_ && next_plan_armed_at_ == desired_.next_plan_at)
    return;  // timed re-plans mostly keep the same deadline: no new timerfd
  if (next_plan_timer_) {
    loop_->cancel_timer(*next_plan_timer_);
    next_plan_timer_.reset();
  }
  if (!desired_.next_plan_at)
    return;
  auto delay = std::max(EventLoop::Duration(0), std::chrono::duration_cast<EventLoop::Duration>(
                                                    *desired_.next_plan_at - PlanClock::now()));
  auto t = loop_->add_timer(delay, {}, [this] {
    next_plan_timer_.reset();  // one-shot: already gone from the loop
    apply(/*timed=*/true);
  });
  if (t) {
    next_plan_timer_ = *t;
    next_plan_armed_at_ = desired_.next_plan_at;
  } else {
    PS_LOG(kError) << "re-plan timer: " << t.error().to_string();
  }
}

void Daemon::arm_replan_timer() {
  if (replan_timer_) {
    loop_->cancel_timer(*replan_timer_);
    replan_timer_.reset();
  }
  std::optional<uint32_t> interval_ms;
  for (const auto& w : policy_.wans) {
    if (!w.probes.empty() && (!interval_ms || w.health.interval_ms < *interval_ms))
      interval_ms = w.health.interval_ms;
  }
  for (const auto& o : policy_.overlays) {
    if (!o.probes.empty() && (!interval_ms || o.health.interval_ms < *interval_ms))
      interval_ms = o.health.interval_ms;
  }
  if (!interval_ms)
    return;  // no figures to follow: every change comes with a health callback
  auto period =
      std::chrono::duration_cast<EventLoop::Duration>(std::chrono::milliseconds(*interval_ms));
  auto t = loop_->add_timer(period, period, [this] { apply(/*timed=*/true); });
  if (t)
    replan_timer_ = *t;
  else
    PS_LOG(kError) << "periodic re-plan timer: " << t.error().to_string();
}

void Daemon::run_sync() {
  if (sync_timer_) {
    loop_->cancel_timer(*sync_timer_);
    sync_timer_.reset();
  }
  auto now = SyncClock::now();
  if (sync_.needs_run(now)) {
    auto conflicts_before = sync_.conflicts();
    SyncReport report = sync_.run(*nl_, owned_slice(), now);
    if (report.dump_error)
      PS_LOG(kError) << "reading the kernel's rules and routes: " << report.dump_error->to_string();
    for (const auto& f : report.failed)
      PS_LOG(kError) << f.result.error().to_string();
    if (!report.applied.empty()) {
      PS_LOG(kInfo) << "kernel: " << report.applied.size() << " change(s) applied, now "
                    << to_string(report.state);
    }
    if (sync_.conflicts() != conflicts_before) {
      for (const auto& c : sync_.conflicts())
        PS_LOG(kWarn) << "conflict: " << c.what;
    }
  }
  if (auto next = sync_.next_run_at()) {
    auto delay =
        std::max(EventLoop::Duration(0),
                 std::chrono::duration_cast<EventLoop::Duration>(*next - SyncClock::now()));
    auto t = loop_->add_timer(delay, {}, [this] {
      sync_timer_.reset();  // one-shot: already gone from the loop
      run_sync();
    });
    if (t)
      sync_timer_ = *t;
  }
}

void Daemon::schedule_reconcile() {
  if (reconcile_timer_)
    return;
  auto t = loop_->add_timer(kReconcileDebounce, {}, [this] {
    reconcile_timer_.reset();
    apply();
  });
  if (t)
    reconcile_timer_ = *t;
}

void Daemon::attach_lan_interfaces() {
  for (const auto& name : policy_.lan_interfaces) {
    int ifindex = 0;
    for (const auto& [idx, link] : links_) {
      if (link.name == name)
        ifindex = idx;
    }
    if (ifindex == 0) {
      PS_LOG(kDebug) << "LAN interface " << name << " not present yet";
      continue;
    }
    if (attached_.count(ifindex))
      continue;
    if (auto r = datapath_->attach(ifindex); !r) {
      dataplane_errors_.push_back("attaching classifier to " + name + ": " + r.error().to_string());
      continue;
    }
    PS_LOG(kInfo) << "classifier attached to " << name << " (ifindex " << ifindex << ")";
    attached_.insert(ifindex);
  }
}

void Daemon::on_netlink_readable() {
  auto events = watcher_->read_events();
  if (!events) {
    PS_LOG(kError) << "netlink watcher: " << events.error().to_string();
    return;
  }
  bool kernel_touched = false;
  for (const auto& ev : *events) {
    switch (ev.kind) {
      case Event::Kind::kOverrun:
        request_resync();
        break;
      case Event::Kind::kNewLink:
      case Event::Kind::kDelLink:
        on_link(std::get<Link>(ev.object), ev.kind == Event::Kind::kDelLink);
        break;
      case Event::Kind::kNewAddr:
      case Event::Kind::kDelAddr:
        on_address(std::get<Address>(ev.object), ev.kind == Event::Kind::kDelAddr);
        break;
      case Event::Kind::kNewRoute:
      case Event::Kind::kDelRoute: {
        const auto& route = std::get<Route>(ev.object);
        on_route(route, ev.kind == Event::Kind::kDelRoute, (ev.nlmsg_flags & NLM_F_REPLACE) != 0);
        if (route.table == RT_TABLE_MAIN || (route.table >= policy_.ownership.table_base &&
                                             route.table < policy_.ownership.table_base + 256)) {
          kernel_touched = true;
        }
        break;
      }
      case Event::Kind::kNewRule:
      case Event::Kind::kDelRule: {
        const auto& rule = std::get<Rule>(ev.object);
        auto slice = owned_slice();
        if (rule.priority >= slice.rule_priority_lo && rule.priority < slice.rule_priority_hi) {
          kernel_touched = true;
        }
        break;
      }
      default:
        break;
    }
  }
  if (kernel_touched)
    schedule_reconcile();
}

void Daemon::on_link(const Link& link, bool deleted) {
  auto old = links_.find(link.ifindex);
  std::optional<Link> before;
  if (old != links_.end())
    before = old->second;
  // The kernel flushes IPv4 routes via a link that goes admin-down or away
  // without sending RTM_DELROUTE, so forget the learned defaults via it here.
  if (deleted || !link.admin_up) {
    std::erase_if(main_default_routes_, [&](const Route& r) { return r.oif == link.ifindex; });
  }
  if (deleted) {
    links_.erase(link.ifindex);
    attached_.erase(link.ifindex);
    std::erase_if(addresses_, [&](const Address& a) { return a.ifindex == link.ifindex; });
  } else {
    links_[link.ifindex] = link;
  }
  auto usable = [](const std::optional<Link>& l) { return l && l->carrier && l->admin_up; };
  std::optional<Link> after;
  if (!deleted)
    after = link;

  // An uplink's interface may appear, vanish, change carrier or be renamed
  // (to or from the uplink's name): look at both names.
  std::set<std::string> names{link.name};
  if (before)
    names.insert(before->name);
  for (const auto& name : names) {
    std::optional<std::string> probed = probed_by_interface(name);
    if (!probed)
      continue;
    bool was = before && before->name == name && usable(before);
    bool is = after && after->name == name && usable(after);
    bool present_changed = (before && before->name == name) != (after && after->name == name);
    if (was == is && !present_changed)
      continue;
    PS_LOG(kInfo) << "uplink " << *probed << " interface " << name << " (ifindex " << link.ifindex
                  << ")"
                  << (is                                ? " has carrier"
                      : !(after && after->name == name) ? " is gone"
                                                        : " lost carrier");
    prober_->set_carrier(*probed, is);  // calls back on a state change
    schedule_reconcile();
  }
  for (const auto& lan : policy_.lan_interfaces) {
    if (lan == link.name && !deleted && !attached_.count(link.ifindex))
      schedule_reconcile();
  }
}

void Daemon::on_address(const Address& addr, bool deleted) {
  std::erase(addresses_, addr);
  if (!deleted)
    addresses_.push_back(addr);
  // An overlay's table gets routes for the families its interface has addresses of.
  auto link = links_.find(addr.ifindex);
  if (link != links_.end()) {
    for (const auto& o : policy_.overlays) {
      if (o.interface == link->second.name)
        schedule_reconcile();
    }
  }
}

void Daemon::request_resync() {
  ++overruns_;
  if (resync_timer_)
    return;  // one is already due; it will see these changes too
  PS_LOG(kWarn) << "netlink event socket overrun: events were lost; full resync (" << overruns_
                << " overruns so far)";
  auto since = EventLoop::now() - last_resync_;
  auto delay = since >= kResyncMinInterval
                   ? EventLoop::Duration(0)
                   : std::chrono::duration_cast<EventLoop::Duration>(kResyncMinInterval - since);
  auto t = loop_->add_timer(delay, {}, [this] {
    resync_timer_.reset();
    last_resync_ = EventLoop::now();
    if (auto r = resync_from_kernel(); !r) {
      PS_LOG(kError) << "resync after overrun: " << r.error().to_string() << "; retrying";
      request_resync();
      return;
    }
    for (const auto& w : policy_.wans) {
      bool up = false;
      for (const auto& [idx, link] : links_) {
        if (link.name == w.interface)
          up = link.carrier && link.admin_up;
      }
      prober_->set_carrier(w.name, up);
    }
    set_overlay_carriers();
    PS_LOG(kInfo) << "resync after overrun done: " << links_.size() << " links, "
                  << main_default_routes_.size() << " default routes";
    apply();
  });
  if (t)
    resync_timer_ = *t;
}

void Daemon::on_uplink_health(const std::string& uplink, const UplinkHealth& h) {
  PS_LOG(kInfo) << "uplink " << uplink << " is " << to_string(h.state) << " (" << h.reason << ")";
  HealthState before = last_health_.count(uplink) ? last_health_[uplink] : HealthState::kUnknown;
  last_health_[uplink] = h.state;
  if (h.state != HealthState::kUnknown)
    remembered_health_.erase(uplink);  // the prober has its own verdict now
  if (h.state != before)
    save_health();
  apply();  // traffic moves first; conntrack cleanup follows
  if (h.state == HealthState::kDown && before != HealthState::kDown &&
      policy_.conntrack_flush_on_down) {
    flush_conntrack(uplink);
  }
}

void Daemon::on_route(const Route& route, bool deleted, bool replaced) {
  if (route.table != RT_TABLE_MAIN || route.dst.len != 0)
    return;
  // A route's identity in the FIB is (family, table, dst, metric); a replace
  // (DHCP renew, `ip route replace`) swaps the gateway without a delete event.
  auto same_slot = [&](const Route& r) {
    return r.family == route.family && r.priority == route.priority;
  };
  auto same_route = [&](const Route& r) {
    return same_slot(r) && r.oif == route.oif && r.gateway == route.gateway;
  };
  if (replaced) {
    std::erase_if(main_default_routes_, same_slot);
  } else {
    std::erase_if(main_default_routes_, same_route);
  }
  if (!deleted)
    main_default_routes_.push_back(route);
}

// Deletes the conntrack entries NAT'ed through the uplink (reply direction
// addressed to one of its addresses), so their clients reconnect over a live
// uplink at once. Nothing else is touched: never a global flush. The filter
// is built here from the loop's view; the worker thread dumps and deletes.
void Daemon::flush_conntrack(const std::string& uplink) {
  const Wan* w = policy_.find_wan(uplink);
  if (w == nullptr)
    return;
  ConntrackFilter filter;
  for (const auto& [ifindex, link] : links_) {
    if (link.name != w->interface)
      continue;
    for (const auto& a : addresses_) {
      if (a.ifindex == ifindex)
        filter.reply_dst.push_back(a.addr);
    }
  }
  if (filter.reply_dst.empty()) {
    PS_LOG(kInfo) << "uplink " << uplink
                  << " has no addresses left: no conntrack entries to delete";
    return;
  }
  // The table walk takes 10-30 ms of kernel time: the worker does it, so
  // the loop goes on sending probes.
  conntrack_->submit(
      uplink, std::move(filter), [uplink](const Result<ConntrackFlushReport>& report) {
        if (!report) {
          PS_LOG(kError) << "conntrack cleanup for uplink " << uplink << ": "
                         << report.error().to_string();
          return;
        }
        PS_LOG(kInfo) << "conntrack: deleted " << report->deleted << " of " << report->examined
                      << " entries NAT'ed through uplink " << uplink
                      << (report->failed ? " (" + std::to_string(report->failed) + " failed)" : "");
      });
}

void Daemon::on_signal() {
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGHUP) {
      reload(/*file_changed=*/false);
    } else {
      PS_LOG(kInfo) << "signal " << si.ssi_signo << ": stopping";
      notify("STOPPING=1");
      loop_->stop();
    }
  }
}

// Every reload, whatever asked for it (SIGHUP, a change of the file, PUT
// /v1/policy), is framed by RELOADING=1 and READY=1 for the service manager,
// also when the new policy is rejected (STATUS= then says so).
void Daemon::reload(bool file_changed) {
  auto text = read_policy_text(opts_.policy_path);
  if (text && file_changed && *text == policy_text_ && policy_errors_.empty())
    return;  // rewritten with the same content (or our own PUT): nothing to do
  notify_reloading();
  if (!text) {
    policy_errors_ = {text.error().to_string()};
    ++policy_rejections_;
    PS_LOG(kError) << "reload rejected; the running policy stays in force: "
                   << text.error().to_string();
  } else {
    PS_LOG(kInfo) << "reloading " << opts_.policy_path
                  << (file_changed ? " (the file changed)" : " (SIGHUP)");
    reload_text(*text);
  }
  notify("READY=1\nSTATUS=" + notify_status());
}

void Daemon::notify_reloading() {
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(SystemdNotifier::monotonic_usec()));
}

std::vector<PolicyError> Daemon::reload_text(const std::string& text) {
  auto parsed = parse_policy(text, opts_.policy_path);
  if (auto* errs = (parsed ? nullptr : &parsed.error().details)) {
    PS_LOG(kError) << "reload rejected; the running policy stays in force:";
    ++policy_rejections_;
    policy_errors_.clear();
    for (const auto& e : *errs) {
      PS_LOG(kError) << e.to_string();
      policy_errors_.push_back(e.to_string());
    }
    return *errs;
  }
  const Ownership before = policy_.ownership;
  if (auto r = adopt_policy(std::move(parsed).value()); !r) {
    PS_LOG(kError) << "reload failed: " << r.error().to_string();
    policy_errors_ = {r.error().to_string()};
    ++policy_rejections_;
    return {PolicyError{.file = opts_.policy_path, .message = r.error().to_string()}};
  }
  policy_text_ = text;
  policy_errors_.clear();
  apply();
  if (!(before == policy_.ownership))
    release_slice(before);
  return {};
}

// Editors save by writing in place or by renaming a temp file over the
// original, and config managers replace whole directories: watch the
// directory for the file's name, and settle for a moment before reading so a
// multi-step save is read once, complete.
void Daemon::watch_policy_file() {
  std::string path = opts_.policy_path;
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  policy_basename_ = slash == std::string::npos ? path : path.substr(slash + 1);
  inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_.valid()) {
    PS_LOG(kWarn) << "inotify: " << std::strerror(errno) << "; reload with SIGHUP only";
    return;
  }
  if (::inotify_add_watch(inotify_.get(), dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) <
      0) {
    PS_LOG(kWarn) << "watching " << dir << ": " << std::strerror(errno)
                  << "; reload with SIGHUP only";
    inotify_ = Fd();
    return;
  }
  auto r = loop_->add_fd(inotify_.get(), EPOLLIN, [this](uint32_t) { on_policy_dir_event(); });
  if (!r)
    PS_LOG(kWarn) << "watching the policy file: " << r.error().to_string();
}

void Daemon::on_policy_dir_event() {
  alignas(inotify_event) char buf[4096];
  bool ours = false, deleted = false;
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof(buf));
    if (n <= 0)
      break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      if (ev->len > 0 && policy_basename_ == ev->name) {
        ours = true;
        deleted = (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0;
      }
      p += sizeof(inotify_event) + ev->len;
    }
  }
  if (!ours)
    return;
  if (reload_debounce_)
    loop_->cancel_timer(*reload_debounce_);
  reload_debounce_.reset();
  auto t = loop_->add_timer(kPolicySettle, {}, [this, deleted] {
    reload_debounce_.reset();
    if (deleted && ::access(opts_.policy_path.c_str(), F_OK) != 0) {
      policy_errors_ = {opts_.policy_path + " was deleted; the running policy stays in force"};
      ++policy_rejections_;
      PS_LOG(kError) << policy_errors_.front();
      return;
    }
    reload(/*file_changed=*/true);
  });
  if (t)
    reload_debounce_ = *t;
}

// After a reload moved our slice (another priority band, table range or
// protocol), what we own in the old slice is ours to remove: everything there
// except what the new plan itself wants (when the slices overlap).
void Daemon::release_slice(const Ownership& old) {
  OwnedSlice slice = slice_of(old);
  DesiredKernel keep;
  for (const auto& r : desired_.rules) {
    if (slice.owns(r))
      keep.rules.push_back(r);
  }
  for (const auto& r : desired_.routes) {
    if (slice.owns(r))
      keep.routes.push_back(r);
  }
  auto report = Reconciler().reconcile(*nl_, keep, slice);
  if (!report) {
    PS_LOG(kError) << "releasing the old slice: " << report.error().to_string();
    return;
  }
  for (const auto& f : report->failed)
    PS_LOG(kError) << "releasing the old slice: " << f.result.error().to_string();
  PS_LOG(kInfo) << "ownership changed: removed " << report->applied.size()
                << " object(s) from the old slice (rules " << slice.rule_priority_lo << "-"
                << slice.rule_priority_hi - 1 << ", tables " << slice.table_lo << "-"
                << slice.table_hi - 1 << ", protocol " << int{slice.protocol} << ")";
}

std::string Daemon::status_json() const {
  using nlohmann::json;
  json j;
  j["version"] = PATHSTEER_VERSION;
  j["uptime_s"] = std::chrono::duration<double>(EventLoop::now() - started_at_).count();
  j["policy_generation"] = generation_;
  j["policy_errors"] = policy_errors_;  // of the last rejected reload; empty when in force
  j["policy_rejections"] = policy_rejections_;
  j["synced"] = sync_.state() == SyncState::kSynced && dataplane_errors_.empty();
  j["sync_state"] = to_string(sync_.state());
  std::vector<std::string> errors = dataplane_errors_;
  for (auto& e : sync_.errors())
    errors.push_back(std::move(e));
  for (const auto& e : policy_errors_)
    errors.push_back("policy: " + e);
  for (const auto& [file, e] : state_errors_)
    errors.push_back(e);
  j["errors"] = errors;
  j["conflicts"] = json::array();
  for (const auto& c : sync_.conflicts())
    j["conflicts"].push_back(c.what);
  const auto& counters = sync_.counters();
  j["reconcile"] = {{"runs", counters.runs},
                    {"changes_applied", counters.changes_applied},
                    {"changes_failed", counters.changes_failed},
                    {"dump_failures", counters.dump_failures},
                    {"overruns", overruns_},
                    {"last_run_ms",
                     std::chrono::duration<double, std::milli>(sync_.last_run_duration()).count()}};
  j["wans"] = json::array();
  for (const auto& u : desired_.uplinks) {
    const Wan* w = policy_.find_wan(u.name);
    const UplinkHealth* h = prober_->health(u.name);
    json wj;
    wj["name"] = u.name;
    wj["interface"] = w ? w->interface : "";
    wj["ifindex"] = u.ifindex;
    wj["state"] = health_name(h);
    wj["reason"] = h ? h->reason : "";
    wj["carrier"] = h ? h->carrier : false;
    wj["rtt_ms"] = h ? h->rtt_ms : 0.0;
    wj["jitter_ms"] = h ? h->jitter_ms : 0.0;
    wj["loss_pct"] = h ? h->loss_pct : 0.0;
    wj["sent"] = h ? h->sent : 0;
    wj["received"] = h ? h->received : 0;
    wj["failed"] = h ? h->failed : 0;
    wj["targets"] = json::array();
    for (const auto& t : prober_->targets(u.name)) {
      json tj;
      tj["target"] = t.target.to_string();
      tj["method"] = to_string(t.method);
      if (t.port != 0)
        tj["port"] = t.port;
      tj["rtt_ms"] = t.rtt_ms;
      tj["jitter_ms"] = t.jitter_ms;
      tj["loss_pct"] = t.loss_pct;
      tj["sent"] = t.sent;
      tj["received"] = t.received;
      tj["failed"] = t.failed;
      wj["targets"].push_back(tj);
    }
    wj["gateway4"] = u.gateway4 ? json(u.gateway4->to_string()) : json(nullptr);
    wj["gateway6"] = u.gateway6 ? json(u.gateway6->to_string()) : json(nullptr);
    wj["mark"] = u.mark;
    wj["table"] = u.table;
    j["wans"].push_back(wj);
  }
  j["overlays"] = overlays_json();
  ProberStats ps = prober_->stats();
  j["prober"] = {{"sent", ps.sent},
                 {"answered", ps.answered},
                 {"failed", ps.failed},
                 {"wakeups", ps.wakeups},
                 {"lateness_samples", ps.lateness_samples},
                 {"lateness_p50_ms", ps.lateness_p50_ms},
                 {"lateness_p99_ms", ps.lateness_p99_ms},
                 {"lateness_max_ms", ps.lateness_max_ms}};
  j["classes"] = json::array();
  for (size_t i = 0; i < desired_.classes.size(); ++i) {
    const auto& c = desired_.classes[i];
    json cj;
    cj["name"] = c.name;
    cj["strategy"] = to_string(c.strategy);
    cj["uplink"] = c.uplink ? json(*c.uplink) : json(nullptr);
    cj["reason"] = c.reason;
    cj["mark"] = c.mark;
    cj["members"] = json::array();
    for (const auto& m : c.members)
      cj["members"].push_back({{"uplink", m.uplink}, {"weight", m.weight}});
    cj["sla_met"] = c.sla_met ? json(*c.sla_met) : json(nullptr);
    cj["intent"] = c.intent;
    cj["local"] = c.local;
    j["classes"].push_back(cj);
  }
  j["intents"] = json::array();
  for (const auto& it : intents_.intents())
    j["intents"].push_back(intent_json(it, &policy_));
  if (!intents_error_.empty())
    j["errors"].push_back(intents_error_);
  if (datapath_) {
    json dp;
    dp["mode"] = to_string(policy_.mode);
    dp["effective_mode"] = datapath_->effective_mode(policy_.mode);
    dp["fib_table_lookup"] = datapath_->features().fib_table_lookup;
    if (auto counters = datapath_->read_counters(); counters) {
      for (size_t i = 0; i < j["classes"].size() && i < counters->classes.size(); ++i) {
        j["classes"][i]["packets"] = counters->classes[i].packets;
        j["classes"][i]["bytes"] = counters->classes[i].bytes;
      }
      for (size_t i = 0; i < j["wans"].size() && i < desired_.uplinks.size(); ++i) {
        auto it = counters->uplinks.find(desired_.uplinks[i].id);
        bool seen = it != counters->uplinks.end();
        j["wans"][i]["packets"] = seen ? it->second.packets : 0;
        j["wans"][i]["bytes"] = seen ? it->second.bytes : 0;
      }
      const DatapathCounters& c = *counters;
      dp["counters"] = {{"parse_errors", c.parse_errors},
                        {"non_ip", c.non_ip},
                        {"unclassified", c.unclassified},
                        {"fragments", c.fragments},
                        {"no_ports", c.no_ports},
                        {"ip_options", c.ip_options},
                        {"vlan", c.vlan},
                        {"flow_new", c.flow_new},
                        {"flow_hit", c.flow_hit},
                        {"flow_reclassified", c.flow_reclassified},
                        {"flow_rechosen", c.flow_rechosen},
                        {"flow_expired", c.flow_expired},
                        {"flow_full", c.flow_full},
                        {"no_member", c.no_member},
                        {"redirected", c.redirected},
                        {"fallbacks", c.fallbacks}};
    }
    j["datapath"] = dp;
  }
  return j.dump();
}

// ---- overlays: tunnels riding on wans (controller/path_graph.h) -------------

std::optional<std::string> Daemon::probed_by_interface(const std::string& ifname) const {
  if (const Wan* w = wan_by_interface(ifname))
    return w->name;
  for (const auto& o : policy_.overlays) {
    if (o.interface == ifname)
      return o.name;
  }
  return std::nullopt;
}

// Probes through each tunnel: bound to the tunnel interface and marked with
// the overlay's mark, so they leave by its table's `default dev <tunnel>`.
// An overlay without probes is registered too: its health follows carrier.
void Daemon::add_overlay_probes(std::vector<UplinkProbeConfig>& cfg) const {
  for (const auto& o : policy_.overlays)
    cfg.push_back(probe_config(o.name, o.interface, o.health, o.probes));
}

// A path's probes: bound to its interface and carrying its mark.
UplinkProbeConfig Daemon::probe_config(const std::string& name, const std::string& ifname,
                                       const HealthSpec& health,
                                       const std::vector<ProbeSpec>& probes) const {
  UplinkProbeConfig c;
  c.uplink = name;
  c.ifname = ifname;
  c.fwmark = mark_for(policy_.ownership, ids_.ids().at(name));
  c.health = health;
  c.probes = probes;
  return c;
}

void Daemon::set_overlay_carriers() {
  for (const auto& o : policy_.overlays) {
    bool up = false;
    for (const auto& [ifindex, link] : links_) {
      if (link.name == o.interface)
        up = link.carrier && link.admin_up;
    }
    prober_->set_carrier(o.name, up);
  }
}

std::map<std::string, OverlayView> Daemon::overlay_views(const Policy& policy) const {
  std::map<std::string, OverlayView> out;
  for (const auto& o : policy.overlays) {
    OverlayView v;
    for (const auto& [ifindex, link] : links_) {
      if (link.name == o.interface) {
        v.ifindex = ifindex;
        v.admin_up = link.admin_up && link.carrier;
      }
    }
    const UplinkHealth* h = prober_->health(o.name);
    fill_health(v, h, planning_state(o.name, h));
    // Routes only for the families the tunnel has an address of (IPv6: not
    // link-local): a tunnel that carries no IPv6 refuses an IPv6 route.
    v.ipv4 = v.ipv6 = false;
    for (const auto& a : addresses_) {
      if (v.ifindex == 0 || a.ifindex != v.ifindex)
        continue;
      bool link_local =
          a.addr.is_v6() && a.addr.bytes[0] == 0xfe && (a.addr.bytes[1] & 0xc0) == 0x80;
      v.ipv4 = v.ipv4 || a.addr.is_v4();
      v.ipv6 = v.ipv6 || (a.addr.is_v6() && !link_local);
    }
    out[o.name] = v;
  }
  return out;
}

nlohmann::json Daemon::overlays_json() const {
  using nlohmann::json;
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json arr = json::array();
  for (const auto& o : desired_.overlays) {
    const Overlay* spec = policy_.find_overlay(o.name);
    const UplinkHealth* h = prober_->health(o.name);
    json oj;
    oj["name"] = o.name;
    oj["interface"] = spec ? spec->interface : "";
    oj["ifindex"] = o.ifindex;
    oj["remote4"] = spec && spec->remote4 ? json(spec->remote4->to_string()) : json(nullptr);
    oj["remote6"] = spec && spec->remote6 ? json(spec->remote6->to_string()) : json(nullptr);
    oj["underlays"] = spec ? json(spec->underlays) : json::array();
    oj["underlay"] = o.underlay ? json(*o.underlay) : json(nullptr);
    oj["underlay_reason"] = o.reason;
    oj["usable"] = o.usable;
    oj["degraded"] = o.degraded;
    oj["route"] = o.route;
    // What its own probes say (through the tunnel), and the path's composed figures.
    oj["state"] = health_name(h);
    oj["reason"] = h ? h->reason : "";
    oj["carrier"] = h ? h->carrier : false;
    oj["tunnel"] = {{"rtt_ms", h && h->received > 0 ? json(h->rtt_ms) : json(nullptr)},
                    {"jitter_ms", h && h->received > 0 ? json(h->jitter_ms) : json(nullptr)},
                    {"loss_pct", h && h->received > 0 ? json(h->loss_pct) : json(nullptr)},
                    {"sent", h ? h->sent : 0},
                    {"received", h ? h->received : 0},
                    {"failed", h ? h->failed : 0}};
    oj["path"] = {{"rtt_ms", opt(o.metrics.rtt_ms)},
                  {"jitter_ms", opt(o.metrics.jitter_ms)},
                  {"loss_pct", opt(o.metrics.loss_pct)},
                  {"cost", o.metrics.cost}};
    oj["targets"] = json::array();
    for (const auto& t : prober_->targets(o.name)) {
      oj["targets"].push_back({{"target", t.target.to_string()},
                               {"method", to_string(t.method)},
                               {"rtt_ms", t.rtt_ms},
                               {"loss_pct", t.loss_pct},
                               {"sent", t.sent},
                               {"received", t.received}});
    }
    oj["mark"] = o.mark;
    oj["table"] = o.table;
    arr.push_back(oj);
  }
  return arr;
}

void Daemon::shutdown() {
  http_.reset();
  if (!opts_.flush_on_exit) {
    PS_LOG(kInfo) << "stopped; the data plane and owned rules stay as last planned";
    return;
  }
  PS_LOG(kInfo) << "flushing owned kernel state (--flush-on-exit)";
  auto report = Reconciler().reconcile(*nl_, DesiredKernel{}, owned_slice());
  if (!report)
    PS_LOG(kError) << report.error().to_string();
  for (int ifindex : attached_) {
    if (auto r = datapath_->detach(ifindex); !r)
      PS_LOG(kError) << r.error().to_string();
  }
  if (auto r = datapath_->unpin(); !r)
    PS_LOG(kError) << r.error().to_string();
}

void Daemon::load_remembered_health() {
  std::string path = opts_.state_dir + "/health.json";
  auto file = read_state_json(path);
  if (!file)
    return;
  nlohmann::json& j = *file;
  if (j.is_discarded() || !j.is_object() || !j.contains("uplinks") || !j["uplinks"].is_object()) {
    PS_LOG(kWarn) << path << ": not a pathsteer health file; ignored";
    return;
  }
  // Uplinks and overlays share the "uplinks" object (their names are unique).
  auto remember = [&](const std::string& path, bool probed, const char* kind) {
    if (!probed || !j["uplinks"].contains(path) || !j["uplinks"][path].is_string())
      return;  // without probes the carrier alone decides, at once
    std::string name = j["uplinks"][path].get<std::string>();
    for (HealthState s : {HealthState::kUp, HealthState::kDegraded, HealthState::kDown}) {
      if (name == to_string(s)) {
        remembered_health_[path] = s;
        PS_LOG(kInfo) << kind << " " << path << " was " << name
                      << " when the last daemon stopped; planning with that until probed";
      }
    }
  };
  for (const auto& w : policy_.wans)
    remember(w.name, !w.probes.empty(), "uplink");
  for (const auto& o : policy_.overlays)
    remember(o.name, !o.probes.empty(), "overlay");
}

void Daemon::save_health() {
  nlohmann::json j;
  j["version"] = 1;
  j["uplinks"] = nlohmann::json::object();
  for (const auto& [uplink, state] : last_health_) {
    if (state != HealthState::kUnknown)
      j["uplinks"][uplink] = to_string(state);
  }
  if (auto r = replace_file(opts_.state_dir + "/health.json", j.dump() + "\n"); !r) {
    state_errors_["health"] = "cannot persist uplink health: " + r.error().to_string();
    PS_LOG(kError) << state_errors_["health"];
  } else {
    state_errors_.erase("health");
  }
}

namespace {

// What planner.json keeps of a memory (plan_memory.h): the runs are not saved.
PlannerMemory persisted_part(PlannerMemory m) {
  for (auto* section : {&m.classes, &m.overlays}) {
    for (auto& [name, c] : *section) {
      c.good_since.clear();
      c.better_since.clear();
    }
  }
  return m;
}

}  // namespace

void Daemon::load_plan_memory() {
  std::string path = opts_.state_dir + "/planner.json";
  auto file = read_state_json(path);
  if (!file)
    return;
  auto m = plan_memory_from_json(*file, PlanClock::now(), std::chrono::system_clock::now());
  if (!m) {
    PS_LOG(kWarn) << path << ": " << m.error().to_string()
                  << "; ignored (classes are planned as if for the first time)";
    return;
  }
  plan_memory_ = *m;
  saved_plan_memory_ = persisted_part(*m);
  PS_LOG(kInfo) << "planner memory from " << path << ": " << m->classes.size() << " classes, "
                << m->overlays.size() << " overlays (hold-downs are waited out again)";
}

void Daemon::save_plan_memory() {
  PlannerMemory keep = persisted_part(plan_memory_);
  if (saved_plan_memory_ && *saved_plan_memory_ == keep)
    return;  // only switches change it, not every plan
  auto j = plan_memory_to_json(keep, PlanClock::now(), std::chrono::system_clock::now());
  if (auto r = replace_file(opts_.state_dir + "/planner.json", j.dump() + "\n"); !r) {
    state_errors_["planner"] = "cannot persist planner memory: " + r.error().to_string();
    PS_LOG(kError) << state_errors_["planner"];
  } else {
    state_errors_.erase("planner");
  }
  saved_plan_memory_ = std::move(keep);  // failed or not: tried again at the next change
}

void Daemon::notify(const std::string& state) {
  if (auto r = notifier_.send(state); !r)
    PS_LOG(kWarn) << "systemd notification: " << r.error().to_string();
}

std::string Daemon::notify_status() const {
  std::string s = "generation " + std::to_string(generation_) + ": " +
                  std::to_string(desired_.classes.size()) + " classes over " +
                  std::to_string(desired_.uplinks.size()) + " uplinks";
  if (!policy_errors_.empty())
    s += "; reload rejected, this generation stays in force: " + policy_errors_.front();
  else if (!dataplane_errors_.empty())
    s += "; " + dataplane_errors_.front();
  else if (!state_errors_.empty())
    s += "; " + state_errors_.begin()->second;
  std::replace(s.begin(), s.end(), '\n', ' ');  // one datagram line per variable
  return s;
}

Result<void> Daemon::run() {
  PS_LOG(kInfo) << "pathsteerd " << PATHSTEER_VERSION << " running policy " << opts_.policy_path
                << " (generation " << generation_ << ")";
  // start() has programmed the first plan (data plane, classifier, rules and
  // routes) and the API listens: that is "ready" for the service manager.
  notify("READY=1\nSTATUS=" + notify_status());
  if (auto period = SystemdNotifier::watchdog_period()) {
    auto t = start_watchdog(*loop_, notifier_, *period);
    if (t && *t)
      watchdog_timer_ = **t;
    else if (!t)
      PS_LOG(kError) << "systemd watchdog: " << t.error().to_string();
  }
  auto r = loop_->run();
  shutdown();
  return r;
}

}  // namespace pathsteer
