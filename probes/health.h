// HealthTracker: the per-uplink health state machine (DESIGN §5), pure and
// clock-free so it can be tested without sockets.
//
// Inputs are decided probe rounds (good or bad, plus the uplink's quality
// figures after that round), carrier (from netlink) and "probes cannot run"
// (no interface yet, socket error). Reachability rules:
//   * kUnknown (initial): the first good round -> kUp; `down_after`
//     consecutive bad rounds -> kDown.
//   * kUp or kDegraded -> kDown after `down_after` consecutive bad rounds;
//     kDown -> kUp (or kDegraded, see below) after `up_after` consecutive
//     good rounds.
//   * Carrier down forces kDown at once (reason "carrier") and takes
//     precedence over everything; a blocker ("no interface", ...) forces kDown
//     with its own reason. While forced, rounds are ignored and all streaks
//     (reachability and quality) restart, so after carrier returns it takes
//     `up_after` fresh good rounds.
//   * Without probes the state follows carrier only: kUp ("no probes") or
//     kDown ("carrier").
// Quality rules (hysteresis between degraded_if and recover_if), evaluated on
// every decided round, good or bad, while not forced, with the figures the
// prober passes (mean RTT, jitter, loss over its windows):
//   * a round is "over" when any set degraded_if key is exceeded
//     (value > threshold), "under" when every set key is at or below its
//     recovery threshold: recover_if's key, or 80% of degraded_if's when
//     recover_if leaves it unset. Between the two bars a round is neither and
//     breaks both streaks.
//   * `down_after` consecutive over rounds mark the quality degraded;
//     `up_after` consecutive under rounds clear it.
//   * state() is kDegraded when the reachability state is kUp and the quality
//     is degraded. Down always wins over degraded. Quality keeps being
//     evaluated while down, so an uplink coming back with a window still full
//     of losses comes back kDegraded (if a loss threshold is set) until it
//     recovers by the rule above.
// Reasons: "probes" (decided by rounds; also while kUnknown), "carrier",
// "no probes", the blocker's text, or when kDegraded "degraded: " and the keys
// that were exceeded when it was entered ("degraded: rtt_ms, loss_pct").
#pragma once

#include <cstdint>
#include <string>

#include "model/probe.h"

namespace pathsteer {

enum class HealthState { kUnknown, kUp, kDegraded, kDown };
const char* to_string(HealthState s);

// A round is good when at least `reliability` of its `targets` answered.
// reliability is clamped to [1, targets] so a misconfigured value cannot make
// every round bad (or good). A round with no targets is bad.
bool round_good(uint32_t answered, uint32_t targets, uint32_t reliability);

// The uplink's quality figures after a round.
struct Quality {
  double rtt_ms = 0;
  double jitter_ms = 0;
  double loss_pct = 0;
};

class HealthTracker {
 public:
  explicit HealthTracker(const HealthSpec& spec, bool has_probes = true);

  // Each input returns true when state() or reason() changed.
  bool on_round(bool good, const Quality& q = {});
  bool set_carrier(bool up);
  bool set_blocker(std::string reason);  // empty = probes can run

  HealthState state() const;
  std::string reason() const;
  bool carrier() const { return carrier_; }

 private:
  bool forced() const { return !carrier_ || !blocker_.empty(); }
  void reset_probe_state();
  void on_quality(const Quality& q);

  uint32_t down_after_;
  uint32_t up_after_;
  bool has_probes_;
  DegradedIf degraded_if_;
  Quality recover_;  // effective recovery bars (unused where degraded_if_ is unset)
  bool carrier_ = true;
  std::string blocker_;
  HealthState probe_state_ = HealthState::kUnknown;  // what rounds alone say (never kDegraded)
  uint32_t good_streak_ = 0;
  uint32_t bad_streak_ = 0;
  bool degraded_ = false;
  std::string degraded_by_;  // "rtt_ms, loss_pct"
  uint32_t over_streak_ = 0;
  uint32_t under_streak_ = 0;
};

}  // namespace pathsteer
