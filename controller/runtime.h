// Runtime: the event loop as the controller's owners see it — the two clocks,
// one-shot and periodic timers, and deferred calls. LoopRuntime runs them on
// the daemon's EventLoop; unit tests use FakeRuntime
// (controller/fake_runtime.h), whose time moves only when the test says.
//
// Contract:
//  * Everything runs on the loop thread; no method may be called from another.
//  * at(when, cb, period): cb runs once `when` is reached (a time already past
//    runs at the next turn of the loop), then every `period` if non-zero
//    (missed periods are skipped, not run in a burst). Timers due at the same
//    time run in the order they were set.
//  * cancel(id) is a no-op for an id that fired (one-shot) or was cancelled;
//    cancelling from inside any callback, its own included, is allowed.
//  * defer(cb) runs cb after the current callback returns, in FIFO order.
//  * Setting a timer cannot fail once the runtime exists (one timerfd in all).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"

namespace pathsteer {

class Runtime {
 public:
  using TimerId = uint64_t;
  using Callback = std::function<void()>;
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  virtual ~Runtime() = default;

  virtual SteadyTime now() const = 0;
  virtual WallTime wall_now() const = 0;
  virtual TimerId at(SteadyTime when, Callback cb, Duration period = Duration(0)) = 0;
  virtual void cancel(TimerId id) = 0;
  virtual void defer(Callback cb) = 0;

  TimerId after(Duration delay, Callback cb) { return at(now() + delay, std::move(cb)); }

 protected:
  Runtime() = default;
  Runtime(const Runtime&) = default;
  Runtime& operator=(const Runtime&) = default;
};

// The timers of a Runtime, ordered by deadline then by the order they were
// set; shared by LoopRuntime and FakeRuntime.
class TimerQueue {
 public:
  Runtime::TimerId add(Runtime::SteadyTime when, Runtime::Callback cb, Runtime::Duration period);
  void cancel(Runtime::TimerId id);
  // The earliest deadline, if any timer is set.
  std::optional<Runtime::SteadyTime> next() const;
  // Runs every timer due at `now` (and those they make due at `now`), in order.
  void run_due(Runtime::SteadyTime now);

 private:
  struct Timer {
    Runtime::Callback cb;
    Runtime::Duration period{0};
  };
  using Key = std::pair<Runtime::SteadyTime, Runtime::TimerId>;
  std::map<Key, Runtime::TimerId> order_;
  std::map<Runtime::TimerId, std::pair<Runtime::SteadyTime, Timer>> timers_;
  Runtime::TimerId next_id_ = 1;
};

class LoopRuntime final : public Runtime {
 public:
  static Result<std::unique_ptr<LoopRuntime>> create(EventLoop& loop);
  ~LoopRuntime() override;
  LoopRuntime(const LoopRuntime&) = delete;
  LoopRuntime& operator=(const LoopRuntime&) = delete;

  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  TimerId at(SteadyTime when, Callback cb, Duration period = Duration(0)) override;
  void cancel(TimerId id) override;
  void defer(Callback cb) override;

 private:
  LoopRuntime(EventLoop& loop, Fd timer);
  void rearm();
  void on_timer();

  EventLoop& loop_;
  Fd timer_;  // timerfd, CLOCK_MONOTONIC, absolute: the earliest deadline
  TimerQueue queue_;
  std::shared_ptr<bool> alive_;  // deferred calls posted before destruction run as no-ops
};

}  // namespace pathsteer
