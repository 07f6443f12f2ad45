#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/log.h"

namespace pathsteer {

namespace {

std::optional<uint64_t> env_u64(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    return std::nullopt;
  uint64_t out = 0;
  const char* end = v + std::strlen(v);
  auto [ptr, ec] = std::from_chars(v, end, out);
  if (ec != std::errc() || ptr != end)
    return std::nullopt;
  return out;
}

}  // namespace

Result<SystemdNotifier> SystemdNotifier::from_environment() {
  const char* name = std::getenv("NOTIFY_SOCKET");
  return for_socket(name == nullptr ? std::string() : std::string(name));
}

Result<SystemdNotifier> SystemdNotifier::for_socket(const std::string& socket_name) {
  SystemdNotifier n;
  if (socket_name.empty())
    return n;
  const bool abstract = socket_name.front() == '@';
  if (!abstract && socket_name.front() != '/') {
    return policy_error("NOTIFY_SOCKET=" + socket_name +
                        ": neither an absolute path nor an abstract '@name'");
  }
  sockaddr_un sa{};
  if (socket_name.size() > sizeof(sa.sun_path) - (abstract ? 0 : 1)) {
    return policy_error("NOTIFY_SOCKET=" + socket_name + ": longer than a unix socket address");
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, socket_name.data(), socket_name.size());
  if (abstract)
    sa.sun_path[0] = '\0';
  // An abstract name is exactly its bytes (no terminator); a path's length
  // includes its NUL, as systemd's own client passes it.
  size_t len = offsetof(sockaddr_un, sun_path) + socket_name.size() + (abstract ? 0 : 1);
  n.address_.assign(reinterpret_cast<const char*>(&sa), len);

  n.fd_ = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!n.fd_.valid())
    return system_error("socket(AF_UNIX, SOCK_DGRAM) for NOTIFY_SOCKET", errno);
  return n;
}

Result<void> SystemdNotifier::send(std::string_view state) const {
  if (!active())
    return ok();
  ssize_t n = ::sendto(fd_.get(), state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(address_.data()),
                       static_cast<socklen_t>(address_.size()));
  if (n < 0)
    return system_error("sd_notify '" + std::string(state.substr(0, 40)) + "'", errno);
  return ok();
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_period() {
  auto usec = env_u64("WATCHDOG_USEC");
  if (!usec || *usec == 0)
    return std::nullopt;
  if (auto pid = env_u64("WATCHDOG_PID"); pid && *pid != static_cast<uint64_t>(::getpid()))
    return std::nullopt;  // meant for another process (e.g. our parent)
  return std::chrono::microseconds(*usec / 2);
}

uint64_t SystemdNotifier::monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

Result<std::optional<EventLoop::TimerId>> start_watchdog(EventLoop& loop,
                                                         const SystemdNotifier& notifier,
                                                         std::chrono::microseconds period) {
  if (!notifier.active())
    return std::optional<EventLoop::TimerId>();
  auto last_logged = std::make_shared<EventLoop::Duration>(EventLoop::Duration::min());
  auto ping = [&notifier, last_logged] {
    auto r = notifier.send("WATCHDOG=1");
    if (r)
      return;
    auto now = EventLoop::now().time_since_epoch();
    if (*last_logged == EventLoop::Duration::min() ||
        now - *last_logged > std::chrono::minutes(1)) {
      *last_logged = now;
      PS_LOG(kWarn) << "systemd watchdog ping: " << r.error().to_string();
    }
  };
  ping();  // the first ping at once: the interval runs from the service's start
  auto t = loop.add_timer(period, period, ping);
  if (!t)
    return t.take_error();
  return std::optional<EventLoop::TimerId>(*t);
}

}  // namespace pathsteer
