// Per-uplink history of health samples for GET /v1/wans/{name}/history
// (DESIGN §9): one sample per kHistoryInterval, the last kHistorySamples of
// them (an hour), in a fixed ring per uplink so memory stays bounded whatever
// the uptime. Not persisted: a restart starts a new history.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include <vector>

namespace pathsteer {

inline constexpr std::chrono::seconds kHistoryInterval{1};
inline constexpr size_t kHistorySamples = 3600;

struct HealthSample {
  int64_t t_ms = 0;              // Unix ms
  std::string state;             // up / degraded / down / unknown
  std::optional<double> rtt_ms;  // nullopt: nothing measured yet
  std::optional<double> jitter_ms;
  std::optional<double> loss_pct;
};

class History {
 public:
  void record(const std::string& uplink, HealthSample s);
  // Forgets uplinks not in `keep` (after a reload removed them).
  void retain(const std::map<std::string, bool>& keep);
  // Oldest first, only samples with t_ms > since_ms; empty if the uplink has none.
  std::vector<HealthSample> samples(const std::string& uplink, int64_t since_ms = 0) const;

 private:
  std::map<std::string, std::deque<HealthSample>> samples_;
};

}  // namespace pathsteer
