// Minimal leveled logging to stderr (journald picks it up under systemd).
//
//   PS_LOG(kInfo) << "uplink " << name << " down";
//
// The threshold is process-wide and set once in main() before any thread
// starts; it is the only process-wide setting in pathsteer.
#pragma once

#include <optional>
#include <sstream>
#include <string_view>

namespace pathsteer {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
std::optional<LogLevel> parse_log_level(std::string_view s);

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  template <typename T>
  LogLine& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream os_;
};

struct LogVoidify {
  void operator&(const LogLine&) {}
};

}  // namespace pathsteer

// `cond ? (void)0 : Voidify() & line`, as glog does: safe inside an unbraced
// if/else, and the message is not built when the level is filtered out.
// The trailing `<< ...` must bind to LogLine, so no outer parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define PS_LOG(level)                                       \
  (::pathsteer::LogLevel::level < ::pathsteer::log_level()) \
      ? (void)0                                             \
      : ::pathsteer::LogVoidify() & ::pathsteer::LogLine(::pathsteer::LogLevel::level)
// NOLINTEND(bugprone-macro-parentheses)
