#include "api/json_map.h"

#include <netinet/in.h>

namespace pathsteer {

namespace {

using nlohmann::json;

json opt(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

json opt_u32(const std::optional<uint32_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json health_json(const std::optional<UplinkHealth>& h) {
  return {{"state", h ? to_string(h->state) : "unknown"},
          {"reason", h ? h->reason : ""},
          {"carrier", h ? h->carrier : false}};
}

json wan_json(const WanStatus& w) {
  const PlannedUplink& u = w.planned;
  const auto& h = w.health;
  json j = health_json(h);
  j["name"] = u.name;
  j["interface"] = w.interface;
  j["ifindex"] = u.ifindex;
  j["rtt_ms"] = h ? h->rtt_ms : 0.0;
  j["jitter_ms"] = h ? h->jitter_ms : 0.0;
  j["loss_pct"] = h ? h->loss_pct : 0.0;
  j["sent"] = h ? h->sent : 0;
  j["received"] = h ? h->received : 0;
  j["failed"] = h ? h->failed : 0;
  j["targets"] = json::array();
  for (const auto& t : w.targets) {
    json tj{{"target", t.target.to_string()},
            {"method", to_string(t.method)},
            {"rtt_ms", t.rtt_ms},
            {"jitter_ms", t.jitter_ms},
            {"loss_pct", t.loss_pct},
            {"sent", t.sent},
            {"received", t.received},
            {"failed", t.failed}};
    if (t.port != 0)
      tj["port"] = t.port;
    j["targets"].push_back(tj);
  }
  j["gateway4"] = u.gateway4 ? json(u.gateway4->to_string()) : json(nullptr);
  j["gateway6"] = u.gateway6 ? json(u.gateway6->to_string()) : json(nullptr);
  j["mark"] = u.mark;
  j["table"] = u.table;
  j["state_since_ms"] = w.state_since_ms;
  j["degraded_if"] = {{"rtt_ms", opt_u32(w.degraded_if.rtt_ms)},
                      {"jitter_ms", opt_u32(w.degraded_if.jitter_ms)},
                      {"loss_pct", opt(w.degraded_if.loss_pct)}};
  if (w.traffic) {
    j["packets"] = w.traffic->packets;
    j["bytes"] = w.traffic->bytes;
  }
  return j;
}

json overlay_json(const OverlayStatus& os) {
  const PlannedOverlay& o = os.planned;
  const Overlay& spec = os.spec;
  const auto& h = os.health;
  bool measured = h && h->received > 0;
  json j = health_json(h);  // what its own probes say, through the tunnel
  j["name"] = o.name;
  j["interface"] = spec.interface;
  j["ifindex"] = o.ifindex;
  j["remote4"] = spec.remote4 ? json(spec.remote4->to_string()) : json(nullptr);
  j["remote6"] = spec.remote6 ? json(spec.remote6->to_string()) : json(nullptr);
  j["underlays"] = spec.underlays;
  j["underlay"] = o.underlay ? json(*o.underlay) : json(nullptr);
  j["underlay_reason"] = o.reason;
  j["usable"] = o.usable;
  j["degraded"] = o.degraded;
  j["route"] = o.route;
  j["tunnel"] = {{"rtt_ms", measured ? json(h->rtt_ms) : json(nullptr)},
                 {"jitter_ms", measured ? json(h->jitter_ms) : json(nullptr)},
                 {"loss_pct", measured ? json(h->loss_pct) : json(nullptr)},
                 {"sent", h ? h->sent : 0},
                 {"received", h ? h->received : 0},
                 {"failed", h ? h->failed : 0}};
  j["path"] = {{"rtt_ms", opt(o.metrics.rtt_ms)},
               {"jitter_ms", opt(o.metrics.jitter_ms)},
               {"loss_pct", opt(o.metrics.loss_pct)},
               {"cost", o.metrics.cost}};
  j["targets"] = json::array();
  for (const auto& t : os.targets) {
    j["targets"].push_back({{"target", t.target.to_string()},
                            {"method", to_string(t.method)},
                            {"rtt_ms", t.rtt_ms},
                            {"loss_pct", t.loss_pct},
                            {"sent", t.sent},
                            {"received", t.received}});
  }
  j["mark"] = o.mark;
  j["table"] = o.table;
  return j;
}

json class_json(const ClassStatus& cs) {
  const PlannedClass& c = cs.planned;
  json j;
  j["name"] = c.name;
  j["strategy"] = to_string(c.strategy);
  j["uplink"] = c.uplink ? json(*c.uplink) : json(nullptr);
  j["reason"] = c.reason;
  j["mark"] = c.mark;
  j["members"] = json::array();
  for (const auto& m : c.members)
    j["members"].push_back({{"uplink", m.uplink}, {"weight", m.weight}});
  j["sla_met"] = c.sla_met ? json(*c.sla_met) : json(nullptr);
  j["intent"] = c.intent;
  j["local"] = c.local;
  if (cs.sla) {
    j["sla"] = {{"max_rtt_ms", opt_u32(cs.sla->max_rtt_ms)},
                {"max_jitter_ms", opt_u32(cs.sla->max_jitter_ms)},
                {"max_loss_pct", opt(cs.sla->max_loss_pct)}};
  } else {
    j["sla"] = nullptr;
  }
  if (cs.traffic) {
    j["packets"] = cs.traffic->packets;
    j["bytes"] = cs.traffic->bytes;
  }
  return j;
}

json datapath_json(const DataplaneStatus& d) {
  json j;
  j["mode"] = to_string(d.mode);
  j["effective_mode"] = d.effective_mode;
  j["fib_table_lookup"] = d.fib_table_lookup;
  if (d.counters) {
    const DatapathCounters& c = *d.counters;
    j["counters"] = {{"parse_errors", c.parse_errors},
                     {"non_ip", c.non_ip},
                     {"link_scope", c.link_scope},
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
                     {"over_quota", c.over_quota},
                     {"fallbacks", c.fallbacks}};
    json top = json::array();
    for (const SourceFlows& f : c.top_sources) {
      top.push_back({{"source", f.source}, {"flows", f.flows}, {"over_quota", f.over_quota}});
    }
    j["counters"]["top_sources"] = std::move(top);
  }
  return j;
}

json class_change_json(const PlannedClass& c) {
  return {{"uplink", c.uplink ? json(*c.uplink) : json(nullptr)}, {"reason", c.reason}};
}

}  // namespace

json status_json(const StatusSnapshot& s) {
  json j;
  j["version"] = s.version;
  j["uptime_s"] = s.uptime_s;
  j["policy_generation"] = s.generation;
  j["policy_errors"] = s.policy_errors;
  j["policy_rejections"] = s.policy_rejections;
  j["policy_source"] = s.policy_source;
  j["synced"] = s.synced;
  j["sync_state"] = to_string(s.sync_state);
  j["errors"] = s.errors;
  j["conflicts"] = s.conflicts;
  j["reconcile"] = {{"runs", s.reconcile.runs},
                    {"changes_applied", s.reconcile.changes_applied},
                    {"changes_failed", s.reconcile.changes_failed},
                    {"dump_failures", s.reconcile.dump_failures},
                    {"overruns", s.overruns},
                    {"last_run_ms", s.last_run_ms}};
  j["wans"] = json::array();
  for (const auto& w : s.wans)
    j["wans"].push_back(wan_json(w));
  j["overlays"] = json::array();
  for (const auto& o : s.overlays)
    j["overlays"].push_back(overlay_json(o));
  const ProberStats& ps = s.prober;
  j["prober"] = {{"sent", ps.sent},
                 {"answered", ps.answered},
                 {"failed", ps.failed},
                 {"wakeups", ps.wakeups},
                 {"lateness_samples", ps.lateness_samples},
                 {"lateness_p50_ms", ps.lateness_p50_ms},
                 {"lateness_p99_ms", ps.lateness_p99_ms},
                 {"lateness_max_ms", ps.lateness_max_ms}};
  j["classes"] = json::array();
  for (const auto& c : s.classes)
    j["classes"].push_back(class_json(c));
  j["intents"] = intents_json(s.intents);
  j["datapath"] = datapath_json(s.datapath);
  return j;
}

json intent_json(const IntentView& v) {
  json j = intent_json(v.intent);
  j["applies"] = v.applies;
  j["source"] = v.source;
  return j;
}

json intents_json(const std::vector<IntentView>& v) {
  json a = json::array();
  for (const auto& it : v)
    a.push_back(intent_json(it));
  return a;
}

json explain_json(const ExplainAnswer& a) {
  const testing::Frame& in = a.query.frame;
  const char* proto = ip_proto_name(in.proto);
  json input = {{"src", in.src},
                {"dst", in.dst},
                {"proto", proto != nullptr ? json(proto) : json(std::to_string(in.proto))},
                {"dscp", in.dscp}};
  if (in.proto == IPPROTO_TCP || in.proto == IPPROTO_UDP) {
    input["sport"] = in.sport;
    input["dport"] = in.dport;
  }
  if (!a.query.iif.empty())
    input["iif"] = a.query.iif;
  json j;
  j["input"] = input;
  j["flow"] = a.established ? "established" : "new";
  j["source"] = "classifier";  // computed by the loaded program, not by the planner
  j["mark"] = a.mark;
  j["uplink"] = a.uplink ? json(a.uplink->name) : json(nullptr);
  j["table"] = a.uplink ? json(a.uplink->table) : json(nullptr);
  j["class"] = a.klass ? json(a.klass->name) : json(nullptr);
  j["strategy"] = a.klass ? json(to_string(a.klass->strategy)) : json(nullptr);
  j["reason"] = a.klass ? json(a.klass->reason) : json(nullptr);
  if (a.klass)
    j["intent"] = a.klass->intent;
  j["action"] = a.action;
  j["reasons"] = a.reasons;
  j["domain"] = a.domain.empty() ? json(nullptr) : json(a.domain);
  return j;
}

json domains_json(const std::vector<DomainView>& d) {
  json list = json::array();
  for (const DomainView& v : d) {
    list.push_back({{"domain", v.domain},
                    {"address", v.address},
                    {"class", v.klass.empty() ? json(nullptr) : json(v.klass)},
                    {"ttl_s", v.ttl_s},
                    {"expires_in_s", static_cast<double>(v.expires_in_ms) / 1000.0}});
  }
  return json{{"domains", list}};
}

json plan_diff_json(const PlanDiff& d) {
  json classes = json::array();
  for (const auto& c : d.classes) {
    json cj{{"class", c.klass}};
    switch (c.change) {
      case PlanDiff::Change::kAdded:
        cj["change"] = "added";
        break;
      case PlanDiff::Change::kMoved:
        cj["change"] = "moved";
        break;
      case PlanDiff::Change::kRemoved:
        cj["change"] = "removed";
        break;
    }
    if (c.before)
      cj["before"] = class_change_json(*c.before);
    if (c.after)
      cj["after"] = class_change_json(*c.after);
    classes.push_back(cj);
  }
  return {{"classes", classes},
          {"rules", {{"add", d.rules_add}, {"remove", d.rules_remove}}},
          {"routes", {{"add", d.routes_add}, {"remove", d.routes_remove}}},
          {"datapath_changed", d.datapath_changed}};
}

json policy_change_json(const PolicyChange& c) {
  json j{{"dry_run", c.dry_run}, {"applied", c.applied}, {"diff", plan_diff_json(c.diff)}};
  if (c.applied)
    j["generation"] = c.generation;
  return j;
}

json policy_json(const PolicyView& p) {
  return {{"path", p.path}, {"generation", p.generation}, {"text", p.text}, {"errors", p.errors}};
}

json history_json(const HistoryView& h) {
  json samples = json::array();
  for (const auto& s : h.samples) {
    samples.push_back({{"t_ms", s.t_ms},
                       {"state", s.state},
                       {"rtt_ms", opt(s.rtt_ms)},
                       {"jitter_ms", opt(s.jitter_ms)},
                       {"loss_pct", opt(s.loss_pct)}});
  }
  return {{"wan", h.wan},
          {"resolution", h.interval_s == 60 ? "1m" : "1s"},
          {"interval_s", h.interval_s},
          {"capacity", h.capacity},
          {"samples", samples}};
}

std::string sse_frame(const ControlEvent& e) {
  return "id: " + std::to_string(e.id) + "\nevent: " + to_string(e.kind) +
         "\ndata: " + event_json(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

json event_json(const ControlEvent& e) {
  return {{"id", e.id},     {"t_ms", e.t_ms}, {"kind", to_string(e.kind)}, {"subject", e.subject},
          {"from", e.from}, {"to", e.to},     {"reason", e.reason},        {"by", e.by}};
}

}  // namespace pathsteer
