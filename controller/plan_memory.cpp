#include "controller/plan_memory.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace pathsteer {
namespace {

using WallTime = std::chrono::system_clock::time_point;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

int64_t to_unix_ms(PlanTime t, PlanTime now, WallTime wall_now) {
  return duration_cast<milliseconds>(
             (wall_now + duration_cast<milliseconds>(t - now)).time_since_epoch())
      .count();
}

PlanTime from_unix_ms(int64_t ms, PlanTime now, WallTime wall_now) {
  WallTime wall{milliseconds(ms)};
  return wall >= wall_now ? now : now - duration_cast<PlanClock::duration>(wall_now - wall);
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
    if (!e["since_unix_ms"].is_number_integer())
      return policy_error(where + ".since_unix_ms: not an integer");
    c.since = from_unix_ms(e["since_unix_ms"].get<int64_t>(), now, wall_now);
    if (e.contains("last_switch_unix_ms")) {
      if (!e["last_switch_unix_ms"].is_number_integer())
        return policy_error(where + ".last_switch_unix_ms: not an integer");
      c.last_switch = from_unix_ms(e["last_switch_unix_ms"].get<int64_t>(), now, wall_now);
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
