// What the planner is given (PlanInput), built from what the other owners
// observed: the kernel view (interfaces, addresses, learned gateways), the
// probes' verdicts and figures, the verdicts a previous run remembered, and
// the intents. Pure: no I/O, no clock.
//
// Health: a path is planned with the prober's verdict, or — until the prober
// has one (kUnknown) — with the verdict the last daemon left in health.json,
// so a class that had failed over off a dead uplink does not go back to it for
// a detection time after a restart. Before the first reply the probes'
// figures are not measurements and are not passed on.
#pragma once

#include <map>
#include <string>

#include "controller/kernel_view.h"
#include "controller/planner.h"
#include "controller/policy.h"
#include "probes/prober_port.h"

namespace pathsteer {

// The verdict to plan a path with (see above); h is nullptr when unknown.
HealthState planning_state(const std::string& path, const UplinkHealth* h,
                           const std::map<std::string, HealthState>& remembered);

// `ids` and `policy` must outlive the returned input (it points at them).
PlanInput make_plan_input(const Policy& policy, const std::map<std::string, uint32_t>& ids,
                          const KernelView& kernel, const ProberPort& prober,
                          const std::map<std::string, HealthState>& remembered,
                          std::map<std::string, ClassOverride> overrides);

}  // namespace pathsteer
