// ProbeStats: one probe target's measurements over decided probes (DESIGN §5).
//
//   last_rtt_ms  RTT of the latest reply
//   rtt_ms       mean RTT over the last kRttWindow replies
//   jitter_ms    RFC 3550 §6.4.1 style: J += (|D| - J) / 16, D = difference
//                between consecutive replies' RTTs
//   loss_pct     failed / decided over the last kLossWindow decided probes
// Counters: sent (every attempt), received (in-time replies), failed
// (timeouts and send errors). Pure; no clocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace pathsteer {

class ProbeStats {
 public:
  static constexpr size_t kRttWindow = 10;
  static constexpr size_t kLossWindow = 100;

  void on_sent() { ++sent_; }
  void on_reply(double rtt_ms);
  void on_failed();

  double last_rtt_ms() const { return last_rtt_ms_; }
  double rtt_ms() const;
  double jitter_ms() const { return jitter_ms_; }
  double loss_pct() const;
  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }
  uint64_t failed() const { return failed_; }
  bool has_rtt() const { return have_rtt_; }
  size_t loss_window_size() const { return outcome_count_; }
  size_t loss_window_failures() const { return outcome_failures_; }

 private:
  void record_outcome(bool answered);

  // Fixed rings, not deques: at 10,000 probes/s these are on the hot path.
  std::array<double, kRttWindow> rtts_{};
  size_t rtt_count_ = 0, rtt_next_ = 0;
  std::array<bool, kLossWindow> outcomes_{};  // true = answered
  size_t outcome_count_ = 0, outcome_next_ = 0;
  size_t outcome_failures_ = 0;  // failures inside the ring
  bool have_rtt_ = false;
  double last_rtt_ms_ = 0;
  double jitter_ms_ = 0;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  uint64_t failed_ = 0;
};

// Cumulative histogram of a latency-like figure in ms (the prober's send
// lateness): fixed kBucketMs buckets over [kMinMs, kMaxMs), an underflow and
// an overflow bucket, the exact maximum. Constant memory, O(1) add; a
// percentile is the upper edge of its bucket (kMaxMs... reports the maximum).
class LatencyHistogram {
 public:
  static constexpr double kMinMs = -10.0;
  static constexpr double kMaxMs = 50.0;
  static constexpr double kBucketMs = 0.05;

  void add(double ms);
  uint64_t count() const { return count_; }
  double max_ms() const { return max_ms_; }
  double sum_ms() const { return sum_ms_; }
  // Samples below `ms`, which is rounded to the nearest bucket edge (for a
  // Prometheus histogram, whose buckets must be cumulative); samples at or
  // above kMaxMs count only when ms is above kMaxMs.
  uint64_t count_below(double ms) const;
  // q in [0, 1]; 0 when empty.
  double percentile(double q) const;

 private:
  static constexpr size_t kBuckets = 1200;  // (kMaxMs - kMinMs) / kBucketMs
  static_assert(kBuckets * kBucketMs > kMaxMs - kMinMs - kBucketMs / 2 &&
                kBuckets * kBucketMs < kMaxMs - kMinMs + kBucketMs / 2);
  std::array<uint64_t, kBuckets + 2> buckets_{};  // [0] underflow, [kBuckets + 1] overflow
  uint64_t count_ = 0;
  double max_ms_ = 0;
  double sum_ms_ = 0;
};

}  // namespace pathsteer
