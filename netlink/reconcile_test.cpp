#include "netlink/reconcile.h"

#include <gtest/gtest.h>

#include "netlink/test_objects.h"

namespace pathsteer {
namespace {

using nltest::addr;
using nltest::default_route;
using nltest::kOurs;
using nltest::kSlice;
using nltest::mark_rule;
using nltest::pfx;

constexpr uint8_t kStatic = RTPROT_STATIC;

std::vector<Change::Op> ops(const KernelDiff& d) {
  std::vector<Change::Op> v;
  for (const auto& c : d.changes)
    v.push_back(c.op);
  return v;
}

TEST(DiffKernel, EmptyKernelAddsRoutesBeforeRules) {
  DesiredKernel want{.rules = {mark_rule(AF_INET, 10000, 0x00100000, 300)},
                     .routes = {default_route(AF_INET, 300, "10.0.0.254", 2)}};
  auto d = diff_kernel(want, {}, {}, kSlice);
  ASSERT_EQ(d.changes.size(), 2u);
  EXPECT_TRUE(d.conflicts.empty());
  EXPECT_EQ(d.changes[0].op, Change::Op::kAdd);
  EXPECT_TRUE(std::holds_alternative<Route>(d.changes[0].object));
  EXPECT_EQ(d.changes[1].op, Change::Op::kInsert);  // a rule: no kernel duplicate scan
  EXPECT_EQ(std::get<Rule>(d.changes[1].object), want.rules[0]);
}

TEST(DiffKernel, AdoptsEqualStateWithoutChanges) {
  DesiredKernel want{.rules = {mark_rule(AF_INET, 10000, 0x00100000, 300),
                               mark_rule(AF_INET6, 10000, 0x00100000, 300)},
                     .routes = {default_route(AF_INET, 300, "10.0.0.254", 2),
                                default_route(AF_INET6, 300, "fd00::fe", 2)}};
  auto actual_routes = want.routes;
  actual_routes[1].linkdown = true;  // read-only; must not cause churn
  auto d = diff_kernel(want, want.rules, actual_routes, kSlice);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_TRUE(d.conflicts.empty());
}

TEST(DiffKernel, KernelNormalisationComparesEqual) {
  // What we ask for vs. what the kernel reports for it.
  Rule want_rule{.family = AF_INET,
                 .priority = 10001,
                 .fwmark = 7,
                 .table = 300,
                 .protocol = kOurs,
                 .src = pfx("0.0.0.0/0")};
  Rule got_rule = want_rule;
  got_rule.fwmask = 0xffffffff;
  got_rule.src.reset();
  Route want_v6{.family = AF_INET6,
                .table = 300,
                .dst = pfx("::/0"),
                .gateway = addr("fd00::fe"),
                .oif = 2,
                .protocol = kOurs,
                .scope = RT_SCOPE_LINK,
                .priority = 0};
  Route got_v6 = want_v6;
  got_v6.priority = 1024;
  got_v6.scope = RT_SCOPE_UNIVERSE;
  Route want_bh{.family = AF_INET6,
                .table = 301,
                .dst = pfx("::/0"),
                .protocol = kOurs,
                .type = RTN_UNREACHABLE,
                .priority = 1024};
  Route got_bh = want_bh;
  got_bh.oif = 1;  // IPv6 reports unreachable routes on "lo"
  auto d = diff_kernel({.rules = {want_rule}, .routes = {want_v6, want_bh}}, {got_rule},
                       {got_v6, got_bh}, kSlice);
  EXPECT_TRUE(d.changes.empty()) << d.changes[0].to_string();
}

TEST(DiffKernel, DeletesOursThatIsNotDesired) {
  auto stale_rule = mark_rule(AF_INET, 10002, 0x00200000, 301);
  auto stale_route = default_route(AF_INET6, 301, "fd00::1", 3);
  auto d = diff_kernel({}, {stale_rule}, {stale_route}, kSlice);
  ASSERT_EQ(d.changes.size(), 2u);
  // Rules go first so no rule points at an emptied table.
  EXPECT_EQ(d.changes[0], (Change{Change::Op::kDelete, stale_rule}));
  EXPECT_EQ(d.changes[1], (Change{Change::Op::kDelete, stale_route}));
  EXPECT_TRUE(d.conflicts.empty());
}

TEST(DiffKernel, LeavesEverythingOutsideTheSliceAlone) {
  std::vector<Rule> rules = {
      Rule{.family = AF_INET, .priority = 0, .table = RT_TABLE_LOCAL, .protocol = RTPROT_KERNEL},
      Rule{.family = AF_INET, .priority = 32766, .table = RT_TABLE_MAIN, .protocol = RTPROT_KERNEL},
      mark_rule(AF_INET, 9999, 1, 300),   // our protocol, below the band
      mark_rule(AF_INET, 11000, 1, 300),  // band is exclusive at the top
  };
  std::vector<Route> routes = {default_route(AF_INET, RT_TABLE_MAIN, "192.168.1.1", 2, kOurs),
                               default_route(AF_INET, 199, "192.168.1.1", 2),
                               default_route(AF_INET, 456, "192.168.1.1", 2)};
  auto d = diff_kernel({}, rules, routes, kSlice);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_TRUE(d.conflicts.empty());
}

TEST(DiffKernel, ForeignObjectsInOurSliceAreReportedNeverTouched) {
  auto foreign_rule = mark_rule(AF_INET, 10500, 0x00300000, 302, kStatic);
  auto foreign_route = default_route(AF_INET, 302, "10.0.0.9", 2, kStatic);
  auto d = diff_kernel({}, {foreign_rule}, {foreign_route}, kSlice);
  EXPECT_TRUE(d.changes.empty());
  ASSERT_EQ(d.conflicts.size(), 2u);
  EXPECT_NE(d.conflicts[0].what.find("foreign route"), std::string::npos) << d.conflicts[0].what;
  EXPECT_NE(d.conflicts[1].what.find("foreign rule"), std::string::npos) << d.conflicts[1].what;
}

TEST(DiffKernel, ForeignObjectHoldingADesiredIdentityBlocksIt) {
  auto want_rule = mark_rule(AF_INET, 10000, 0x00100000, 300);
  auto foreign_rule = mark_rule(AF_INET, 10000, 0x00900000, 999, kStatic);
  auto want_route = default_route(AF_INET, 300, "10.0.0.254", 2);
  auto foreign_route = default_route(AF_INET, 300, "10.0.0.1", 2, kStatic);
  auto d = diff_kernel({.rules = {want_rule}, .routes = {want_route}}, {foreign_rule},
                       {foreign_route}, kSlice);
  EXPECT_TRUE(d.changes.empty()) << d.changes[0].to_string();
  ASSERT_EQ(d.conflicts.size(), 2u);
  EXPECT_NE(d.conflicts[1].what.find("not applied"), std::string::npos) << d.conflicts[1].what;
  EXPECT_NE(d.conflicts[1].what.find("pref 10000"), std::string::npos);
}

TEST(DiffKernel, ChangedRouteIsReplacedChangedRuleIsDeletedAndReAdded) {
  auto old_rule = mark_rule(AF_INET, 10000, 0x00100000, 300);
  auto new_rule = mark_rule(AF_INET, 10000, 0x00100000, 301);
  auto old_route = default_route(AF_INET, 300, "10.0.0.254", 2);
  auto new_route = default_route(AF_INET, 300, "10.0.0.253", 2);
  auto d =
      diff_kernel({.rules = {new_rule}, .routes = {new_route}}, {old_rule}, {old_route}, kSlice);
  ASSERT_EQ(d.changes.size(), 3u);
  EXPECT_EQ(d.changes[0], (Change{Change::Op::kReplace, new_route}));
  EXPECT_EQ(d.changes[1], (Change{Change::Op::kDelete, old_rule}));
  EXPECT_EQ(d.changes[2], (Change{Change::Op::kInsert, new_rule}));
}

TEST(DiffKernel, DifferentMetricIsADifferentRoute) {
  auto old_route = default_route(AF_INET, 300, "10.0.0.254", 2);
  auto new_route = old_route;
  new_route.priority = 50;
  auto d = diff_kernel({.routes = {new_route}}, {}, {old_route}, kSlice);
  EXPECT_EQ(ops(d), (std::vector{Change::Op::kAdd, Change::Op::kDelete}));
}

TEST(DiffKernel, TablesAbove255AndIpv6AreOrdinary) {
  OwnedSlice wide = kSlice;
  wide.table_lo = 1000;
  wide.table_hi = 1256;
  auto want = default_route(AF_INET6, 1100, "fd00::fe", 4);
  auto d = diff_kernel({.routes = {want}}, {}, {}, wide);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(std::get<Route>(d.changes[0].object).table, 1100u);
  EXPECT_TRUE(diff_kernel({.routes = {want}}, {}, {want}, wide).changes.empty());
}

TEST(DiffKernel, StampsOurProtocolOnDesired) {
  auto want = mark_rule(AF_INET6, 10010, 1, 300, /*proto=*/0);
  auto d = diff_kernel({.rules = {want}}, {}, {}, kSlice);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(std::get<Rule>(d.changes[0].object).protocol, kOurs);
}

TEST(DiffKernel, DesiredOutsideSliceOrDuplicateIsAConflict) {
  auto outside = mark_rule(AF_INET, 20000, 1, 300);
  auto a = mark_rule(AF_INET, 10000, 1, 300);
  auto b = mark_rule(AF_INET, 10000, 2, 301);
  auto route_outside = default_route(AF_INET, RT_TABLE_MAIN, "10.0.0.1", 2);
  auto d = diff_kernel({.rules = {outside, a, b}, .routes = {route_outside}}, {}, {}, kSlice);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(std::get<Rule>(d.changes[0].object), a);
  EXPECT_EQ(d.conflicts.size(), 3u);
}

TEST(DiffKernel, DuplicatesOfOursAreCollapsed) {
  auto want = mark_rule(AF_INET, 10000, 1, 300);
  auto dup = mark_rule(AF_INET, 10000, 2, 300);
  auto d = diff_kernel({.rules = {want}}, {dup, want}, {}, kSlice);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0], (Change{Change::Op::kDelete, dup}));
}

TEST(DiffKernel, IsDeterministic) {
  DesiredKernel want{
      .rules = {mark_rule(AF_INET, 10003, 3, 303), mark_rule(AF_INET, 10001, 1, 301)}};
  auto a = diff_kernel(want, {}, {}, kSlice);
  auto b = diff_kernel(want, {}, {}, kSlice);
  EXPECT_EQ(a.changes, b.changes);
}

}  // namespace
}  // namespace pathsteer
