#include "fleet/agent.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/log.h"

namespace pathsteer::fleet {

using json = nlohmann::json;

namespace {

constexpr const char* kCacheFile = "/fleet.json";
constexpr auto kTick = std::chrono::seconds(1);
// A partitioned member must not hold a keepalive longer than a third of the
// shortest lease: 3 endpoints x 1.5 s stay under 5 s.
constexpr auto kSessionTimeout = std::chrono::milliseconds(1500);

double round1(double v) {
  return std::round(v * 10) / 10;
}

std::string error_lines(const Error& e, std::vector<std::string>& out) {
  out.clear();
  for (const auto& d : e.details)
    out.push_back(d.to_string());
  if (out.empty())
    out.push_back(e.to_string());
  return out.front();
}

}  // namespace

std::optional<FleetCache> load_cache(const std::string& state_dir) {
  auto text = read_file(state_dir + kCacheFile);
  if (!text)
    return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("version") || j["version"] != 1) {
    PS_LOG(kError) << state_dir << kCacheFile << " is not a fleet cache; ignored";
    return std::nullopt;
  }
  FleetCache c;
  if (auto p = j.find("policy"); p != j.end() && p->is_object()) {
    if (!(*p)["text"].is_string() || !(*p)["origin"].is_string()) {
      PS_LOG(kError) << state_dir << kCacheFile << ": a policy without text or origin; ignored";
      return std::nullopt;
    }
    c.policy = FleetPolicyText{.text = (*p)["text"].get<std::string>(),
                               .origin = (*p)["origin"].get<std::string>()};
  }
  if (auto i = j.find("intents"); i != j.end()) {
    IntentStore store;
    json wrapped = {{"version", 1}, {"intents", *i}};
    if (auto r = store.parse(wrapped.dump()); !r) {
      PS_LOG(kError) << state_dir << kCacheFile << ": " << r.error().to_string() << "; ignored";
      return std::nullopt;
    }
    c.intents = store.intents();
  }
  if (auto r = j.find("refused_origin"); r != j.end() && r->is_string())
    c.refused_origin = r->get<std::string>();
  return c;
}

Result<void> save_cache(const std::string& state_dir, const FleetCache& cache) {
  json j = {{"version", 1}, {"policy", nullptr}, {"intents", json::array()}};
  if (cache.policy)
    j["policy"] = {{"text", cache.policy->text}, {"origin", cache.policy->origin}};
  for (const auto& it : cache.intents)
    j["intents"].push_back(intent_json(it));
  j["refused_origin"] = cache.refused_origin;
  return write_file_atomic(state_dir + kCacheFile, j.dump(), Durability::kSynced);
}

NodeStatus node_status(const std::string& node, const std::vector<std::string>& groups,
                       const StatusSnapshot& s, const AgentReport& report) {
  NodeStatus out;
  json state = {{"node", node},
                {"groups", groups},
                {"generation", s.generation},
                {"policy",
                 {{"source", s.policy_source},
                  {"state", report.policy_state},
                  {"errors", report.policy_errors}}},
                {"rollback", {{"state", report.rollback}, {"reason", report.rollback_reason}}},
                {"synced", s.synced}};
  json wans = json::array();
  json figures = json::object();
  for (const auto& w : s.wans) {
    std::string st = w.health ? to_string(w.health->state) : (w.planned.usable ? "up" : "down");
    wans.push_back({{"name", w.planned.name}, {"state", st}, {"usable", w.planned.usable}});
    ++out.uplinks;
    if (w.planned.usable)
      ++out.up;
    else if (w.health && (w.health->state == HealthState::kDown || !w.health->carrier))
      ++out.down;
    if (w.health && w.health->received > 0) {
      figures[w.planned.name] = {{"rtt_ms", round1(w.health->rtt_ms)},
                                 {"jitter_ms", round1(w.health->jitter_ms)},
                                 {"loss_pct", round1(w.health->loss_pct)}};
    }
  }
  state["wans"] = std::move(wans);
  json classes = json::array();
  for (const auto& c : s.classes) {
    classes.push_back({{"name", c.planned.name},
                       {"uplink", c.planned.uplink ? json(*c.planned.uplink) : json(nullptr)},
                       {"intent", c.planned.intent}});
  }
  state["classes"] = std::move(classes);
  out.state = state.dump();
  out.figures = figures.dump();
  return out;
}

FleetAgent::FleetAgent(Options options, Runtime& rt,
                       std::function<void(std::function<void()>)> post, FleetSink& sink)
    : opts_(std::move(options)),
      rt_(rt),
      post_(std::move(post)),
      sink_(sink),
      throttle_(std::chrono::seconds(opts_.spec.status_figures_s)) {
  keys_.prefix = opts_.spec.prefix;
  report_.policy_state = "file";
  report_.rollback = "none";
  if (opts_.started_from) {
    applied_ = opts_.started_from->policy;
    intents_ = opts_.started_from->intents;
    refused_origin_ = opts_.started_from->refused_origin;
    for (const auto& it : intents_)
      first_seen_ms_[it.id] = it.created_ms;
    if (applied_)
      report_.policy_state = "cached";
  }
}

FleetAgent::~FleetAgent() {
  *alive_ = false;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watch_client_)
    watch_client_->cancel();
  if (session_client_)
    session_client_->cancel();
  if (watcher_.joinable())
    watcher_.join();
  if (session_.joinable())
    session_.join();
  if (tick_timer_)
    rt_.cancel(*tick_timer_);
}

Result<void> FleetAgent::start() {
  // Each node starts at its own member (by its name's hash), so a fleet's
  // watches and leases spread over the cluster instead of all on the first.
  EtcdClient::Options o{.endpoints = opts_.spec.endpoints,
                        .ca_file = opts_.spec.ca_file,
                        .user = opts_.user,
                        .password = opts_.password,
                        .first = std::hash<std::string>{}(opts_.spec.node)};
  auto w = EtcdClient::create(o);
  if (!w)
    return w.take_error();
  o.timeout = kSessionTimeout;
  auto s = EtcdClient::create(o);
  if (!s)
    return s.take_error();
  watch_client_ = std::move(*w);
  session_client_ = std::move(*s);
  tick_timer_ = rt_.at(
      rt_.now() + kTick, [this] { tick(); }, kTick);
  watcher_ = std::thread([this] { watcher_main(); });
  session_ = std::thread([this] { session_main(); });
  PS_LOG(kInfo) << "fleet: node " << opts_.spec.node << " in groups [" <<
      [&] {
        std::string g;
        for (const auto& x : opts_.spec.groups)
          g += (g.empty() ? "" : ", ") + x;
        return g;
      }() << "], prefix "
                << keys_.prefix
                << (applied_ ? ", starting from the cached " + applied_->origin : "");
  return ok();
}

bool FleetAgent::wait_stop(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [this] { return stopping_; });
}

void FleetAgent::watcher_main() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10));
  auto post = [this](std::function<void()> fn) {
    post_([alive = alive_, fn = std::move(fn)] {
      if (*alive)
        fn();
    });
  };
  std::string last_error;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_)
        return;
    }
    watch_client_->reset_cancel();
    if (cursor_.need_list()) {
      auto r = watch_client_->range(keys_.watch_begin(), keys_.watch_end(),
                                    static_cast<int64_t>(kMaxFleetKeys));
      if (!r) {
        if (r.error().to_string() != last_error)
          PS_LOG(kWarn) << "fleet: listing: " << r.error().to_string() << "; retrying";
        last_error = r.error().to_string();
        if (wait_stop(backoff.next(unit(rng))))
          return;
        continue;
      }
      cursor_.listed(r->revision);
      post([this, list = std::move(*r)]() mutable { on_list(std::move(list)); });
    }
    auto result = watch_client_->watch(
        keys_.watch_begin(), keys_.watch_end(), cursor_.start_revision(),
        [&](const WatchResponse& resp) {
          if (resp.compact_revision > 0) {
            PS_LOG(kInfo) << "fleet: revision " << cursor_.start_revision() << " was compacted (at "
                          << resp.compact_revision << "); re-listing";
            cursor_.compacted();
            return false;
          }
          if (resp.created) {
            backoff.reset();
            last_error.clear();
          }
          for (const auto& e : resp.events)
            cursor_.seen(e.kv.mod_revision);
          if (resp.events.empty() && !resp.created && resp.header_revision > 0)
            cursor_.progress(resp.header_revision);
          if (!resp.events.empty())
            post([this, copy = resp]() mutable { on_watch(std::move(copy)); });
          std::lock_guard lock(mu_);
          return !stopping_;
        });
    if (!result) {
      if (result.error().to_string() != last_error)
        PS_LOG(kWarn) << "fleet: watch: " << result.error().to_string()
                      << "; resuming from revision " << cursor_.start_revision();
      last_error = result.error().to_string();
      if (wait_stop(backoff.next(unit(rng))))
        return;
    }
  }
}

void FleetAgent::session_main() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  const int64_t ttl = opts_.spec.status_ttl_s;
  const auto keepalive_every = std::chrono::milliseconds(ttl * 1000 / 3);
  const std::string key = keys_.status(opts_.spec.node);
  int64_t lease = 0;
  std::optional<bool> reachable;
  std::string last_written;  // rewritten under a new lease
  auto next_keepalive = std::chrono::steady_clock::now();
  std::string last_error;

  auto set_reachable = [&](bool r) {
    if (reachable == r)
      return;
    reachable = r;
    if (!r)
      watch_client_->cancel();  // the watch may sit silent through a partition
    post_([alive = alive_, this, r] {
      if (*alive)
        on_reachable(r);
    });
  };
  auto failed = [&](const Error& e) {
    if (e.to_string() != last_error)
      PS_LOG(kWarn) << "fleet: etcd session: " << e.to_string();
    last_error = e.to_string();
    set_reachable(false);
    return wait_stop(backoff.next(unit(rng)));
  };

  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_)
        break;
    }
    if (lease == 0) {
      auto g = session_client_->lease_grant(ttl);
      if (!g) {
        if (failed(g.error()))
          break;
        continue;
      }
      lease = *g;
      next_keepalive = std::chrono::steady_clock::now() + keepalive_every;
      if (!last_written.empty()) {
        std::lock_guard lock(mu_);
        if (!pending_status_)
          pending_status_ = last_written;
      }
    }
    if (std::chrono::steady_clock::now() >= next_keepalive) {
      auto k = session_client_->lease_keepalive(lease);
      if (!k) {
        if (failed(k.error()))
          break;
        continue;
      }
      if (*k <= 0) {
        PS_LOG(kWarn) << "fleet: lease " << lease << " expired; a new one";
        lease = 0;
        continue;
      }
      next_keepalive = std::chrono::steady_clock::now() + keepalive_every;
    }
    std::optional<std::string> value;
    {
      std::lock_guard lock(mu_);
      value = pending_status_;
    }
    if (value) {
      auto p = session_client_->put(key, *value, lease);
      if (!p) {
        if (failed(p.error()))
          break;
        continue;
      }
      last_written = *value;
      std::lock_guard lock(mu_);
      if (pending_status_ == value)
        pending_status_.reset();
    }
    backoff.reset();
    last_error.clear();
    set_reachable(true);
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, next_keepalive, [this] { return stopping_ || pending_status_; });
    if (stopping_)
      break;
  }
}

void FleetAgent::on_reachable(bool reachable) {
  report_.etcd_reachable = reachable;
  if (reachable)
    PS_LOG(kInfo) << "fleet: etcd reachable";
  else
    PS_LOG(kWarn) << "fleet: etcd unreachable; steering on with the policy in force";
}

void FleetAgent::on_list(RangeResult r) {
  mirror_.replace(r.kvs);
  if (r.more)
    PS_LOG(kWarn) << "fleet: more than " << kMaxFleetKeys << " policy and intent keys; the rest "
                  << "are ignored";
  recompute();
  update_intents();
}

void FleetAgent::on_watch(WatchResponse w) {
  for (const auto& e : w.events)
    mirror_.apply(e);
  recompute();
  update_intents();
}

void FleetAgent::recompute() {
  const KeyValue* sel = select_policy(mirror_.kvs(), keys_, opts_.spec.node, opts_.spec.groups);
  std::optional<FleetPolicyText> want;
  if (sel != nullptr) {
    want = FleetPolicyText{.text = sel->value,
                           .origin = "etcd:" + sel->key + "@" + std::to_string(sel->mod_revision)};
  }
  std::string origin = want ? want->origin : "";
  if (want == applied_) {
    if (report_.policy_state == "rejected")
      report_.policy_state = applied_ ? "applied" : "file";
    return;
  }
  if (!origin.empty() && origin == refused_origin_)
    return;  // rolled back; waits for a new revision
  if (origin == last_tried_origin_ && report_.policy_state == "rejected")
    return;
  last_tried_origin_ = origin;
  NodeStatus before = node_status(opts_.spec.node, opts_.spec.groups, sink_.snapshot(), report_);
  auto r = sink_.apply_fleet_policy(want);
  if (!r) {
    report_.policy_state = "rejected";
    std::string first = error_lines(r.error(), report_.policy_errors);
    PS_LOG(kError) << "fleet: " << origin << " rejected, not applied: " << first;
    return;
  }
  std::optional<FleetPolicyText> previous = applied_;
  applied_ = want;
  applied_revision_ = sel != nullptr ? sel->mod_revision : 0;
  report_.policy_state = want ? "applied" : "file";
  report_.policy_errors.clear();
  if (want && opts_.spec.confirm_s > 0) {
    confirm_ = Confirm{.previous = previous,
                       .previous_had_uplink = before.up > 0,
                       .previous_had_etcd = report_.etcd_reachable,
                       .deadline = rt_.now() + std::chrono::seconds(opts_.spec.confirm_s),
                       .origin = origin};
    report_.rollback = "watching";
    report_.rollback_reason.clear();
  } else {
    confirm_.reset();
  }
  save();
  tick();
}

void FleetAgent::update_intents() {
  int64_t now_ms = to_unix_ms(rt_.wall_now());
  std::vector<Intent> mine;
  std::map<std::string, int64_t> seen;
  const std::string prefix = keys_.intents();
  for (auto it = mirror_.kvs().lower_bound(prefix);
       it != mirror_.kvs().end() && it->first.rfind(prefix, 0) == 0; ++it) {
    std::string id = it->first.substr(prefix.size());
    auto fs = first_seen_ms_.find(id);
    int64_t first = fs != first_seen_ms_.end() ? fs->second : now_ms;
    seen[id] = first;
    auto fi = parse_fleet_intent(it->second, keys_, first);
    if (!fi) {
      PS_LOG(kDebug) << "fleet: " << fi.error().to_string();
      continue;
    }
    if (!selects(*fi, opts_.spec.node, opts_.spec.groups) || fi->intent.expires_ms <= now_ms)
      continue;
    mine.push_back(std::move(fi->intent));
  }
  first_seen_ms_ = std::move(seen);
  if (mine == intents_)
    return;
  intents_ = mine;
  sink_.set_fleet_intents(std::move(mine));
  save();
  tick();
}

void FleetAgent::tick() {
  NodeStatus ns = node_status(opts_.spec.node, opts_.spec.groups, sink_.snapshot(), report_);
  if (confirm_) {
    ConfirmInput in{.previous_had_uplink = confirm_->previous_had_uplink,
                    .previous_had_etcd = confirm_->previous_had_etcd,
                    .uplinks = ns.uplinks,
                    .up = ns.up,
                    .down = ns.down,
                    .etcd_reachable = report_.etcd_reachable,
                    .deadline_passed = rt_.now() >= confirm_->deadline};
    if (auto reason = rollback_reason(in)) {
      PS_LOG(kWarn) << "fleet: " << confirm_->origin << ": " << *reason << "; rolling back to "
                    << (confirm_->previous ? confirm_->previous->origin : "the file's policy");
      auto r = sink_.apply_fleet_policy(confirm_->previous);
      if (!r)
        PS_LOG(kError) << "fleet: rolling back: " << r.error().to_string();
      else
        applied_ = confirm_->previous;
      refused_origin_ = confirm_->origin;
      report_.policy_state = "rolled-back";
      report_.rollback = "rolled-back";
      report_.rollback_reason = *reason + " (" + confirm_->origin + ")";
      confirm_.reset();
      save();
      ns = node_status(opts_.spec.node, opts_.spec.groups, sink_.snapshot(), report_);
    } else if (in.deadline_passed) {
      report_.rollback = "confirmed";
      confirm_.reset();
      ns = node_status(opts_.spec.node, opts_.spec.groups, sink_.snapshot(), report_);
    }
  }
  auto now = rt_.now();
  if (!throttle_.due(ns.state, ns.figures, now))
    return;
  json value = json::parse(ns.state);
  value["figures"] = json::parse(ns.figures);
  value["updated_ms"] = to_unix_ms(rt_.wall_now());
  throttle_.written(ns.state, ns.figures, now);
  {
    std::lock_guard lock(mu_);
    pending_status_ = value.dump();
  }
  cv_.notify_all();
}

void FleetAgent::save() {
  if (opts_.state_dir.empty())
    return;
  FleetCache c{.policy = applied_, .intents = intents_, .refused_origin = refused_origin_};
  if (auto r = save_cache(opts_.state_dir, c); !r)
    PS_LOG(kError) << "fleet: caching the fleet policy: " << r.error().to_string();
}

}  // namespace pathsteer::fleet
