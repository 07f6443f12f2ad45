#include "probes/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pathsteer {

void ProbeStats::on_reply(double rtt_ms) {
  ++received_;
  if (have_rtt_)
    jitter_ms_ += (std::fabs(rtt_ms - last_rtt_ms_) - jitter_ms_) / 16.0;
  have_rtt_ = true;
  last_rtt_ms_ = rtt_ms;
  rtts_[rtt_next_] = rtt_ms;
  rtt_next_ = (rtt_next_ + 1) % kRttWindow;
  rtt_count_ = std::min(rtt_count_ + 1, kRttWindow);
  record_outcome(true);
}

void ProbeStats::on_failed() {
  ++failed_;
  record_outcome(false);
}

void ProbeStats::record_outcome(bool answered) {
  if (outcome_count_ == kLossWindow && !outcomes_[outcome_next_])
    --outcome_failures_;  // the oldest outcome leaves the window
  outcomes_[outcome_next_] = answered;
  outcome_next_ = (outcome_next_ + 1) % kLossWindow;
  outcome_count_ = std::min(outcome_count_ + 1, kLossWindow);
  if (!answered)
    ++outcome_failures_;
}

double ProbeStats::rtt_ms() const {
  if (rtt_count_ == 0)
    return 0;
  return std::accumulate(rtts_.begin(), rtts_.begin() + static_cast<std::ptrdiff_t>(rtt_count_),
                         0.0) /
         static_cast<double>(rtt_count_);
}

double ProbeStats::loss_pct() const {
  if (outcome_count_ == 0)
    return 0;
  return 100.0 * static_cast<double>(outcome_failures_) / static_cast<double>(outcome_count_);
}

void LatencyHistogram::add(double ms) {
  size_t b = 0;
  if (ms >= kMaxMs)
    b = kBuckets + 1;
  else if (ms >= kMinMs)
    b = 1 + std::min(kBuckets - 1, static_cast<size_t>((ms - kMinMs) / kBucketMs));
  ++buckets_[b];
  max_ms_ = count_ == 0 ? ms : std::max(max_ms_, ms);
  ++count_;
  sum_ms_ += ms;
}

uint64_t LatencyHistogram::count_below(double ms) const {
  if (ms > kMaxMs)
    return count_;
  if (ms < kMinMs)
    return 0;
  auto edge = static_cast<size_t>(std::lround((ms - kMinMs) / kBucketMs));  // buckets below
  uint64_t n = 0;
  for (size_t b = 0; b <= std::min(edge, kBuckets); ++b)
    n += buckets_[b];
  return n;
}

double LatencyHistogram::percentile(double q) const {
  if (count_ == 0)
    return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen < rank)
      continue;
    if (b == 0)
      return kMinMs;
    if (b == kBuckets + 1)
      return max_ms_;
    return std::min(max_ms_, kMinMs + static_cast<double>(b) * kBucketMs);
  }
  return max_ms_;
}

}  // namespace pathsteer
