// History: the 1 s and 1 min rings, and the minute ring's round trip through
// history.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controller/history.h"

namespace pathsteer {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;  // a minute boundary (Unix ms)

HealthSample at(int64_t t_ms, const char* state, std::optional<double> rtt = std::nullopt) {
  return HealthSample{.t_ms = t_ms, .state = state, .rtt_ms = rtt, .loss_pct = 0.0};
}

TEST(History, MinutesAreMeansWithTheWorstState) {
  History h;
  EXPECT_FALSE(h.record("wan1", at(kT0, "up", 10)));
  EXPECT_FALSE(h.record("wan1", at(kT0 + 1000, "down")));
  EXPECT_FALSE(h.record("wan1", at(kT0 + 59000, "up", 20)));
  // The minute in progress is the newest 1 min sample.
  auto m = h.samples("wan1", 0, HistoryResolution::kMinute);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].t_ms, kT0);
  EXPECT_EQ(m[0].state, "down");
  EXPECT_EQ(m[0].rtt_ms, 15.0);
  EXPECT_FALSE(m[0].jitter_ms);  // nothing measured
  // The next minute's first sample completes it.
  EXPECT_TRUE(h.record("wan1", at(kT0 + 60000, "up", 30)));
  m = h.samples("wan1", 0, HistoryResolution::kMinute);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].t_ms, kT0 + 60000);
  EXPECT_EQ(m[1].state, "up");
  EXPECT_EQ(h.samples("wan1", kT0, HistoryResolution::kMinute).size(), 1u);
  EXPECT_EQ(h.samples("wan1", 0, HistoryResolution::kSecond).size(), 4u);
}

TEST(History, RingsAreBounded) {
  History h;
  for (int64_t i = 0; i < int64_t{kHistoryMinutes} * 60 + 3600; i += 30)
    h.record("wan1", at(kT0 + i * 1000, "up", 1));
  EXPECT_LE(h.samples("wan1", 0, HistoryResolution::kSecond).size(), kHistorySamples);
  EXPECT_EQ(h.samples("wan1", 0, HistoryResolution::kMinute).size(), kHistoryMinutes + 1);
}

TEST(History, TheMinuteRingSurvivesARoundTripAndBadFilesAreRefused) {
  History h;
  for (int i = 0; i < 180; ++i)
    h.record("wan1", at(kT0 + i * 1000, i < 90 ? "up" : "degraded", 10 + i % 3));
  auto before = h.samples("wan1", 0, HistoryResolution::kMinute);
  History restored;
  ASSERT_TRUE(restored.minutes_from_json(h.minutes_to_json()));
  EXPECT_EQ(restored.samples("wan1", 0, HistoryResolution::kMinute), before);
  EXPECT_TRUE(restored.samples("wan1", 0, HistoryResolution::kSecond).empty());
  // Not ours: refused whole, nothing changes.
  EXPECT_FALSE(restored.minutes_from_json(nlohmann::json::parse(R"({"version":2,"uplinks":{}})")));
  EXPECT_EQ(restored.samples("wan1", 0, HistoryResolution::kMinute), before);
  // Rows out of bounds are dropped; the rest is kept, sorted.
  auto j = nlohmann::json::parse(R"({"version":1,"uplinks":{"wan1":[
      [1800000120000,"up",1,null,0],[-5,"up",1,1,1],[9000000000000000000,"up",1,1,1],
      [1800000060000,"weird",1,1,1],[1800000000000,"down",null,-3,"x"],"junk"]}})");
  ASSERT_TRUE(restored.minutes_from_json(j));
  auto kept = restored.samples("wan1", 0, HistoryResolution::kMinute);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].t_ms, kT0);
  EXPECT_EQ(kept[0].state, "down");
  EXPECT_FALSE(kept[0].jitter_ms);  // negative: dropped
  EXPECT_EQ(kept[1].t_ms, kT0 + 120000);
}

}  // namespace
}  // namespace pathsteer
