#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>

namespace pathsteer {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};  // set once in main()
}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(level);
}
LogLevel log_level() {
  return g_level.load(std::memory_order_relaxed);
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug")
    return LogLevel::kDebug;
  if (s == "info")
    return LogLevel::kInfo;
  if (s == "warn" || s == "warning")
    return LogLevel::kWarn;
  if (s == "error")
    return LogLevel::kError;
  return std::nullopt;
}

LogLine::~LogLine() {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_buf{};
  gmtime_r(&ts.tv_sec, &tm_buf);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm_buf);
  std::string line = os_.str();
  std::fprintf(stderr, "%s.%03ld pathsteer %s: %s\n", stamp, ts.tv_nsec / 1000000,
               kNames[static_cast<int>(level_)], line.c_str());
}

}  // namespace pathsteer
