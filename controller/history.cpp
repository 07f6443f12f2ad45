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

std::optional<nlohmann::json> History::to_json(const std::string& uplink, int64_t since_ms) const {
  auto it = samples_.find(uplink);
  if (it == samples_.end())
    return std::nullopt;
  using nlohmann::json;
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json samples = json::array();
  for (const auto& s : it->second) {
    if (s.t_ms <= since_ms)
      continue;
    samples.push_back({{"t_ms", s.t_ms},
                       {"state", s.state},
                       {"rtt_ms", opt(s.rtt_ms)},
                       {"jitter_ms", opt(s.jitter_ms)},
                       {"loss_pct", opt(s.loss_pct)}});
  }
  return json{{"wan", uplink},
              {"interval_s", kHistoryInterval.count()},
              {"capacity", kHistorySamples},
              {"samples", samples}};
}

}  // namespace pathsteer
