// FakeRuntime: a Runtime for unit tests. Time starts at an arbitrary steady
// and wall instant and moves only through advance(); deferred calls run on
// run_deferred() and before the timers of every advance().
#pragma once

#include <deque>

#include "controller/runtime.h"

namespace pathsteer {

class FakeRuntime final : public Runtime {
 public:
  FakeRuntime()
      : now_(SteadyTime(std::chrono::hours(1000))),
        wall_(WallTime(std::chrono::seconds(1800000000))) {}

  SteadyTime now() const override { return now_; }
  WallTime wall_now() const override { return wall_; }
  TimerId at(SteadyTime when, Callback cb, Duration period = Duration(0)) override {
    return queue_.add(when, std::move(cb), period);
  }
  void cancel(TimerId id) override { queue_.cancel(id); }
  void defer(Callback cb) override { deferred_.push_back(std::move(cb)); }

  void run_deferred() {
    while (!deferred_.empty()) {
      Callback cb = std::move(deferred_.front());
      deferred_.pop_front();
      cb();
    }
  }
  // Moves both clocks by d, firing every timer that falls due on the way at
  // its own time, with the deferred calls each leaves behind.
  void advance(Duration d) {
    run_deferred();
    SteadyTime end = now_ + d;
    while (auto next = queue_.next()) {
      if (*next > end)
        break;
      wall_ += *next - now_;
      now_ = *next;
      queue_.run_due(now_);
      run_deferred();
    }
    wall_ += end - now_;
    now_ = end;
  }
  // Steps the wall clock alone (an NTP step), as the real one may.
  void step_wall(Duration d) { wall_ += d; }
  bool has_timers() const { return queue_.next().has_value(); }

 private:
  SteadyTime now_;
  WallTime wall_;
  TimerQueue queue_;
  std::deque<Callback> deferred_;
};

}  // namespace pathsteer
