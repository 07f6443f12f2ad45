#include "controller/core.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "controller/capacity.h"
#include "controller/plan_input.h"

namespace pathsteer {

namespace {

// What the planner would see differently: figure re-plans are skipped when
// nothing of it changed.
bool same_views(const PlanInput& a, const PlanInput& b) {
  return a.uplinks == b.uplinks && a.overlays == b.overlays && a.overrides == b.overrides &&
         a.interfaces == b.interfaces;
}

bool usable(const std::optional<Link>& l) {
  return l && l->carrier && l->admin_up;
}

}  // namespace

Controller::Controller(Options options, CoreParts parts)
    : options_(std::move(options)),
      rt_(parts.runtime),
      kernel_(parts.kernel),
      prober_(parts.prober),
      programmer_(parts.programmer),
      state_(parts.state),
      source_(parts.policy_source) {}

Controller::~Controller() {
  for (auto* t : {&next_plan_timer_, &reconcile_timer_, &intent_timer_, &history_timer_}) {
    if (*t)
      rt_.cancel(**t);
  }
}

Result<void> Controller::start(Policy policy, std::string text,
                               std::optional<FleetPolicyText> fleet) {
  fleet_ = std::move(fleet);
  started_at_ = rt_.now();
  started_wall_ms_ = to_unix_ms(rt_.wall_now());
  restore_intents();
  // Remembered verdicts only for probed paths: without probes the carrier
  // alone decides, at once.
  for (const auto& [path, state] : state_.load_health()) {
    const Wan* w = policy.find_wan(path);
    const Overlay* o = policy.find_overlay(path);
    if ((w != nullptr && !w->probes.empty()) || (o != nullptr && !o->probes.empty())) {
      remembered_health_[path] = state;
      PS_LOG(kInfo) << (w != nullptr ? "uplink " : "overlay ") << path << " was "
                    << to_string(state)
                    << " when the last daemon stopped; planning with that until probed";
    }
  }
  if (auto m = state_.load_plan_memory(rt_.now(), rt_.wall_now()))
    plan_memory_ = std::move(*m);
  state_.load_history(history_);
  // The prober may report while it is configured; the first plan below takes
  // its verdicts as they are then.
  if (auto r = adopt(std::move(policy), /*first=*/true); !r)
    return r;
  file_text_ = std::move(text);
  policy_text_ = fleet_ ? fleet_->text : file_text_;
  history_timer_ = rt_.at(
      rt_.now() + kHistoryInterval, [this] { record_history(); }, kHistoryInterval);
  event(EventKind::kPolicyApplied, source_.path(), "", std::to_string(generation_), "start");
  started_ = true;
  apply(Trigger::kEvent);
  return ok();
}

// Numbers the policy's paths (stable across reloads and restarts), then hands
// the probes to the prober with each path's carrier.
Result<void> Controller::adopt(Policy policy, bool first) {
  auto ids = state_.number_uplinks(policy.path_names(), max_uplink_id(policy.ownership),
                                   policy.ownership.table_base, first);
  if (!ids)
    return ids.take_error();
  ids_ = std::move(*ids);
  policy_ = std::move(policy);
  ++generation_;
  source_.set_prefix_files(policy_.prefix_files);  // watched: a change reloads

  std::vector<UplinkProbeConfig> probes;
  auto probe_config = [&](const std::string& name, const std::string& ifname,
                          const HealthSpec& health, const std::vector<ProbeSpec>& specs) {
    // Bound to the path's interface and carrying its mark, so probes leave by
    // its table (an overlay's: `default dev <tunnel>`).
    probes.push_back(UplinkProbeConfig{.uplink = name,
                                       .ifname = ifname,
                                       .fwmark = mark_for(policy_.ownership, ids_.ids().at(name)),
                                       .health = health,
                                       .probes = specs});
  };
  for (const auto& w : policy_.wans)
    probe_config(w.name, w.interface, w.health, w.probes);
  for (const auto& o : policy_.overlays)
    probe_config(o.name, o.interface, o.health, o.probes);
  if (auto r = prober_.configure(probes); !r)
    return r;
  for (const auto& w : policy_.wans) {
    if (kernel_.link_named(w.interface) != nullptr)
      prober_.set_carrier(w.name, kernel_.usable(w.interface));
  }
  for (const auto& o : policy_.overlays)
    prober_.set_carrier(o.name, kernel_.usable(o.interface));
  return ok();
}

PlanInput Controller::plan_input(const Policy& policy,
                                 const std::map<std::string, uint32_t>& ids) const {
  return make_plan_input(policy, ids, kernel_, prober_, remembered_health_, overrides(policy));
}

void Controller::apply(Trigger trigger, const Caller* by) {
  PlanInput in = plan_input(policy_, ids_.ids());
  if (trigger == Trigger::kFigures && have_plan_ && last_input_ && same_views(in, *last_input_))
    return;  // the planner would see what it saw
  DesiredState next = plan(in, plan_memory_, rt_.now());
  last_input_ = std::move(in);
  plan_memory_ = next.memory;
  state_.save_plan_memory(plan_memory_, rt_.now(), rt_.wall_now());
  record_moves(next, by);

  const bool timed = trigger != Trigger::kEvent;
  bool dataplane_same =
      have_plan_ && dataplane_errors_.empty() && next.datapath == desired_.datapath;
  bool kernel_same = have_plan_ && next.rules == desired_.rules && next.routes == desired_.routes;
  if (timed && dataplane_same && kernel_same) {
    desired_ = std::move(next);
    arm_next_plan_timer();
    return;
  }

  std::vector<std::string> errors;
  if (auto r = programmer_.program(next.datapath); !r)
    errors.push_back("data plane: " + r.error().to_string());
  desired_ = std::move(next);
  have_plan_ = true;
  arm_next_plan_timer();

  std::vector<Programmer::Lan> lans;
  for (const auto& name : policy_.lan_interfaces)
    lans.emplace_back(name, kernel_.ifindex_of(name));
  for (auto& e : programmer_.attach(lans))
    errors.push_back(std::move(e));
  dataplane_errors_ = std::move(errors);
  for (const auto& e : dataplane_errors_)
    PS_LOG(kError) << e;
  // An event-driven plan always marks the sync dirty: the event (a link coming
  // up, drift in our slice) may be what a failing object waits for.
  if (!timed || !kernel_same) {
    programmer_.sync(DesiredKernel{.rules = desired_.rules, .routes = desired_.routes},
                     owned_slice());
  }
}

void Controller::record_moves(const DesiredState& next, const Caller* by) {
  for (size_t i = 0; i < next.classes.size(); ++i) {
    const auto& c = next.classes[i];
    const PlannedClass* before = nullptr;
    if (have_plan_ && i < desired_.classes.size() && desired_.classes[i].name == c.name)
      before = &desired_.classes[i];
    if (before != nullptr && before->uplink == c.uplink && before->reason == c.reason)
      continue;
    PS_LOG(kInfo) << "class " << c.name << " -> " << c.uplink.value_or("last_resort") << " ("
                  << c.reason << ")";
    event(EventKind::kClassMove, c.name, before ? before->uplink.value_or("") : "",
          c.uplink.value_or(""), c.reason, by);
  }
  for (const auto& o : next.overlays) {
    auto before = std::find_if(desired_.overlays.begin(), desired_.overlays.end(),
                               [&](const PlannedOverlay& p) { return p.name == o.name; });
    bool known = have_plan_ && before != desired_.overlays.end();
    if (known && before->underlay == o.underlay && before->reason == o.reason)
      continue;
    PS_LOG(kInfo) << "overlay " << o.name << " rides on " << o.underlay.value_or("nothing") << " ("
                  << o.reason << ")";
    event(EventKind::kOverlayMove, o.name, known ? before->underlay.value_or("") : "",
          o.underlay.value_or(""), o.reason, by);
  }
}

void Controller::arm_next_plan_timer() {
  if (next_plan_timer_ && next_plan_armed_at_ == desired_.next_plan_at)
    return;  // re-plans mostly keep the same deadline
  if (next_plan_timer_) {
    rt_.cancel(*next_plan_timer_);
    next_plan_timer_.reset();
  }
  if (!desired_.next_plan_at)
    return;
  next_plan_armed_at_ = desired_.next_plan_at;
  next_plan_timer_ = rt_.at(*desired_.next_plan_at, [this] {
    next_plan_timer_.reset();
    apply(Trigger::kTimer);
  });
}

void Controller::schedule_reconcile() {
  if (reconcile_timer_)
    return;
  reconcile_timer_ = rt_.after(kReconcileDebounce, [this] {
    reconcile_timer_.reset();
    apply(Trigger::kEvent);
  });
}

// Rounds decided in one loop turn (several paths, several targets) make one plan.
void Controller::schedule_figures_replan() {
  if (figures_replan_pending_)
    return;
  figures_replan_pending_ = true;
  rt_.defer([this] {
    figures_replan_pending_ = false;
    apply(Trigger::kFigures);
  });
}

void Controller::on_probe_report(const std::string& path, const UplinkHealth& h,
                                 bool state_changed) {
  if (!started_) {  // start() plans with whatever the prober says by then
    if (state_changed && h.state != HealthState::kUnknown) {
      last_health_[path] = h.state;
      remembered_health_.erase(path);
    }
    return;
  }
  if (!state_changed) {
    schedule_figures_replan();
    return;
  }
  PS_LOG(kInfo) << "uplink " << path << " is " << to_string(h.state) << " (" << h.reason << ")";
  auto it = last_health_.find(path);
  HealthState before = it == last_health_.end() ? HealthState::kUnknown : it->second;
  last_health_[path] = h.state;
  if (h.state != HealthState::kUnknown)
    remembered_health_.erase(path);  // the prober has its own verdict now
  if (h.state != before) {
    state_.save_health(last_health_);
    state_since_ms_[path] = to_unix_ms(rt_.wall_now());
    event(EventKind::kPathState, path, to_string(before), to_string(h.state),
          state_reason(path, h));
  }
  apply(Trigger::kEvent);  // traffic moves first; conntrack cleanup follows
  if (h.state == HealthState::kDown && before != HealthState::kDown &&
      policy_.conntrack_flush_on_down) {
    flush_conntrack(path);
  }
}

// Deletes the conntrack entries NAT'ed through the uplink (reply direction
// addressed to one of its addresses), so their clients reconnect over a live
// uplink at once. Never a global flush; the worker does the table walk.
void Controller::flush_conntrack(const std::string& uplink) {
  const Wan* w = policy_.find_wan(uplink);
  if (w == nullptr)
    return;
  ConntrackFilter filter;
  if (int ifindex = kernel_.ifindex_of(w->interface); ifindex != 0)
    filter.reply_dst = kernel_.addresses_of(ifindex);
  if (filter.reply_dst.empty()) {
    PS_LOG(kInfo) << "uplink " << uplink
                  << " has no addresses left: no conntrack entries to delete";
    return;
  }
  programmer_.flush_conntrack(uplink, std::move(filter));
}

// What a state change is put down to, for people: "probes: 3 rounds lost"
// rather than "probes" when the probes took a path down.
std::string Controller::state_reason(const std::string& path, const UplinkHealth& h) const {
  if (h.state != HealthState::kDown || h.reason != "probes")
    return h.reason;
  const HealthSpec* spec = nullptr;
  if (const Wan* w = policy_.find_wan(path))
    spec = &w->health;
  else if (const Overlay* o = policy_.find_overlay(path))
    spec = &o->health;
  if (spec == nullptr)
    return h.reason;
  return h.reason + ": " + std::to_string(spec->down_after) + " rounds lost";
}

void Controller::persist() {
  state_.save_history(history_);
}

std::optional<std::string> Controller::path_by_interface(const std::string& ifname) const {
  for (const auto& w : policy_.wans) {
    if (w.interface == ifname)
      return w.name;
  }
  for (const auto& o : policy_.overlays) {
    if (o.interface == ifname)
      return o.name;
  }
  return std::nullopt;
}

void Controller::set_carriers() {
  for (const auto& w : policy_.wans)
    prober_.set_carrier(w.name, kernel_.usable(w.interface));
  for (const auto& o : policy_.overlays)
    prober_.set_carrier(o.name, kernel_.usable(o.interface));
}

void Controller::on_kernel_change(const KernelDelta& delta) {
  if (delta.resynced) {
    set_carriers();
    apply(Trigger::kEvent);
    return;
  }
  bool replan = false;
  for (const auto& change : delta.links) {
    const auto& before = change.before;
    const auto& after = change.after;
    int ifindex = after ? after->ifindex : before->ifindex;
    if (!after)
      programmer_.forget_interface(ifindex);
    // A path's interface may appear, vanish, change carrier or be renamed (to
    // or from the path's interface name): look at both names.
    std::vector<std::string> names;
    if (after)
      names.push_back(after->name);
    if (before && (!after || before->name != after->name))
      names.push_back(before->name);
    for (const auto& name : names) {
      std::optional<std::string> path = path_by_interface(name);
      if (!path)
        continue;
      bool was_there = before && before->name == name;
      bool is_there = after && after->name == name;
      bool was = was_there && usable(before);
      bool is = is_there && usable(after);
      if (was == is && was_there == is_there)
        continue;
      PS_LOG(kInfo) << "uplink " << *path << " interface " << name << " (ifindex " << ifindex << ")"
                    << (is          ? " has carrier"
                        : !is_there ? " is gone"
                                    : " lost carrier");
      prober_.set_carrier(*path, is);  // reports a state change
      replan = true;
    }
    for (const auto& lan : policy_.lan_interfaces) {
      if (after && lan == after->name && !programmer_.attached().count(ifindex))
        replan = true;
    }
  }
  // An overlay's table gets routes for the families its interface has addresses of.
  for (int ifindex : delta.addresses) {
    auto link = kernel_.links().find(ifindex);
    if (link == kernel_.links().end())
      continue;
    for (const auto& o : policy_.overlays)
      replan = replan || o.interface == link->second.name;
  }
  // Learned gateways (main) and drift in our slice.
  const OwnedSlice slice = owned_slice();
  for (uint32_t table : delta.route_tables)
    replan = replan || table == RT_TABLE_MAIN || slice.table_in_range(table);
  for (uint32_t prio : delta.rule_priorities)
    replan = replan || (prio >= slice.rule_priority_lo && prio < slice.rule_priority_hi);
  if (replan)
    schedule_reconcile();
}

// Every reload, whatever asked for it, is framed by the hooks (RELOADING=1 and
// READY=1 for the service manager), also when the new policy is rejected.
void Controller::reload(bool file_changed, const Caller& by) {
  auto text = source_.read();
  if (text && file_changed && *text == file_text_ && policy_errors_.empty()) {
    // Rewritten with the same content (or our own PUT): nothing to do.
    PS_LOG(kDebug) << source_.path() << " rewritten with the policy in force: nothing to reload";
    return;
  }
  if (hooks_.reloading)
    hooks_.reloading();
  if (!text) {
    reject({text.error().to_string()}, by);
  } else {
    PS_LOG(kInfo) << "reloading " << source_.path() << " (" << by.to_string() << ")";
    (void)apply_text(*text, by);
  }
  if (hooks_.ready)
    hooks_.ready();
}

void Controller::policy_file_gone() {
  reject({source_.path() + " was deleted; the running policy stays in force"},
         Caller{.kind = Caller::Kind::kFile});
}

void Controller::reject(std::vector<std::string> errors, const Caller& by) {
  PS_LOG(kError) << "reload rejected; the running policy stays in force:";
  for (const auto& e : errors)
    PS_LOG(kError) << e;
  ++policy_rejections_;
  policy_errors_ = std::move(errors);
  event(EventKind::kPolicyRejected, origin(), "", "", policy_errors_.front(), &by);
}

// Validates, adopts and applies a policy text. A rejected text leaves the
// running policy in force; the error lists every finding.
Result<Policy> Controller::compose(const std::string& file) const {
  auto parsed = parse_policy(file, source_.path());
  if (!parsed)
    return parsed;
  if (!fleet_) {
    if (auto r = check_capacity(*parsed, source_.path()); !r)
      return r.take_error();
    return parsed;
  }
  // Its relative prefix files are this node's, beside the local policy file.
  auto from_fleet = parse_policy(fleet_->text, fleet_->origin, directory_of(source_.path()));
  if (!from_fleet)
    return from_fleet;
  if (from_fleet->fleet) {
    return invalid_input({Diagnostic{
        .file = fleet_->origin,
        .message = "a fleet policy has no fleet: block (it comes from the local file)"}});
  }
  from_fleet->fleet = parsed->fleet;
  if (auto r = check_capacity(*from_fleet, fleet_->origin); !r)
    return r.take_error();
  return from_fleet;
}

Result<void> Controller::set_fleet_policy(std::optional<FleetPolicyText> fleet, const Caller& by) {
  if (fleet == fleet_ && policy_errors_.empty())
    return ok();
  std::optional<FleetPolicyText> before = fleet_;
  fleet_ = std::move(fleet);
  if (hooks_.reloading)
    hooks_.reloading();
  PS_LOG(kInfo) << "fleet policy " << (fleet_ ? fleet_->origin : "gone: the file's again") << " ("
                << by.to_string() << ")";
  auto r = apply_text(file_text_, by);
  if (!r)
    fleet_ = std::move(before);
  if (hooks_.ready)
    hooks_.ready();
  return r;
}

void Controller::set_fleet_intents(std::vector<Intent> intents, const Caller& by) {
  IntentStore next;
  next.replace(std::move(intents));
  if (next.intents() == fleet_intents_.intents())
    return;
  fleet_intents_ = std::move(next);
  PS_LOG(kInfo) << fleet_intents_.intents().size() << " fleet intent(s) for this node ("
                << by.to_string() << ")";
  arm_intent_timer();
  apply(Trigger::kEvent, &by);
}

std::map<std::string, ClassOverride> Controller::overrides(const Policy& policy) const {
  auto out = fleet_intents_.overrides(policy);
  for (auto& [klass, ov] : intents_.overrides(policy))
    out[klass] = ov;  // local wins
  return out;
}

Result<void> Controller::apply_text(const std::string& text, const Caller& by) {
  // Wall time of the reload's two halves, for the log (the runtime's clock
  // may be a test's).
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto parsed = compose(text);
  const auto t1 = Clock::now();
  if (!parsed) {
    std::vector<std::string> lines;
    for (const auto& e : parsed.error().details)
      lines.push_back(e.to_string());
    reject(std::move(lines), by);
    return parsed.take_error();
  }
  const Ownership before = policy_.ownership;
  if (auto r = adopt(std::move(*parsed), /*first=*/false); !r) {
    PS_LOG(kError) << "reload failed: " << r.error().to_string();
    reject({r.error().to_string()}, by);
    return invalid_input({Diagnostic{.file = source_.path(), .message = r.error().to_string()}});
  }
  file_text_ = text;
  policy_text_ = fleet_ ? fleet_->text : text;
  policy_errors_.clear();
  event(EventKind::kPolicyApplied, origin(), "", std::to_string(generation_), "", &by);
  apply(Trigger::kEvent, &by);
  if (!(before == policy_.ownership)) {
    programmer_.release_slice(slice_of(before),
                              DesiredKernel{.rules = desired_.rules, .routes = desired_.routes});
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0;
  };
  const auto t2 = Clock::now();
  PS_LOG(kInfo) << "policy generation " << generation_ << " in force after " << ms(t2 - t0)
                << " ms (reading and checking " << ms(t1 - t0) << " ms, planning and applying "
                << ms(t2 - t1) << " ms)";
  return ok();
}

OwnedSlice Controller::slice_of(const Ownership& own) {
  return OwnedSlice{.rule_priority_lo = own.rule_priority_base,
                    .rule_priority_hi = own.rule_priority_base + 1000,
                    .table_lo = own.table_base,
                    .table_hi = own.table_base + 256,
                    .protocol = own.route_protocol};
}

void Controller::flush_owned_state() {
  programmer_.flush(owned_slice());
}

void Controller::event(EventKind kind, std::string subject, std::string from, std::string to,
                       std::string reason, const Caller* by) {
  events_.append(ControlEvent{.t_ms = to_unix_ms(rt_.wall_now()),
                              .kind = kind,
                              .subject = std::move(subject),
                              .from = std::move(from),
                              .to = std::move(to),
                              .reason = std::move(reason),
                              .by = by != nullptr ? by->to_string() : ""});
}

std::string Controller::status_line() const {
  std::string s = "generation " + std::to_string(generation_) + ": " +
                  std::to_string(desired_.classes.size()) + " classes over " +
                  std::to_string(desired_.uplinks.size()) + " uplinks";
  auto state_errors = state_.errors();
  if (!policy_errors_.empty())
    s += "; reload rejected, this generation stays in force: " + policy_errors_.front();
  else if (!dataplane_errors_.empty())
    s += "; " + dataplane_errors_.front();
  else if (!state_errors.empty())
    s += "; " + state_errors.front();
  std::replace(s.begin(), s.end(), '\n', ' ');  // one datagram line per variable
  return s;
}

}  // namespace pathsteer
