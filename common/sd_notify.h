// SystemdNotifier: the service manager notification protocol of sd_notify(3),
// spoken directly (no libsystemd): one datagram of newline-separated
// VAR=value assignments to the AF_UNIX datagram socket named by
// $NOTIFY_SOCKET, a file system path or, with a leading '@', an abstract
// socket name.
//
// Contract:
// * from_environment() reads $NOTIFY_SOCKET once. Unset or empty: the notifier
//   is inactive and send() is a successful no-op (running outside systemd is
//   normal). A set but unusable value (not a path, not '@name', too long) is an
//   error, as is a failing socket().
// * send() never blocks (MSG_DONTWAIT) and never raises SIGPIPE; a full or
//   vanished socket is reported as an error, which callers log and ignore.
// * watchdog_period() is half of $WATCHDOG_USEC when that is set for this
//   process ($WATCHDOG_PID unset or equal to getpid(), as sd_watchdog_enabled()
//   checks); start_watchdog() sends WATCHDOG=1 from an EventLoop timer at that
//   period, so the pings stop when the loop is stuck and systemd restarts us.
// * Thread-safety: send() may be called from any thread (sendto() on one fd);
//   start_watchdog() on the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"

namespace pathsteer {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;  // inactive
  static Result<SystemdNotifier> from_environment();
  // socket_name: a path, or "@name" for an abstract socket; empty = inactive.
  static Result<SystemdNotifier> for_socket(const std::string& socket_name);

  bool active() const { return fd_.valid(); }
  // Sends `state` ("READY=1", "STATUS=...\nREADY=1", ...) in one datagram.
  Result<void> send(std::string_view state) const;

  // Half of $WATCHDOG_USEC when the watchdog is enabled for this process.
  static std::optional<std::chrono::microseconds> watchdog_period();
  // CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC=.
  static uint64_t monotonic_usec();

 private:
  Fd fd_;
  std::string address_;  // sockaddr_un bytes (sun_family + path), sized exactly
};

// Sends WATCHDOG=1 every `period` from a timer on `loop` (send errors are
// logged at most once per minute). `notifier` must outlive the timer. Returns
// the timer, or nullopt when the notifier is inactive.
Result<std::optional<EventLoop::TimerId>> start_watchdog(EventLoop& loop,
                                                         const SystemdNotifier& notifier,
                                                         std::chrono::microseconds period);

}  // namespace pathsteer
