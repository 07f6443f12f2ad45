#include "controller/explain.h"

#include <cstdio>

namespace pathsteer {

ExplainAnswer explain_answer(const ExplainQuery& query, const SimulateResult& sim,
                             const DesiredState& plan, uint32_t mark_mask) {
  ExplainAnswer a;
  a.query = query;
  a.established = sim.established;
  a.mark = sim.mark & mark_mask;
  if (sim.class_id && *sim.class_id < plan.classes.size())
    a.klass = plan.classes[*sim.class_id];
  for (const auto& u : plan.uplinks) {
    if (sim.uplink_id != 0 ? u.id == sim.uplink_id : (a.mark != 0 && u.mark == a.mark))
      a.uplink = u;
  }
  if (!a.klass) {
    a.action = "unclassified";
    a.reasons.push_back("no class matches: the packet passes unmarked and the main table decides");
    return a;
  }
  const PlannedClass& cls = *a.klass;
  a.reasons.push_back("matches class " + cls.name + " (strategy " + to_string(cls.strategy) + ")");
  if (!a.uplink && cls.reason == kReasonAction) {
    a.action = "last_resort";
    a.reasons.push_back("class " + cls.name + " uses no uplink (action): " +
                        (a.mark == 0 ? "the main table decides" : "last_resort's route"));
    return a;
  }
  if (!a.uplink) {
    a.action = "last_resort";
    a.reasons.push_back("class " + cls.name + " has no usable path (reason " + cls.reason +
                        "): last_resort applies");
    return a;
  }
  const PlannedUplink& up = *a.uplink;
  a.action = sim.redirect_ifindex != 0 ? "redirect" : "mark";
  if (sim.established) {
    a.reasons.push_back("an established flow of this 5-tuple is pinned to uplink " + up.name +
                        " while it is live");
  } else {
    a.reasons.push_back("class " + cls.name + " sends new flows to uplink " + up.name +
                        " (reason " + cls.reason + ")");
  }
  if (!sim.fallback.empty())
    a.reasons.push_back("redirect fell back to marking: " + sim.fallback);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%x", a.mark);
  a.reasons.push_back(std::string("mark ") + hex + " leads to table " + std::to_string(up.table));
  return a;
}

}  // namespace pathsteer
