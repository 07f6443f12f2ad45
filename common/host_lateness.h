// For timing tests: how late an ordinary thread on this host wakes from a
// timed sleep while the test runs. A lateness bound on the code under test is
// then its own budget on top of the host's, never a fixed figure that other
// work on the machine moves (a CI host beside two busy loops wakes 10-20 ms
// late at p99). Test-only; header-only.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace pathsteer::testing {

class HostLateness {
 public:
  // Starts a thread that wakes every `interval_ns` on an absolute
  // CLOCK_MONOTONIC deadline (as the prober does) and records its lateness.
  explicit HostLateness(int64_t interval_ns = 10'000'000) : interval_ns_(interval_ns) {
    thread_ = std::thread([this] { run(); });
  }
  HostLateness(const HostLateness&) = delete;
  HostLateness& operator=(const HostLateness&) = delete;
  ~HostLateness() { stop(); }

  // Stops the thread (idempotent); the samples stay.
  void stop() {
    stop_.store(true);
    if (thread_.joinable())
      thread_.join();
  }

  // Quantile q in [0, 1] of the lateness in ms; call after stop(). 0 without samples.
  double quantile_ms(double q) {
    if (late_ms_.empty())
      return 0;
    std::vector<double> v = late_ms_;
    std::sort(v.begin(), v.end());
    size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
    return v[i];
  }
  size_t samples() const { return late_ms_.size(); }

 private:
  static int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }

  void run() {
    int64_t next = now_ns() + interval_ns_;
    while (!stop_.load()) {
      timespec ts{.tv_sec = next / 1'000'000'000, .tv_nsec = next % 1'000'000'000};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      int64_t now = now_ns();
      late_ms_.push_back(static_cast<double>(std::max<int64_t>(0, now - next)) / 1e6);
      next += interval_ns_;
      if (next < now)  // overran: the next deadline ahead
        next = now + interval_ns_;
    }
  }

  int64_t interval_ns_;
  std::atomic<bool> stop_{false};
  std::vector<double> late_ms_;  // written by the thread only until stop()
  std::thread thread_;
};

}  // namespace pathsteer::testing
