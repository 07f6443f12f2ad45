// The planner's memory across restarts (<state-dir>/planner.json), so that a
// restarted daemon neither fails back early nor forgets where a class was.
//
// Persisted, per class and per overlay: the chosen uplink (null: last_resort),
// since when it was chosen and the last switch, as wall-clock Unix
// milliseconds (PlanTime is a steady clock, which does not survive a restart).
// Not persisted: good_since and better_since. Whether a path stayed good while
// no daemon watched it is unknown, so those runs start again at the first plan
// after the restart: a hold-down or a lowest-latency sustain is waited out
// again from there, never cut short.
#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/result.h"
#include "controller/planner.h"

namespace pathsteer {

// `now` and `wall_now` are the same instant on the two clocks.
nlohmann::json plan_memory_to_json(const PlannerMemory& memory, PlanTime now,
                                   std::chrono::system_clock::time_point wall_now);

// Times after wall_now (a clock set back) are taken as now. An error names the
// bad member: not version 1, a section not an object, an entry without
// 'uplink' (a name or null) and 'since_unix_ms', a time that is not an integer
// in 0..kMaxStateUnixMs (state_json.h).
Result<PlannerMemory> plan_memory_from_json(const nlohmann::json& j, PlanTime now,
                                            std::chrono::system_clock::time_point wall_now);
// The same from a file's text (not JSON: an error).
Result<PlannerMemory> plan_memory_from_text(const std::string& text, PlanTime now,
                                            std::chrono::system_clock::time_point wall_now);

}  // namespace pathsteer
