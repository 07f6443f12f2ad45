// Per-class strategies through the real planner: plan(input, memory, now) run
// step by step with a simulated clock.
#include "controller/strategy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "controller/plan_memory.h"
#include "controller/plan_sim_test_util.h"
#include "controller/planner.h"

namespace pathsteer {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// wan1, wan2, wan3 (ids 1, 2, 3); class c over `paths`.
struct Sim : PlanSim {
  explicit Sim(Strategy strategy, std::vector<std::string> paths = {"wan1", "wan2"})
      : PlanSim({"wan1", "wan2", "wan3"}, strategy, std::move(paths)) {}
  Wan& wan(const std::string& name) {
    return *std::find_if(policy.wans.begin(), policy.wans.end(),
                         [&](const Wan& w) { return w.name == name; });
  }
};

// ---- failover -------------------------------------------------------------

TEST(Failover, FailsOverAtOnceAndFailsBackAfterTheHoldDown) {
  Sim s(Strategy::kFailover);
  s.cls().hold_down_s = 2;
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);

  s.view("wan1").usable = false;
  c = s.at(milliseconds(500));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonPreferredDown);
  EXPECT_EQ(s.last.datapath.classes[0].mark, 0x00200000u);

  s.view("wan1").usable = true;
  c = s.at(milliseconds(1000));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonHoldDown);
  EXPECT_EQ(s.last.next_plan_at, s.t0 + milliseconds(3000));
  c = s.at(milliseconds(2999));
  EXPECT_EQ(c.reason, kReasonHoldDown);
  c = s.at(milliseconds(3000));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);
  EXPECT_FALSE(s.last.next_plan_at);
}

TEST(Failover, WithoutHoldDownFailsBackAtOnce) {
  Sim s(Strategy::kFailover);
  s.at(milliseconds(0));
  s.view("wan1").usable = false;
  EXPECT_EQ(uplink_of(s.at(milliseconds(100))), "wan2");
  s.view("wan1").usable = true;
  EXPECT_EQ(uplink_of(s.at(milliseconds(200))), "wan1");
}

// Counts switches of the chosen uplink while wan1 toggles every 100 ms for 10 s.
std::vector<milliseconds> flap(uint32_t hold_down_s) {
  Sim s(Strategy::kFailover);
  s.cls().hold_down_s = hold_down_s;
  std::vector<milliseconds> switches;
  std::string current = uplink_of(s.at(milliseconds(0)));
  for (int ms = 100; ms <= 10000; ms += 100) {
    s.view("wan1").usable = (ms / 100) % 2 == 0;
    std::string now = uplink_of(s.at(milliseconds(ms)));
    if (now != current)
      switches.push_back(milliseconds(ms));
    current = now;
  }
  return switches;
}

TEST(Failover, FlappingPreferredSwitchesAtMostOncePerHoldDown) {
  auto switches = flap(2);
  ASSERT_FALSE(switches.empty());
  for (size_t i = 1; i < switches.size(); ++i)
    EXPECT_GE(switches[i] - switches[i - 1], seconds(2)) << "switch " << i;
  EXPECT_EQ(switches.size(), 1u);  // away once, never usable for 2 s in a row
  // The test detects flapping: without a hold-down it follows every toggle.
  EXPECT_GE(flap(0).size(), 90u);
}

TEST(Failover, FailsBackOnceTheFlappingStops) {
  Sim s(Strategy::kFailover);
  s.cls().hold_down_s = 2;
  s.at(milliseconds(0));
  for (int ms = 100; ms < 10000; ms += 100) {  // ends down at 9.9 s
    s.view("wan1").usable = (ms / 100) % 2 == 0;
    s.at(milliseconds(ms));
  }
  s.view("wan1").usable = true;  // stable from 10.1 s
  EXPECT_EQ(uplink_of(s.at(milliseconds(10100))), "wan2");
  EXPECT_EQ(s.last.next_plan_at, s.t0 + milliseconds(12100));
  EXPECT_EQ(uplink_of(s.at(milliseconds(12100))), "wan1");
}

TEST(Failover, DegradedCountsAsUsable) {
  Sim s(Strategy::kFailover);
  s.view("wan1").degraded = true;
  s.view("wan1").rtt_ms = 900;
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);
  EXPECT_TRUE(s.last.uplinks[0].degraded);
}

TEST(Failover, TheOldOverloadPlansLikeAFirstPlan) {
  Sim s(Strategy::kFailover);
  s.cls().hold_down_s = 30;
  s.view("wan1").usable = false;
  auto fresh = plan(s.in);
  auto explicit_first = plan(s.in, PlannerMemory{}, PlanTime{});
  EXPECT_EQ(fresh.classes[0].uplink, explicit_first.classes[0].uplink);
  EXPECT_EQ(fresh.memory, explicit_first.memory);
  EXPECT_EQ(uplink_of(fresh.classes[0]), "wan2");
}

// ---- balance --------------------------------------------------------------

TEST(Balance, WeightedLiveMembersAndTheHeaviestCarriesTheMark) {
  Sim s(Strategy::kBalance, {"wan1", "wan2", "wan3"});
  s.wan("wan1").weight = 1;
  s.wan("wan2").weight = 3;
  s.wan("wan3").weight = 3;
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan2");  // ties by path order
  EXPECT_EQ(c.reason, kReasonBalance);
  std::vector<PlannedMember> all{{"wan1", 1}, {"wan2", 3}, {"wan3", 3}};
  EXPECT_EQ(c.members, all);

  s.view("wan2").usable = false;
  c = s.at(milliseconds(100));
  EXPECT_EQ(uplink_of(c), "wan3");
  std::vector<PlannedMember> live{{"wan1", 1}, {"wan3", 3}};
  EXPECT_EQ(c.members, live);

  s.wan("wan3").weight = 0;  // never a member
  c = s.at(milliseconds(200));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.members, (std::vector<PlannedMember>{{"wan1", 1}}));
}

TEST(Balance, TiersBalanceWithinTheFirstLiveTierAndFailOverBetweenThem) {
  Sim s(Strategy::kBalance, {"wan1", "wan2", "wan3"});
  s.cls().tiers = {0, 0, 1};
  s.wan("wan1").weight = 2;
  s.wan("wan2").weight = 1;
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(c.members, (std::vector<PlannedMember>{{"wan1", 2}, {"wan2", 1}}));

  s.view("wan1").usable = false;  // one of the first tier is enough
  c = s.at(milliseconds(100));
  EXPECT_EQ(c.members, (std::vector<PlannedMember>{{"wan2", 1}}));

  s.view("wan2").usable = false;  // the whole tier down: the backup tier
  c = s.at(milliseconds(200));
  EXPECT_EQ(uplink_of(c), "wan3");
  EXPECT_EQ(c.members, (std::vector<PlannedMember>{{"wan3", 1}}));

  s.view("wan2").usable = true;  // back at once (up_after already debounced it)
  c = s.at(milliseconds(300));
  EXPECT_EQ(c.members, (std::vector<PlannedMember>{{"wan2", 1}}));

  s.view("wan1").usable = s.view("wan2").usable = s.view("wan3").usable = false;
  c = s.at(milliseconds(400));
  EXPECT_FALSE(c.uplink);
  EXPECT_EQ(c.reason, kReasonAllDown);
}

TEST(Balance, SourceAffinityReachesTheDataPlaneForBalanceOnly) {
  Sim s(Strategy::kBalance, {"wan1", "wan2"});
  s.cls().source_affinity_s = 600;
  s.at(milliseconds(0));
  ASSERT_EQ(s.last.datapath.classes.size(), 1u);
  EXPECT_EQ(s.last.datapath.classes[0].source_affinity_s, 600u);
  EXPECT_EQ(s.last.datapath.classes[0].members.size(), 2u);
}

// ---- lowest-latency -------------------------------------------------------

TEST(LowestLatency, FirstPlanTakesTheLowestRttAtOnce) {
  Sim s(Strategy::kLowestLatency, {"wan1", "wan2", "wan3"});
  s.view("wan1").rtt_ms = 80;
  s.view("wan2").rtt_ms = 40;  // wan3 unmeasured: worst
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonLowestLatency);
}

TEST(LowestLatency, SwitchesAfterTheSustainWhenBetterByMoreThanTheMargin) {
  Sim s(Strategy::kLowestLatency);
  s.view("wan1").rtt_ms = 100;
  s.view("wan2").rtt_ms = 120;
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan1");
  s.view("wan2").rtt_ms = 89;  // 11 ms better, margin 10 ms
  EXPECT_EQ(uplink_of(s.at(milliseconds(1000))), "wan1");
  EXPECT_EQ(s.last.next_plan_at, s.t0 + milliseconds(1000) + kLatencySustain);  // 2500
  EXPECT_EQ(uplink_of(s.at(milliseconds(2000))), "wan1");
  EXPECT_EQ(uplink_of(s.at(milliseconds(2499))), "wan1");
  auto c = s.at(milliseconds(2500));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonLowestLatency);
  EXPECT_FALSE(s.last.next_plan_at);
}

TEST(LowestLatency, NoSwitchWithinTheMargin) {
  Sim s(Strategy::kLowestLatency);
  s.view("wan1").rtt_ms = 100;
  s.view("wan2").rtt_ms = 150;
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan1");
  s.view("wan2").rtt_ms = 91;  // 9 ms < 10% of 100
  for (int ms = 500; ms <= 20000; ms += 500)
    EXPECT_EQ(uplink_of(s.at(milliseconds(ms))), "wan1") << ms;
  // The 5 ms floor: at 30 ms, 10% would be 3 ms.
  s.view("wan1").rtt_ms = 30;
  s.view("wan2").rtt_ms = 25.5;
  for (int ms = 20500; ms <= 40000; ms += 500)
    EXPECT_EQ(uplink_of(s.at(milliseconds(ms))), "wan1") << ms;
  EXPECT_DOUBLE_EQ(latency_margin_ms(30), kLatencyMarginMs);
  EXPECT_DOUBLE_EQ(latency_margin_ms(200), 20);
}

TEST(LowestLatency, NoSwitchWhenBetterOnlyForOneSecond) {
  Sim s(Strategy::kLowestLatency);
  s.view("wan1").rtt_ms = 100;
  s.view("wan2").rtt_ms = 150;
  s.at(milliseconds(0));
  for (int round = 0; round < 5; ++round) {
    int base = round * 4000;
    s.view("wan2").rtt_ms = 50;
    EXPECT_EQ(uplink_of(s.at(milliseconds(base + 1000))), "wan1");
    EXPECT_EQ(uplink_of(s.at(milliseconds(base + 2000))), "wan1");  // better for 1 s
    s.view("wan2").rtt_ms = 150;
    EXPECT_EQ(uplink_of(s.at(milliseconds(base + 2100))), "wan1");
    EXPECT_TRUE(s.memory.classes.at("c").better_since.empty());
  }
}

TEST(LowestLatency, LeavesADownUplinkAtOnce) {
  Sim s(Strategy::kLowestLatency);
  s.view("wan1").rtt_ms = 10;
  s.view("wan2").rtt_ms = 200;
  s.at(milliseconds(0));
  s.view("wan1").usable = false;
  EXPECT_EQ(uplink_of(s.at(milliseconds(100))), "wan2");
}

// ---- sla ------------------------------------------------------------------

void measure(Sim& s, const std::string& wan, double rtt, double jitter, double loss) {
  s.view(wan).rtt_ms = rtt;
  s.view(wan).jitter_ms = jitter;
  s.view(wan).loss_pct = loss;
}

Sim sla_sim() {
  Sim s(Strategy::kSla, {"wan1", "wan2", "wan3"});
  s.cls().sla = SlaSpec{.max_rtt_ms = 150, .max_jitter_ms = 30, .max_loss_pct = 1};
  return s;
}

TEST(Sla, FirstPathMeetingEveryConstraint) {
  Sim s = sla_sim();
  measure(s, "wan1", 100, 40, 0);  // jitter breaks it
  measure(s, "wan2", 140, 20, 0.5);
  measure(s, "wan3", 50, 5, 0);
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonSlaMet);
  EXPECT_EQ(c.sla_met, true);
  EXPECT_EQ(c.strategy, Strategy::kSla);
}

TEST(Sla, UnmeasuredNeverMeetsIt) {
  Sim s = sla_sim();
  measure(s, "wan2", 100, 10, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan2");
}

TEST(Sla, BestEffortIsTheSmallestWorstViolation) {
  Sim s = sla_sim();
  measure(s, "wan1", 300, 10, 0);  // rtt 100% over
  measure(s, "wan2", 160, 36, 0);  // jitter 20% over, rtt 6.7%
  measure(s, "wan3", 100, 10, 5);  // loss 400% over
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonSlaUnmet);
  EXPECT_EQ(c.sla_met, false);
}

TEST(Sla, BreakMovesAtOnceAndFailBackWaitsTheHoldDown) {
  Sim s = sla_sim();
  s.cls().hold_down_s = 5;
  measure(s, "wan1", 100, 10, 0);
  measure(s, "wan2", 120, 10, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan1");
  measure(s, "wan1", 400, 10, 0);
  auto c = s.at(milliseconds(1000));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonSlaMet);
  measure(s, "wan1", 100, 10, 0);
  c = s.at(milliseconds(2000));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonHoldDown);
  EXPECT_EQ(c.sla_met, true);
  EXPECT_EQ(s.last.next_plan_at, s.t0 + milliseconds(7000));
  measure(s, "wan1", 400, 10, 0);  // breaks again: the run restarts
  s.at(milliseconds(3000));
  measure(s, "wan1", 100, 10, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(4000))), "wan2");
  EXPECT_EQ(uplink_of(s.at(milliseconds(8999))), "wan2");
  c = s.at(milliseconds(9000));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.reason, kReasonSlaMet);
}

TEST(Sla, LowestCostAmongThoseMeetingIt) {
  Sim s = sla_sim();
  s.wan("wan1").cost = 10;
  s.wan("wan2").cost = 5;
  s.wan("wan3").cost = 5;
  measure(s, "wan1", 50, 5, 0);
  measure(s, "wan2", 100, 10, 0);
  measure(s, "wan3", 60, 5, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan2");  // cost 5, ties by order
  measure(s, "wan2", 400, 10, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(100))), "wan3");
  measure(s, "wan3", 400, 10, 0);
  EXPECT_EQ(uplink_of(s.at(milliseconds(200))), "wan1");  // the only one meeting it
  s.wan("wan1").cost = 0;
  s.wan("wan2").cost = 0;
  s.wan("wan3").cost = 0;
  measure(s, "wan2", 100, 10, 0);
  measure(s, "wan3", 60, 5, 0);
  s.memory = {};
  EXPECT_EQ(uplink_of(s.at(milliseconds(300))), "wan1");  // no costs: preference order
}

// ---- all strategies --------------------------------------------------------

TEST(Strategies, AllDownGoesToLastResort) {
  for (auto strategy :
       {Strategy::kFailover, Strategy::kBalance, Strategy::kLowestLatency, Strategy::kSla}) {
    Sim s(strategy);
    s.policy.last_resort = LastResort::kUnreachable;
    if (strategy == Strategy::kSla)
      s.cls().sla = SlaSpec{.max_rtt_ms = 100};
    measure(s, "wan1", 10, 1, 0);
    measure(s, "wan2", 10, 1, 0);
    s.at(milliseconds(0));
    s.view("wan1").usable = false;
    s.view("wan2").ifindex = 0;
    auto c = s.at(milliseconds(100));
    EXPECT_FALSE(c.uplink) << to_string(strategy);
    EXPECT_EQ(c.reason, kReasonAllDown) << to_string(strategy);
    EXPECT_EQ(c.mark, 0x0ff00000u);
    EXPECT_EQ(s.last.datapath.classes[0].mark, 0x0ff00000u);
    EXPECT_TRUE(c.members.empty());
    EXPECT_FALSE(c.sla_met);
    s.view("wan2").ifindex = 12;  // back: taken at once, nothing to hold down
    EXPECT_EQ(uplink_of(s.at(milliseconds(200))), "wan2") << to_string(strategy);
  }
}

TEST(Strategies, OverridesReplacePathsAndSla) {
  Sim s(Strategy::kFailover);
  s.cls().hold_down_s = 60;
  EXPECT_EQ(uplink_of(s.at(milliseconds(0))), "wan1");

  s.in.overrides["c"] = ClassOverride{.paths = std::vector<std::string>{"wan3", "wan1"}};
  auto c = s.at(milliseconds(100));
  EXPECT_EQ(uplink_of(c), "wan3");  // an intent is not held down
  EXPECT_EQ(c.reason, kReasonIntent);
  EXPECT_TRUE(c.intent);
  EXPECT_EQ(s.last.datapath.classes[0].mark, 0x00300000u);

  s.in.overrides["c"] = ClassOverride{.sla = SlaSpec{.max_rtt_ms = 50}};
  measure(s, "wan1", 80, 1, 0);
  measure(s, "wan2", 40, 1, 0);
  c = s.at(milliseconds(200));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.strategy, Strategy::kSla);
  EXPECT_EQ(c.sla_met, true);
  EXPECT_EQ(c.reason, kReasonIntent);

  s.in.overrides["c"] = ClassOverride{.paths = std::vector<std::string>{"wan3", "nosuch"}};
  s.view("wan3").usable = false;
  c = s.at(milliseconds(300));
  EXPECT_FALSE(c.uplink);
  EXPECT_EQ(c.reason, kReasonAllDown);  // why it is not realized wins over "intent"

  s.in.overrides.clear();
  c = s.at(milliseconds(400));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_FALSE(c.intent);
}

TEST(Strategies, PlanIsAPureFunctionOfItsInputs) {
  Sim s(Strategy::kLowestLatency);
  s.view("wan1").rtt_ms = 100;
  s.view("wan2").rtt_ms = 50;
  s.at(milliseconds(0));
  s.view("wan1").rtt_ms = 20;
  auto a = plan(s.in, s.memory, s.t0 + seconds(1));
  auto b = plan(s.in, s.memory, s.t0 + seconds(1));
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.next_plan_at, b.next_plan_at);
  EXPECT_EQ(a.classes[0].uplink, b.classes[0].uplink);
}

TEST(Strategies, MemoryKeepsOnlyThePolicysClasses) {
  Sim s(Strategy::kFailover);
  s.memory.classes["gone"] = ClassMemory{.uplink = "wan1"};
  s.at(milliseconds(0));
  EXPECT_EQ(s.memory.classes.size(), 1u);
  EXPECT_TRUE(s.memory.classes.count("c"));
}

// ---- restart (planner memory in the state dir) ------------------------------

using WallTime = std::chrono::system_clock::time_point;
const WallTime kWall = WallTime{} + seconds(1'800'000'000);  // the instant of the save

// The memory as a restarted daemon reads it back `later` (both clocks moved on).
PlannerMemory restarted(const Sim& s, milliseconds later) {
  nlohmann::json saved = plan_memory_to_json(s.memory, s.now, kWall);
  auto back =
      plan_memory_from_json(nlohmann::json::parse(saved.dump()), s.now + later, kWall + later);
  EXPECT_TRUE(back.ok()) << back.error().to_string();
  return back.ok() ? *back : PlannerMemory{};
}

// A failover class (hold-down 4 s) on wan1 at 0, moved to wan2 at 0.5 s.
void fail_over(Sim& s) {
  s.cls().hold_down_s = 4;
  s.at(milliseconds(0));
  s.view("wan1").usable = false;
  s.at(milliseconds(500));
}

TEST(Restart, AHoldDownIsWaitedOutAgainNotCutShort) {
  Sim s(Strategy::kFailover);
  fail_over(s);
  s.view("wan1").usable = true;
  auto c = s.at(milliseconds(1000));
  ASSERT_EQ(c.reason, kReasonHoldDown);  // would fail back at 5.0 s

  // The daemon restarts 1 s later, wan1 still usable.
  Sim fresh = s;
  fresh.memory = {};
  EXPECT_EQ(uplink_of(fresh.at(milliseconds(2000))), "wan1") << "without memory: at once";
  s.memory = restarted(s, milliseconds(1000));
  c = s.at(milliseconds(2000));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonHoldDown);
  // wan1's run of being usable starts again at the first plan after the
  // restart (2.0 s): nobody watched it in between.
  EXPECT_EQ(uplink_of(s.at(milliseconds(5999))), "wan2");
  c = s.at(milliseconds(6000));
  EXPECT_EQ(uplink_of(c), "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);
}

TEST(Restart, MemoryKeepsChoicesAndSwitchTimesAndDropsRuns) {
  Sim s(Strategy::kFailover);
  fail_over(s);
  ASSERT_FALSE(s.memory.classes.at("c").good_since.empty());
  s.memory.classes["gone"] = ClassMemory{.uplink = std::nullopt, .since = s.now};
  s.memory.overlays["ov"] = ClassMemory{.uplink = "wan2", .since = s.now - seconds(7)};
  PlannerMemory back = restarted(s, milliseconds(30'000));
  const ClassMemory& c = back.classes.at("c");
  EXPECT_EQ(c.uplink, "wan2");
  EXPECT_EQ(c.since, s.now);  // to the millisecond, on the new clocks' common instant
  EXPECT_EQ(c.last_switch, s.now);
  EXPECT_TRUE(c.good_since.empty());
  EXPECT_TRUE(c.better_since.empty());
  EXPECT_FALSE(back.classes.at("gone").uplink);  // last_resort
  EXPECT_EQ(back.overlays.at("ov").since, s.now - seconds(7));
}

TEST(Restart, TimesAfterTheReadAreNowAndBadFilesNameTheMember) {
  const PlanTime now = PlanTime{} + seconds(50);
  nlohmann::json future = {
      {"version", 1},
      {"classes", {{"c", {{"uplink", "wan1"}, {"since_unix_ms", 1'800'000'100'000}}}}}};
  auto m = plan_memory_from_json(future, now, kWall);  // a clock set back since the save
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->classes.at("c").since, now);
  // The edges of what a file may hold: the Unix epoch and the end of year 9999.
  auto edges =
      plan_memory_from_text(R"({"version":1,"classes":{"c":{"uplink":null,)"
                            R"("since_unix_ms":0,"last_switch_unix_ms":253402300799999}}})",
                            now, kWall);
  ASSERT_TRUE(edges.ok()) << edges.error().to_string();
  EXPECT_EQ(edges->classes.at("c").since,
            now - std::chrono::duration_cast<milliseconds>(kWall.time_since_epoch()));
  EXPECT_EQ(edges->classes.at("c").last_switch, now);
  EXPECT_FALSE(plan_memory_from_text("{not json", now, kWall).ok());

  struct Bad {
    nlohmann::json j;
    const char* names;
  };
  const Bad bad[] = {
      {nlohmann::json::array(), "version 1"},
      {{{"version", 2}}, "version 1"},
      {{{"version", 1}, {"classes", 3}}, "'classes'"},
      {{{"version", 1}, {"classes", {{"c", {{"uplink", 7}, {"since_unix_ms", 1}}}}}},
       "classes.c.uplink"},
      {{{"version", 1}, {"overlays", {{"o", {{"uplink", nullptr}, {"since_unix_ms", "x"}}}}}},
       "overlays.o.since_unix_ms"},
      {{{"version", 1}, {"classes", {{"c", {{"uplink", "wan1"}}}}}}, "classes.c"},
      // Past year 2262 a WallTime overflowed; past 9999 or negative is corrupt.
      {{{"version", 1}, {"classes", {{"c", {{"uplink", "wan1"}, {"since_unix_ms", 9e18}}}}}},
       "classes.c.since_unix_ms"},
      {{{"version", 1}, {"classes", {{"c", {{"uplink", "wan1"}, {"since_unix_ms", INT64_MAX}}}}}},
       "classes.c.since_unix_ms"},
      {{{"version", 1},
        {"classes", {{"c", {{"uplink", "wan1"}, {"since_unix_ms", 253'402'300'800'000}}}}}},
       "classes.c.since_unix_ms"},
      {{{"version", 1}, {"overlays", {{"o", {{"uplink", "wan1"}, {"since_unix_ms", -1}}}}}},
       "overlays.o.since_unix_ms"},
      {{{"version", 1},
        {"classes",
         {{"c", {{"uplink", "wan1"}, {"since_unix_ms", 1}, {"last_switch_unix_ms", UINT64_MAX}}}}}},
       "classes.c.last_switch_unix_ms"},
      {{{"version", 1},
        {"classes",
         {{"c", {{"uplink", "wan1"}, {"since_unix_ms", 1}, {"last_switch_unix_ms", INT64_MIN}}}}}},
       "classes.c.last_switch_unix_ms"},
  };
  for (const Bad& b : bad) {
    auto r = plan_memory_from_json(b.j, now, kWall);
    ASSERT_FALSE(r.ok()) << b.j.dump();
    EXPECT_NE(r.error().to_string().find(b.names), std::string::npos) << r.error().to_string();
  }
}

}  // namespace
}  // namespace pathsteer
