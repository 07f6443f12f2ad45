#include "probes/prober.h"

#include <net/if.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "common/log.h"
#include "probes/probe_socket.h"
#include "probes/session.h"
#include "probes/stats.h"

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;
using MsD = std::chrono::duration<double, std::milli>;

}  // namespace

struct Prober::Uplink {
  struct Target {
    ProbeSpec spec;
    ProbeStats stats;
    ProbeSession* session = nullptr;  // one of `sessions`
  };
  struct Round {
    uint64_t id = 0;
    uint32_t answered = 0;
    uint32_t failed = 0;
  };

  Uplink(const UplinkProbeConfig& c, bool has_probes, SessionShared& shared)
      : cfg(c), tracker(c.health, has_probes), link{.shared = shared, .cfg = cfg} {}

  UplinkProbeConfig cfg;  // as given, for the "unchanged" comparison
  Clock::duration interval{};
  Clock::duration slack{};      // see prober.h: early sends, reply polling
  std::vector<Target> targets;  // config order
  HealthTracker tracker;
  UplinkHealth health;  // what was last reported through on_report, plus figures

  SessionUplink link;  // the sessions' view: timeout, ifindex, the probes in flight
  std::vector<std::unique_ptr<ProbeSession>> sessions;  // one per (family, method) in use
  bool sockets_open = false;
  std::string socket_error;  // last set-up error text, to log each distinct one once

  // Round k's probe to target i is due at start + k * interval + i * interval / N.
  Clock::time_point start;
  uint64_t round_k = 0;
  size_t next_target = 0;
  bool round_open = false;  // round_k's round exists (sockets were up at its start)

  uint64_t next_probe_id = 1;
  uint64_t next_round_id = 1;
  std::deque<Round> rounds;  // undecided, oldest first

  Clock::time_point due(size_t target) const {
    return start + interval * static_cast<int64_t>(round_k) +
           interval * static_cast<int64_t>(target) / static_cast<int64_t>(targets.size());
  }
};

Prober::Prober(EventLoop& loop, OnProbeReport on_report)
    : loop_(loop),
      on_report_(std::move(on_report)),
      shared_(std::make_unique<SessionShared>(loop)),
      rng_(std::random_device{}()) {
  timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_.valid()) {
    PS_LOG(kError) << "probes: timerfd_create: " << std::strerror(errno);
    return;
  }
  if (auto r = loop_.add_fd(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); }); !r) {
    PS_LOG(kError) << "probes: " << r.error().to_string();
    timer_.reset();
  }
}

Prober::~Prober() {
  for (auto& [name, u] : uplinks_)
    close_sockets(*u);
  if (timer_.valid())
    loop_.remove_fd(timer_.get());
}

std::unique_ptr<Prober::Uplink> Prober::make_uplink(const UplinkProbeConfig& cfg, bool carrier) {
  auto u = std::make_unique<Uplink>(cfg, !cfg.probes.empty(), *shared_);
  u->interval = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.interval_ms, 1));
  u->slack = std::min<Clock::duration>(kMaxSlack, u->interval / 10);
  u->link.timeout = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.timeout_ms, 1));
  for (const ProbeSpec& p : cfg.probes)
    u->targets.push_back({.spec = p});
  // One session per family and method in use, in the order of first use.
  std::vector<std::pair<int, ProbeMethod>> keys;  // of u->sessions
  for (Uplink::Target& t : u->targets) {
    const std::pair key{t.spec.target.family, t.spec.method};
    size_t i = static_cast<size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
    if (i == keys.size()) {
      keys.push_back(key);
      u->sessions.push_back(make_session(t.spec.method, t.spec.target.family, u->link));
    }
    t.session = u->sessions[i].get();
  }
  Uplink* up = u.get();
  u->link.on_finished = [this, up] {
    if (settle(*up))
      refresh(*up, decide_rounds(*up));
  };
  u->tracker.set_carrier(carrier);
  // Random start for the probe counter, hence for echo and STAMP sequence numbers.
  u->next_probe_id = std::uniform_int_distribution<uint64_t>(1, 1ULL << 40)(rng_);
  return u;
}

Result<void> Prober::configure(const std::vector<UplinkProbeConfig>& uplinks) {
  std::set<std::string> names;
  for (const auto& c : uplinks) {
    if (!names.insert(c.uplink).second)
      return policy_error("probes: uplink " + c.uplink + " configured twice");
  }

  std::map<std::string, std::unique_ptr<Uplink>> next;
  std::vector<Uplink*> fresh;
  for (const auto& c : uplinks) {
    auto it = uplinks_.find(c.uplink);
    if (it != uplinks_.end() && it->second->cfg == c) {
      next[c.uplink] = std::move(it->second);
      uplinks_.erase(it);
      continue;
    }
    bool carrier = true;
    std::unique_ptr<Uplink> old;
    if (it != uplinks_.end()) {
      old = std::move(it->second);
      uplinks_.erase(it);
      close_sockets(*old);
      carrier = old->tracker.carrier();
    }
    auto u = make_uplink(c, carrier);
    // Compare the replacement against what was reported for the old config,
    // so a restart from kUnknown is reported.
    if (old)
      u->health = old->health;
    u->health.last_rtt_ms = u->health.rtt_ms = u->health.jitter_ms = u->health.loss_pct = 0;
    u->health.sent = u->health.received = u->health.failed = 0;
    fresh.push_back(u.get());
    next[c.uplink] = std::move(u);
  }
  for (auto& [name, u] : uplinks_)
    close_sockets(*u);
  uplinks_ = std::move(next);

  Result<void> first_error = ok();
  if (!timer_.valid())
    first_error = system_error("probes: no scheduler timer", EBADF);
  for (Uplink* u : fresh) {
    if (!u->targets.empty()) {
      auto r = open_sockets(*u);
      if (!r && r.error().err_no != ENODEV && first_error.ok())
        first_error = r.take_error();
      u->start = Clock::now();
    }
    refresh(*u);
  }
  rearm();
  return first_error;
}

void Prober::set_carrier(const std::string& uplink, bool carrier) {
  auto it = uplinks_.find(uplink);
  if (it == uplinks_.end())
    return;
  it->second->tracker.set_carrier(carrier);
  refresh(*it->second);
}

const UplinkHealth* Prober::health(const std::string& uplink) const {
  auto it = uplinks_.find(uplink);
  return it == uplinks_.end() ? nullptr : &it->second->health;
}

std::vector<TargetHealth> Prober::targets(const std::string& uplink) const {
  std::vector<TargetHealth> out;
  auto it = uplinks_.find(uplink);
  if (it == uplinks_.end())
    return out;
  for (const auto& t : it->second->targets) {
    out.push_back(TargetHealth{.target = t.spec.target,
                               .method = t.spec.method,
                               .port = t.spec.port,
                               .last_rtt_ms = t.stats.last_rtt_ms(),
                               .rtt_ms = t.stats.rtt_ms(),
                               .jitter_ms = t.stats.jitter_ms(),
                               .loss_pct = t.stats.loss_pct(),
                               .sent = t.stats.sent(),
                               .received = t.stats.received(),
                               .failed = t.stats.failed()});
  }
  return out;
}

ProberStats Prober::stats() const {
  ProberStats s = stats_;
  s.lateness_samples = lateness_.count();
  s.lateness_p50_ms = lateness_.percentile(0.5);
  s.lateness_p99_ms = lateness_.percentile(0.99);
  s.lateness_max_ms = lateness_.max_ms();
  return s;
}

Result<void> Prober::open_sockets(Uplink& u) {
  auto fail = [&](Error e) -> Result<void> {
    close_sockets(u);
    bool missing = e.err_no == ENODEV;
    u.tracker.set_blocker(missing ? "no interface" : "socket error");
    std::string text = e.to_string();
    if (text != u.socket_error) {
      PS_LOG(kWarn) << "uplink " << u.cfg.uplink << ": " << text
                    << (missing ? " (retrying every interval)" : "");
      u.socket_error = text;
    }
    return e;
  };
  for (auto& session : u.sessions) {
    if (auto r = session->open(); !r)
      return fail(r.take_error());
  }
  u.link.ifindex = if_nametoindex(u.cfg.ifname.c_str());
  if (u.link.ifindex == 0)  // tcp-only uplinks have no socket to tell us
    return fail(system_error("probes on " + u.cfg.ifname, ENODEV));
  u.sockets_open = true;
  if (!u.socket_error.empty()) {
    PS_LOG(kInfo) << "uplink " << u.cfg.uplink << ": probe sockets open on " << u.cfg.ifname;
    u.socket_error.clear();
  }
  u.tracker.set_blocker("");
  return ok();
}

void Prober::close_sockets(Uplink& u) {
  for (auto& session : u.sessions)
    session->close();
  u.link.flight.clear();
  u.rounds.clear();
  u.round_open = false;
  u.sockets_open = false;
}

void Prober::interface_gone(Uplink& u) {
  // A new interface with the same name needs new sockets.
  PS_LOG(kWarn) << "uplink " << u.cfg.uplink << ": " << u.cfg.ifname << " disappeared";
  close_sockets(u);
  u.tracker.set_blocker("no interface");
  u.socket_error = "interface gone";
}

void Prober::rearm() {
  if (!timer_.valid())
    return;
  const Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [name, u] : uplinks_) {
    if (u->targets.empty())
      continue;
    next = std::min(next, u->due(u->next_target));
    if (!u->link.flight.empty()) {
      next = std::min(next, u->link.flight.front().sent_steady + u->link.timeout);
      next = std::min(next, now + u->slack);
    }
  }
  itimerspec its{};
  if (next != Clock::time_point::max()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch()).count();
    ns = std::max<int64_t>(ns, 1);  // 0 would disarm
    its.it_value = to_timespec(ns);
  }
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0)
    PS_LOG(kError) << "probes: timerfd_settime: " << std::strerror(errno);
}

void Prober::on_timer() {
  uint64_t expirations = 0;
  if (read(timer_.get(), &expirations, sizeof(expirations)) > 0)
    ++stats_.wakeups;
  Clock::time_point now = Clock::now();
  // service() may report through on_report_, which must not reconfigure us,
  // so the map is stable during the walk.
  for (auto& [name, u] : uplinks_) {
    if (!u->targets.empty())
      service(*u, now);
  }
  rearm();
}

void Prober::service(Uplink& u, Clock::time_point now) {
  // Replies already queued arrived before now, so they go before the expiry.
  for (auto& session : u.sessions) {
    session->poll(now);
    if (settle(u))
      refresh(u, decide_rounds(u));
  }
  u.link.flight.fail_expired(now, u.link.timeout);
  settle(u);
  // One clock reading for every probe of this wakeup: they are all handed to
  // the kernel within microseconds of it (two vDSO calls per probe were a
  // visible share of the user time at 10,000 probes/s).
  std::optional<SendTime> at;
  while (u.due(u.next_target) <= now + u.slack) {
    if (u.next_target == 0)
      start_round(u, now);
    if (!u.round_open) {  // no sockets: the rest of this round is skipped
      u.next_target = 0;
      ++u.round_k;
      continue;
    }
    if (!at)
      at = SendTime{.steady = Clock::now(), .realtime_ns = realtime_ns()};
    send_probe(u, u.next_target, u.due(u.next_target), *at);
    if (++u.next_target == u.targets.size()) {
      u.next_target = 0;
      ++u.round_k;
      u.round_open = false;
    }
  }
  for (auto& session : u.sessions) {
    if (!session->flush()) {
      interface_gone(u);  // drops everything in flight
      break;
    }
  }
  settle(u);
  refresh(u, decide_rounds(u));
}

void Prober::start_round(Uplink& u, Clock::time_point now) {
  // After a stall longer than an interval, skip the rounds that are wholly
  // in the past instead of sending them in a burst.
  if (u.due(0) + u.interval < now) {
    auto behind = (now - u.due(0)) / u.interval;
    u.round_k += static_cast<uint64_t>(behind);
    PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": skipped " << behind << " late rounds";
  }
  if (!u.sockets_open) {
    (void)open_sockets(u);  // logged inside; the state says why
    if (!u.sockets_open) {
      u.round_open = false;
      return;
    }
  }
  u.rounds.push_back({.id = u.next_round_id++});
  u.round_open = true;
}

void Prober::send_probe(Uplink& u, size_t target, Clock::time_point due, const SendTime& at) {
  Probe& p = u.link.flight.push(Probe{.id = u.next_probe_id++,
                                      .target = static_cast<uint32_t>(target),
                                      .round = u.rounds.back().id,
                                      .sent_steady = at.steady,
                                      .sent_realtime_ns = at.realtime_ns});
  Uplink::Target& t = u.targets[target];
  t.stats.on_sent();
  ++u.health.sent;
  ++stats_.sent;
  lateness_.add(MsD(p.sent_steady - due).count());
  t.session->queue(p);
}

bool Prober::settle(Uplink& u) {
  return u.link.flight.settle([&](const Probe& p) { account(u, p); });
}

void Prober::account(Uplink& u, const Probe& p) {
  ProbeStats& ts = u.targets[p.target].stats;
  if (p.answered) {
    ts.on_reply(p.rtt_ms);
    ++u.health.received;
    ++stats_.answered;
    u.health.last_rtt_ms = p.rtt_ms;
  } else {
    ts.on_failed();
    ++u.health.failed;
    ++stats_.failed;
  }
  if (!u.rounds.empty() && p.round >= u.rounds.front().id) {
    uint64_t i = p.round - u.rounds.front().id;
    if (i < u.rounds.size())
      ++(p.answered ? u.rounds[i].answered : u.rounds[i].failed);
  }
}

bool Prober::decide_rounds(Uplink& u) {
  const auto targets = static_cast<uint32_t>(u.targets.size());
  const uint32_t need = std::clamp<uint32_t>(u.cfg.health.reliability, 1, targets);
  bool decided = false;
  while (!u.rounds.empty()) {
    const Uplink::Round& r = u.rounds.front();
    bool good = r.answered >= need;
    bool bad = targets - r.failed < need;
    if (!good && !bad)
      break;
    if (!decided)
      update_figures(u);
    decided = true;
    u.tracker.on_round(good, Quality{.rtt_ms = u.health.rtt_ms,
                                     .jitter_ms = u.health.jitter_ms,
                                     .loss_pct = u.health.loss_pct});
    u.rounds.pop_front();
  }
  return decided;
}

void Prober::update_figures(Uplink& u) {
  double rtt = 0;
  double jitter = 0;
  size_t with_rtt = 0;
  size_t window = 0;
  size_t failures = 0;
  for (const auto& t : u.targets) {
    if (t.stats.has_rtt()) {
      rtt += t.stats.rtt_ms();
      jitter += t.stats.jitter_ms();
      ++with_rtt;
    }
    window += t.stats.loss_window_size();
    failures += t.stats.loss_window_failures();
  }
  UplinkHealth& h = u.health;
  h.rtt_ms = with_rtt == 0 ? 0 : rtt / static_cast<double>(with_rtt);
  h.jitter_ms = with_rtt == 0 ? 0 : jitter / static_cast<double>(with_rtt);
  h.loss_pct =
      window == 0 ? 0 : 100.0 * static_cast<double>(failures) / static_cast<double>(window);
}

void Prober::refresh(Uplink& u, bool round_decided) {
  UplinkHealth& h = u.health;
  bool changed = h.state != u.tracker.state() || h.reason != u.tracker.reason() ||
                 h.carrier != u.tracker.carrier();
  if (!changed && !round_decided)
    return;
  if (changed) {
    h.state = u.tracker.state();
    h.reason = u.tracker.reason();
    h.carrier = u.tracker.carrier();
    PS_LOG(kInfo) << "uplink " << u.cfg.uplink << " " << to_string(h.state) << " (" << h.reason
                  << ", carrier " << (h.carrier ? "up" : "down") << ", rtt " << h.rtt_ms
                  << " ms, jitter " << h.jitter_ms << " ms, loss " << h.loss_pct << "%)";
  }
  if (on_report_)
    on_report_(u.cfg.uplink, h, changed);
}

}  // namespace pathsteer
