// ProbeFlight (probes/session.h): lookup by id and by wrapping wire sequence
// number, finishing once, settling in finishing order, expiry.
#include <gtest/gtest.h>

#include <vector>

#include "probes/session.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;

// Probes first..first+n-1, sent 1 ms apart from t0.
ProbeFlight flight_of(uint64_t first, int n, ProbeClock::time_point t0 = {}) {
  ProbeFlight f;
  for (int i = 0; i < n; ++i)
    f.push(Probe{.id = first + static_cast<uint64_t>(i), .sent_steady = t0 + i * 1ms});
  return f;
}

std::vector<uint64_t> settled(ProbeFlight& f) {
  std::vector<uint64_t> ids;
  f.settle([&](const Probe& p) { ids.push_back(p.id); });
  return ids;
}

TEST(ProbeFlight, FindsOnlyProbesInFlightAndNotFinished) {
  ProbeFlight f = flight_of(100, 3);
  EXPECT_EQ(f.find(99), nullptr);
  EXPECT_EQ(f.find(103), nullptr);
  ASSERT_NE(f.find(101), nullptr);
  EXPECT_EQ(f.find(101)->id, 101u);
  f.finish(*f.find(101), /*answered=*/true, 1.5);
  EXPECT_EQ(f.find(101), nullptr);  // a duplicate reply finds nothing
}

TEST(ProbeFlight, SequenceNumbersWrapRelativeToTheOldestProbe) {
  ProbeFlight f = flight_of(0x3fffe, 4);  // low 16 bits: fffe ffff 0000 0001
  ASSERT_NE(f.find_seq<uint16_t>(0xffff), nullptr);
  EXPECT_EQ(f.find_seq<uint16_t>(0xffff)->id, 0x3ffffu);
  EXPECT_EQ(f.find_seq<uint16_t>(0x0001)->id, 0x40001u);
  EXPECT_EQ(f.find_seq<uint16_t>(0x0002), nullptr);
  EXPECT_EQ(f.find_seq<uint16_t>(0xfffd), nullptr);  // older than the oldest

  ProbeFlight g = flight_of(0x1fffffffeULL, 3);  // low 32 bits: fffffffe ffffffff 0
  EXPECT_EQ(g.find_seq<uint32_t>(0)->id, 0x200000000ULL);
  EXPECT_EQ(g.find_seq<uint16_t>(0)->id, 0x200000000ULL);
  EXPECT_EQ(ProbeFlight().find_seq<uint32_t>(0), nullptr);
}

TEST(ProbeFlight, SettlesInFinishingOrderAndDropsOnlyAFinishedFront) {
  ProbeFlight f = flight_of(10, 3);
  EXPECT_TRUE(settled(f).empty());
  f.finish(*f.find(12), /*answered=*/true, 2.0);
  f.finish(*f.find(11), /*answered=*/false, 0);
  EXPECT_EQ(settled(f), (std::vector<uint64_t>{12, 11}));
  EXPECT_EQ(f.front().id, 10u);  // still in flight: 11 and 12 wait behind it
  f.finish(*f.find(10), /*answered=*/true, 1.0);
  EXPECT_EQ(settled(f), (std::vector<uint64_t>{10}));
  EXPECT_TRUE(f.empty());
}

TEST(ProbeFlight, ExpiryFailsTheOldestUpToTheFirstYoungerOne) {
  const ProbeClock::time_point t0 = ProbeClock::now();
  ProbeFlight f = flight_of(1, 4, t0);  // sent at t0, +1, +2, +3 ms
  f.finish(*f.find(2), /*answered=*/true, 0.5);
  f.fail_expired(t0 + 12ms, 10ms);  // 1, 2 and 3 are 10 ms old or more
  std::vector<bool> answered;
  f.settle([&](const Probe& p) { answered.push_back(p.answered); });
  EXPECT_EQ(answered, (std::vector<bool>{true, false, false}));  // 2, then 1 and 3
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f.front().id, 4u);
}

}  // namespace
}  // namespace pathsteer
