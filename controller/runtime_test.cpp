// The Runtime's timers (TimerQueue, shared by the loop and the fake) and
// LoopRuntime on a real EventLoop.
#include <gtest/gtest.h>

#include "controller/fake_runtime.h"
#include "controller/runtime.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;

TEST(Runtime, TimersFireInDeadlineThenSetOrder) {
  FakeRuntime rt;
  std::vector<int> fired;
  rt.after(20ms, [&] { fired.push_back(2); });
  rt.after(10ms, [&] { fired.push_back(1); });
  rt.after(20ms, [&] { fired.push_back(3); });
  auto cancelled = rt.after(15ms, [&] { fired.push_back(99); });
  rt.cancel(cancelled);
  rt.cancel(cancelled);  // twice: a no-op
  rt.advance(19ms);
  EXPECT_EQ(fired, (std::vector<int>{1}));
  rt.advance(1ms);
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(rt.has_timers());
}

TEST(Runtime, PeriodicTimersSkipMissedPeriodsAndCanCancelThemselves) {
  FakeRuntime rt;
  int n = 0;
  Runtime::TimerId id = 0;
  id = rt.at(
      rt.now() + 10ms,
      [&] {
        if (++n == 3)
          rt.cancel(id);
      },
      10ms);
  rt.advance(25ms);
  EXPECT_EQ(n, 2);
  rt.advance(100ms);
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(rt.has_timers());
  // A timer whose callback runs late (a stalled loop) is not run in a burst.
  TimerQueue q;
  int m = 0;
  auto t0 = Runtime::SteadyTime(1s);
  q.add(
      t0 + 10ms, [&] { ++m; }, 10ms);
  q.run_due(t0 + 55ms);
  EXPECT_EQ(m, 1);
  EXPECT_EQ(*q.next(), t0 + 60ms);
}

TEST(Runtime, DeferredCallsRunAfterTheCurrentOneInOrder) {
  FakeRuntime rt;
  std::vector<int> order;
  rt.defer([&] {
    order.push_back(1);
    rt.defer([&] { order.push_back(3); });
  });
  rt.defer([&] { order.push_back(2); });
  rt.run_deferred();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Runtime, LoopRuntimeFiresOnTheEventLoop) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto rt = LoopRuntime::create(**loop);
  ASSERT_TRUE(rt);
  std::vector<int> order;
  auto start = (*rt)->now();
  (*rt)->after(30ms, [&] {
    order.push_back(2);
    (*loop)->stop();
  });
  (*rt)->after(10ms, [&] { order.push_back(1); });
  auto never = (*rt)->after(20ms, [&] { order.push_back(99); });
  (*rt)->cancel(never);
  (*rt)->defer([&] { order.push_back(0); });
  ASSERT_TRUE((*loop)->run());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_GE((*rt)->now() - start, 30ms);
}

}  // namespace
}  // namespace pathsteer
