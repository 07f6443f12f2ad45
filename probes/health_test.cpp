#include <gtest/gtest.h>

#include "probes/health.h"
#include "probes/stats.h"

namespace pathsteer {
namespace {

HealthSpec spec(uint32_t down_after, uint32_t up_after) {
  return HealthSpec{.interval_ms = 100,
                    .timeout_ms = 200,
                    .down_after = down_after,
                    .up_after = up_after,
                    .reliability = 1};
}

TEST(HealthTracker, StartsUnknownAndFirstGoodRoundIsUp) {
  HealthTracker t(spec(3, 5));
  EXPECT_EQ(t.state(), HealthState::kUnknown);
  EXPECT_EQ(t.reason(), "probes");
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, UnknownGoesDownAfterDownAfterBadRounds) {
  HealthTracker t(spec(3, 5));
  EXPECT_FALSE(t.on_round(false));
  EXPECT_FALSE(t.on_round(false));
  EXPECT_EQ(t.state(), HealthState::kUnknown);
  EXPECT_TRUE(t.on_round(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
}

TEST(HealthTracker, UpNeedsConsecutiveBadRoundsToGoDown) {
  HealthTracker t(spec(3, 5));
  t.on_round(true);
  t.on_round(false);
  t.on_round(false);
  EXPECT_FALSE(t.on_round(true));  // streak broken
  t.on_round(false);
  t.on_round(false);
  EXPECT_EQ(t.state(), HealthState::kUp);
  EXPECT_TRUE(t.on_round(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "probes");
}

TEST(HealthTracker, DownNeedsConsecutiveGoodRoundsToGoUp) {
  HealthTracker t(spec(1, 3));
  t.on_round(false);
  ASSERT_EQ(t.state(), HealthState::kDown);
  t.on_round(true);
  t.on_round(true);
  t.on_round(false);  // streak broken
  t.on_round(true);
  t.on_round(true);
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, CarrierDownForcesDownAtOnceAndBlocksProbes) {
  HealthTracker t(spec(3, 2));
  t.on_round(true);
  ASSERT_EQ(t.state(), HealthState::kUp);
  EXPECT_TRUE(t.set_carrier(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "carrier");
  EXPECT_FALSE(t.carrier());
  for (int i = 0; i < 10; ++i)
    EXPECT_FALSE(t.on_round(true));  // probes cannot bring it up
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_FALSE(t.set_carrier(false));  // no change

  EXPECT_TRUE(t.set_carrier(true));  // reason changes, state stays down
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "probes");
  EXPECT_FALSE(t.on_round(true));
  EXPECT_TRUE(t.on_round(true));  // up_after fresh good rounds
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, CarrierDownFromUnknown) {
  HealthTracker t(spec(3, 2));
  EXPECT_TRUE(t.set_carrier(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  t.set_carrier(true);
  EXPECT_FALSE(t.on_round(true));  // not the "first good round from unknown" rule
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, CarrierTakesPrecedenceOverBlocker) {
  HealthTracker t(spec(3, 1));
  EXPECT_TRUE(t.set_blocker("no interface"));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "no interface");
  EXPECT_TRUE(t.set_carrier(false));
  EXPECT_EQ(t.reason(), "carrier");
  EXPECT_FALSE(t.set_blocker(""));  // reason stays carrier, state down: no change
  EXPECT_EQ(t.reason(), "carrier");
  EXPECT_FALSE(t.on_round(true));
  EXPECT_TRUE(t.set_carrier(true));
  EXPECT_EQ(t.reason(), "probes");
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, BlockerForcesDownAndRestartsStreaks) {
  HealthTracker t(spec(3, 2));
  t.on_round(true);
  EXPECT_TRUE(t.set_blocker("no interface"));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_FALSE(t.on_round(true));
  EXPECT_TRUE(t.set_blocker(""));  // reason "no interface" -> "probes"
  EXPECT_FALSE(t.on_round(true));
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, WithoutProbesFollowsCarrier) {
  HealthTracker t(spec(3, 5), /*has_probes=*/false);
  EXPECT_EQ(t.state(), HealthState::kUp);
  EXPECT_EQ(t.reason(), "no probes");
  EXPECT_FALSE(t.on_round(false));
  EXPECT_TRUE(t.set_carrier(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "carrier");
  EXPECT_TRUE(t.set_carrier(true));
  EXPECT_EQ(t.state(), HealthState::kUp);  // at once, nothing to wait for
}

TEST(HealthTracker, ZeroThresholdsActLikeOne) {
  HealthTracker t(spec(0, 0));
  EXPECT_TRUE(t.on_round(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_TRUE(t.on_round(true));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

HealthSpec degraded_spec() {
  HealthSpec h = spec(3, 2);
  h.degraded_if = {.rtt_ms = 100, .loss_pct = 10};
  h.recover_if = {.loss_pct = 5};  // rtt recovers at the default 80 ms
  return h;
}

TEST(HealthTracker, DegradedAfterDownAfterRoundsOverAThreshold) {
  HealthTracker t(degraded_spec());
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 50}));
  EXPECT_EQ(t.state(), HealthState::kUp);
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 101}));
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 120}));
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 90}));  // streak broken
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 101}));
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 101}));
  EXPECT_EQ(t.state(), HealthState::kUp);
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 101, .loss_pct = 11}));
  EXPECT_EQ(t.state(), HealthState::kDegraded);
  EXPECT_EQ(t.reason(), "degraded: rtt_ms, loss_pct");
  EXPECT_EQ(t.on_round(true, {.rtt_ms = 101}), false);  // reason keeps its entry keys
}

TEST(HealthTracker, DegradedRecoversOnlyBelowTheRecoveryBars) {
  HealthTracker t(degraded_spec());
  t.on_round(true);
  for (int i = 0; i < 3; ++i)
    t.on_round(true, {.rtt_ms = 150});
  ASSERT_EQ(t.state(), HealthState::kDegraded);
  // Under the degraded bar but above the default recovery bar (80): stays.
  for (int i = 0; i < 10; ++i)
    EXPECT_FALSE(t.on_round(true, {.rtt_ms = 90}));
  EXPECT_EQ(t.state(), HealthState::kDegraded);
  // RTT recovered, loss between recover_if (5) and degraded_if (10): stays.
  for (int i = 0; i < 10; ++i)
    EXPECT_FALSE(t.on_round(true, {.rtt_ms = 80, .loss_pct = 6}));
  EXPECT_FALSE(t.on_round(true, {.rtt_ms = 80, .loss_pct = 5}));
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 10, .loss_pct = 0}));  // up_after = 2 under rounds
  EXPECT_EQ(t.state(), HealthState::kUp);
  EXPECT_EQ(t.reason(), "probes");
}

TEST(HealthTracker, DownWinsOverDegradedAndComesBackDegradedWhileLossy) {
  HealthTracker t(degraded_spec());
  t.on_round(true);
  for (int i = 0; i < 3; ++i)
    t.on_round(true, {.rtt_ms = 150});
  ASSERT_EQ(t.state(), HealthState::kDegraded);
  t.on_round(false, {.rtt_ms = 150, .loss_pct = 20});
  t.on_round(false, {.rtt_ms = 150, .loss_pct = 30});
  EXPECT_TRUE(t.on_round(false, {.rtt_ms = 150, .loss_pct = 40}));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_EQ(t.reason(), "probes");
  t.on_round(true, {.rtt_ms = 20, .loss_pct = 40});
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 20, .loss_pct = 39}));
  EXPECT_EQ(t.state(), HealthState::kDegraded);  // reachable, but the loss window is bad
  t.on_round(true, {.rtt_ms = 20, .loss_pct = 4});
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 20, .loss_pct = 4}));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, CarrierLossClearsDegraded) {
  HealthTracker t(degraded_spec());
  t.on_round(true);
  for (int i = 0; i < 3; ++i)
    t.on_round(true, {.rtt_ms = 150});
  ASSERT_EQ(t.state(), HealthState::kDegraded);
  EXPECT_TRUE(t.set_carrier(false));
  EXPECT_EQ(t.state(), HealthState::kDown);
  EXPECT_TRUE(t.set_carrier(true));
  t.on_round(true, {.rtt_ms = 10});
  EXPECT_TRUE(t.on_round(true, {.rtt_ms = 10}));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, NoThresholdsNeverDegraded) {
  HealthTracker t(spec(1, 1));
  t.on_round(true);
  for (int i = 0; i < 10; ++i)
    EXPECT_FALSE(t.on_round(true, {.rtt_ms = 1e6, .jitter_ms = 1e6, .loss_pct = 99}));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(HealthTracker, ZeroLossThresholdCanRecover) {
  HealthSpec h = spec(1, 1);
  h.degraded_if.loss_pct = 0;  // any loss degrades; recovery at exactly 0
  HealthTracker t(h);
  t.on_round(true);
  EXPECT_TRUE(t.on_round(true, {.loss_pct = 1}));
  EXPECT_EQ(t.state(), HealthState::kDegraded);
  EXPECT_TRUE(t.on_round(true, {.loss_pct = 0}));
  EXPECT_EQ(t.state(), HealthState::kUp);
}

TEST(RoundGood, Reliability) {
  EXPECT_TRUE(round_good(1, 3, 1));
  EXPECT_FALSE(round_good(0, 3, 1));
  EXPECT_FALSE(round_good(1, 3, 2));
  EXPECT_TRUE(round_good(2, 3, 2));
  EXPECT_TRUE(round_good(3, 3, 3));
  EXPECT_TRUE(round_good(2, 2, 5));  // clamped to the number of targets
  EXPECT_FALSE(round_good(1, 2, 5));
  EXPECT_TRUE(round_good(1, 2, 0));  // 0 acts like 1
  EXPECT_FALSE(round_good(0, 2, 0));
  EXPECT_FALSE(round_good(0, 0, 1));  // no targets
}

TEST(HealthState, Names) {
  EXPECT_STREQ(to_string(HealthState::kUnknown), "unknown");
  EXPECT_STREQ(to_string(HealthState::kUp), "up");
  EXPECT_STREQ(to_string(HealthState::kDown), "down");
  EXPECT_STREQ(to_string(HealthState::kDegraded), "degraded");
}

TEST(ProbeStats, RttMeanOverLastTenAndJitter) {
  ProbeStats s;
  EXPECT_EQ(s.rtt_ms(), 0);
  s.on_reply(10);
  EXPECT_EQ(s.jitter_ms(), 0);  // needs two replies
  s.on_reply(26);
  EXPECT_DOUBLE_EQ(s.jitter_ms(), 1.0);  // (|16| - 0) / 16
  s.on_reply(10);
  EXPECT_DOUBLE_EQ(s.jitter_ms(), 1.0 + (16.0 - 1.0) / 16.0);
  EXPECT_DOUBLE_EQ(s.last_rtt_ms(), 10);
  EXPECT_DOUBLE_EQ(s.rtt_ms(), 46.0 / 3);
  for (int i = 0; i < 10; ++i)
    s.on_reply(5);
  EXPECT_DOUBLE_EQ(s.rtt_ms(), 5);  // older replies left the window
  EXPECT_EQ(s.received(), 13u);
  for (int i = 1; i <= 13; ++i)
    s.on_reply(i);
  EXPECT_DOUBLE_EQ(s.rtt_ms(), 8.5);  // mean of 4..13 across the ring's wrap
}

TEST(ProbeStats, LossOverLastHundredDecidedProbes) {
  ProbeStats s;
  EXPECT_EQ(s.loss_pct(), 0);
  for (int i = 0; i < 4; ++i) {
    s.on_sent();
    s.on_reply(1);
  }
  s.on_sent();
  s.on_failed();
  EXPECT_DOUBLE_EQ(s.loss_pct(), 20);
  for (int i = 0; i < 100; ++i)
    s.on_reply(1);
  EXPECT_DOUBLE_EQ(s.loss_pct(), 0);  // the failure slid out
  for (int i = 0; i < 100; ++i)
    s.on_failed();
  EXPECT_DOUBLE_EQ(s.loss_pct(), 100);
  EXPECT_EQ(s.sent(), 5u);
  EXPECT_EQ(s.failed(), 101u);
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

TEST(LatencyHistogram, PercentilesAreBucketUpperEdgesOverEverySample) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentile(0.99), 0.0);  // empty
  for (int i = 0; i < 990; ++i)
    h.add(0.12);  // bucket (0.10, 0.15]
  for (int i = 0; i < 10; ++i)
    h.add(7.01);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_NEAR(h.percentile(0.5), 0.15, 1e-9);
  EXPECT_NEAR(h.percentile(0.99), 0.15, 1e-9);   // the 990th sample of 1,000
  EXPECT_NEAR(h.percentile(0.999), 7.01, 1e-9);  // capped at the true maximum
  EXPECT_DOUBLE_EQ(h.max_ms(), 7.01);

  LatencyHistogram early;  // sends ahead of their deadline: negative lateness
  early.add(-2.0);
  early.add(-30.0);  // below the range: the underflow bucket
  EXPECT_DOUBLE_EQ(early.max_ms(), -2.0);
  EXPECT_EQ(early.percentile(0.0), LatencyHistogram::kMinMs);
  EXPECT_LE(early.percentile(1.0), -2.0);

  LatencyHistogram late;
  late.add(120.0);  // above the range: the overflow bucket reports the maximum
  EXPECT_DOUBLE_EQ(late.percentile(0.99), 120.0);
}

TEST(LatencyHistogram, CountBelowAnEdgeAndSumForPrometheus) {
  LatencyHistogram h;
  for (double ms : {-30.0, -2.0, 0.12, 0.12, 4.99, 5.01, 120.0})
    h.add(ms);
  EXPECT_EQ(h.count_below(-20.0), 0u);  // below the range: nothing, not even the underflow
  EXPECT_EQ(h.count_below(-10.0), 1u);  // the underflow bucket
  EXPECT_EQ(h.count_below(0.0), 2u);
  EXPECT_EQ(h.count_below(0.1), 2u);
  EXPECT_EQ(h.count_below(0.15), 4u);
  EXPECT_EQ(h.count_below(5.0), 5u);
  EXPECT_EQ(h.count_below(LatencyHistogram::kMaxMs), 6u);  // not the overflow bucket
  EXPECT_EQ(h.count_below(1e9), 7u);
  EXPECT_NEAR(h.sum_ms(), -30.0 - 2.0 + 0.24 + 4.99 + 5.01 + 120.0, 1e-9);
}

}  // namespace
}  // namespace pathsteer
