// Fuzz target: the four state-file loaders (controller/state_dir.h), from text, no files.
// The first byte picks the loader, the rest is the file:
//   'u' uplink-ids.json -> UplinkIds::parse (max 254, table base 200), then assign();
//   'i' intents.json    -> IntentStore::parse, then expiry and a save/parse round trip;
//   'p' planner.json    -> plan_memory_from_text, then a save/parse round trip;
//   anything else       -> health.json, health_from_text.
// A file is loaded with every number in its bounds or refused with a message; a crash, hang,
// leak or UB (an overflowed time conversion) is a bug.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "controller/intents.h"
#include "controller/plan_memory.h"
#include "controller/state_dir.h"
#include "controller/state_json.h"
#include "controller/uplink_ids.h"

namespace {

using namespace pathsteer;

void require(bool ok) {
  if (!ok)
    std::abort();
}

void refused_with_a_reason(const Error& e) {
  require(!e.to_string().empty());
}

void uplink_ids(const std::string& text) {
  UplinkIds ids(254, 200);
  auto r = ids.parse(text, "uplink-ids.json");
  if (!r)
    return refused_with_a_reason(r.error());
  std::set<uint32_t> seen;
  for (const auto& [name, n] : ids.ids()) {
    require(n >= 1 && n <= 254 && !Ownership::is_reserved_table(200 + n));
    require(seen.insert(n).second);
  }
  require(ids.assign({"wan1", "wan2", "wan3"}).ok());
}

void intents(const std::string& text) {
  IntentStore store("intents.json");
  auto r = store.parse(text);
  if (!r)
    return refused_with_a_reason(r.error());
  nlohmann::json saved = {{"version", 1}, {"intents", nlohmann::json::array()}};
  for (const auto& it : store.intents()) {
    require(it.created_ms >= 0 && it.created_ms <= it.expires_ms &&
            it.expires_ms <= kMaxStateUnixMs);
    require(it.request.ttl_s >= 1 && it.request.ttl_s <= kMaxIntentTtlS);
    saved["intents"].push_back(intent_json(it));
  }
  (void)store.next_expiry();
  IntentStore again("intents.json");
  require(again.parse(saved.dump()).ok());
  require(again.intents().size() == store.intents().size());
  (void)store.expire(WallTime(std::chrono::seconds(1'800'000'000)));
}

void planner_memory(const std::string& text) {
  const PlanTime now = PlanTime{} + std::chrono::hours(1000);
  const WallTime wall_now = WallTime(std::chrono::seconds(1'800'000'000));
  auto m = plan_memory_from_text(text, now, wall_now);
  if (!m)
    return refused_with_a_reason(m.error());
  auto again = plan_memory_from_json(plan_memory_to_json(*m, now, wall_now), now, wall_now);
  require(again.ok());
  require(again->classes.size() == m->classes.size());
  require(again->overlays.size() == m->overlays.size());
}

void health(const std::string& text) {
  auto verdicts = health_from_text(text);
  if (!verdicts)
    return refused_with_a_reason(verdicts.error());
  for (const auto& [name, state] : *verdicts)
    require(state != HealthState::kUnknown);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'u':
      uplink_ids(text);
      break;
    case 'i':
      intents(text);
      break;
    case 'p':
      planner_memory(text);
      break;
    default:
      health(text);
      break;
  }
  return 0;
}
