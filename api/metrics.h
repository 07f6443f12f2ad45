// A writer for the Prometheus text exposition format (version 0.0.4), used by
// GET /metrics. Each family is written once with its HELP and TYPE lines, then
// its samples; label values are escaped (\\, \", \n). Names follow the
// conventions: base units (seconds, ratios), `_total` for counters.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/event_loop.h"
#include "controller/service.h"

namespace pathsteer {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
 public:
  // Starts a family; type is "gauge", "counter" or "histogram".
  void family(const std::string& name, const std::string& type, const std::string& help);
  // A sample of the current family (suffix: e.g. "" or "_total" already in the name).
  void sample(const Labels& labels, double value);
  void sample(double value) { sample({}, value); }
  // A sample named family + suffix, e.g. a histogram's "_bucket", "_sum", "_count".
  void suffixed_sample(const std::string& suffix, const Labels& labels, double value);

  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::string name_;
};

// GET /metrics: the status snapshot and the event loop's figures as
// Prometheus text. Names follow the conventions: base units (seconds,
// ratios), `_total` for counters.
std::string metrics_text(const StatusSnapshot& s, const EventLoop::Stats& loop);

}  // namespace pathsteer
