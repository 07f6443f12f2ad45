// FakeService: a ControlService with canned answers, for the HTTP fuzz target
// and tests of the API's routes that need no controller. Writes succeed
// unless the request names "missing"/"conflict"; reads return one wan, one
// class, one intent.
#pragma once

#include <utility>

#include "controller/service.h"

namespace pathsteer::testing {

class FakeService final : public ControlService {
 public:
  StatusSnapshot status() const override {
    StatusSnapshot s;
    s.version = "fake";
    s.generation = 1;
    // Named locals, moved in: a pushed temporary made GCC 12 at -O3 report a false
    // -Wmaybe-uninitialized on its strings.
    WanStatus wan;
    wan.interface = "eth1";
    wan.planned.name = "wan1";
    s.wans.push_back(std::move(wan));
    ClassStatus klass;
    klass.planned.name = "default";
    klass.planned.uplink = "wan1";
    s.classes.push_back(std::move(klass));
    s.intents = intents();
    return s;
  }
  PolicyView policy() const override {
    return PolicyView{
        .path = "/etc/pathsteer/policy.yaml", .generation = 1, .text = "version: 1\n"};
  }
  std::vector<IntentView> intents() const override {
    IntentView v{.applies = true};
    v.intent.id = "i-0000000000000001";
    v.intent.request.klass = "default";
    v.intent.request.paths = std::vector<std::string>{"wan1"};
    v.intent.request.ttl_s = 60;
    return {v};
  }
  Result<IntentView> intent(const std::string& id) const override {
    if (id != "i-0000000000000001")
      return not_found_error("no intent '" + id + "'");
    return intents().front();
  }
  Result<HistoryView> history(const std::string& wan, int64_t since_ms,
                              HistoryResolution) const override {
    if (wan != "wan1")
      return not_found_error("no wan '" + wan + "' in the policy");
    return HistoryView{.wan = wan,
                       .interval_s = 1,
                       .capacity = 3600,
                       .samples = {HealthSample{.t_ms = since_ms + 1, .state = "up"}}};
  }
  Result<ExplainAnswer> explain(const ExplainQuery& query) const override {
    if (query.iif == "missing")
      return policy_error("no interface 'missing'");
    return ExplainAnswer{.query = query, .action = "unclassified"};
  }
  Result<std::vector<DomainView>> domains(const std::string& klass) const override {
    if (!klass.empty() && klass != "video")
      return not_found_error("no class '" + klass + "' in the policy");
    return std::vector<DomainView>{DomainView{.domain = "*.cdn.example",
                                              .address = "192.0.2.10",
                                              .klass = "video",
                                              .ttl_s = 60,
                                              .expires_in_ms = 359000}};
  }
  std::vector<ControlEvent> events(uint64_t since_id) const override {
    if (since_id >= 1)
      return {};
    return {ControlEvent{.id = 1, .kind = EventKind::kPolicyApplied, .subject = "p"}};
  }
  Subscription subscribe(std::function<void(const ControlEvent&)>) override { return {}; }
  Result<PolicyChange> apply_policy(const std::string& text, bool dry_run, const Caller&) override {
    if (text.find("missing") != std::string::npos)
      return invalid_input({Diagnostic{.file = "p", .line = 1, .column = 1, .message = "bad"}});
    return PolicyChange{.dry_run = dry_run, .applied = !dry_run, .generation = 2};
  }
  Result<IntentView> add_intent(IntentRequest request, const Caller&) override {
    if (request.klass == "conflict")
      return conflict_error("class 'conflict' already has an intent");
    if (request.klass == "missing")
      return policy_error("no class 'missing'");
    IntentView v{.applies = true};
    v.intent.request = std::move(request);
    return v;
  }
  Result<void> delete_intent(const std::string& id, const Caller&) override {
    if (id != "i-0000000000000001")
      return not_found_error("no intent '" + id + "'");
    return ok();
  }
};

}  // namespace pathsteer::testing
