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
      has_probes_(has_probes) {}

HealthState HealthTracker::state() const {
  if (!has_probes_)
    return carrier_ ? HealthState::kUp : HealthState::kDown;
  if (forced())
    return HealthState::kDown;
  return probe_state_;
}

std::string HealthTracker::reason() const {
  if (!carrier_)
    return "carrier";
  if (!has_probes_)
    return "no probes";
  if (!blocker_.empty())
    return blocker_;
  return "probes";
}

void HealthTracker::reset_probe_state() {
  probe_state_ = HealthState::kDown;
  good_streak_ = 0;
  bad_streak_ = 0;
}

bool HealthTracker::on_round(bool good) {
  if (!has_probes_ || forced())
    return false;
  HealthState before = probe_state_;
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
      if (bad_streak_ >= down_after_)
        probe_state_ = HealthState::kDown;
      break;
    case HealthState::kDown:
      if (good_streak_ >= up_after_)
        probe_state_ = HealthState::kUp;
      break;
  }
  return probe_state_ != before;
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
