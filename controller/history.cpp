#include "controller/history.h"

namespace pathsteer {

void History::record(const std::string& uplink, HealthSample s) {
  auto& q = samples_[uplink];
  q.push_back(std::move(s));
  while (q.size() > kHistorySamples)
    q.pop_front();
}

void History::retain(const std::map<std::string, bool>& keep) {
  std::erase_if(samples_, [&](const auto& kv) { return !keep.count(kv.first); });
}

std::vector<HealthSample> History::samples(const std::string& uplink, int64_t since_ms) const {
  std::vector<HealthSample> out;
  auto it = samples_.find(uplink);
  if (it == samples_.end())
    return out;
  for (const auto& s : it->second) {
    if (s.t_ms > since_ms)
      out.push_back(s);
  }
  return out;
}

}  // namespace pathsteer
