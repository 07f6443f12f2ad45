#include "probes/health.h"

#include <algorithm>
#include <utility>

namespace pathsteer {

const char* to_string(HealthState s) {
  switch (s) {
    case HealthState::kUnknown:
      return "unknown";
    case HealthState::kUp:
      return "up";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kDown:
      return "down";
  }
  return "?";
}

bool round_good(uint32_t answered, uint32_t targets, uint32_t reliability) {
  if (targets == 0)
    return false;
  uint32_t need = std::clamp<uint32_t>(reliability, 1, targets);
  return answered >= need;
}

HealthTracker::HealthTracker(const HealthSpec& spec, bool has_probes)
    : down_after_(std::max<uint32_t>(spec.down_after, 1)),
      up_after_(std::max<uint32_t>(spec.up_after, 1)),
      has_probes_(has_probes),
      degraded_if_(spec.degraded_if) {
  constexpr double kDefaultRecover = 0.8;
  auto bar = [&](auto recover, auto degraded) {
    if (recover)
      return static_cast<double>(*recover);
    return degraded ? kDefaultRecover * static_cast<double>(*degraded) : 0.0;
  };
  recover_.rtt_ms = bar(spec.recover_if.rtt_ms, spec.degraded_if.rtt_ms);
  recover_.jitter_ms = bar(spec.recover_if.jitter_ms, spec.degraded_if.jitter_ms);
  recover_.loss_pct = bar(spec.recover_if.loss_pct, spec.degraded_if.loss_pct);
}

HealthState HealthTracker::state() const {
  if (!has_probes_)
    return carrier_ ? HealthState::kUp : HealthState::kDown;
  if (forced())
    return HealthState::kDown;
  if (probe_state_ == HealthState::kUp && degraded_)
    return HealthState::kDegraded;
  return probe_state_;
}

std::string HealthTracker::reason() const {
  if (!carrier_)
    return "carrier";
  if (!has_probes_)
    return "no probes";
  if (!blocker_.empty())
    return blocker_;
  if (state() == HealthState::kDegraded)
    return "degraded: " + degraded_by_;
  return "probes";
}

void HealthTracker::reset_probe_state() {
  probe_state_ = HealthState::kDown;
  good_streak_ = 0;
  bad_streak_ = 0;
  degraded_ = false;
  degraded_by_.clear();
  over_streak_ = 0;
  under_streak_ = 0;
}

void HealthTracker::on_quality(const Quality& q) {
  std::string over;
  bool under = true;
  auto check = [&](const char* key, auto threshold, double value, double recover) {
    if (!threshold)
      return;
    if (value > static_cast<double>(*threshold))
      over += over.empty() ? key : std::string(", ") + key;
    if (value > recover)
      under = false;
  };
  check("rtt_ms", degraded_if_.rtt_ms, q.rtt_ms, recover_.rtt_ms);
  check("jitter_ms", degraded_if_.jitter_ms, q.jitter_ms, recover_.jitter_ms);
  check("loss_pct", degraded_if_.loss_pct, q.loss_pct, recover_.loss_pct);
  over_streak_ = over.empty() ? 0 : over_streak_ + 1;
  under_streak_ = under ? under_streak_ + 1 : 0;
  if (!degraded_ && over_streak_ >= down_after_) {
    degraded_ = true;
    degraded_by_ = over;
  } else if (degraded_ && under_streak_ >= up_after_) {
    degraded_ = false;
    degraded_by_.clear();
  }
}

bool HealthTracker::on_round(bool good, const Quality& q) {
  if (!has_probes_ || forced())
    return false;
  HealthState state_before = state();
  std::string reason_before = reason();
  on_quality(q);
  if (good) {
    ++good_streak_;
    bad_streak_ = 0;
  } else {
    ++bad_streak_;
    good_streak_ = 0;
  }
  switch (probe_state_) {
    case HealthState::kUnknown:
      if (good)
        probe_state_ = HealthState::kUp;
      if (bad_streak_ >= down_after_)
        probe_state_ = HealthState::kDown;
      break;
    case HealthState::kUp:
    case HealthState::kDegraded:
      if (bad_streak_ >= down_after_)
        probe_state_ = HealthState::kDown;
      break;
    case HealthState::kDown:
      if (good_streak_ >= up_after_)
        probe_state_ = HealthState::kUp;
      break;
  }
  return state() != state_before || reason() != reason_before;
}

bool HealthTracker::set_carrier(bool up) {
  if (up == carrier_)
    return false;
  HealthState state_before = state();
  std::string reason_before = reason();
  carrier_ = up;
  if (!up)
    reset_probe_state();
  return state() != state_before || reason() != reason_before;
}

bool HealthTracker::set_blocker(std::string reason) {
  if (reason == blocker_)
    return false;
  HealthState state_before = state();
  std::string reason_before = this->reason();
  blocker_ = std::move(reason);
  if (!blocker_.empty())
    reset_probe_state();
  return state() != state_before || this->reason() != reason_before;
}

}  // namespace pathsteer
