#include "controller/plan_memory.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "controller/state_json.h"

namespace pathsteer {
namespace {

using WallTime = std::chrono::system_clock::time_point;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

const std::string kNotATime =
    "not an integer in 0.." + std::to_string(kMaxStateUnixMs) + " (Unix ms)";

int64_t to_unix_ms(PlanTime t, PlanTime now, WallTime wall_now) {
  return duration_cast<milliseconds>(
             (wall_now + duration_cast<milliseconds>(t - now)).time_since_epoch())
      .count();
}

// ms is 0..kMaxStateUnixMs (checked by the parser). Compared in ms: a time
// past 2262 does not fit a WallTime, and the age of a time not in the future
// is at most wall_now's own, which fits.
PlanTime from_unix_ms(int64_t ms, PlanTime now, WallTime wall_now) {
  int64_t wall_now_ms = duration_cast<milliseconds>(wall_now.time_since_epoch()).count();
  return ms >= wall_now_ms ? now : now - milliseconds(wall_now_ms - ms);
}

nlohmann::json section(const std::map<std::string, ClassMemory>& m, PlanTime now,
                       WallTime wall_now) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, c] : m) {
    nlohmann::json e;
    e["uplink"] = c.uplink ? nlohmann::json(*c.uplink) : nlohmann::json(nullptr);
    e["since_unix_ms"] = to_unix_ms(c.since, now, wall_now);
    if (c.last_switch)
      e["last_switch_unix_ms"] = to_unix_ms(*c.last_switch, now, wall_now);
    out[name] = std::move(e);
  }
  return out;
}

Result<std::map<std::string, ClassMemory>> parse_section(const nlohmann::json& j,
                                                         const std::string& what, PlanTime now,
                                                         WallTime wall_now) {
  std::map<std::string, ClassMemory> out;
  if (!j.contains(what))
    return out;
  if (!j[what].is_object())
    return policy_error("planner memory: '" + what + "' is not an object");
  for (const auto& [name, e] : j[what].items()) {
    const std::string where = "planner memory: " + what + "." + name;
    if (!e.is_object() || !e.contains("uplink") || !e.contains("since_unix_ms"))
      return policy_error(where + ": needs 'uplink' and 'since_unix_ms'");
    ClassMemory c;
    if (e["uplink"].is_string())
      c.uplink = e["uplink"].get<std::string>();
    else if (!e["uplink"].is_null())
      return policy_error(where + ".uplink: not a name or null");
    auto since = json_unix_ms(e["since_unix_ms"]);
    if (!since)
      return policy_error(where + ".since_unix_ms: " + kNotATime);
    c.since = from_unix_ms(*since, now, wall_now);
    if (e.contains("last_switch_unix_ms")) {
      auto last_switch = json_unix_ms(e["last_switch_unix_ms"]);
      if (!last_switch)
        return policy_error(where + ".last_switch_unix_ms: " + kNotATime);
      c.last_switch = from_unix_ms(*last_switch, now, wall_now);
    }
    out[name] = std::move(c);
  }
  return out;
}

}  // namespace

nlohmann::json plan_memory_to_json(const PlannerMemory& memory, PlanTime now, WallTime wall_now) {
  return nlohmann::json{{"version", 1},
                        {"classes", section(memory.classes, now, wall_now)},
                        {"overlays", section(memory.overlays, now, wall_now)}};
}

Result<PlannerMemory> plan_memory_from_text(const std::string& text, PlanTime now,
                                            WallTime wall_now) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return policy_error("planner memory: not JSON");
  return plan_memory_from_json(j, now, wall_now);
}

Result<PlannerMemory> plan_memory_from_json(const nlohmann::json& j, PlanTime now,
                                            WallTime wall_now) {
  if (!j.is_object() || !j.contains("version") || j["version"] != 1)
    return policy_error("planner memory: not a version 1 planner memory file");
  auto classes = parse_section(j, "classes", now, wall_now);
  if (!classes)
    return classes.take_error();
  auto overlays = parse_section(j, "overlays", now, wall_now);
  if (!overlays)
    return overlays.take_error();
  return PlannerMemory{.classes = std::move(*classes), .overlays = std::move(*overlays)};
}

}  // namespace pathsteer
