// EventLoop: the single thread that owns all controller state (DESIGN §1).
//
// Threading: every method except post() and stop_from_any_thread() must be
// called on the loop thread. post() is safe from any thread; the function runs
// on the loop thread in FIFO order. Callbacks run one at a time and must not
// block. Timers are timerfds (CLOCK_MONOTONIC), one per timer, so a late
// callback never delays the others' expiry accounting.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "common/fd.h"
#include "common/result.h"

namespace pathsteer {

class EventLoop {
 public:
  using FdCallback = std::function<void(uint32_t epoll_events)>;
  using TimerCallback = std::function<void()>;
  using TimerId = uint64_t;
  using Duration = std::chrono::nanoseconds;

  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches fd (not owned) for epoll events; replaces an earlier registration.
  Result<void> add_fd(int fd, uint32_t events, FdCallback cb);
  void remove_fd(int fd);

  // Fires after `first`, then every `period` (0 = one-shot). Returns an id for
  // cancel_timer(); cancelling from inside the callback is allowed.
  Result<TimerId> add_timer(Duration first, Duration period, TimerCallback cb);
  void cancel_timer(TimerId id);

  // Thread-safe: queue fn to run on the loop thread.
  void post(std::function<void()> fn);

  // Runs until stop(). Returns an error only if epoll itself fails.
  Result<void> run();
  void stop();                  // loop thread
  void stop_from_any_thread();  // any thread

  static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }

  // Every callback (fd, timer, posted function) is timed. Callbacks that ran
  // longer than kSlowCallback are counted; with a log threshold set (> 0), each
  // callback longer than it is logged at warn with its fd, timer id or "posted".
  static constexpr Duration kSlowCallback = std::chrono::milliseconds(2);
  // Posted functions run for at most this long per turn of the loop; the rest
  // run at the next turn, after the timers and fds that are ready (FIFO holds).
  static constexpr Duration kPostedSlice = std::chrono::milliseconds(1);
  struct Stats {
    uint64_t callbacks = 0;
    uint64_t slow_callbacks = 0;  // longer than kSlowCallback
    Duration max_callback{0};
  };
  const Stats& stats() const { return stats_; }
  void set_slow_log_threshold(Duration threshold) { slow_log_threshold_ = threshold; }

 private:
  EventLoop(Fd epoll, Fd wake);
  void drain_posted();
  template <typename F>
  void timed(const char* kind, uint64_t id, F&& fn);

  struct Timer {
    Fd fd;
    TimerCallback cb;
    bool periodic = false;
  };

  Fd epoll_;
  Fd wake_;  // eventfd for post()/stop_from_any_thread()
  bool running_ = false;
  std::unordered_map<int, std::shared_ptr<FdCallback>> fds_;
  std::unordered_map<TimerId, std::unique_ptr<Timer>> timers_;
  TimerId next_timer_ = 1;
  std::mutex posted_mu_;
  std::deque<std::function<void()>> posted_;
  bool stop_requested_ = false;  // guarded by posted_mu_
  Stats stats_;
  Duration slow_log_threshold_{0};
};

}  // namespace pathsteer
