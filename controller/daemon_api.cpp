// The REST API's routes (DESIGN §9). Runs on the loop thread: HttpServer
// posts each request here, so handlers read and change controller state
// without locks.
#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "controller/daemon.h"
#include "controller/explain.h"
#include "controller/metrics.h"
#include "controller/uplink_ids.h"

namespace pathsteer {

namespace {

using nlohmann::json;

HttpResponse json_ok(int status, const json& j) {
  return HttpResponse{.status = status, .body = j.dump()};
}

HttpResponse request_error(const RequestError& e) {
  switch (e.fault) {
    case RequestFault::kMalformed:
      return json_error(400, "bad_request", e.message);
    case RequestFault::kInvalid:
      return json_error(422, "invalid", e.message);
    case RequestFault::kConflict:
      return json_error(409, "conflict", e.message);
    case RequestFault::kNotFound:
      return json_error(404, "not_found", e.message);
  }
  return json_error(500, "internal", e.message);
}

HttpResponse method_not_allowed(const char* allowed) {
  return json_error(405, "method_not_allowed", std::string("use ") + allowed);
}

json class_json(const PlannedClass& c) {
  return {{"uplink", c.uplink ? json(*c.uplink) : json(nullptr)}, {"reason", c.reason}};
}

// What applying `after` would change, seen from `before` (the plan in force):
// classes that move or change reason, and the kernel objects of our slice to
// add and to remove.
json plan_diff(const DesiredState& before, const DesiredState& after) {
  json classes = json::array();
  std::map<std::string, const PlannedClass*> old;
  for (const auto& c : before.classes)
    old[c.name] = &c;
  for (const auto& c : after.classes) {
    auto it = old.find(c.name);
    if (it == old.end()) {
      classes.push_back({{"class", c.name}, {"change", "added"}, {"after", class_json(c)}});
      continue;
    }
    if (it->second->uplink != c.uplink || it->second->reason != c.reason) {
      classes.push_back({{"class", c.name},
                         {"change", "moved"},
                         {"before", class_json(*it->second)},
                         {"after", class_json(c)}});
    }
    old.erase(it);
  }
  for (const auto& [name, c] : old)
    classes.push_back({{"class", name}, {"change", "removed"}, {"before", class_json(*c)}});
  auto objects = [](const auto& from, const auto& to) {
    json add = json::array(), remove = json::array();
    for (const auto& o : to) {
      if (std::find(from.begin(), from.end(), o) == from.end())
        add.push_back(o.to_string());
    }
    for (const auto& o : from) {
      if (std::find(to.begin(), to.end(), o) == to.end())
        remove.push_back(o.to_string());
    }
    return json{{"add", add}, {"remove", remove}};
  };
  return {{"classes", classes},
          {"rules", objects(before.rules, after.rules)},
          {"routes", objects(before.routes, after.routes)},
          {"datapath_changed", !(before.datapath == after.datapath)}};
}

HttpResponse policy_errors_response(const std::vector<PolicyError>& errors) {
  json details = json::array();
  for (const auto& e : errors)
    details.push_back({{"line", e.line}, {"column", e.column}, {"message", e.to_string()}});
  std::string first = errors.empty() ? "invalid policy" : errors.front().to_string();
  if (errors.size() > 1)
    first += " (and " + std::to_string(errors.size() - 1) + " more)";
  return HttpResponse{
      .status = 422,
      .body =
          json{{"error", {{"code", "invalid_policy"}, {"message", first}, {"details", details}}}}
              .dump()};
}

}  // namespace

bool Daemon::authorized(const HttpRequest& req) const {
  static constexpr std::string_view kPrefix = "Bearer ";
  if (token_.empty() || !req.authorization.starts_with(kPrefix))
    return false;
  std::string_view given = std::string_view(req.authorization).substr(kPrefix.size());
  if (given.size() != token_.size())
    return false;
  // Constant time in the token's contents (its length is not a secret worth hiding).
  return CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
}

void Daemon::handle_http(const HttpRequest& req, HttpServer::Reply reply) {
  const std::string& p = req.path;
  const bool get = req.method == "GET";
  auto need_auth = [&]() -> std::optional<HttpResponse> {
    if (authorized(req))
      return std::nullopt;
    if (token_.empty()) {
      return json_error(401, "unauthorized",
                        "this daemon has no --token-file: changes through the API are disabled");
    }
    return json_error(401, "unauthorized",
                      req.authorization.empty() ? "missing 'Authorization: Bearer <token>'"
                                                : "wrong bearer token");
  };

  if (p == "/healthz") {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(HttpResponse{.status = 200, .body = R"({"status":"ok"})"});
  }
  if (p == "/v1/status") {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(HttpResponse{.status = 200, .body = status_json()});
  }
  if (p == "/v1/intents") {
    if (get)
      return reply(list_intents());
    if (req.method != "POST")
      return reply(method_not_allowed("GET or POST"));
    if (auto denied = need_auth())
      return reply(*denied);
    return reply(post_intent(req));
  }
  static constexpr std::string_view kIntentPrefix = "/v1/intents/";
  if (p.starts_with(kIntentPrefix)) {
    std::string id = p.substr(kIntentPrefix.size());
    if (req.method == "GET") {
      const Intent* it = intents_.find(id);
      if (it == nullptr)
        return reply(json_error(404, "not_found", "no intent '" + id + "'"));
      return reply(json_ok(200, intent_json(*it, &policy_)));
    }
    if (req.method != "DELETE")
      return reply(method_not_allowed("GET or DELETE"));
    if (auto denied = need_auth())
      return reply(*denied);
    return reply(delete_intent(id));
  }
  if (p == "/v1/policy") {
    if (get)
      return reply(get_policy());
    if (req.method != "PUT")
      return reply(method_not_allowed("GET or PUT"));
    if (auto denied = need_auth())
      return reply(*denied);
    return reply(put_policy(req));
  }
  static constexpr std::string_view kWanPrefix = "/v1/wans/";
  if (p.starts_with(kWanPrefix) && p.ends_with("/history") && p.size() > kWanPrefix.size() + 8) {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(wan_history(p.substr(kWanPrefix.size(), p.size() - kWanPrefix.size() - 8), req));
  }
  if (p == "/metrics") {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(HttpResponse{.status = 200,
                              .content_type = "text/plain; version=0.0.4; charset=utf-8",
                              .body = metrics_text()});
  }
  if (p == "/v1/explain") {
    if (req.method != "POST")
      return reply(method_not_allowed("POST"));
    return reply(post_explain(req));
  }
  reply(json_error(404, "not_found", "no such endpoint: " + p));
}

HttpResponse Daemon::list_intents() const {
  json j = json::array();
  for (const auto& it : intents_.intents())
    j.push_back(intent_json(it, &policy_));
  return json_ok(200, json{{"intents", j}});
}

HttpResponse Daemon::post_intent(const HttpRequest& req) {
  auto parsed = parse_intent_request(req.body);
  if (auto* e = std::get_if<RequestError>(&parsed))
    return request_error(*e);
  auto& r = std::get<IntentRequest>(parsed);
  if (auto e = validate(r, policy_))
    return request_error(*e);
  auto added = intents_.add(std::move(r), WallClock::now());
  if (auto* e = std::get_if<RequestError>(&added))
    return request_error(*e);
  const Intent& it = std::get<Intent>(added);
  PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " added for "
                << it.request.ttl_s << " s" << (it.request.comment.empty() ? "" : " (")
                << it.request.comment << (it.request.comment.empty() ? "" : ")");
  json body = intent_json(it, &policy_);
  intents_changed();
  return json_ok(201, body);
}

HttpResponse Daemon::delete_intent(const std::string& id) {
  if (!intents_.remove(id))
    return json_error(404, "not_found", "no intent '" + id + "'");
  PS_LOG(kInfo) << "intent " << id << " deleted";
  intents_changed();
  return HttpResponse{.status = 204, .body = ""};
}

HttpResponse Daemon::post_explain(const HttpRequest& req) {
  auto parsed = parse_explain_request(req.body);
  if (auto* e = std::get_if<RequestError>(&parsed))
    return request_error(*e);
  const ExplainRequest& ex = std::get<ExplainRequest>(parsed);
  std::string iif = ex.iif;
  if (iif.empty() && !policy_.lan_interfaces.empty())
    iif = policy_.lan_interfaces.front();
  int ifindex = 0;
  for (const auto& [idx, link] : links_) {
    if (!iif.empty() && link.name == iif)
      ifindex = idx;
  }
  if (!ex.iif.empty() && ifindex == 0)
    return json_error(422, "invalid", "no interface '" + ex.iif + "'");
  auto sim = datapath_->simulate(testing::build(ex.frame), 0, ifindex, /*record_flow=*/false);
  if (!sim) {
    return json_error(500, "dataplane",
                      "running the classifier on the crafted packet: " + sim.error().to_string());
  }
  return json_ok(200, explain_result(ex, *sim, desired_, policy_.ownership.mark_mask));
}

HttpResponse Daemon::get_policy() const {
  return json_ok(200, json{{"path", opts_.policy_path},
                           {"generation", generation_},
                           {"text", policy_text_},
                           {"errors", policy_errors_}});
}

HttpResponse Daemon::put_policy(const HttpRequest& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("text") ||
      !body["text"].is_string() || body.size() != 1) {
    return json_error(400, "bad_request", R"(the body must be {"text": "<policy YAML>"})");
  }
  auto dry = req.query.find("dry_run");
  bool dry_run = dry != req.query.end() && (dry->second == "true" || dry->second == "1");
  if (dry != req.query.end() && !dry_run && dry->second != "false" && dry->second != "0")
    return json_error(400, "bad_request", "dry_run must be true or false");
  const std::string text = body["text"].get<std::string>();
  auto parsed = parse_policy(text, opts_.policy_path);
  if (auto* errs = (parsed ? nullptr : &parsed.error().details))
    return policy_errors_response(*errs);
  const Policy& next_policy = parsed.value();

  // Plan it as adopt_policy() would number it, without persisting anything.
  UplinkIds ids(max_uplink_id(next_policy.ownership), next_policy.ownership.table_base);
  (void)ids.load(opts_.state_dir + "/uplink-ids.json");  // unreadable: numbered afresh
  std::vector<std::string> names;
  for (const auto& w : next_policy.wans)
    names.push_back(w.name);
  if (auto r = ids.assign(names); !r)
    return json_error(422, "invalid_policy", r.error().to_string());
  DesiredState next = plan(plan_input(next_policy, ids.ids()), plan_memory_, PlanClock::now());
  json diff = plan_diff(desired_, next);
  if (dry_run)
    return json_ok(200, json{{"dry_run", true}, {"applied", false}, {"diff", diff}});

  // The file stays the source of truth: write it first (atomically), so a
  // restart runs what the API put; the file watch then sees our own text.
  if (auto r = write_file_atomic(opts_.policy_path, text); !r) {
    return json_error(500, "policy_write",
                      r.error().to_string() + "; the running policy stays in force");
  }
  notify_reloading();
  auto errs = reload_text(text);
  notify("READY=1\nSTATUS=" + notify_status());
  if (!errs.empty())
    return policy_errors_response(errs);
  PS_LOG(kInfo) << "policy replaced through the API (generation " << generation_ << ")";
  return json_ok(
      200,
      json{{"dry_run", false}, {"applied", true}, {"generation", generation_}, {"diff", diff}});
}

HttpResponse Daemon::wan_history(const std::string& name, const HttpRequest& req) const {
  if (policy_.find_wan(name) == nullptr)
    return json_error(404, "not_found", "no wan '" + name + "' in the policy");
  int64_t since = 0;
  if (auto it = req.query.find("since_ms"); it != req.query.end()) {
    char* end = nullptr;
    since = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0')
      return json_error(400, "bad_request", "since_ms must be an integer (Unix ms)");
  }
  auto j = history_.to_json(name, since);
  if (!j) {
    j = json{{"wan", name},
             {"interval_s", kHistoryInterval.count()},
             {"capacity", kHistorySamples},
             {"samples", json::array()}};
  }
  return json_ok(200, *j);
}

std::string Daemon::metrics_text() const {
  MetricsWriter m;
  m.family("pathsteer_build_info", "gauge", "Build information; the value is always 1.");
  m.sample({{"version", PATHSTEER_VERSION}}, 1);
  m.family("pathsteer_uptime_seconds", "gauge", "Seconds since the daemon started.");
  m.sample(std::chrono::duration<double>(EventLoop::now() - started_at_).count());
  m.family("pathsteer_policy_generation", "gauge", "Policies adopted since start (1 = the first).");
  m.sample(static_cast<double>(generation_));
  m.family("pathsteer_policy_rejections_total", "counter", "Policy reloads rejected.");
  m.sample(static_cast<double>(policy_rejections_));
  m.family("pathsteer_intents", "gauge", "Intents stored (applying or not).");
  m.sample(static_cast<double>(intents_.intents().size()));

  struct UplinkFigures {
    std::string name;
    const UplinkHealth* h;
  };
  std::vector<UplinkFigures> ups;
  for (const auto& w : policy_.wans)
    ups.push_back({w.name, prober_->health(w.name)});
  m.family("pathsteer_uplink_up", "gauge", "1 if the uplink is usable (up or degraded), else 0.");
  for (const auto& u : ups) {
    bool up =
        u.h != nullptr && (u.h->state == HealthState::kUp || u.h->state == HealthState::kDegraded);
    m.sample({{"uplink", u.name}}, up ? 1 : 0);
  }
  m.family("pathsteer_uplink_state", "gauge", "1 for the uplink's current health state.");
  for (const auto& u : ups) {
    for (HealthState st :
         {HealthState::kUnknown, HealthState::kUp, HealthState::kDegraded, HealthState::kDown}) {
      bool is = u.h != nullptr ? u.h->state == st : st == HealthState::kUnknown;
      m.sample({{"uplink", u.name}, {"state", to_string(st)}}, is ? 1 : 0);
    }
  }
  auto figure = [&](const char* name, const char* help, auto get) {
    m.family(name, "gauge", help);
    for (const auto& u : ups) {
      if (u.h != nullptr && u.h->received > 0)
        m.sample({{"uplink", u.name}}, get(*u.h));
    }
  };
  figure("pathsteer_uplink_rtt_seconds", "Mean probe round-trip time.",
         [](const UplinkHealth& h) { return h.rtt_ms / 1000; });
  figure("pathsteer_uplink_jitter_seconds", "Probe jitter (RFC 3550).",
         [](const UplinkHealth& h) { return h.jitter_ms / 1000; });
  figure("pathsteer_uplink_loss_ratio", "Probe loss over the loss window (0..1).",
         [](const UplinkHealth& h) { return h.loss_pct / 100; });
  auto counter = [&](const char* name, const char* help, auto get) {
    m.family(name, "counter", help);
    for (const auto& u : ups)
      m.sample({{"uplink", u.name}}, u.h != nullptr ? static_cast<double>(get(*u.h)) : 0);
  };
  counter("pathsteer_probes_sent_total", "Probes sent.",
          [](const UplinkHealth& h) { return h.sent; });
  counter("pathsteer_probes_received_total", "Probe replies received.",
          [](const UplinkHealth& h) { return h.received; });
  counter("pathsteer_probes_failed_total", "Probes that failed (timeout or ICMP error).",
          [](const UplinkHealth& h) { return h.failed; });
  ProberStats ps = prober_->stats();
  m.family("pathsteer_probe_lateness_p99_seconds", "gauge",
           "99th percentile of probe send lateness since start.");
  m.sample(ps.lateness_p99_ms / 1000);
  // A histogram too, so that percentiles over any window (rate() in Prometheus, or a
  // benchmark's before/after) can be computed; the edges are edges of the prober's 0.05 ms
  // buckets, so the counts are exact.
  const LatencyHistogram& lh = prober_->lateness();
  m.family("pathsteer_probe_lateness_seconds", "histogram",
           "Probe send lateness: handed to the kernel minus nominal send time (negative: early).");
  for (double le_ms : {-10.0, -5.0, -2.0, -1.0, -0.5, -0.2, -0.1, 0.0, 0.05, 0.1, 0.2, 0.5, 1.0,
                       2.0, 3.0, 5.0, 10.0, 20.0, 50.0}) {
    char le[32];
    std::snprintf(le, sizeof(le), "%g", le_ms / 1000);
    m.suffixed_sample("_bucket", {{"le", le}}, static_cast<double>(lh.count_below(le_ms)));
  }
  m.suffixed_sample("_bucket", {{"le", "+Inf"}}, static_cast<double>(lh.count()));
  m.suffixed_sample("_sum", {}, lh.sum_ms() / 1000);
  m.suffixed_sample("_count", {}, static_cast<double>(lh.count()));
  // What delays the probes: a loop callback that runs long (the loop is one thread).
  const EventLoop::Stats& ls = loop_->stats();
  m.family("pathsteer_event_loop_callbacks_total", "counter", "Event-loop callbacks run.");
  m.sample(static_cast<double>(ls.callbacks));
  m.family("pathsteer_event_loop_slow_callbacks_total", "counter",
           "Event-loop callbacks that ran longer than 2 ms.");
  m.sample(static_cast<double>(ls.slow_callbacks));
  m.family("pathsteer_event_loop_callback_max_seconds", "gauge",
           "The longest event-loop callback since start.");
  m.sample(std::chrono::duration<double>(ls.max_callback).count());

  m.family("pathsteer_class_info", "gauge",
           "1 per class, labelled with its current uplink (\"\" on last_resort) and reason.");
  for (const auto& c : desired_.classes) {
    m.sample({{"class", c.name}, {"uplink", c.uplink.value_or("")}, {"reason", c.reason}}, 1);
  }
  if (datapath_) {
    if (auto counters = datapath_->read_counters(); counters) {
      m.family("pathsteer_class_packets_total", "counter", "Packets classified into the class.");
      for (size_t i = 0; i < desired_.classes.size() && i < counters->classes.size(); ++i)
        m.sample({{"class", desired_.classes[i].name}},
                 static_cast<double>(counters->classes[i].packets));
      m.family("pathsteer_class_bytes_total", "counter", "Bytes classified into the class.");
      for (size_t i = 0; i < desired_.classes.size() && i < counters->classes.size(); ++i)
        m.sample({{"class", desired_.classes[i].name}},
                 static_cast<double>(counters->classes[i].bytes));
      m.family("pathsteer_datapath_packets_total", "counter",
               "Packets the classifier passed without a class, by reason.");
      m.sample({{"reason", "parse_error"}}, static_cast<double>(counters->parse_errors));
      m.sample({{"reason", "not_ip"}}, static_cast<double>(counters->non_ip));
      m.sample({{"reason", "unclassified"}}, static_cast<double>(counters->unclassified));
    }
  }
  const auto& rc = sync_.counters();
  m.family("pathsteer_reconcile_runs_total", "counter", "Reconcile passes against the kernel.");
  m.sample(static_cast<double>(rc.runs));
  m.family("pathsteer_reconcile_changes_total", "counter", "Kernel changes made, by result.");
  m.sample({{"result", "applied"}}, static_cast<double>(rc.changes_applied));
  m.sample({{"result", "failed"}}, static_cast<double>(rc.changes_failed));
  m.family("pathsteer_reconcile_dump_failures_total", "counter", "Kernel dumps that failed.");
  m.sample(static_cast<double>(rc.dump_failures));
  m.family("pathsteer_reconcile_last_duration_seconds", "gauge", "Duration of the last pass.");
  m.sample(std::chrono::duration<double>(sync_.last_run_duration()).count());
  m.family("pathsteer_netlink_overruns_total", "counter",
           "Netlink event socket overruns (each followed by a full resync).");
  m.sample(static_cast<double>(overruns_));
  m.family("pathsteer_kernel_synced", "gauge", "1 if the kernel holds the plan, else 0.");
  m.sample(sync_.state() == SyncState::kSynced && dataplane_errors_.empty() ? 1 : 0);
  return m.text();
}

}  // namespace pathsteer
