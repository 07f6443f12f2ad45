#include "controller/history.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "controller/state_json.h"

namespace pathsteer {

namespace {

// Worst last: the minute's state is the worst it saw.
constexpr const char* kStateOrder[] = {"unknown", "up", "degraded", "down"};

int state_rank(const std::string& s) {
  for (int i = 0; i < 4; ++i) {
    if (s == kStateOrder[i])
      return i;
  }
  return 0;
}

int64_t minute_of(int64_t t_ms) {
  constexpr int64_t kMinuteMs = std::chrono::milliseconds(kHistoryMinute).count();
  return t_ms - ((t_ms % kMinuteMs) + kMinuteMs) % kMinuteMs;
}

template <typename Sample>
void push_bounded(std::deque<Sample>& q, Sample s, size_t cap) {
  q.push_back(std::move(s));
  while (q.size() > cap)
    q.pop_front();
}

std::optional<double> figure(const nlohmann::json& v) {
  if (!v.is_number())
    return std::nullopt;
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0)
    return std::nullopt;
  return d;
}

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

HealthSample History::Minute::sample() const {
  HealthSample s{.t_ms = start_ms, .state = kStateOrder[std::max(worst, 0)]};
  if (rtt_n > 0)
    s.rtt_ms = rtt / static_cast<double>(rtt_n);
  if (jitter_n > 0)
    s.jitter_ms = jitter / static_cast<double>(jitter_n);
  if (loss_n > 0)
    s.loss_pct = loss / static_cast<double>(loss_n);
  return s;
}

bool History::record(const std::string& uplink, HealthSample s) {
  Rings& r = rings_[uplink];
  bool completed = false;
  int64_t minute = minute_of(s.t_ms);
  if (r.current.start_ms >= 0 && minute != r.current.start_ms) {
    push_bounded(r.minutes, r.current.sample(), kHistoryMinutes);
    r.current = Minute{};
    completed = true;
  }
  Minute& m = r.current;
  m.start_ms = minute;
  m.worst = std::max(m.worst, state_rank(s.state));
  if (s.rtt_ms) {
    m.rtt += *s.rtt_ms;
    ++m.rtt_n;
  }
  if (s.jitter_ms) {
    m.jitter += *s.jitter_ms;
    ++m.jitter_n;
  }
  if (s.loss_pct) {
    m.loss += *s.loss_pct;
    ++m.loss_n;
  }
  push_bounded(r.seconds, std::move(s), kHistorySamples);
  return completed;
}

void History::retain(const std::map<std::string, bool>& keep) {
  std::erase_if(rings_, [&](const auto& kv) { return !keep.count(kv.first); });
}

std::vector<HealthSample> History::samples(const std::string& uplink, int64_t since_ms,
                                           HistoryResolution res) const {
  std::vector<HealthSample> out;
  auto it = rings_.find(uplink);
  if (it == rings_.end())
    return out;
  const Rings& r = it->second;
  const auto& ring = res == HistoryResolution::kSecond ? r.seconds : r.minutes;
  for (const auto& s : ring) {
    if (s.t_ms > since_ms)
      out.push_back(s);
  }
  if (res == HistoryResolution::kMinute && r.current.start_ms > since_ms)
    out.push_back(r.current.sample());
  return out;
}

nlohmann::json History::minutes_to_json() const {
  nlohmann::json uplinks = nlohmann::json::object();
  for (const auto& [name, r] : rings_) {
    nlohmann::json rows = nlohmann::json::array();
    auto add = [&](const HealthSample& s) {
      rows.push_back({s.t_ms, s.state, opt(s.rtt_ms), opt(s.jitter_ms), opt(s.loss_pct)});
    };
    for (const auto& s : r.minutes)
      add(s);
    if (r.current.start_ms >= 0)
      add(r.current.sample());
    uplinks[name] = std::move(rows);
  }
  return {{"version", 1}, {"uplinks", uplinks}};
}

Result<void> History::minutes_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("version") || j["version"] != 1 || !j.contains("uplinks") ||
      !j["uplinks"].is_object()) {
    return policy_error("history: not a version 1 history file");
  }
  std::map<std::string, Rings> loaded;
  for (const auto& [name, rows] : j["uplinks"].items()) {
    if (loaded.size() >= kMaxHistoryUplinks)
      break;
    if (!rows.is_array())
      continue;
    std::deque<HealthSample> minutes;
    for (const auto& row : rows) {
      if (!row.is_array() || row.size() != 5)
        continue;
      auto t = json_int_in(row[0], 0, kMaxStateUnixMs);
      if (!t || !row[1].is_string())
        continue;
      std::string state = row[1].get<std::string>();
      if (state_rank(state) == 0 && state != "unknown")
        continue;
      minutes.push_back(HealthSample{.t_ms = minute_of(*t),
                                     .state = state,
                                     .rtt_ms = figure(row[2]),
                                     .jitter_ms = figure(row[3]),
                                     .loss_pct = figure(row[4])});
    }
    std::stable_sort(minutes.begin(), minutes.end(),
                     [](const HealthSample& a, const HealthSample& b) { return a.t_ms < b.t_ms; });
    while (minutes.size() > kHistoryMinutes)
      minutes.pop_front();
    loaded[name].minutes = std::move(minutes);
  }
  rings_ = std::move(loaded);
  return ok();
}

}  // namespace pathsteer
