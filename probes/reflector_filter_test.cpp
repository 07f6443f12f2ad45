#include "probes/reflector_filter.h"

#include <gtest/gtest.h>

#include <vector>

namespace pathsteer {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr uint16_t kOwn = 862;

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(IpAddr{});
}

// A unicast datagram as the kernel reports it: dst = spec_dst for IPv4.
DatagramAddrs unicast(const char* src, uint16_t port, const char* dst) {
  DatagramAddrs d{.src = ip(src), .src_port = port, .dst = ip(dst)};
  if (d.dst.is_v4())
    d.spec_dst = d.dst;
  return d;
}

ReflectorDrop decide(const DatagramAddrs& d, const std::vector<Prefix>& allow = {}) {
  return drop_by_address(d, kOwn, allow);
}

TEST(ReflectorDropByAddress, UnicastFromAnUnprivilegedPortIsAnswered) {
  EXPECT_EQ(decide(unicast("100.64.1.2", 1024, "100.64.1.1")), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("100.64.1.2", 65535, "100.64.1.1")), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("2001:db8:1::2", 40000, "2001:db8:1::1")), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("fe80::2", 40000, "fe80::1")), ReflectorDrop::kNone);
}

TEST(ReflectorDropByAddress, OwnPortAndPortsBelow1024) {
  EXPECT_EQ(decide(unicast("100.64.1.2", kOwn, "100.64.1.1")), ReflectorDrop::kOwnPort);
  EXPECT_EQ(decide(unicast("2001:db8:1::2", kOwn, "2001:db8:1::1")), ReflectorDrop::kOwnPort);
  EXPECT_EQ(decide(unicast("100.64.1.2", 0, "100.64.1.1")), ReflectorDrop::kLowPort);
  EXPECT_EQ(decide(unicast("100.64.1.2", 1023, "100.64.1.1")), ReflectorDrop::kLowPort);
  EXPECT_EQ(decide(unicast("2001:db8:1::2", 123, "2001:db8:1::1")), ReflectorDrop::kLowPort);
  // A reflector on an unprivileged port refuses its own port too (two of them on 8620).
  DatagramAddrs d = unicast("100.64.1.2", 8620, "100.64.1.1");
  EXPECT_EQ(drop_by_address(d, 8620, {}), ReflectorDrop::kOwnPort);
  EXPECT_EQ(drop_by_address(d, 8621, {}), ReflectorDrop::kNone);
}

TEST(ReflectorDropByAddress, Multicast) {
  for (const char* g : {"224.0.0.1", "239.255.255.255", "232.1.2.3"}) {
    DatagramAddrs d = unicast("100.64.1.2", 40000, g);
    d.spec_dst = ip("100.64.1.1");  // what the kernel reports for a group
    EXPECT_EQ(decide(d), ReflectorDrop::kMulticast) << g;
  }
  for (const char* g : {"ff02::1", "ff0e::1", "ff05::1:3"})
    EXPECT_EQ(decide(unicast("2001:db8:1::2", 40000, g)), ReflectorDrop::kMulticast) << g;
  // The neighbours of the ranges are unicast.
  EXPECT_EQ(decide(unicast("100.64.1.2", 40000, "223.255.255.254")), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("2001:db8:1::2", 40000, "fe80::ff")), ReflectorDrop::kNone);
}

TEST(ReflectorDropByAddress, Broadcast) {
  // Limited broadcast, whatever the kernel said the local address is.
  EXPECT_EQ(decide(unicast("100.64.1.2", 40000, "255.255.255.255")), ReflectorDrop::kBroadcast);
  // A subnet broadcast: the kernel answers from a unicast address of the interface.
  DatagramAddrs d = unicast("100.64.1.2", 40000, "100.64.1.255");
  d.spec_dst = ip("100.64.1.1");
  EXPECT_EQ(decide(d), ReflectorDrop::kBroadcast);
  // Directed broadcast of a network at the far side of a router: the same.
  d = unicast("192.168.77.2", 40000, "10.9.255.255");
  d.spec_dst = ip("100.64.1.1");
  EXPECT_EQ(decide(d), ReflectorDrop::kBroadcast);
  // IPv4 without packet info fails closed; IPv6 (no broadcast) does not.
  d = DatagramAddrs{.src = ip("100.64.1.2"), .src_port = 40000};
  EXPECT_EQ(decide(d), ReflectorDrop::kBroadcast);
  d = DatagramAddrs{.src = ip("2001:db8:1::2"), .src_port = 40000};
  EXPECT_EQ(decide(d), ReflectorDrop::kNone);
}

TEST(ReflectorDropByAddress, PortRulesComeFirst) {
  DatagramAddrs d = unicast("100.64.1.2", kOwn, "224.0.0.1");
  EXPECT_EQ(decide(d), ReflectorDrop::kOwnPort);
  d.src_port = 53;
  EXPECT_EQ(decide(d), ReflectorDrop::kLowPort);
  d.src_port = 40000;
  EXPECT_EQ(decide(d, {*Prefix::parse("10.0.0.0/8")}), ReflectorDrop::kMulticast);
}

TEST(ReflectorDropByAddress, AllowList) {
  std::vector<Prefix> allow = {*Prefix::parse("192.168.77.0/24"), *Prefix::parse("fd00:77::/64")};
  EXPECT_EQ(decide(unicast("192.168.77.2", 40000, "100.64.1.1"), allow), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("192.168.78.2", 40000, "100.64.1.1"), allow),
            ReflectorDrop::kNotAllowed);
  EXPECT_EQ(decide(unicast("fd00:77::2", 40000, "2001:db8:1::1"), allow), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("fd00:78::2", 40000, "2001:db8:1::1"), allow),
            ReflectorDrop::kNotAllowed);
  // A prefix of the other family matches nothing: an IPv4-only list refuses every IPv6 source.
  std::vector<Prefix> v4_only = {*Prefix::parse("0.0.0.0/0")};
  EXPECT_EQ(decide(unicast("100.64.1.2", 40000, "100.64.1.1"), v4_only), ReflectorDrop::kNone);
  EXPECT_EQ(decide(unicast("2001:db8:1::2", 40000, "2001:db8:1::1"), v4_only),
            ReflectorDrop::kNotAllowed);
}

TEST(ReflectorDropByAddress, NamesForTheLog) {
  EXPECT_STREQ(reflector_drop_name(ReflectorDrop::kOwnPort), "own port");
  EXPECT_STREQ(reflector_drop_name(ReflectorDrop::kRateLimited), "rate limited");
}

// Takes as many tokens as are there at `now`.
int drain(TokenBucket& b, nanoseconds now) {
  int n = 0;
  while (b.take(now))
    ++n;
  return n;
}

TEST(TokenBucket, StartsFullThenRefillsAtTheRate) {
  const nanoseconds t0 = seconds(1000);
  TokenBucket b(100, 20, t0);
  EXPECT_EQ(drain(b, t0), 20);
  EXPECT_FALSE(b.take(t0 + milliseconds(9)));  // 0.9 of a token
  EXPECT_TRUE(b.take(t0 + milliseconds(10)));  // 10 ms = one token at 100/s
  EXPECT_FALSE(b.take(t0 + milliseconds(10)));
  EXPECT_EQ(drain(b, t0 + milliseconds(60)), 5);
  // Never more than the burst, however long the pause.
  EXPECT_EQ(drain(b, t0 + seconds(5)), 20);
}

TEST(TokenBucket, FractionsAccumulate) {
  const nanoseconds t0 = seconds(1);
  TokenBucket b(3, 2, t0);  // one token every 333.33 ms; taken at once, never capped
  ASSERT_EQ(drain(b, t0), 2);
  int got = 0;
  for (int ms = 1; ms <= 3000; ++ms)
    got += b.take(t0 + milliseconds(ms)) ? 1 : 0;
  EXPECT_EQ(got, 9);
}

TEST(TokenBucket, ClockGoingBackwardsRefillsNothing) {
  const nanoseconds t0 = seconds(50);
  TokenBucket b(10, 1, t0);
  ASSERT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0 - seconds(10)));
  EXPECT_FALSE(b.take(t0 + milliseconds(99)));
  EXPECT_TRUE(b.take(t0 + milliseconds(100)));
}

TEST(TokenBucket, ExtremesDoNotOverflow) {
  const uint32_t max = RateLimit::kMaxRate;
  TokenBucket b(max, max, nanoseconds(0));
  EXPECT_EQ(drain(b, nanoseconds(0)), static_cast<int>(max));
  // A year of silence at the highest rate: full again, exactly.
  EXPECT_EQ(drain(b, seconds(365LL * 24 * 3600)), static_cast<int>(max));
  TokenBucket slow(1, 1, nanoseconds(0));
  ASSERT_TRUE(slow.take(nanoseconds(0)));
  EXPECT_FALSE(slow.take(nanoseconds(999'999'999)));
  EXPECT_TRUE(slow.take(seconds(1)));
}

TEST(SourceRateLimiter, EachSourceHasItsOwnBucket) {
  SourceRateLimiter lim({.rate_pps = 100, .burst = 100, .max_sources = 16});
  const IpAddr a = ip("100.64.1.2");
  const IpAddr b = ip("192.168.77.2");
  const nanoseconds t0 = seconds(10);
  int a_ok = 0;
  for (int i = 0; i < 1000; ++i)
    a_ok += lim.allow(a, t0) ? 1 : 0;
  EXPECT_EQ(a_ok, 100);
  EXPECT_TRUE(lim.allow(b, t0));  // a's flood leaves b alone
  EXPECT_FALSE(lim.allow(a, t0));
  EXPECT_EQ(lim.sources(), 2u);
}

TEST(SourceRateLimiter, AFloodIsAnsweredAtTheRate) {
  // 10,000 pps for 3 s from one source against 100 pps (burst 100): 100 + 3 x 100 answers.
  SourceRateLimiter lim({.rate_pps = 100, .burst = 100});
  const IpAddr a = ip("2001:db8:1::2");
  int answered = 0;
  for (int i = 0; i <= 30'000; ++i)
    answered += lim.allow(a, std::chrono::microseconds(100) * i) ? 1 : 0;
  EXPECT_EQ(answered, 400);
}

TEST(SourceRateLimiter, TableIsBoundedAndEvictsTheLeastRecentlySeen) {
  SourceRateLimiter lim({.rate_pps = 1, .burst = 1, .max_sources = 3});
  const IpAddr a = ip("10.0.0.1");
  const IpAddr b = ip("10.0.0.2");
  const IpAddr c = ip("10.0.0.3");
  const nanoseconds t = seconds(1);
  EXPECT_TRUE(lim.allow(a, t));
  EXPECT_TRUE(lim.allow(b, t));
  EXPECT_TRUE(lim.allow(c, t));
  EXPECT_FALSE(lim.allow(a, t));              // a is now the most recently seen, and empty
  EXPECT_TRUE(lim.allow(ip("10.0.0.4"), t));  // evicts b
  EXPECT_EQ(lim.sources(), 3u);
  EXPECT_EQ(lim.evictions(), 1u);
  EXPECT_FALSE(lim.allow(a, t));  // a kept its (empty) bucket
  EXPECT_FALSE(lim.allow(c, t));  // so did c
  EXPECT_TRUE(lim.allow(b, t));   // b starts afresh

  // A spoofed flood of distinct sources: the table stays at its bound.
  for (uint32_t i = 0; i < 100'000; ++i)
    lim.allow(IpAddr::v4(0x0b000000u + i), t);  // 11.0.0.0 and up: all new
  EXPECT_EQ(lim.sources(), 3u);
  EXPECT_EQ(lim.evictions(), 2u + 100'000u);
}

TEST(SourceRateLimiter, OutOfRangeSettingsAreClamped) {
  SourceRateLimiter lim({.rate_pps = 0, .burst = 0, .max_sources = 0});
  const IpAddr a = ip("10.0.0.1");
  EXPECT_TRUE(lim.allow(a, seconds(1)));
  EXPECT_FALSE(lim.allow(a, seconds(1)));
  EXPECT_TRUE(lim.allow(a, seconds(2)));
  EXPECT_TRUE(lim.allow(ip("10.0.0.2"), seconds(2)));
  EXPECT_EQ(lim.sources(), 1u);
}

TEST(SourceRateLimiter, AnIpv6SourceIsItsSlash64) {
  SourceRateLimiter lim({.rate_pps = 1, .burst = 2});
  const nanoseconds t = seconds(1);
  // Two answers for the whole /64, whatever interface identifiers it sends from.
  EXPECT_TRUE(lim.allow(ip("2001:db8:1:2::1"), t));
  EXPECT_TRUE(lim.allow(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t));
  EXPECT_FALSE(lim.allow(ip("2001:db8:1:2:1234::9"), t));
  EXPECT_EQ(lim.sources(), 1u);
  // The next /64 and an IPv4-mapped host are sources of their own.
  EXPECT_TRUE(lim.allow(ip("2001:db8:1:3::1"), t));
  EXPECT_TRUE(lim.allow(ip("::ffff:192.0.2.1"), t));
  EXPECT_TRUE(lim.allow(ip("::ffff:192.0.2.2"), t));
  EXPECT_EQ(lim.sources(), 4u);
  EXPECT_EQ(rate_limit_key(ip("2001:db8:1:2:abcd::1")), ip("2001:db8:1:2::"));
  EXPECT_EQ(rate_limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
}

TEST(SourceRateLimiter, SpoofedRandomSourcesShareOneTotal) {
  // 10,000 pps for 3 s, each packet from a new source (each with a full bucket of its own):
  // answered at the total rate, 500 + 3 x 500, not 30,000.
  SourceRateLimiter lim({.rate_pps = 100, .burst = 100, .total_pps = 500});
  int answered = 0;
  for (uint32_t i = 0; i <= 30'000; ++i)
    answered +=
        lim.allow(IpAddr::v4(0x0b000000u + i), seconds(10) + std::chrono::microseconds(100) * i)
            ? 1
            : 0;
  EXPECT_EQ(answered, 2000);
  // A source over its own rate does not spend the total: another one is answered.
  SourceRateLimiter two({.rate_pps = 1, .burst = 1, .total_pps = 2});
  const nanoseconds t = seconds(1);
  EXPECT_TRUE(two.allow(ip("10.0.0.1"), t));
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(two.allow(ip("10.0.0.1"), t));
  EXPECT_TRUE(two.allow(ip("10.0.0.2"), t));
  EXPECT_FALSE(two.allow(ip("10.0.0.3"), t));  // the total's two are spent
  // The total is never below one source's rate.
  SourceRateLimiter low({.rate_pps = 5, .burst = 5, .total_pps = 1});
  int from_one = 0;
  for (int i = 0; i < 10; ++i)
    from_one += low.allow(ip("10.0.0.1"), t) ? 1 : 0;
  EXPECT_EQ(from_one, 5);
}

}  // namespace
}  // namespace pathsteer
