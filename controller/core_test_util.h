// Fakes for driving the controller core without root, a kernel or HTTP:
// FakeDataplane (records plans and attachments, answers explain from a set
// verdict), FakeProber (health set by the test, reported like the real one),
// MemoryPolicySource, and CoreRig, which wires them with FakeRuntime and
// FakeKernel (netlink/fake_kernel.h) around a Controller in a temp state dir.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "controller/core.h"
#include "controller/fake_runtime.h"
#include "netlink/fake_kernel.h"

namespace pathsteer::testing {

class FakeDataplane final : public DataplanePort {
 public:
  Result<void> attach(int ifindex) override {
    attached.push_back(ifindex);
    return ok();
  }
  Result<void> detach(int ifindex) override {
    detached.push_back(ifindex);
    return ok();
  }
  Result<void> program(const DatapathPlan& plan) override {
    if (fail_program)
      return unrealizable_error("fake: program refused");
    plans.push_back(plan);
    return ok();
  }
  Result<DatapathCounters> read_counters() const override { return counters; }
  const DatapathFeatures& features() const override { return features_; }
  std::string effective_mode(DatapathMode requested) const override { return to_string(requested); }
  Result<SimulateResult> simulate(std::span<const uint8_t> frame, uint32_t, int ingress_ifindex,
                                  bool record_flow) const override {
    last_frame_size = frame.size();
    last_ingress = ingress_ifindex;
    last_record_flow = record_flow;
    return verdict;
  }
  Result<void> unpin() override {
    unpinned = true;
    return ok();
  }
  Result<std::vector<LearnedAddress>> learned_addresses() const override { return learned; }
  Result<void> expire_learned() override {
    ++expire_calls;
    return ok();
  }

  std::vector<DatapathPlan> plans;
  std::vector<int> attached, detached;
  bool fail_program = false;
  bool unpinned = false;
  DatapathCounters counters;
  std::vector<LearnedAddress> learned;
  int expire_calls = 0;
  SimulateResult verdict;
  mutable size_t last_frame_size = 0;
  mutable int last_ingress = -1;
  mutable bool last_record_flow = true;

 private:
  DatapathFeatures features_;
};

class FakeProber final : public ProberPort {
 public:
  Result<void> configure(const std::vector<UplinkProbeConfig>& uplinks) override {
    configured = uplinks;
    std::map<std::string, UplinkHealth> next;
    for (const auto& u : uplinks) {
      auto it = health_.find(u.uplink);
      next[u.uplink] = it != health_.end() ? it->second : UplinkHealth{};
    }
    health_ = std::move(next);
    return ok();
  }
  void set_carrier(const std::string& uplink, bool carrier) override {
    carriers[uplink] = carrier;
    auto it = health_.find(uplink);
    if (it == health_.end() || it->second.carrier == carrier)
      return;
    it->second.carrier = carrier;
    if (!carrier) {
      it->second.state = HealthState::kDown;
      it->second.reason = "carrier";
    }
    if (on_report)
      on_report(uplink, it->second, true);
  }
  const UplinkHealth* health(const std::string& uplink) const override {
    auto it = health_.find(uplink);
    return it == health_.end() ? nullptr : &it->second;
  }
  std::vector<TargetHealth> targets(const std::string&) const override { return {}; }
  ProberStats stats() const override { return {}; }
  const LatencyHistogram& lateness() const override { return lateness_; }

  // A decided round: new figures, and a state (a change is reported as one).
  void round(const std::string& uplink, HealthState state, double rtt_ms, double loss_pct = 0) {
    UplinkHealth& h = health_.at(uplink);
    bool changed = h.state != state;
    h.state = state;
    h.reason = "probes";
    h.rtt_ms = rtt_ms;
    h.loss_pct = loss_pct;
    h.received += 1;
    if (on_report)
      on_report(uplink, h, changed);
  }

  OnProbeReport on_report;
  std::vector<UplinkProbeConfig> configured;
  std::map<std::string, bool> carriers;

 private:
  std::map<std::string, UplinkHealth> health_;
  LatencyHistogram lateness_;
};

class MemoryPolicySource final : public PolicySource {
 public:
  explicit MemoryPolicySource(std::string text) : text(std::move(text)) {}
  const std::string& path() const override { return path_; }
  Result<std::string> read() const override {
    if (unreadable)
      return system_error("reading policy " + path_, EACCES);
    return text;
  }
  Result<void> write(const std::string& t) override {
    if (read_only)
      return system_error("writing " + path_ + ".tmp", EROFS);
    text = t;
    ++writes;
    return ok();
  }
  void set_prefix_files(const std::vector<std::string>& paths) override { prefix_files = paths; }
  std::string text;
  std::vector<std::string> prefix_files;  // as the controller last named them
  bool unreadable = false;
  bool read_only = false;
  int writes = 0;

 private:
  std::string path_ = "/etc/pathsteer/policy.yaml";
};

inline Link test_link(int ifindex, const std::string& name, bool up = true) {
  return Link{.ifindex = ifindex, .name = name, .admin_up = up, .carrier = up};
}

// A Controller over fakes, with a fresh state directory.
class CoreRig {
 public:
  explicit CoreRig(std::string policy_text, std::vector<Link> links = {})
      : source(std::move(policy_text)) {
    char tmpl[] = "/tmp/ps-core-XXXXXX";
    dir = ::mkdtemp(tmpl);
    kernel_view.replace(links, {}, {});
    make();
  }
  ~CoreRig() {
    core.reset();
    std::filesystem::remove_all(dir);
  }

  // A new Controller on the same state directory (a restart).
  void make() {
    core.reset();
    programmer = std::make_unique<Programmer>(rt, dataplane, fake_kernel,
                                              [this](const std::string& uplink, ConntrackFilter f) {
                                                conntrack.emplace_back(uplink, std::move(f));
                                              });
    state = std::make_unique<StateDir>(dir);
    core = std::make_unique<Controller>(Controller::Options{.version = "test"},
                                        CoreParts{.runtime = rt,
                                                  .kernel = kernel_view,
                                                  .prober = prober,
                                                  .programmer = *programmer,
                                                  .state = *state,
                                                  .policy_source = source});
    prober.on_report = [this](const std::string& p, const UplinkHealth& h, bool changed) {
      core->on_probe_report(p, h, changed);
    };
  }

  Result<void> start() {
    auto policy = parse_policy(source.text, source.path());
    if (!policy)
      return policy.take_error();
    return core->start(std::move(*policy), source.text);
  }

  // A link event as the observer would deliver it.
  void link_event(const Link& link, bool deleted = false) {
    KernelDelta d;
    Event ev{.kind = deleted ? Event::Kind::kDelLink : Event::Kind::kNewLink, .object = link};
    kernel_view.apply(ev, d);
    core->on_kernel_change(d);
  }

  const PlannedClass& klass(const std::string& name) const {
    for (const auto& c : core->desired().classes) {
      if (c.name == name)
        return c;
    }
    throw std::runtime_error("no class " + name);
  }

  std::string dir;
  FakeRuntime rt;
  KernelView kernel_view;
  FakeKernel fake_kernel;
  FakeDataplane dataplane;
  FakeProber prober;
  MemoryPolicySource source;
  std::vector<std::pair<std::string, ConntrackFilter>> conntrack;
  std::unique_ptr<Programmer> programmer;
  std::unique_ptr<StateDir> state;
  std::unique_ptr<Controller> core;
};

}  // namespace pathsteer::testing
