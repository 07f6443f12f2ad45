// Per-uplink history of health samples for GET /v1/wans/{name}/history
// (DESIGN §9, §11) and the dashboard's graphs, at two resolutions:
//   1 s   one sample per kHistoryInterval, the last kHistorySamples (an hour);
//   1 min one per minute of wall-clock time, the last kHistoryMinutes (24 h):
//         the mean of the minute's measured figures and its worst state
//         (down > degraded > up > unknown); the minute in progress is shown as
//         the newest sample.
// Fixed rings per uplink, so memory stays bounded whatever the uptime.
//
// Persistence: the minute ring (with the minute in progress) round-trips
// through JSON for <state-dir>/history.json, so the 24 h graphs survive a
// restart; the time the daemon was down is simply absent (a gap). Loading
// keeps at most kHistoryMinutes per uplink and kMaxHistoryUplinks uplinks,
// drops samples with a time outside [0, kMaxStateUnixMs] or a figure that is
// not finite or negative, and keeps them sorted by time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace pathsteer {

inline constexpr std::chrono::seconds kHistoryInterval{1};
inline constexpr size_t kHistorySamples = 3600;
inline constexpr std::chrono::seconds kHistoryMinute{60};
inline constexpr size_t kHistoryMinutes = 1440;
inline constexpr size_t kMaxHistoryUplinks = 256;

struct HealthSample {
  int64_t t_ms = 0;              // Unix ms (1 min: the minute's start)
  std::string state;             // up / degraded / down / unknown
  std::optional<double> rtt_ms;  // nullopt: nothing measured
  std::optional<double> jitter_ms;
  std::optional<double> loss_pct;
  friend bool operator==(const HealthSample&, const HealthSample&) = default;
};

enum class HistoryResolution { kSecond, kMinute };

class History {
 public:
  // One 1 s sample; it also folds into its minute. Returns true when a
  // minute was completed (the caller may persist then).
  bool record(const std::string& uplink, HealthSample s);
  // Forgets uplinks not in `keep` (after a reload removed them).
  void retain(const std::map<std::string, bool>& keep);
  // Oldest first, only samples with t_ms > since_ms; empty if the uplink has none.
  std::vector<HealthSample> samples(const std::string& uplink, int64_t since_ms = 0,
                                    HistoryResolution r = HistoryResolution::kSecond) const;

  // {"version": 1, "uplinks": {name: [[t_ms, state, rtt|null, jitter|null, loss|null], ...]}}
  nlohmann::json minutes_to_json() const;
  // Replaces the minute rings (the 1 s rings start empty); an error names
  // what is not a history file (then nothing changes).
  Result<void> minutes_from_json(const nlohmann::json& j);

 private:
  // The minute being filled: sums of the measured figures and the worst state.
  struct Minute {
    int64_t start_ms = -1;
    int worst = -1;  // index into the state order
    double rtt = 0, jitter = 0, loss = 0;
    size_t rtt_n = 0, jitter_n = 0, loss_n = 0;
    HealthSample sample() const;
  };
  struct Rings {
    std::deque<HealthSample> seconds;
    std::deque<HealthSample> minutes;  // completed minutes
    Minute current;
  };
  std::map<std::string, Rings> rings_;
};

}  // namespace pathsteer
