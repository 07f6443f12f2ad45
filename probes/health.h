// HealthTracker: the per-uplink health state machine (DESIGN §5), pure and
// clock-free so it can be tested without sockets.
//
// Inputs are decided probe rounds, carrier (from netlink) and "probes cannot
// run" (no interface yet, socket error). Rules:
//   * kUnknown (initial): the first good round -> kUp; `down_after`
//     consecutive bad rounds -> kDown.
//   * kUp -> kDown after `down_after` consecutive bad rounds;
//     kDown -> kUp after `up_after` consecutive good rounds.
//   * Carrier down forces kDown at once (reason "carrier") and takes
//     precedence over everything; a blocker ("no interface", ...) forces kDown
//     with its own reason. While forced, rounds are ignored and the streaks
//     restart, so after carrier returns it takes `up_after` fresh good rounds.
//   * Without probes the state follows carrier only: kUp ("no probes") or
//     kDown ("carrier").
// Reasons: "probes" (decided by rounds; also while kUnknown), "carrier",
// "no probes", or the blocker's text.
#pragma once

#include <cstdint>
#include <string>

#include "controller/policy.h"

namespace pathsteer {

enum class HealthState { kUnknown, kUp, kDown };
const char* to_string(HealthState s);

// A round is good when at least `reliability` of its `targets` answered.
// reliability is clamped to [1, targets] so a misconfigured value cannot make
// every round bad (or good). A round with no targets is bad.
bool round_good(uint32_t answered, uint32_t targets, uint32_t reliability);

class HealthTracker {
 public:
  explicit HealthTracker(const HealthSpec& spec, bool has_probes = true);

  // Each input returns true when state() or reason() changed.
  bool on_round(bool good);
  bool set_carrier(bool up);
  bool set_blocker(std::string reason);  // empty = probes can run

  HealthState state() const;
  std::string reason() const;
  bool carrier() const { return carrier_; }

 private:
  bool forced() const { return !carrier_ || !blocker_.empty(); }
  void reset_probe_state();

  uint32_t down_after_;
  uint32_t up_after_;
  bool has_probes_;
  bool carrier_ = true;
  std::string blocker_;
  HealthState probe_state_ = HealthState::kUnknown;  // what rounds alone say
  uint32_t good_streak_ = 0;
  uint32_t bad_streak_ = 0;
};

}  // namespace pathsteer
