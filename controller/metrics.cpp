#include "controller/metrics.h"

#include <cmath>
#include <cstdio>

namespace pathsteer {

namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

void MetricsWriter::family(const std::string& name, const std::string& type,
                           const std::string& help) {
  name_ = name;
  out_ += "# HELP " + name + " " + help + "\n";
  out_ += "# TYPE " + name + " " + type + "\n";
}

void MetricsWriter::sample(const Labels& labels, double value) {
  suffixed_sample("", labels, value);
}

void MetricsWriter::suffixed_sample(const std::string& suffix, const Labels& labels, double value) {
  out_ += name_ + suffix;
  if (!labels.empty()) {
    out_ += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0)
        out_ += ",";
      out_ += labels[i].first + "=\"" + escape(labels[i].second) + "\"";
    }
    out_ += "}";
  }
  out_ += " " + number(value) + "\n";
}

}  // namespace pathsteer
