// A planner driven step by step with a simulated clock, for the strategy,
// restart and overlay tests: wans named by the test (ifindex 11, 12, ...,
// gateway 192.0.2.<ifindex>, ids 1, 2, ...) and one class "c".
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "controller/planner.h"

namespace pathsteer {

struct PlanSim {
  Policy policy;
  std::map<std::string, uint32_t> ids;
  PlanInput in;
  PlannerMemory memory;
  PlanTime t0 = PlanTime{} + std::chrono::seconds(1000);
  PlanTime now = t0;
  DesiredState last;

  PlanSim(const std::vector<std::string>& wans, Strategy strategy, std::vector<std::string> paths) {
    policy.lan_interfaces = {"lan0"};
    int ifindex = 11;
    for (const std::string& name : wans) {
      Wan w;
      w.name = name;
      w.interface = "eth-" + name;
      w.gateway4 = IpAddr::parse("192.0.2." + std::to_string(ifindex));
      policy.wans.push_back(w);
      ids[name] = static_cast<uint32_t>(ids.size() + 1);
      in.uplinks[name] = UplinkView{.ifindex = ifindex++};
    }
    ClassSpec c;
    c.name = "c";
    c.strategy = strategy;
    c.paths = std::move(paths);
    policy.classes = {c};
    in.policy = &policy;
    in.uplink_ids = &ids;
  }

  ClassSpec& cls() { return policy.classes[0]; }
  UplinkView& view(const std::string& name) { return in.uplinks[name]; }

  // Plans at t0 + `at`, keeping the memory for the next step.
  PlannedClass at(std::chrono::milliseconds at) {
    now = t0 + at;
    last = plan(in, memory, now);
    memory = last.memory;
    return last.classes.at(0);
  }
};

inline std::string uplink_of(const PlannedClass& c) {
  return c.uplink.value_or("last_resort");
}

}  // namespace pathsteer
