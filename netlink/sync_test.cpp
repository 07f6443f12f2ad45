// The reconcile lifecycle against FakeKernel: no root, no sockets, no clock.
#include "netlink/sync.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "netlink/fake_kernel.h"
#include "netlink/test_objects.h"

namespace pathsteer {
namespace {

using std::chrono::milliseconds;

using nltest::addr;
using nltest::default_route;
using nltest::kSlice;
using nltest::mark_rule;

const SyncTime kT0 = SyncTime{} + std::chrono::hours(1);

// Two uplinks, v4 only: the shape the planner produces.
DesiredKernel two_uplinks() {
  return {.rules = {mark_rule(AF_INET, 10000, 0x00100000, 300),
                    mark_rule(AF_INET, 10001, 0x00200000, 301)},
          .routes = {default_route(AF_INET, 300, "10.0.1.254", 2),
                     default_route(AF_INET, 301, "10.0.2.254", 3)}};
}

std::vector<Change::Op> ops(const std::vector<Change>& changes) {
  std::vector<Change::Op> v;
  for (const auto& c : changes)
    v.push_back(c.op);
  return v;
}

// ---- FakeKernel answers like rtnetlink ----

TEST(FakeKernel, AddReplaceDeleteLikeTheKernel) {
  FakeKernel k;
  auto route = default_route(AF_INET, 300, "10.0.1.254", 2);
  auto other_gw = default_route(AF_INET, 300, "10.0.1.253", 2);
  auto rule = mark_rule(AF_INET, 10000, 1, 300);
  auto same_prio = mark_rule(AF_INET, 10000, 2, 300);
  auto r = k.apply({{Change::Op::kAdd, route},
                    {Change::Op::kAdd, other_gw},  // same (table, dst, metric)
                    {Change::Op::kReplace, other_gw},
                    {Change::Op::kDelete, route},  // gateway no longer matches
                    {Change::Op::kAdd, rule},
                    {Change::Op::kAdd, same_prio},  // different rule, same priority: allowed
                    {Change::Op::kAdd, rule},       // identical: EEXIST
                    {Change::Op::kReplace, rule},
                    {Change::Op::kDelete, mark_rule(AF_INET, 10009, 1, 300)}});
  ASSERT_EQ(r.size(), 9u);
  EXPECT_TRUE(r[0].result.ok());
  EXPECT_EQ(r[1].result.error().err_no, EEXIST);
  EXPECT_TRUE(r[2].result.ok());
  EXPECT_EQ(r[3].result.error().err_no, ESRCH);
  EXPECT_TRUE(r[4].result.ok());
  EXPECT_TRUE(r[5].result.ok());
  EXPECT_EQ(r[6].result.error().err_no, EEXIST);
  EXPECT_EQ(r[7].result.error().err_no, EOPNOTSUPP);
  EXPECT_EQ(r[8].result.error().err_no, ENOENT);
  EXPECT_EQ(r[8].result.error().context, r[8].change.to_string());
  EXPECT_EQ(k.routes(), std::vector<Route>{other_gw});
  EXPECT_EQ(k.rules(), (std::vector<Rule>{rule, same_prio}));
  EXPECT_EQ(k.journal().size(), 9u);
  EXPECT_EQ(k.applied().size(), 4u);
}

TEST(FakeKernel, StoresWhatTheKernelReportsAndDumpsRulesByPriority) {
  FakeKernel k;
  auto v6 = default_route(AF_INET6, 300, "fd00::fe", 2);
  v6.priority = 0;
  Rule no_mask{.family = AF_INET, .priority = 10005, .fwmark = 7, .table = 300};
  (void)k.apply({{Change::Op::kAdd, v6},
                 {Change::Op::kAdd, no_mask},
                 {Change::Op::kAdd, mark_rule(AF_INET, 10001, 1, 300)}});
  auto routes = k.dump_routes(AF_INET6);
  ASSERT_TRUE(routes.ok());
  ASSERT_EQ(routes->size(), 1u);
  EXPECT_EQ((*routes)[0].priority, 1024u);
  EXPECT_TRUE(k.dump_routes(AF_INET)->empty());
  auto rules = k.dump_rules(AF_UNSPEC);
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].priority, 10001u);
  EXPECT_EQ((*rules)[1].fwmask, 0xffffffffU);
}

TEST(FakeKernel, FaultsFailTheirIdentityNTimesWithTheExtack) {
  FakeKernel k;
  auto route = default_route(AF_INET, 300, "10.0.1.254", 2);
  k.fail(route, ENETUNREACH, "Nexthop has invalid gateway", 2);
  for (int i = 0; i < 2; ++i) {
    auto r = k.apply({{Change::Op::kAdd, route}});
    ASSERT_FALSE(r[0].result.ok());
    EXPECT_EQ(r[0].result.error().err_no, ENETUNREACH);
    EXPECT_EQ(r[0].result.error().kernel_message, "Nexthop has invalid gateway");
  }
  EXPECT_TRUE(k.routes().empty());
  EXPECT_TRUE(k.apply({{Change::Op::kAdd, route}})[0].result.ok());

  k.fail_dumps(EAGAIN, "", 1);
  EXPECT_EQ(k.dump_rules(AF_INET).error().err_no, EAGAIN);
  EXPECT_TRUE(k.dump_rules(AF_INET).ok());
}

TEST(Reconciler, RunsAgainstAnyKernelPort) {
  FakeKernel k;
  auto report = Reconciler().reconcile(k, two_uplinks(), kSlice);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
  EXPECT_EQ(report->applied.size(), 4u);
  EXPECT_EQ(k.rules().size(), 2u);
}

// ---- SyncStateMachine ----

TEST(Sync, AwaitsADesiredStateAndAFirstDump) {
  SyncStateMachine sync;
  FakeKernel k;
  EXPECT_EQ(sync.state(), SyncState::kAwaiting);
  EXPECT_STREQ(to_string(sync.state()), "awaiting");
  EXPECT_FALSE(sync.next_run_at());
  sync.mark_dirty("link up");  // before any plan: remembered, nothing to run yet
  EXPECT_FALSE(sync.needs_run(kT0));
  auto idle = sync.run(k, kSlice, kT0);
  EXPECT_EQ(k.dump_calls(), 0);
  EXPECT_EQ(sync.counters().runs, 0u);
  EXPECT_EQ(idle.state, SyncState::kAwaiting);

  sync.set_desired(two_uplinks());
  EXPECT_EQ(sync.state(), SyncState::kAwaiting);  // the kernel is not read yet
  EXPECT_TRUE(sync.needs_run(kT0));
  EXPECT_LE(*sync.next_run_at(), kT0);
}

TEST(Sync, FirstSyncFromEmptyInstallsExactlyTheDesiredObjects) {
  SyncStateMachine sync;
  FakeKernel k;
  auto want = two_uplinks();
  sync.set_desired(want);
  auto report = sync.run(k, kSlice, kT0);

  EXPECT_EQ(report.state, SyncState::kSynced);
  EXPECT_EQ(sync.state(), SyncState::kSynced);
  EXPECT_STREQ(to_string(sync.state()), "synced");
  EXPECT_EQ(report.reasons, std::vector<std::string>{"new desired state"});
  EXPECT_EQ(k.rules(), want.rules);
  EXPECT_EQ(k.routes(), want.routes);
  EXPECT_EQ(ops(k.applied()), (std::vector<Change::Op>{Change::Op::kAdd, Change::Op::kAdd,
                                                       Change::Op::kInsert, Change::Op::kInsert}));
  EXPECT_TRUE(report.failed.empty());
  EXPECT_TRUE(report.conflicts.empty());
  EXPECT_FALSE(sync.next_run_at());
  EXPECT_FALSE(sync.needs_run(kT0 + std::chrono::hours(1)));
  EXPECT_EQ(sync.counters().runs, 1u);
  EXPECT_EQ(sync.counters().changes_applied, 4u);
  EXPECT_EQ(sync.counters().changes_failed, 0u);
  EXPECT_EQ(sync.last_run_at(), kT0);
  EXPECT_GT(sync.last_run_duration().count(), 0);
}

TEST(Sync, AdoptsIdenticalOwnedObjectsWithoutTouchingThem) {
  FakeKernel k;  // what the previous daemon left behind
  auto want = two_uplinks();
  for (const auto& r : want.rules)
    k.put(r);
  for (const auto& r : want.routes)
    k.put(r);

  SyncStateMachine sync;
  sync.set_desired(want);
  auto report = sync.run(k, kSlice, kT0);
  EXPECT_EQ(report.state, SyncState::kSynced);
  EXPECT_TRUE(k.journal().empty());  // no delete/re-add, no replace
  EXPECT_TRUE(report.applied.empty());
}

TEST(Sync, RemovesOurLeftoversLeavesForeignObjectsAndStaysSynced) {
  FakeKernel k;
  auto leftover_rule = mark_rule(AF_INET, 10007, 0x00700000, 307);
  auto leftover_route = default_route(AF_INET, 307, "10.0.7.254", 7);
  auto foreign_rule = mark_rule(AF_INET, 10500, 0x00900000, 309, RTPROT_STATIC);
  auto foreign_route = default_route(AF_INET, 309, "10.0.9.254", 9, RTPROT_STATIC);
  auto main_route = default_route(AF_INET, RT_TABLE_MAIN, "192.168.1.1", 2, RTPROT_DHCP);
  for (const auto& r : {leftover_rule, foreign_rule})
    k.put(r);
  for (const auto& r : {leftover_route, foreign_route, main_route})
    k.put(r);

  SyncStateMachine sync;
  sync.set_desired(two_uplinks());
  auto report = sync.run(k, kSlice, kT0);

  EXPECT_EQ(report.state, SyncState::kSynced);
  EXPECT_EQ(report.conflicts.size(), 2u);
  EXPECT_EQ(sync.conflicts(), report.conflicts);
  EXPECT_TRUE(sync.errors().empty());
  // Deleted: exactly our two leftovers; the foreign and main objects are still there.
  std::vector<Change> deletes;
  for (const auto& c : k.applied()) {
    if (c.op == Change::Op::kDelete)
      deletes.push_back(c);
  }
  EXPECT_EQ(deletes, (std::vector<Change>{{Change::Op::kDelete, leftover_rule},
                                          {Change::Op::kDelete, leftover_route}}));
  auto rules = k.rules();
  EXPECT_NE(std::find(rules.begin(), rules.end(), foreign_rule), rules.end());
  auto routes = k.routes();
  EXPECT_NE(std::find(routes.begin(), routes.end(), foreign_route), routes.end());
  EXPECT_NE(std::find(routes.begin(), routes.end(), main_route), routes.end());
}

TEST(Sync, DriftIsRepairedOnTheNextRun) {
  FakeKernel k;
  SyncStateMachine sync;
  auto want = two_uplinks();
  sync.set_desired(want);
  (void)sync.run(k, kSlice, kT0);
  k.clear_journal();

  ASSERT_TRUE(k.erase(want.rules[1]));  // someone ran `ip rule del`
  sync.mark_dirty("rule deleted in our band");
  EXPECT_EQ(sync.state(), SyncState::kSyncing);
  EXPECT_TRUE(sync.needs_run(kT0 + milliseconds(20)));
  auto report = sync.run(k, kSlice, kT0 + milliseconds(20));

  EXPECT_EQ(report.reasons, std::vector<std::string>{"rule deleted in our band"});
  EXPECT_EQ(k.applied(), (std::vector<Change>{{Change::Op::kInsert, want.rules[1]}}));
  EXPECT_EQ(k.rules(), want.rules);
  EXPECT_EQ(report.state, SyncState::kSynced);
  EXPECT_TRUE(sync.dirty_reasons().empty());
}

TEST(Sync, FailingObjectIsRetriedWithDoublingBackoffUntilItApplies) {
  FakeKernel k;
  SyncStateMachine sync;  // 100 ms doubling to 30 s
  auto want = two_uplinks();
  const auto& bad = want.routes[1];
  k.fail(bad, ENETUNREACH, "Nexthop has invalid gateway");
  sync.set_desired(want);

  auto first = sync.run(k, kSlice, kT0);
  EXPECT_EQ(first.state, SyncState::kSyncing);
  EXPECT_STREQ(to_string(sync.state()), "syncing");
  EXPECT_EQ(first.applied.size(), 3u);  // one failure never stops the rest
  ASSERT_EQ(first.failed.size(), 1u);
  ASSERT_EQ(sync.failures().size(), 1u);
  const SyncFailure f = sync.failures()[0];
  EXPECT_EQ(f.object(), normalized(Route(bad)).to_string());
  EXPECT_EQ(f.identity, "route inet table 301 0.0.0.0/0 metric 0");
  EXPECT_EQ(f.error.err_no, ENETUNREACH);
  EXPECT_EQ(f.error.kernel_message, "Nexthop has invalid gateway");
  EXPECT_EQ(f.attempts, 1u);
  ASSERT_EQ(sync.errors().size(), 1u);
  EXPECT_NE(sync.errors()[0].find("Nexthop has invalid gateway"), std::string::npos);
  EXPECT_NE(sync.errors()[0].find("table 301"), std::string::npos);

  // Retries at +100, +200, +400 ms after each failed attempt.
  auto now = kT0;
  for (auto delay : {milliseconds(100), milliseconds(200), milliseconds(400)}) {
    ASSERT_EQ(sync.next_run_at(), now + delay);
    EXPECT_FALSE(sync.needs_run(now + delay - milliseconds(1)));
    now += delay;
    EXPECT_TRUE(sync.needs_run(now));
    auto retry = sync.run(k, kSlice, now);
    EXPECT_EQ(retry.reasons, std::vector<std::string>{"retry"});
    EXPECT_EQ(retry.state, SyncState::kSyncing);
    ASSERT_EQ(retry.failed.size(), 1u);  // only the failing route is tried again
    EXPECT_TRUE(retry.applied.empty());
  }
  EXPECT_EQ(sync.failures()[0].attempts, 4u);
  ASSERT_EQ(sync.next_run_at(), now + milliseconds(800));

  k.clear_faults();
  now += milliseconds(800);
  auto healed = sync.run(k, kSlice, now);
  EXPECT_EQ(healed.state, SyncState::kSynced);
  EXPECT_EQ(healed.applied, (std::vector<Change>{{Change::Op::kAdd, bad}}));
  EXPECT_TRUE(sync.failures().empty());
  EXPECT_TRUE(sync.errors().empty());
  EXPECT_FALSE(sync.next_run_at());
  EXPECT_EQ(k.routes(), want.routes);
  EXPECT_EQ(sync.counters().changes_failed, 4u);

  // Backoff was reset: a new failure starts again at 100 ms.
  ASSERT_TRUE(k.erase(bad));
  k.fail(bad, ENETUNREACH, "Nexthop has invalid gateway");
  sync.mark_dirty("route deleted in our table");
  now += milliseconds(5);
  (void)sync.run(k, kSlice, now);
  EXPECT_EQ(sync.failures()[0].attempts, 1u);
  EXPECT_EQ(sync.next_run_at(), now + milliseconds(100));
}

TEST(Sync, BackoffIsCapped) {
  FakeKernel k;
  SyncStateMachine sync({.initial_backoff = milliseconds(100), .max_backoff = milliseconds(1000)});
  auto want = two_uplinks();
  k.fail(want.rules[0], EINVAL, "Invalid table");
  sync.set_desired(want);
  auto now = kT0;
  std::vector<milliseconds> delays;
  for (int i = 0; i < 6; ++i) {
    (void)sync.run(k, kSlice, now);
    auto next = *sync.next_run_at();
    delays.push_back(std::chrono::duration_cast<milliseconds>(next - now));
    now = next;
  }
  EXPECT_EQ(delays,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400),
                                       milliseconds(800), milliseconds(1000), milliseconds(1000)}));
}

TEST(Sync, RetryRunDefersIdentitiesNotYetDueDirtyRunTriesEverything) {
  FakeKernel k;
  SyncStateMachine sync;
  auto want = two_uplinks();
  const auto& a = want.routes[0];
  const auto& b = want.routes[1];
  k.fail(a, ENETUNREACH);
  sync.set_desired(want);
  (void)sync.run(k, kSlice, kT0);  // a fails: retry at +100

  // b is deleted by hand and now fails too. The kernel event makes a dirty run,
  // which tries a again although a's retry is not due.
  ASSERT_TRUE(k.erase(b));
  k.fail(b, ENETUNREACH);
  sync.mark_dirty("route deleted in our table");
  auto dirty = sync.run(k, kSlice, kT0 + milliseconds(10));
  EXPECT_EQ(dirty.failed.size(), 2u);  // a (2nd attempt: +200) and b (1st: +100)
  EXPECT_TRUE(dirty.deferred.empty());
  EXPECT_EQ(sync.next_run_at(), kT0 + milliseconds(110));

  k.clear_faults();
  auto retry_b = sync.run(k, kSlice, kT0 + milliseconds(110));
  EXPECT_EQ(retry_b.applied, (std::vector<Change>{{Change::Op::kAdd, b}}));
  EXPECT_EQ(retry_b.deferred, (std::vector<Change>{{Change::Op::kAdd, a}}));
  EXPECT_EQ(retry_b.state, SyncState::kSyncing);
  EXPECT_EQ(sync.next_run_at(), kT0 + milliseconds(210));

  auto retry_a = sync.run(k, kSlice, kT0 + milliseconds(210));
  EXPECT_EQ(retry_a.applied, (std::vector<Change>{{Change::Op::kAdd, a}}));
  EXPECT_EQ(retry_a.state, SyncState::kSynced);
}

TEST(Sync, DumpFailureKeepsSyncingAndBacksOff) {
  FakeKernel k;
  SyncStateMachine sync;
  auto want = two_uplinks();
  sync.set_desired(want);
  (void)sync.run(k, kSlice, kT0);
  ASSERT_EQ(sync.state(), SyncState::kSynced);
  k.clear_journal();

  k.fail_dumps(EAGAIN, "", FakeKernel::kUntilCleared);
  ASSERT_TRUE(k.erase(want.rules[0]));
  sync.mark_dirty("overrun");
  auto now = kT0 + milliseconds(50);
  auto failed = sync.run(k, kSlice, now);
  EXPECT_EQ(failed.state, SyncState::kSyncing);
  ASSERT_TRUE(failed.dump_error);
  EXPECT_EQ(failed.dump_error->err_no, EAGAIN);
  EXPECT_TRUE(k.journal().empty());  // nothing applied blind
  ASSERT_TRUE(sync.dump_error());
  EXPECT_EQ(sync.errors().size(), 1u);
  EXPECT_EQ(sync.counters().dump_failures, 1u);
  EXPECT_EQ(sync.next_run_at(), now + milliseconds(100));
  // Still dirty, but a new kernel event does not make the dump due sooner.
  sync.mark_dirty("rule deleted in our band");
  EXPECT_FALSE(sync.needs_run(now + milliseconds(99)));

  now += milliseconds(100);
  (void)sync.run(k, kSlice, now);
  EXPECT_EQ(sync.next_run_at(), now + milliseconds(200));

  k.clear_faults();
  now += milliseconds(200);
  auto healed = sync.run(k, kSlice, now);
  EXPECT_EQ(healed.state, SyncState::kSynced);
  EXPECT_EQ(healed.reasons, (std::vector<std::string>{"overrun", "retry after a failed dump",
                                                      "rule deleted in our band"}));
  EXPECT_EQ(k.applied(), (std::vector<Change>{{Change::Op::kInsert, want.rules[0]}}));
  EXPECT_FALSE(sync.dump_error());
  EXPECT_FALSE(sync.next_run_at());
}

TEST(Sync, FirstDumpFailureStaysAwaitingWithARetryTime) {
  FakeKernel k;
  SyncStateMachine sync;
  k.fail_dumps(EPERM, "", 1);
  sync.set_desired(two_uplinks());
  auto report = sync.run(k, kSlice, kT0);
  EXPECT_EQ(report.state, SyncState::kAwaiting);
  EXPECT_EQ(sync.next_run_at(), kT0 + milliseconds(100));
  auto second = sync.run(k, kSlice, kT0 + milliseconds(100));
  EXPECT_EQ(second.state, SyncState::kSynced);
}

TEST(Sync, NewDesiredStateWhileARetryIsPendingReplacesThePlan) {
  FakeKernel k;
  SyncStateMachine sync;
  auto want = two_uplinks();
  k.fail(want.routes[1], ENETUNREACH, "Nexthop has invalid gateway");
  sync.set_desired(want);
  (void)sync.run(k, kSlice, kT0);
  ASSERT_EQ(sync.next_run_at(), kT0 + milliseconds(100));

  // The uplink behind table 301 is gone from the plan: run now, not at +100 ms,
  // and the failing route is forgotten rather than retried.
  DesiredKernel next = want;
  next.rules.pop_back();
  next.routes.pop_back();
  sync.set_desired(next);
  EXPECT_TRUE(sync.needs_run(kT0 + milliseconds(1)));
  k.clear_journal();
  auto report = sync.run(k, kSlice, kT0 + milliseconds(1));
  EXPECT_EQ(report.state, SyncState::kSynced);
  EXPECT_TRUE(sync.failures().empty());
  EXPECT_FALSE(sync.next_run_at());
  // Only the rule of the dropped uplink is removed; the failed route was never added.
  EXPECT_EQ(k.applied(), (std::vector<Change>{{Change::Op::kDelete, want.rules[1]}}));
  EXPECT_EQ(k.rules(), next.rules);
  EXPECT_EQ(k.routes(), next.routes);

  // Same identity, new content (DHCP gave a new gateway): tried at once, and it works.
  DesiredKernel regw = want;
  regw.routes[1].gateway = addr("10.0.2.1");
  k.clear_faults();
  sync.set_desired(regw);
  auto again = sync.run(k, kSlice, kT0 + milliseconds(2));
  EXPECT_EQ(again.state, SyncState::kSynced);
  EXPECT_EQ(k.routes(), regw.routes);
}

TEST(Sync, Ipv6AndTablesAbove255) {
  OwnedSlice wide = kSlice;
  wide.table_lo = 1000;
  wide.table_hi = 1256;
  auto v6_route = default_route(AF_INET6, 1100, "fd00::fe", 4);
  v6_route.priority = 0;  // the kernel stores 1024
  auto v4_route = default_route(AF_INET, 1255, "10.0.9.254", 5);
  DesiredKernel want{.rules = {mark_rule(AF_INET6, 10000, 0x00100000, 1100),
                               mark_rule(AF_INET, 10000, 0x00200000, 1255)},
                     .routes = {v6_route, v4_route}};
  FakeKernel k;
  k.fail(v6_route, EINVAL, "Invalid gateway address", 1);
  SyncStateMachine sync;
  sync.set_desired(want);

  (void)sync.run(k, wide, kT0);
  ASSERT_EQ(sync.failures().size(), 1u);
  EXPECT_EQ(sync.failures()[0].identity, "route inet6 table 1100 ::/0 metric 1024");
  EXPECT_NE(sync.failures()[0].object().find("table 1100"), std::string::npos);

  auto retry = sync.run(k, wide, kT0 + milliseconds(100));
  EXPECT_EQ(retry.state, SyncState::kSynced);
  ASSERT_EQ(k.routes().size(), 2u);
  EXPECT_EQ(k.routes()[1].table, 1100u);
  EXPECT_EQ(k.routes()[1].priority, 1024u);

  // Adopted as equal on the next pass (metric 0 vs 1024 is not a change).
  k.clear_journal();
  sync.mark_dirty("route event");
  EXPECT_EQ(sync.run(k, wide, kT0 + milliseconds(200)).state, SyncState::kSynced);
  EXPECT_TRUE(k.journal().empty());
}

TEST(Sync, ChangedRuleWhoseDeleteFailedIsCleanedUpOnRetry) {
  FakeKernel k;
  SyncStateMachine sync;
  auto want = two_uplinks();
  sync.set_desired(want);
  (void)sync.run(k, kSlice, kT0);
  k.clear_journal();

  // A rule has no replace: delete the old, add the new, at one identity.
  // The delete fails once; the add still goes in beside the old rule.
  DesiredKernel moved = want;
  moved.rules[0].table = 302;
  moved.routes.push_back(default_route(AF_INET, 302, "10.0.3.254", 4));
  k.fail(moved.rules[0], ENOBUFS, "", 1);
  sync.set_desired(moved);
  auto report = sync.run(k, kSlice, kT0 + milliseconds(1));
  EXPECT_EQ(report.state, SyncState::kSyncing);
  ASSERT_EQ(report.failed.size(), 1u);
  EXPECT_EQ(report.failed[0].change, (Change{Change::Op::kDelete, want.rules[0]}));
  EXPECT_EQ(k.rules().size(), 3u);

  auto retry = sync.run(k, kSlice, kT0 + milliseconds(101));
  EXPECT_EQ(retry.applied, (std::vector<Change>{{Change::Op::kDelete, want.rules[0]}}));
  EXPECT_EQ(retry.state, SyncState::kSynced);
  EXPECT_EQ(k.rules(), moved.rules);
}

}  // namespace
}  // namespace pathsteer
