// The controller core's ControlService (controller/service.h), its intents
// and its history: the read and write sides the surfaces call.
#include <algorithm>

#include "common/log.h"
#include "controller/capacity.h"
#include "controller/core.h"
#include "controller/plan_input.h"

namespace pathsteer {

namespace {

// Intent deadlines are wall-clock Unix ms; the timer is re-checked on firing,
// so a clock step only delays or hastens the check, never loses an expiry. A
// deadline far away is checked again after a day (no overflow, no spin).
constexpr int64_t kMaxTimerMs = 24 * 3600 * 1000;

std::optional<ClassCounters> counters_of(const std::optional<DatapathCounters>& c, size_t i) {
  if (!c || i >= c->classes.size())
    return std::nullopt;
  return c->classes[i];
}

}  // namespace

std::string Caller::to_string() const {
  const char* kind_name = "daemon";
  switch (kind) {
    case Kind::kApi:
      kind_name = "api";
      break;
    case Kind::kCli:
      kind_name = "cli";
      break;
    case Kind::kFleet:
      kind_name = "fleet";
      break;
    case Kind::kFile:
      kind_name = "file";
      break;
    case Kind::kSignal:
      kind_name = "signal";
      break;
    case Kind::kDaemon:
      break;
  }
  return name.empty() ? kind_name : std::string(kind_name) + ":" + name;
}

StatusSnapshot Controller::status() const {
  StatusSnapshot s;
  s.version = options_.version;
  s.uptime_s = std::chrono::duration<double>(rt_.now() - started_at_).count();
  s.generation = generation_;
  s.policy_errors = policy_errors_;
  s.policy_rejections = policy_rejections_;
  s.policy_source = fleet_ ? fleet_->origin : "file";
  const SyncStateMachine& sync = programmer_.sync_state();
  s.synced = sync.state() == SyncState::kSynced && dataplane_errors_.empty();
  s.sync_state = sync.state();
  s.errors = dataplane_errors_;
  for (auto& e : sync.errors())
    s.errors.push_back(std::move(e));
  for (const auto& e : policy_errors_)
    s.errors.push_back("policy: " + e);
  for (auto& e : state_.errors())
    s.errors.push_back(std::move(e));
  for (const auto& c : sync.conflicts())
    s.conflicts.push_back(c.what);
  s.reconcile = sync.counters();
  s.overruns = options_.overruns ? options_.overruns() : 0;
  s.last_run_ms = std::chrono::duration<double, std::milli>(sync.last_run_duration()).count();

  const DataplanePort& dp = programmer_.dataplane();
  s.datapath.mode = policy_.mode;
  s.datapath.effective_mode = dp.effective_mode(policy_.mode);
  s.datapath.fib_table_lookup = dp.features().fib_table_lookup;
  if (auto counters = dp.read_counters())
    s.datapath.counters = std::move(*counters);

  for (const auto& u : desired_.uplinks) {
    WanStatus w{.planned = u};
    if (const Wan* spec = policy_.find_wan(u.name)) {
      w.interface = spec->interface;
      w.degraded_if = spec->health.degraded_if;
    }
    auto since = state_since_ms_.find(u.name);
    w.state_since_ms = since != state_since_ms_.end() ? since->second : started_wall_ms_;
    if (const UplinkHealth* h = prober_.health(u.name))
      w.health = *h;
    w.targets = prober_.targets(u.name);
    if (s.datapath.counters) {
      auto it = s.datapath.counters->uplinks.find(u.id);
      w.traffic = it == s.datapath.counters->uplinks.end() ? ClassCounters{} : it->second;
    }
    s.wans.push_back(std::move(w));
  }
  for (const auto& o : desired_.overlays) {
    OverlayStatus os{.planned = o};
    if (const Overlay* spec = policy_.find_overlay(o.name))
      os.spec = *spec;
    if (const UplinkHealth* h = prober_.health(o.name))
      os.health = *h;
    os.targets = prober_.targets(o.name);
    s.overlays.push_back(std::move(os));
  }
  auto overrides = this->overrides(policy_);
  for (size_t i = 0; i < desired_.classes.size(); ++i) {
    const PlannedClass& c = desired_.classes[i];
    ClassStatus cs{.planned = c, .traffic = counters_of(s.datapath.counters, i)};
    if (auto ov = overrides.find(c.name); ov != overrides.end() && ov->second.sla)
      cs.sla = ov->second.sla;
    else if (const ClassSpec* spec = policy_.find_class(c.name, i))  // policy order
      cs.sla = spec->sla;
    s.classes.push_back(std::move(cs));
  }
  s.intents = intents();
  s.prober = prober_.stats();
  s.lateness = prober_.lateness();
  return s;
}

PolicyView Controller::policy() const {
  return PolicyView{
      .path = origin(), .generation = generation_, .text = policy_text_, .errors = policy_errors_};
}

IntentView Controller::view_of(const Intent& it) const {
  return IntentView{.intent = it, .applies = applies(it, policy_)};
}

std::vector<IntentView> Controller::intents() const {
  std::vector<IntentView> out;
  for (const auto& it : intents_.intents())
    out.push_back(view_of(it));
  for (const auto& it : fleet_intents_.intents()) {
    IntentView v = view_of(it);
    v.source = "fleet";
    out.push_back(std::move(v));
  }
  return out;
}

Result<IntentView> Controller::intent(const std::string& id) const {
  if (const Intent* it = intents_.find(id))
    return view_of(*it);
  if (const Intent* it = fleet_intents_.find(id)) {
    IntentView v = view_of(*it);
    v.source = "fleet";
    return v;
  }
  return not_found_error("no intent '" + id + "'");
}

Result<HistoryView> Controller::history(const std::string& wan, int64_t since_ms,
                                        HistoryResolution resolution) const {
  if (policy_.find_wan(wan) == nullptr)
    return not_found_error("no wan '" + wan + "' in the policy");
  bool minutes = resolution == HistoryResolution::kMinute;
  return HistoryView{.wan = wan,
                     .interval_s = minutes ? kHistoryMinute.count() : kHistoryInterval.count(),
                     .capacity = minutes ? kHistoryMinutes : kHistorySamples,
                     .samples = history_.samples(wan, since_ms, resolution)};
}

Result<ExplainAnswer> Controller::explain(const ExplainQuery& query) const {
  std::string iif = query.iif;
  if (iif.empty() && !policy_.lan_interfaces.empty())
    iif = policy_.lan_interfaces.front();
  int ifindex = iif.empty() ? 0 : kernel_.ifindex_of(iif);
  if (!query.iif.empty() && ifindex == 0)
    return policy_error("no interface '" + query.iif + "'");
  auto sim = programmer_.dataplane().simulate(testing::build(query.frame), 0, ifindex,
                                              /*record_flow=*/false);
  if (!sim) {
    Error e = sim.take_error();
    e.context = "running the classifier on the crafted packet: " + e.context;
    return e;
  }
  ExplainAnswer answer = explain_answer(query, *sim, desired_, policy_.ownership.mark_mask);
  // A destination learned from DNS for a domain of the deciding class: say so.
  if (sim->class_id && !answer.established) {
    auto dst = IpAddr::parse(query.frame.dst);
    auto learned = programmer_.dataplane().learned_addresses();
    if (dst && learned) {
      for (const LearnedAddress& l : *learned) {
        if (l.addr == *dst && l.class_id == sim->class_id && l.expires_in_ms >= 0) {
          answer.domain = l.domain;
          answer.reasons.insert(answer.reasons.begin() + 1,
                                "the destination was learned from a DNS answer for " + l.domain +
                                    " (" + std::to_string(l.expires_in_ms / 1000) + " s left)");
          break;
        }
      }
    }
  }
  return answer;
}

Result<std::vector<DomainView>> Controller::domains(const std::string& klass) const {
  if (!klass.empty() && policy_.find_class(klass) == nullptr)
    return not_found_error("no class '" + klass + "' in the policy");
  auto learned = programmer_.dataplane().learned_addresses();
  if (!learned)
    return learned.take_error();
  std::vector<DomainView> out;
  for (const LearnedAddress& l : *learned) {
    DomainView v{.domain = l.domain,
                 .address = l.addr.to_string(),
                 .ttl_s = l.ttl_s,
                 .expires_in_ms = l.expires_in_ms};
    if (l.class_id && *l.class_id < desired_.classes.size())
      v.klass = desired_.classes[*l.class_id].name;
    if (!klass.empty() && v.klass != klass)
      continue;
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const DomainView& a, const DomainView& b) {
    return a.domain != b.domain ? a.domain < b.domain : a.address < b.address;
  });
  return out;
}

std::vector<ControlEvent> Controller::events(uint64_t since_id) const {
  return events_.since(since_id);
}

Subscription Controller::subscribe(std::function<void(const ControlEvent&)> listener) {
  return events_.subscribe(std::move(listener));
}

Result<PolicyChange> Controller::apply_policy(const std::string& text, bool dry_run,
                                              const Caller& by) {
  if (fleet_) {
    return conflict_error("the policy in force comes from the fleet (" + fleet_->origin +
                          "); change it there, or delete that key");
  }
  auto parsed = parse_policy(text, source_.path());
  if (!parsed)
    return parsed.take_error();
  if (auto r = check_capacity(*parsed, source_.path()); !r)
    return r.take_error();
  const Policy& next_policy = *parsed;
  // Plan it as adopt() would number it, without persisting anything.
  auto ids = state_.preview_numbers(next_policy.path_names(), max_uplink_id(next_policy.ownership),
                                    next_policy.ownership.table_base);
  if (!ids)
    return policy_error(ids.error().to_string());
  DesiredState next = plan(plan_input(next_policy, ids->ids()), plan_memory_, rt_.now());
  PolicyChange change{.dry_run = dry_run, .diff = diff_plans(desired_, next)};
  if (dry_run)
    return change;

  // The file stays the source of truth: write it first (atomically), so a
  // restart runs what the API put; the file watch then sees our own text.
  if (auto r = source_.write(text); !r)
    return system_error(r.error().to_string() + "; the running policy stays in force", 0);
  if (hooks_.reloading)
    hooks_.reloading();
  auto applied = apply_text(text, by);
  if (hooks_.ready)
    hooks_.ready();
  if (!applied)
    return applied.take_error();
  PS_LOG(kInfo) << "policy replaced by " << by.to_string() << " (generation " << generation_ << ")";
  change.applied = true;
  change.generation = generation_;
  return change;
}

Result<IntentView> Controller::add_intent(IntentRequest request, const Caller& by) {
  if (auto r = validate(request, policy_); !r)
    return r.take_error();
  auto added = intents_.add(std::move(request), rt_.wall_now());
  if (!added)
    return added.take_error();
  const Intent& it = *added;
  PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " added by "
                << by.to_string() << " for " << it.request.ttl_s << " s"
                << (it.request.comment.empty() ? "" : " (" + it.request.comment + ")");
  event(EventKind::kIntentAdded, it.id, "", it.request.klass, it.request.comment, &by);
  IntentView view = view_of(it);
  intents_changed(&by);
  return view;
}

Result<void> Controller::delete_intent(const std::string& id, const Caller& by) {
  const Intent* it = intents_.find(id);
  if (it == nullptr && fleet_intents_.find(id) != nullptr)
    return conflict_error("intent '" + id + "' comes from the fleet; delete it in etcd");
  if (it == nullptr)
    return not_found_error("no intent '" + id + "'");
  std::string klass = it->request.klass;
  intents_.remove(id);
  PS_LOG(kInfo) << "intent " << id << " deleted by " << by.to_string();
  event(EventKind::kIntentDeleted, id, "", klass, "", &by);
  intents_changed(&by);
  return ok();
}

void Controller::restore_intents() {
  intents_ = state_.load_intents();
  auto expired = intents_.expire(rt_.wall_now());
  for (const auto& it : expired)
    PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass
                  << " expired while stopped";
  if (!expired.empty())
    state_.save_intents(intents_);
  for (const auto& it : intents_.intents())
    PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " restored";
  arm_intent_timer();
}

void Controller::intents_changed(const Caller* by) {
  state_.save_intents(intents_);
  arm_intent_timer();
  apply(Trigger::kEvent, by);
}

void Controller::arm_intent_timer() {
  if (intent_timer_) {
    rt_.cancel(*intent_timer_);
    intent_timer_.reset();
  }
  auto next_ms = intents_.next_expiry_ms();
  if (auto f = fleet_intents_.next_expiry_ms(); f && (!next_ms || *f < *next_ms))
    next_ms = f;
  if (!next_ms)
    return;
  int64_t now_ms = to_unix_ms(rt_.wall_now());
  int64_t delay_ms = *next_ms <= now_ms ? 0 : std::min(*next_ms - now_ms, kMaxTimerMs);
  intent_timer_ = rt_.after(std::chrono::milliseconds(delay_ms), [this] {
    intent_timer_.reset();
    auto gone = intents_.expire(rt_.wall_now());
    auto fleet_gone = fleet_intents_.expire(rt_.wall_now());
    for (const auto& it : fleet_gone) {
      PS_LOG(kInfo) << "fleet intent " << it.id << " for class " << it.request.klass << " expired";
      event(EventKind::kIntentExpired, it.id, "", it.request.klass, "ttl");
    }
    if (gone.empty() && !fleet_gone.empty()) {
      arm_intent_timer();
      apply(Trigger::kEvent);
      return;
    }
    for (const auto& it : gone) {
      PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " expired";
      event(EventKind::kIntentExpired, it.id, "", it.request.klass, "ttl");
    }
    if (gone.empty())
      arm_intent_timer();
    else
      intents_changed(nullptr);
  });
}

void Controller::record_history() {
  int64_t now_ms = to_unix_ms(rt_.wall_now());
  bool minute_done = false;
  std::map<std::string, bool> keep;
  for (const auto& w : policy_.wans) {
    keep[w.name] = true;
    const UplinkHealth* h = prober_.health(w.name);
    HealthSample s{.t_ms = now_ms, .state = h == nullptr ? "unknown" : to_string(h->state)};
    if (h != nullptr && h->received > 0) {
      s.rtt_ms = h->rtt_ms;
      s.jitter_ms = h->jitter_ms;
      s.loss_pct = h->loss_pct;
    }
    minute_done = history_.record(w.name, std::move(s)) || minute_done;
  }
  history_.retain(keep);
  if (minute_done)
    state_.save_history(history_);  // at most once a minute
}

}  // namespace pathsteer
