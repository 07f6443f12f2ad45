// Overlays through the real planner: numbering and kernel state, the underlay
// choice, and classes whose paths name overlays, with a simulated clock.
#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <random>
#include <set>

#include "controller/plan_sim_test_util.h"
#include "controller/planner.h"

namespace pathsteer {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// wan1, wan2 (ids 1, 2) and tun0 (id 3) over [wan1, wan2]; one class.
struct Sim : PlanSim {
  explicit Sim(Strategy strategy = Strategy::kFailover,
               std::vector<std::string> paths = {"tun0", "wan2"})
      : PlanSim({"wan1", "wan2"}, strategy, std::move(paths)) {
    ids["tun0"] = 3;
    Overlay o;
    o.name = "tun0";
    o.interface = "gre1";
    o.remote4 = IpAddr::parse("198.51.100.77");
    o.remote6 = IpAddr::parse("2001:db8:77::1");
    o.underlays = {"wan1", "wan2"};
    policy.overlays = {o};
    in.overlays["tun0"] = OverlayView{.ifindex = 21, .ipv6 = false};
  }
  Overlay& overlay() { return policy.overlays[0]; }
  UplinkView& wan(const std::string& name) { return view(name); }
  OverlayView& tun() { return in.overlays["tun0"]; }
  const PlannedOverlay& planned_tun() const { return last.overlays.at(0); }

  std::vector<Rule> rules_at(uint32_t priority) const {
    std::vector<Rule> out;
    for (const auto& r : last.rules) {
      if (r.priority == priority)
        out.push_back(r);
    }
    return out;
  }
};

void set_metrics(UplinkView& v, double rtt, double jitter = 1, double loss = 0) {
  v.rtt_ms = rtt;
  v.jitter_ms = jitter;
  v.loss_pct = loss;
}
void set_metrics(OverlayView& v, double rtt, double jitter = 1, double loss = 0) {
  v.rtt_ms = rtt;
  v.jitter_ms = jitter;
  v.loss_pct = loss;
}

TEST(PlannerOverlay, NumberedMarkedAndRoutedLikeAnUplink) {
  Sim s;
  s.at(milliseconds(0));
  ASSERT_EQ(s.last.overlays.size(), 1u);
  const PlannedOverlay& o = s.planned_tun();
  EXPECT_EQ(o.id, 3u);
  EXPECT_EQ(o.mark, 0x00300000u);
  EXPECT_EQ(o.table, 203u);
  EXPECT_EQ(o.underlay, "wan1");
  EXPECT_EQ(o.reason, kReasonPreferred);
  EXPECT_TRUE(o.usable);
  EXPECT_EQ(o.route, (std::vector<std::string>{"wan1", "tun0"}));

  // Its fwmark pair, as for uplink 3.
  auto suppress = s.rules_at(10006);
  ASSERT_EQ(suppress.size(), 2u);
  EXPECT_EQ(suppress[0].table, static_cast<uint32_t>(RT_TABLE_MAIN));
  EXPECT_EQ(suppress[0].fwmark, 0x00300000u);
  auto lookup = s.rules_at(10007);
  ASSERT_EQ(lookup.size(), 2u);
  EXPECT_EQ(lookup[0].table, 203u);

  // The outer packets: to the remote, per family, through wan1's table.
  auto remote = s.rules_at(overlay_remote_priority(s.policy.ownership, 3));
  ASSERT_EQ(remote.size(), 2u);
  EXPECT_EQ(remote[0].priority, 10523u);
  EXPECT_EQ(remote[0].family, AF_INET);
  EXPECT_EQ(remote[0].dst, Prefix::parse("198.51.100.77/32"));
  EXPECT_EQ(remote[0].table, 201u);
  EXPECT_EQ(remote[0].fwmask, 0u);
  EXPECT_EQ(remote[0].protocol, 201);
  EXPECT_EQ(remote[1].family, AF_INET6);
  EXPECT_EQ(remote[1].dst, Prefix::parse("2001:db8:77::1/128"));

  // Its table: the remote via the underlay's gateway (wan1 has only an IPv4
  // one), and `default dev gre1`, no gateway, only for the families it carries.
  std::vector<Route> in_table;
  std::copy_if(s.last.routes.begin(), s.last.routes.end(), std::back_inserter(in_table),
               [](const Route& r) { return r.table == 203; });
  ASSERT_EQ(in_table.size(), 2u);
  EXPECT_EQ(in_table[0].dst, Prefix::parse("198.51.100.77/32"));
  EXPECT_EQ(in_table[0].gateway, IpAddr::parse("192.0.2.11"));
  EXPECT_EQ(in_table[0].oif, 11);
  EXPECT_EQ(in_table[1].family, AF_INET);
  EXPECT_EQ(in_table[1].dst, Prefix::default_route(AF_INET));
  EXPECT_FALSE(in_table[1].gateway.has_value());
  EXPECT_EQ(in_table[1].oif, 21);
  EXPECT_EQ(in_table[1].scope, RT_SCOPE_LINK);

  s.tun().ipv6 = true;
  s.at(milliseconds(1));
  auto v6 = std::count_if(s.last.routes.begin(), s.last.routes.end(), [](const Route& r) {
    return r.table == 203 && r.family == AF_INET6 && r.scope == RT_SCOPE_UNIVERSE;
  });
  EXPECT_EQ(v6, 1);

  // Every rule stays inside the owned band, and no two share an identity.
  std::set<std::pair<int, uint32_t>> identities;
  for (const auto& r : s.last.rules) {
    EXPECT_GE(r.priority, 10000u);
    EXPECT_LT(r.priority, 11000u);
    EXPECT_TRUE(identities.insert({r.family, r.priority}).second) << r.to_string();
  }
}

TEST(PlannerOverlay, AClassOnTheOverlayCarriesItsMark) {
  Sim s;
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "tun0");
  EXPECT_EQ(c.reason, kReasonPreferred);
  EXPECT_EQ(c.mark, 0x00300000u);
  EXPECT_EQ(s.last.datapath.classes.at(0).mark, 0x00300000u);
}

TEST(PlannerOverlay, UnderlayFailureMovesTheOuterPacketsNotTheClass) {
  Sim s;
  s.at(milliseconds(0));
  s.wan("wan1").usable = false;
  auto c = s.at(milliseconds(100));
  // The class stays on the overlay: it is still usable, over wan2.
  EXPECT_EQ(uplink_of(c), "tun0");
  EXPECT_EQ(c.reason, kReasonPreferred);
  EXPECT_EQ(s.planned_tun().underlay, "wan2");
  EXPECT_EQ(s.planned_tun().reason, kReasonPreferredDown);
  EXPECT_EQ(s.planned_tun().route, (std::vector<std::string>{"wan2", "tun0"}));
  auto remote = s.rules_at(overlay_remote_priority(s.policy.ownership, 3));
  ASSERT_EQ(remote.size(), 2u);
  EXPECT_EQ(remote[0].table, 202u);
  EXPECT_EQ(remote[1].table, 202u);
  auto via = std::find_if(s.last.routes.begin(), s.last.routes.end(), [](const Route& r) {
    return r.table == 203 && r.dst == Prefix::parse("198.51.100.77/32");
  });
  ASSERT_NE(via, s.last.routes.end());
  EXPECT_EQ(via->gateway, IpAddr::parse("192.0.2.12"));
  EXPECT_EQ(via->oif, 12);
}

TEST(PlannerOverlay, EveryUnderlayDownTakesTheOverlayDown) {
  Sim s(Strategy::kFailover, {"tun0", "wan2"});
  s.at(milliseconds(0));
  s.wan("wan1").usable = false;
  s.wan("wan2").usable = false;
  auto c = s.at(milliseconds(100));
  EXPECT_FALSE(s.planned_tun().underlay.has_value());
  EXPECT_EQ(s.planned_tun().reason, kReasonAllDown);
  EXPECT_FALSE(s.planned_tun().usable);
  EXPECT_TRUE(s.planned_tun().route.empty());
  EXPECT_TRUE(s.rules_at(overlay_remote_priority(s.policy.ownership, 3)).empty());
  EXPECT_EQ(std::count_if(s.last.routes.begin(), s.last.routes.end(),
                          [](const Route& r) { return r.table == 203 && r.dst.len == 32; }),
            0);
  EXPECT_EQ(uplink_of(c), "last_resort");
  EXPECT_EQ(c.reason, kReasonAllDown);

  s.wan("wan2").usable = true;
  c = s.at(milliseconds(200));
  EXPECT_EQ(s.planned_tun().underlay, "wan2");
  EXPECT_EQ(uplink_of(c), "tun0");
}

TEST(PlannerOverlay, TunnelDownMovesTheClassToItsNextPath) {
  Sim s;
  s.at(milliseconds(0));
  s.tun().usable = false;  // its own probes say down
  auto c = s.at(milliseconds(100));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonPreferredDown);
  EXPECT_EQ(s.planned_tun().underlay, "wan1");  // the underlay itself is fine
  EXPECT_FALSE(s.planned_tun().usable);

  s.tun().usable = true;
  s.tun().ifindex = 0;  // the interface vanished: rules stay, routes go
  c = s.at(milliseconds(200));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(s.rules_at(10007).size(), 2u);
  EXPECT_EQ(std::count_if(s.last.routes.begin(), s.last.routes.end(),
                          [](const Route& r) { return r.table == 203 && r.dst.len == 0; }),
            0);
}

TEST(PlannerOverlay, OverlayWithoutAnIdIsNoPath) {
  Sim s;
  s.ids.erase("tun0");
  auto c = s.at(milliseconds(0));
  EXPECT_TRUE(s.last.overlays.empty());
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonPreferred);  // the first path it has
}

TEST(PlannerOverlay, SlaUsesComposedMetrics) {
  Sim s(Strategy::kSla, {"tun0", "wan1", "wan2"});
  s.cls().sla = SlaSpec{.max_rtt_ms = 50, .max_jitter_ms = 10};
  set_metrics(s.wan("wan1"), 20, 2);
  set_metrics(s.wan("wan2"), 45, 2);
  s.overlay().probes = {ProbeSpec{.target = *IpAddr::parse("10.99.0.1")}};
  set_metrics(s.tun(), 35, 4);  // end to end through the tunnel over wan1
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "tun0");
  EXPECT_EQ(c.reason, kReasonSlaMet);
  EXPECT_DOUBLE_EQ(*s.planned_tun().metrics.rtt_ms, 35);
  EXPECT_DOUBLE_EQ(*s.planned_tun().metrics.jitter_ms, 4);

  // Over wan2 the tunnel's 15 ms increment makes 60 ms: it breaks the SLA, and
  // the class goes to the next path meeting it.
  s.wan("wan1").usable = false;
  c = s.at(milliseconds(100));
  EXPECT_EQ(s.planned_tun().underlay, "wan2");
  EXPECT_DOUBLE_EQ(*s.planned_tun().metrics.rtt_ms, 60);
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonSlaMet);

  // None meets it: best effort on the closest, reason sla-unmet. (The tunnel's
  // probes now measure over wan2: still 15 ms more.)
  set_metrics(s.wan("wan2"), 80, 2);
  set_metrics(s.tun(), 95, 4);
  c = s.at(milliseconds(200));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(c.reason, kReasonSlaUnmet);
  EXPECT_EQ(c.sla_met, false);
}

TEST(PlannerOverlay, UnmeasuredTunnelNeverMeetsAnSla) {
  Sim s(Strategy::kSla, {"tun0", "wan2"});
  s.cls().sla = SlaSpec{.max_rtt_ms = 100};
  set_metrics(s.wan("wan1"), 20);
  set_metrics(s.wan("wan2"), 30);
  s.overlay().probes = {ProbeSpec{.target = *IpAddr::parse("10.99.0.1")}};
  auto c = s.at(milliseconds(0));  // probes configured, no reply yet
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_FALSE(s.planned_tun().metrics.rtt_ms.has_value());
  // Without probes the overlay is as good as its underlay.
  s.overlay().probes.clear();
  s.memory = {};
  c = s.at(milliseconds(100));
  EXPECT_EQ(uplink_of(c), "tun0");
  EXPECT_DOUBLE_EQ(*s.planned_tun().metrics.rtt_ms, 20);
}

TEST(PlannerOverlay, CostOfAnOverlayIsItsOwnPlusItsUnderlays) {
  Sim s(Strategy::kSla, {"tun0", "wan2"});
  s.cls().sla = SlaSpec{.max_rtt_ms = 100};
  set_metrics(s.wan("wan1"), 20);
  set_metrics(s.wan("wan2"), 30);
  s.policy.wans[0].cost = 2;  // wan1
  s.policy.wans[1].cost = 3;  // wan2
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "tun0");  // 2 < 3
  EXPECT_EQ(s.planned_tun().metrics.cost, 2u);
  s.overlay().cost = 2;  // 4 > 3
  s.memory = {};
  c = s.at(milliseconds(100));
  EXPECT_EQ(uplink_of(c), "wan2");
  EXPECT_EQ(s.planned_tun().metrics.cost, 4u);
}

TEST(PlannerOverlay, LowestLatencyUsesComposedMetrics) {
  Sim s(Strategy::kLowestLatency, {"wan2", "tun0"});
  set_metrics(s.wan("wan1"), 10);
  set_metrics(s.wan("wan2"), 30);
  s.overlay().probes = {ProbeSpec{.target = *IpAddr::parse("10.99.0.1")}};
  set_metrics(s.tun(), 40);  // the tunnel adds 30 ms to wan1's 10
  auto c = s.at(milliseconds(0));
  EXPECT_EQ(uplink_of(c), "wan2");
  set_metrics(s.tun(), 15);  // now 15 < 30 by more than the margin
  s.at(milliseconds(100));
  c = s.at(milliseconds(3200));
  EXPECT_EQ(uplink_of(c), "tun0");
}

TEST(PlannerOverlay, UnderlayFailBackWaitsForTheOverlaysHoldDown) {
  Sim s;
  s.overlay().hold_down_s = 20;
  s.at(milliseconds(0));
  s.wan("wan1").usable = false;
  s.at(milliseconds(100));
  EXPECT_EQ(s.planned_tun().underlay, "wan2");
  s.wan("wan1").usable = true;
  s.at(milliseconds(200));
  EXPECT_EQ(s.planned_tun().underlay, "wan2");
  EXPECT_EQ(s.planned_tun().reason, kReasonHoldDown);
  EXPECT_EQ(s.last.next_plan_at, s.t0 + milliseconds(20200));
  s.at(milliseconds(20200));
  EXPECT_EQ(s.planned_tun().underlay, "wan1");
  EXPECT_EQ(s.planned_tun().reason, kReasonPreferred);
}

// Flapping inputs: wan1 (the preferred underlay) and the tunnel's own health
// toggle at random, mostly fast, sometimes staying put longer than the
// hold-down. A voluntary move (off a choice that is still usable) of the
// overlay's underlay or of the class on it comes at least a hold-down after
// the previous move: at most one per hold-down. Some do happen.
TEST(PlannerOverlay, FlappingGivesAtMostOneVoluntarySwitchPerHoldDown) {
  Sim s;
  const auto hold = seconds(10);
  s.overlay().hold_down_s = 10;
  s.cls().hold_down_s = 10;
  std::mt19937 rng(66);
  std::uniform_int_distribution<int> pick(0, 9);
  const int kSteps[] = {300, 300, 300, 500, 700, 1000, 2000, 4000, 12000, 15000};
  milliseconds now(0);
  milliseconds next_wan1(0), next_tun(0);
  s.at(now);
  std::optional<std::string> underlay = s.planned_tun().underlay;
  std::string cls = uplink_of(s.last.classes[0]);
  std::optional<milliseconds> underlay_switch, class_switch;
  int underlay_voluntary = 0, class_voluntary = 0;
  while (now < std::chrono::minutes(10)) {
    now = std::min(next_wan1, next_tun);
    if (now == next_wan1) {
      s.wan("wan1").usable = !s.wan("wan1").usable;
      next_wan1 += milliseconds(kSteps[pick(rng)]);
    }
    if (now == next_tun) {
      s.tun().usable = !s.tun().usable;
      next_tun += milliseconds(kSteps[pick(rng)]);
    }
    auto c = s.at(now);
    if (s.planned_tun().underlay != underlay) {
      // Off wan2 (never down here) is voluntary; off wan1 only while wan1 is up.
      bool voluntary = underlay == "wan2" || (underlay == "wan1" && s.wan("wan1").usable);
      if (voluntary) {
        ++underlay_voluntary;
        ASSERT_TRUE(underlay_switch.has_value());
        EXPECT_GE(now - *underlay_switch, hold) << "underlay at " << now.count() << " ms";
      }
      underlay_switch = now;
      underlay = s.planned_tun().underlay;
    }
    if (uplink_of(c) != cls) {
      bool voluntary = cls == "wan2" || (cls == "tun0" && s.planned_tun().usable);
      if (voluntary) {
        ++class_voluntary;
        ASSERT_TRUE(class_switch.has_value());
        EXPECT_GE(now - *class_switch, hold) << "class at " << now.count() << " ms";
      }
      class_switch = now;
      cls = uplink_of(c);
    }
  }
  EXPECT_GT(underlay_voluntary, 0);
  EXPECT_GT(class_voluntary, 0);
}

}  // namespace
}  // namespace pathsteer
