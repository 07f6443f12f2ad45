#include "common/sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace pathsteer {
namespace {

// The service manager's end: a datagram socket bound to a path or an abstract name.
class Listener {
 public:
  explicit Listener(const std::string& name) {
    fd_ = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, name.data(), name.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') {
      sa.sun_path[0] = '\0';
    } else {
      ::unlink(name.c_str());
      path_ = name;
    }
    bound_ = ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0;
  }
  ~Listener() {
    if (!path_.empty())
      ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // Every datagram waiting now.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_.get(), buf, sizeof(buf), 0)) >= 0)
      out.emplace_back(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  Fd fd_;
  std::string path_;
  bool bound_ = false;
};

std::string unique_name(const char* what) {
  return std::string(what) + "-" + std::to_string(::getpid());
}

TEST(SystemdNotifier, InactiveWithoutASocketAndSendIsANoOp) {
  auto n = SystemdNotifier::for_socket("");
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->active());
  EXPECT_TRUE(n->send("READY=1"));
}

TEST(SystemdNotifier, SendsToAPathSocket) {
  std::string path = "/tmp/" + unique_name("ps-notify") + ".sock";
  Listener l(path);
  ASSERT_TRUE(l.bound());
  auto n = SystemdNotifier::for_socket(path);
  ASSERT_TRUE(n) << n.error().to_string();
  ASSERT_TRUE(n->active());
  ASSERT_TRUE(n->send("READY=1\nSTATUS=steering"));
  EXPECT_EQ(l.drain(), std::vector<std::string>{"READY=1\nSTATUS=steering"});
}

TEST(SystemdNotifier, SendsToAnAbstractSocket) {
  std::string name = "@" + unique_name("ps-notify-abstract");
  Listener l(name);
  ASSERT_TRUE(l.bound());
  auto n = SystemdNotifier::for_socket(name);
  ASSERT_TRUE(n) << n.error().to_string();
  ASSERT_TRUE(n->send("STOPPING=1"));
  EXPECT_EQ(l.drain(), std::vector<std::string>{"STOPPING=1"});
}

TEST(SystemdNotifier, ReportsUnusableAddressesAndAbsentListeners) {
  EXPECT_FALSE(SystemdNotifier::for_socket("relative/path"));
  EXPECT_FALSE(SystemdNotifier::for_socket("/" + std::string(200, 'x')));
  auto n = SystemdNotifier::for_socket("/nonexistent-dir-ps/notify.sock");
  ASSERT_TRUE(n);  // the socket is only addressed at send time
  EXPECT_FALSE(n->send("READY=1"));
}

TEST(SystemdNotifier, FromEnvironmentReadsNotifySocket) {
  std::string name = "@" + unique_name("ps-notify-env");
  Listener l(name);
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", name.c_str(), 1), 0);
  auto n = SystemdNotifier::from_environment();
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(n);
  ASSERT_TRUE(n->send("READY=1"));
  EXPECT_EQ(l.drain().size(), 1u);
}

TEST(SystemdNotifier, WatchdogPeriodIsHalfOfWatchdogUsecForThisProcessOnly) {
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(SystemdNotifier::watchdog_period());
  ::setenv("WATCHDOG_USEC", "200000", 1);
  EXPECT_EQ(SystemdNotifier::watchdog_period(), std::chrono::microseconds(100000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::watchdog_period(), std::chrono::microseconds(100000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(SystemdNotifier::watchdog_period());
  ::unsetenv("WATCHDOG_PID");
  ::setenv("WATCHDOG_USEC", "20s", 1);
  EXPECT_FALSE(SystemdNotifier::watchdog_period());
  ::unsetenv("WATCHDOG_USEC");
}

// The pings come from the loop: while a callback blocks the loop, none is sent.
TEST(SystemdNotifier, WatchdogPingsStopWhileTheLoopIsStuck) {
  std::string name = "@" + unique_name("ps-notify-wd");
  Listener l(name);
  auto n = SystemdNotifier::for_socket(name);
  ASSERT_TRUE(n);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto wd = start_watchdog(**loop, *n, std::chrono::milliseconds(10));
  ASSERT_TRUE(wd);
  ASSERT_TRUE(*wd);

  size_t before_stuck = 0, while_stuck = 0, after_stuck = 0;
  auto stuck = (*loop)->add_timer(std::chrono::milliseconds(60), {}, [&] {
    before_stuck = l.drain().size();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    while_stuck = l.drain().size();
  });
  ASSERT_TRUE(stuck);
  auto end = (*loop)->add_timer(std::chrono::milliseconds(220), {}, [&] {
    after_stuck = l.drain().size();
    (*loop)->stop();
  });
  ASSERT_TRUE(end);
  ASSERT_TRUE((*loop)->run());

  // The first ping at once, then one per 10 ms (a loaded machine may merge some).
  EXPECT_GE(before_stuck, 2u);
  EXPECT_EQ(while_stuck, 0u);
  EXPECT_GE(after_stuck, 2u);  // resumed once the loop ran again
}

}  // namespace
}  // namespace pathsteer
