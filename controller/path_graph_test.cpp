// The path model on synthetic graphs: composition, the constrained search,
// and an overlay's underlay choice.
#include "controller/path_graph.h"

#include <gtest/gtest.h>

#include <random>

#include "controller/strategy.h"

namespace pathsteer {
namespace {

using std::chrono::seconds;

LinkMetrics measured(double rtt, double jitter, double loss, uint32_t cost = 0) {
  return LinkMetrics{
      .up = true, .rtt_ms = rtt, .jitter_ms = jitter, .loss_pct = loss, .cost = cost};
}

LinkMetrics down() {
  LinkMetrics m = measured(1, 0, 0);
  m.up = false;
  return m;
}

SlaSpec sla(uint32_t rtt, std::optional<uint32_t> jitter = std::nullopt,
            std::optional<double> loss = std::nullopt) {
  return SlaSpec{.max_rtt_ms = rtt, .max_jitter_ms = jitter, .max_loss_pct = loss};
}

// ---- composition ------------------------------------------------------------

TEST(PathMetrics, RttAndJitterAddLossCompoundsCostAdds) {
  LinkMetrics m = compose(measured(20, 2, 10, 3), measured(5, 1, 10, 4));
  EXPECT_TRUE(m.up);
  EXPECT_DOUBLE_EQ(*m.rtt_ms, 25);
  EXPECT_DOUBLE_EQ(*m.jitter_ms, 3);
  EXPECT_DOUBLE_EQ(*m.loss_pct, 19);  // 1 - 0.9 * 0.9
  EXPECT_EQ(m.cost, 7u);
  EXPECT_DOUBLE_EQ(*compose(measured(0, 0, 100), measured(0, 0, 30)).loss_pct, 100);
}

TEST(PathMetrics, DownAndUnmeasuredPropagate) {
  EXPECT_FALSE(compose(measured(1, 1, 0), down()).up);
  LinkMetrics no_rtt = measured(1, 1, 0);
  no_rtt.rtt_ms.reset();
  LinkMetrics m = compose(measured(10, 1, 1), no_rtt);
  EXPECT_FALSE(m.rtt_ms.has_value());
  EXPECT_TRUE(m.jitter_ms.has_value());
}

TEST(PathMetrics, ZeroIsTheExactIdentity) {
  // 0.1 and 1.0 are where a naive 1-(1-a)(1-b) rounds away from the input.
  for (double loss : {0.1, 1.0, 0.7, 33.3}) {
    LinkMetrics e = measured(0.3, 0.1, loss, 5);
    EXPECT_EQ(compose(zero_metrics(), e), e) << loss;
  }
}

TEST(PathMetrics, TunnelIncrementRecoversTheMeasurementOverItsUnderlay) {
  LinkMetrics underlay = measured(20, 2, 1);
  LinkMetrics through = measured(35, 5, 3);
  LinkMetrics inc = tunnel_increment(through, underlay);
  EXPECT_DOUBLE_EQ(*inc.rtt_ms, 15);
  EXPECT_DOUBLE_EQ(*inc.jitter_ms, 3);
  LinkMetrics back = compose(underlay, inc);
  EXPECT_DOUBLE_EQ(*back.rtt_ms, 35);
  EXPECT_DOUBLE_EQ(*back.jitter_ms, 5);
  EXPECT_NEAR(*back.loss_pct, 3, 1e-12);
  // A tunnel target nearer than the uplink's: the increment is floored at 0.
  LinkMetrics nearer = tunnel_increment(measured(8, 1, 0), underlay);
  EXPECT_EQ(*nearer.rtt_ms, 0);
  EXPECT_EQ(*nearer.jitter_ms, 0);
  EXPECT_EQ(*nearer.loss_pct, 0);
  // Unmeasured through the tunnel stays unmeasured; an unmeasured underlay counts as 0.
  LinkMetrics no_loss = measured(30, 1, 0);
  no_loss.loss_pct.reset();
  EXPECT_FALSE(tunnel_increment(no_loss, underlay).loss_pct.has_value());
  LinkMetrics bare{};
  EXPECT_DOUBLE_EQ(*tunnel_increment(through, bare).rtt_ms, 35);
}

// ---- the graph --------------------------------------------------------------

// gateway → wan1 (20 ms), wan2 (40 ms), wan3 (down); tun0 over [wan1, wan2]
// adding `tunnel` on the active edge.
struct Synthetic {
  PathGraph g;
  LinkMetrics tunnel = measured(10, 1, 0);
  Synthetic() {
    g.add_uplink("wan1", measured(20, 2, 0));
    g.add_uplink("wan2", measured(40, 4, 0, 5));
    g.add_uplink("wan3", down());
    g.add_overlay("tun0", {"wan1", "wan2"});
    g.set_underlay("tun0", "wan1", tunnel);
  }
};

TEST(PathGraph, RoutesAndComposedMetrics) {
  Synthetic s;
  EXPECT_EQ(s.g.route("wan2"), (std::vector<std::string>{"wan2"}));
  EXPECT_EQ(s.g.route("tun0"), (std::vector<std::string>{"wan1", "tun0"}));
  EXPECT_EQ(s.g.underlays("tun0"), (std::vector<std::string>{"wan1", "wan2"}));
  EXPECT_EQ(s.g.underlay("tun0"), "wan1");
  EXPECT_EQ(s.g.kind("tun0"), PathGraph::Kind::kOverlay);
  EXPECT_EQ(s.g.kind("wan1"), PathGraph::Kind::kUplink);
  EXPECT_FALSE(s.g.kind("nope").has_value());
  EXPECT_EQ(s.g.path_metrics("wan1"), measured(20, 2, 0));
  EXPECT_EQ(s.g.path_metrics("tun0"), measured(30, 3, 0));

  s.g.set_underlay("tun0", "wan2", s.tunnel);
  EXPECT_EQ(s.g.route("tun0"), (std::vector<std::string>{"wan2", "tun0"}));
  EXPECT_EQ(s.g.path_metrics("tun0"), measured(50, 5, 0, 5));  // the underlay's cost too

  s.g.set_underlay("tun0", std::nullopt, s.tunnel);
  EXPECT_TRUE(s.g.route("tun0").empty());
  EXPECT_FALSE(s.g.path_metrics("tun0").up);
  EXPECT_FALSE(s.g.underlay("tun0").has_value());
  EXPECT_FALSE(s.g.path_metrics("nope").up);
}

TEST(PathGraph, NamesAreOneNamespace) {
  PathGraph g;
  EXPECT_TRUE(g.add_uplink("a", measured(1, 0, 0)));
  EXPECT_FALSE(g.add_uplink("a", measured(1, 0, 0)));
  EXPECT_FALSE(g.add_overlay("a", {"a"}));
  EXPECT_TRUE(g.add_overlay("t", {"a", "missing"}));  // unknown underlays are skipped
  EXPECT_EQ(g.underlays("t"), (std::vector<std::string>{"a"}));
}

TEST(PathGraph, DownUnderlayOrTunnelTakesTheOverlayDown) {
  Synthetic s;
  s.g.set_underlay("tun0", "wan3", s.tunnel);  // a down underlay
  EXPECT_FALSE(s.g.path_metrics("tun0").up);
  LinkMetrics tunnel_down = s.tunnel;
  tunnel_down.up = false;
  s.g.set_underlay("tun0", "wan1", tunnel_down);
  EXPECT_FALSE(s.g.path_metrics("tun0").up);
}

// ---- SLA-constrained search (r_c_shortest_paths) ------------------------------

TEST(SelectSla, FirstPreferenceThatMeetsTheSla) {
  Synthetic s;
  // tun0 composes to 30 ms: meets 35, so as first preference it wins.
  EXPECT_EQ(s.g.select_sla({"tun0", "wan1", "wan2"}, sla(35), false), 0u);
  // At 25 ms only wan1 (20) meets it: the composed 30 ms of tun0 does not.
  EXPECT_EQ(s.g.select_sla({"tun0", "wan1", "wan2"}, sla(25), false), 1u);
  // Jitter composes too: tun0 has 3.
  EXPECT_EQ(s.g.select_sla({"tun0", "wan2"}, sla(100, 2), false), std::nullopt);
  EXPECT_EQ(s.g.select_sla({"tun0", "wan2"}, sla(100, 3), false), 0u);
  // Down paths and names that are no vertex never win.
  EXPECT_EQ(s.g.select_sla({"wan3", "nope", "wan2"}, sla(100), false), 2u);
  // No constraints: the first up candidate.
  EXPECT_EQ(s.g.select_sla({"wan3", "tun0", "wan1"}, std::nullopt, false), 1u);
}

TEST(SelectSla, LossCompoundsAlongTheOverlay) {
  PathGraph g;
  g.add_uplink("wan1", measured(10, 1, 0.6));
  g.add_uplink("wan2", measured(90, 1, 0));
  g.add_overlay("tun0", {"wan1"});
  g.set_underlay("tun0", "wan1", measured(1, 0, 0.6));
  // 0.6% then 0.6% is 1.1964%: over a 1% budget that each hop alone meets.
  EXPECT_EQ(g.select_sla({"tun0", "wan1", "wan2"}, sla(100, std::nullopt, 1.0), false), 1u);
  EXPECT_EQ(g.select_sla({"tun0", "wan2"}, sla(100, std::nullopt, 1.0), false), 1u);
  EXPECT_EQ(g.select_sla({"tun0", "wan2"}, sla(100, std::nullopt, 1.2), false), 0u);
}

TEST(SelectSla, CostDecidesAmongThoseMeetingItThenPreference) {
  PathGraph g;
  g.add_uplink("lte", measured(30, 2, 0, 10));
  g.add_uplink("fiber", measured(10, 1, 0, 1));
  g.add_uplink("dsl", measured(20, 1, 0, 1));
  g.add_uplink("slow", measured(500, 1, 0, 0));
  // by cost: fiber and dsl tie at 1; fiber comes first in preference order.
  EXPECT_EQ(g.select_sla({"lte", "dsl", "fiber", "slow"}, sla(50), true), 1u);
  EXPECT_EQ(g.select_sla({"lte", "fiber", "dsl", "slow"}, sla(50), true), 1u);
  // Without cost it is preference order alone.
  EXPECT_EQ(g.select_sla({"lte", "fiber", "dsl", "slow"}, sla(50), false), 0u);
  // The cheapest path (slow, cost 0) breaks the SLA, so it never wins.
  EXPECT_EQ(g.select_sla({"slow", "lte"}, sla(50), true), 1u);
}

TEST(SelectSla, NoneMeetsItIsNullSoTheCallerGoesBestEffort) {
  Synthetic s;
  EXPECT_EQ(s.g.select_sla({"tun0", "wan1", "wan2"}, sla(5), false), std::nullopt);
  LinkMetrics unmeasured{.up = true};
  PathGraph g;
  g.add_uplink("fresh", unmeasured);
  EXPECT_EQ(g.select_sla({"fresh"}, sla(1000), false), std::nullopt);
  // An unmeasured metric only fails a constraint on that metric.
  EXPECT_EQ(g.select_sla({"fresh"}, std::nullopt, false), 0u);
}

// The search must agree with the per-path predicate the strategies use, on
// any graph: brute force over path_metrics() + meets_sla() as the oracle.
TEST(SelectSla, AgreesWithBruteForceOnRandomGraphs) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<double> rtt(0, 80), jitter(0, 10), loss(0, 3);
  std::uniform_int_distribution<int> coin(0, 5), cost(0, 3);
  int feasible_cases = 0;
  for (int round = 0; round < 400; ++round) {
    PathGraph g;
    std::vector<std::string> names;
    for (int i = 0; i < 4; ++i) {
      std::string name = "wan" + std::to_string(i);
      LinkMetrics m = measured(rtt(rng), jitter(rng), loss(rng), cost(rng));
      m.up = coin(rng) != 0;
      if (coin(rng) == 0)
        m.jitter_ms.reset();
      g.add_uplink(name, m);
      names.push_back(name);
    }
    for (int i = 0; i < 3; ++i) {
      std::string name = "tun" + std::to_string(i);
      g.add_overlay(name, {"wan0", "wan1", "wan2", "wan3"});
      LinkMetrics m = measured(rtt(rng) / 4, jitter(rng) / 4, loss(rng) / 2, cost(rng));
      m.up = coin(rng) != 0;
      g.set_underlay(name, "wan" + std::to_string(coin(rng) % 4), m);
      names.push_back(name);
    }
    std::shuffle(names.begin(), names.end(), rng);
    SlaSpec spec = sla(60, 8, 3.0);
    bool by_cost = coin(rng) % 2 == 0;

    std::optional<size_t> want;
    for (size_t i = 0; i < names.size(); ++i) {
      LinkMetrics m = g.path_metrics(names[i]);
      PathState p{.name = names[i],
                  .usable = m.up,
                  .rtt_ms = m.rtt_ms,
                  .jitter_ms = m.jitter_ms,
                  .loss_pct = m.loss_pct};
      if (!m.up || !meets_sla(p, spec))
        continue;
      if (!want || (by_cost && m.cost < g.path_metrics(names[*want]).cost))
        want = i;
    }
    feasible_cases += want.has_value();
    ASSERT_EQ(g.select_sla(names, spec, by_cost), want) << "round " << round;
  }
  // Both outcomes were exercised.
  EXPECT_GT(feasible_cases, 50);
  EXPECT_LT(feasible_cases, 400);
}

// ---- an overlay's underlay ----------------------------------------------------

struct UnderlaySim {
  std::optional<PathGraph> graph;
  std::vector<std::string> underlays{"wan1", "wan2", "wan3"};
  std::map<std::string, bool> up{{"wan1", true}, {"wan2", true}, {"wan3", true}};
  std::optional<ClassMemory> memory;
  PlanTime t0 = PlanTime{} + seconds(1000);
  uint32_t hold_down_s = 0;
  int switches = 0;

  // Re-builds the uplinks from `up` and chooses at t0 + at.
  ClassChoice at(std::chrono::milliseconds at) {
    PathGraph& g = graph.emplace();  // fresh, as each plan() builds its own
    for (const auto& u : underlays) {
      LinkMetrics m = measured(10, 1, 0);
      m.up = up[u];
      g.add_uplink(u, m);
    }
    g.add_overlay("tun0", underlays);
    ClassChoice c =
        choose_underlay(g, underlays, hold_down_s, memory ? &*memory : nullptr, t0 + at);
    if (memory && memory->uplink != c.uplink)
      ++switches;
    memory = c.memory;
    g.set_underlay("tun0", c.uplink, measured(5, 0, 0));
    return c;
  }
};

TEST(Underlay, MovesToTheNextWhenItsUnderlayFailsAndReportsIt) {
  UnderlaySim s;
  auto c = s.at(seconds(0));
  EXPECT_EQ(c.uplink, "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);
  EXPECT_EQ(s.graph->route("tun0"), (std::vector<std::string>{"wan1", "tun0"}));

  s.up["wan1"] = false;
  c = s.at(seconds(1));
  EXPECT_EQ(c.uplink, "wan2");
  EXPECT_EQ(c.reason, kReasonPreferredDown);
  EXPECT_EQ(s.graph->route("tun0"), (std::vector<std::string>{"wan2", "tun0"}));
  EXPECT_TRUE(s.graph->path_metrics("tun0").up);

  s.up["wan2"] = false;
  c = s.at(seconds(2));
  EXPECT_EQ(c.uplink, "wan3");
  EXPECT_EQ(s.switches, 2);
}

TEST(Underlay, DownWhenEveryUnderlayIsDown) {
  UnderlaySim s;
  s.at(seconds(0));
  for (auto& [name, up] : s.up)
    up = false;
  auto c = s.at(seconds(1));
  EXPECT_FALSE(c.uplink.has_value());
  EXPECT_EQ(c.reason, kReasonAllDown);
  EXPECT_FALSE(s.graph->path_metrics("tun0").up);
  EXPECT_TRUE(s.graph->route("tun0").empty());
  EXPECT_EQ(s.graph->select_sla({"tun0"}, std::nullopt, false), std::nullopt);

  s.up["wan3"] = true;  // the first to come back carries it at once
  c = s.at(seconds(2));
  EXPECT_EQ(c.uplink, "wan3");
}

TEST(Underlay, FailsBackOnlyAfterTheHoldDown) {
  UnderlaySim s;
  s.hold_down_s = 10;
  s.at(seconds(0));
  s.up["wan1"] = false;
  EXPECT_EQ(s.at(seconds(1)).uplink, "wan2");
  s.up["wan1"] = true;
  auto c = s.at(seconds(2));
  EXPECT_EQ(c.uplink, "wan2");
  EXPECT_EQ(c.reason, kReasonHoldDown);
  EXPECT_EQ(c.wake_at, s.t0 + seconds(12));
  EXPECT_EQ(s.at(seconds(11)).uplink, "wan2");
  c = s.at(seconds(12));
  EXPECT_EQ(c.uplink, "wan1");
  EXPECT_EQ(c.reason, kReasonPreferred);
}

TEST(Underlay, FlappingPreferredUnderlayGivesAtMostOneVoluntarySwitchPerHoldDown) {
  UnderlaySim s;
  s.hold_down_s = 5;
  s.at(seconds(0));
  int forced = 0;
  // wan1 flaps every 700 ms for a minute; wan2 stays up.
  for (int ms = 700; ms <= 60000; ms += 700) {
    bool was_on_wan1 = s.memory->uplink == "wan1";
    s.up["wan1"] = !s.up["wan1"];
    auto c = s.at(std::chrono::milliseconds(ms));
    if (was_on_wan1 && c.uplink != "wan1")
      ++forced;  // leaving a dead underlay is never held down
  }
  int voluntary = s.switches - forced;
  EXPECT_GE(forced, 1);
  EXPECT_LE(voluntary, 60 / 5);
  // wan1 is never up for 5 s in a row, so it is never failed back to.
  EXPECT_EQ(voluntary, 0);
}

}  // namespace
}  // namespace pathsteer
