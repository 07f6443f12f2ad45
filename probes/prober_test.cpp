// Prober against real raw sockets: the test process moves itself into a
// fresh network namespace, creates a peer namespace joined by a veth pair
//   pt0 (here: 10.99.0.1/24, fd99::1/64) <-> pt1 (peer: 10.99.0.2/24, fd99::2/64)
// and probes the peer. The peer namespace is held only by a file descriptor
// (its name is removed right after set-up), so nothing outlives the process,
// whatever way it ends. Needs root; skips loudly otherwise.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/host_lateness.h"
#include "common/test_skip.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "common/event_loop.h"
#include "probes/prober.h"
#include "probes/reflector.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::duration<double, std::milli>;

// Runs `sh -c cmd`, in the peer namespace when peer_ns >= 0. Returns the exit status.
int sh(const std::string& cmd, int peer_ns = -1) {
  pid_t pid = fork();
  if (pid == 0) {
    if (peer_ns >= 0 && setns(peer_ns, CLONE_NEWNET) != 0)
      _exit(126);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ProberNetns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_why_ = "needs root (CAP_NET_ADMIN, CAP_NET_RAW) for namespaces and raw sockets";
      return;
    }
    if (sh("command -v ip >/dev/null && command -v nft >/dev/null") != 0) {
      skip_why_ = "needs ip(8) and nft(8)";
      return;
    }
    if (unshare(CLONE_NEWNET) != 0) {
      skip_why_ = "unshare(CLONE_NEWNET) failed";
      return;
    }
    self_ns_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    std::string name = "pst-" + std::to_string(getpid()) + "-peer";
    if (sh("ip netns add " + name) != 0) {
      skip_why_ = "ip netns add failed";
      return;
    }
    peer_ns_ = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    // Without DAD, IPv6 works the moment the link is up (otherwise the
    // link-local address stays tentative for about a second and ND waits).
    const std::string no_dad =
        "sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0";
    sh(no_dad);
    sh(no_dad, peer_ns_);
    int veth = sh("ip link add pt0 type veth peer name pt1 netns " + name);
    sh("ip netns del " + name);  // the fd keeps it alive; no leak on any exit
    ASSERT_GE(peer_ns_, 0);
    ASSERT_EQ(veth, 0);
    ASSERT_EQ(sh("ip link set lo up && ip addr add 10.99.0.1/24 dev pt0 && "
                 "ip addr add fd99::1/64 dev pt0 nodad && ip link set pt0 up"),
              0);
    ASSERT_EQ(sh("ip link set lo up && ip addr add 10.99.0.2/24 dev pt1 && "
                 "ip addr add fd99::2/64 dev pt1 nodad && ip link set pt1 up",
                 peer_ns_),
              0);
    // Carrier changes reach operstate (and IPv6, which waits for a running
    // link) through linkwatch, up to a second later. Poll with a deadline.
    bool up = false;
    for (int i = 0; i < 300 && !up; ++i) {
      up = sh("ip -o link show pt0 | grep -q 'state UP'") == 0 &&
           sh("ip -o link show pt1 | grep -q 'state UP'", peer_ns_) == 0;
      if (!up)
        usleep(10000);
    }
    ASSERT_TRUE(up) << "veth pair did not come up within 3 s";
  }

  static void TearDownTestSuite() {
    if (peer_ns_ >= 0)
      close(peer_ns_);  // last reference: the peer and the veth pair go
    peer_ns_ = -1;
  }

  void SetUp() override {
    if (!skip_why_.empty())
      PS_SKIP_OR_FAIL(skip_why_);
    ASSERT_GE(peer_ns_, 0);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    loop_ = std::move(*loop);
    prober_ = std::make_unique<Prober>(
        *loop_, [this](const std::string& up, const UplinkHealth& h, bool state_changed) {
          if (state_changed)
            changes_.push_back(up + ":" + to_string(h.state) + ":" + h.reason);
          else
            ++rounds_[up];
        });
  }

  void TearDown() override {
    prober_.reset();
    set_peer_drop(false);
  }

  // One rule in the peer's input chain (replacing any earlier one).
  static void set_peer_rule(std::initializer_list<std::string> rules) {
    set_peer_drop(false);
    std::string cmd =
        "nft add table inet pst && nft add chain inet pst in "
        "'{ type filter hook input priority 0; }'";
    for (const auto& rule : rules)
      cmd += " && nft add rule inet pst in " + rule;
    ASSERT_EQ(sh(cmd, peer_ns_), 0);
  }

  // Runs fn with this thread in the peer namespace: sockets it creates live there.
  static void in_peer(const std::function<void()>& fn) {
    ASSERT_EQ(setns(peer_ns_, CLONE_NEWNET), 0);
    fn();
    ASSERT_EQ(setns(self_ns_, CLONE_NEWNET), 0);
  }

  // A dual-stack listener in the peer that accepts and closes everything.
  struct Listener {
    EventLoop* loop = nullptr;
    Fd fd;
    ~Listener() { loop->remove_fd(fd.get()); }
  };
  std::unique_ptr<Listener> tcp_listener(uint16_t port) {
    Fd fd;
    in_peer([&] {
      fd = Fd(socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int off = 0;
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
      sockaddr_in6 a{.sin6_family = AF_INET6, .sin6_port = htons(port)};
      if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
          listen(fd.get(), 128) != 0) {
        fd.reset();
      }
    });
    if (!fd.valid())
      return nullptr;
    int raw = fd.get();
    auto r = loop_->add_fd(raw, EPOLLIN, [raw](uint32_t) {
      for (int c; (c = accept4(raw, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;)
        close(c);
    });
    if (!r)
      return nullptr;
    auto l = std::make_unique<Listener>();
    l->loop = loop_.get();
    l->fd = std::move(fd);
    return l;
  }

  static void set_peer_drop(bool drop) {
    if (peer_ns_ < 0)
      return;
    if (drop) {
      ASSERT_EQ(sh("nft add table inet pst && nft add chain inet pst in "
                   "'{ type filter hook input priority 0; policy drop; }'",
                   peer_ns_),
                0);
    } else {
      sh("nft delete table inet pst 2>/dev/null", peer_ns_);
    }
  }

  // Runs the loop until pred() holds or `deadline` passes; returns whether it held.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
    if (pred())
      return true;
    bool met = false;
    auto poll = loop_->add_timer(1ms, 1ms, [&] {
      if (pred()) {
        met = true;
        loop_->stop();
      }
    });
    auto stop = loop_->add_timer(deadline, EventLoop::Duration(0), [&] { loop_->stop(); });
    EXPECT_TRUE(poll && stop);
    EXPECT_TRUE(loop_->run());
    if (poll)
      loop_->cancel_timer(*poll);
    if (stop)
      loop_->cancel_timer(*stop);
    return met;
  }

  bool wait_state(const std::string& uplink, HealthState s, std::chrono::milliseconds deadline) {
    return run_until(
        [&] {
          const UplinkHealth* h = prober_->health(uplink);
          return h != nullptr && h->state == s;
        },
        deadline);
  }

  static UplinkProbeConfig wan(std::vector<std::string> targets, uint32_t reliability = 1,
                               std::string ifname = "pt0") {
    UplinkProbeConfig c{
        .uplink = "wan1",
        .ifname = std::move(ifname),
        .fwmark = 0x100000,
        .health = HealthSpec{.interval_ms = 100,
                             .timeout_ms = 200,
                             .down_after = 3,
                             .up_after = 3,
                             .reliability = reliability},
    };
    for (const auto& t : targets) {
      c.probes.push_back(ProbeSpec{.method = ProbeMethod::kIcmp, .target = *IpAddr::parse(t)});
    }
    return c;
  }

  static inline std::string skip_why_;
  static inline int peer_ns_ = -1;
  static inline int self_ns_ = -1;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Prober> prober_;
  std::vector<std::string> changes_;
  std::map<std::string, int> rounds_;  // reports of decided rounds that changed no state
};

TEST_F(ProberNetns, ComesUpWithPlausibleRttOnBothFamilies) {
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2", "fd99::2"}, /*reliability=*/2)}));
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  double up_ms = Ms(EventLoop::now() - t0).count();
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->received >= 20; }, 3000ms));
  const UplinkHealth& h = *prober_->health("wan1");
  std::printf(
      "[measured] up after %.1f ms; rtt mean %.3f ms, last %.3f ms, jitter %.3f ms, "
      "loss %.1f%%, sent %lu received %lu failed %lu\n",
      up_ms, h.rtt_ms, h.last_rtt_ms, h.jitter_ms, h.loss_pct, h.sent, h.received, h.failed);
  EXPECT_EQ(h.reason, "probes");
  EXPECT_GT(h.rtt_ms, 0.0);
  EXPECT_LT(h.rtt_ms, 5.0);
  EXPECT_LT(h.jitter_ms, 5.0);
  EXPECT_EQ(h.failed, 0u);
  EXPECT_EQ(h.loss_pct, 0.0);
  EXPECT_EQ(changes_, std::vector<std::string>{"wan1:up:probes"});
}

// The one road from a measurement to the planner: every decided round is
// reported, with the figures after it, not only state changes.
TEST_F(ProberNetns, EveryDecidedRoundIsReported) {
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2"})}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->received >= 12; }, 3000ms));
  const UplinkHealth& h = *prober_->health("wan1");
  // One target: a round per reply; the round that brought it up was a state change.
  EXPECT_GE(rounds_["wan1"] + 1, static_cast<int>(h.received) - 1);
  EXPECT_LE(rounds_["wan1"], static_cast<int>(h.received));
  EXPECT_GT(h.rtt_ms, 0.0);
  EXPECT_EQ(changes_, std::vector<std::string>{"wan1:up:probes"});
}

TEST_F(ProberNetns, GoesDownWhenPeerDropsAndComesBackAfterUpAfterRounds) {
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2", "fd99::2"})}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));

  set_peer_drop(true);
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  double down_ms = Ms(EventLoop::now() - t0).count();
  // Third bad round: sent within one interval after the drop, +2 intervals,
  // decided at its timeout: 2*100 + 200 .. 3*100 + 200 ms (+ scheduling).
  EXPECT_GE(down_ms, 390);
  EXPECT_LE(down_ms, 650);
  EXPECT_EQ(prober_->health("wan1")->reason, "probes");
  EXPECT_GT(prober_->health("wan1")->loss_pct, 0);

  set_peer_drop(false);
  t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  double up_ms = Ms(EventLoop::now() - t0).count();
  // Rounds still in flight when the drop ends may be answered or not: from
  // 2 to 3 intervals after the first good round is sent, plus in-flight ones.
  EXPECT_GE(up_ms, 190);
  EXPECT_LE(up_ms, 600);
  std::printf(
      "[measured] down %.1f ms after the peer started dropping (interval 100, timeout "
      "200, down_after 3); up %.1f ms after it stopped (up_after 3)\n",
      down_ms, up_ms);
  EXPECT_EQ(changes_,
            (std::vector<std::string>{"wan1:up:probes", "wan1:down:probes", "wan1:up:probes"}));
}

TEST_F(ProberNetns, CarrierDownIsImmediateAndProbesCannotOverrideIt) {
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2"})}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));

  prober_->set_carrier("wan1", false);
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);  // synchronously
  EXPECT_EQ(prober_->health("wan1")->reason, "carrier");
  EXPECT_FALSE(prober_->health("wan1")->carrier);
  EXPECT_EQ(changes_.back(), "wan1:down:carrier");

  uint64_t received = prober_->health("wan1")->received;
  // Probes keep answering (the veth is really up) yet the state stays down.
  EXPECT_FALSE(
      run_until([&] { return prober_->health("wan1")->state != HealthState::kDown; }, 600ms));
  EXPECT_GT(prober_->health("wan1")->received, received + 3);

  prober_->set_carrier("wan1", true);
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);
  EXPECT_EQ(prober_->health("wan1")->reason, "probes");
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  EXPECT_GE(Ms(EventLoop::now() - t0).count(), 150);  // not before up_after rounds
}

TEST_F(ProberNetns, ReliabilityCountsAnsweringTargets) {
  // 10.99.0.3 does not exist: one of two targets answers.
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2", "10.99.0.3"}, /*reliability=*/1)}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));

  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2", "10.99.0.3"}, /*reliability=*/2)}));
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kUnknown);  // changed config restarts
  EXPECT_EQ(prober_->health("wan1")->sent, 0u);
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->sent >= 30; }, 2000ms));
  EXPECT_NEAR(prober_->health("wan1")->loss_pct, 50.0, 10.0);  // about one in flight
}

TEST_F(ProberNetns, UnchangedConfigKeepsStateAndCounters) {
  auto cfg = wan({"10.99.0.2"});
  ASSERT_TRUE(prober_->configure({cfg}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  uint64_t sent = prober_->health("wan1")->sent;
  ASSERT_TRUE(prober_->configure({cfg}));
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kUp);
  EXPECT_EQ(prober_->health("wan1")->sent, sent);

  ASSERT_TRUE(prober_->configure({}));
  EXPECT_EQ(prober_->health("wan1"), nullptr);
}

TEST_F(ProberNetns, TwoUplinksOnOneInterfaceIgnoreEachOthersReplies) {
  // Both raw sockets see every echo reply on pt0; each must count only its own.
  auto a = wan({"10.99.0.2", "fd99::2"});
  auto b = wan({"10.99.0.2", "fd99::2"});
  b.uplink = "wan2";
  ASSERT_TRUE(prober_->configure({a, b}));
  ASSERT_TRUE(run_until(
      [&] {
        return prober_->health("wan1")->received >= 20 && prober_->health("wan2")->received >= 20;
      },
      3000ms));
  for (const char* name : {"wan1", "wan2"}) {
    const UplinkHealth& h = *prober_->health(name);
    EXPECT_LE(h.received, h.sent) << name;
    EXPECT_GE(h.received + 4, h.sent) << name;  // at most the probes still in flight
    EXPECT_EQ(h.failed, 0u) << name;
  }
}

TEST_F(ProberNetns, MissingInterfaceIsDownAndRetried) {
  ASSERT_TRUE(prober_->configure({wan({"10.99.0.2"}, 1, "pt5")}));
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);
  EXPECT_EQ(prober_->health("wan1")->reason, "no interface");
  EXPECT_EQ(prober_->health("wan1")->sent, 0u);
  EXPECT_EQ(changes_, std::vector<std::string>{"wan1:down:no interface"});

  ASSERT_EQ(sh("ip link add pt5 type veth peer name pt6 && ip link set pt5 up"), 0);
  // Sockets appear on the next tick; nothing answers on pt5, so it stays down.
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->reason == "probes"; }, 1000ms));
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->sent >= 2; }, 1000ms));
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);
  sh("ip link del pt5");
}

TEST_F(ProberNetns, UplinkWithoutProbesFollowsCarrier) {
  ASSERT_TRUE(prober_->configure({wan({})}));
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kUp);
  EXPECT_EQ(prober_->health("wan1")->reason, "no probes");
  prober_->set_carrier("wan1", false);
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);
  prober_->set_carrier("wan1", true);
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kUp);
  EXPECT_EQ(changes_, (std::vector<std::string>{"wan1:up:no probes", "wan1:down:carrier",
                                                "wan1:up:no probes"}));
}

TEST_F(ProberNetns, IcmpErrorsFailProbesAtOnce) {
  // The peer answers echo requests with ICMP errors (admin prohibited);
  // with a 2 s timeout only the errors can make it go down quickly.
  auto c = wan({"10.99.0.2", "fd99::2"});
  c.health.timeout_ms = 2000;
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  // Only echo requests: rejecting all ICMPv6 would also reject neighbour
  // discovery, and the peer could then not deliver its errors at all.
  set_peer_rule({"icmp type echo-request reject", "icmpv6 type echo-request reject"});
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  double down_ms = Ms(EventLoop::now() - t0).count();
  std::printf("[measured] icmp errors: down after %.1f ms (interval 100, timeout 2000)\n", down_ms);
  EXPECT_LT(down_ms, 2 * 100 + 50 + 100);  // 3 rounds, second target's phase, scheduling
  EXPECT_GT(prober_->health("wan1")->failed, 0u);
  for (const TargetHealth& t : prober_->targets("wan1"))
    EXPECT_GT(t.failed, 0u) << t.target.to_string();
}

TEST_F(ProberNetns, TcpConnectTimeAndResetFailsAtOnce) {
  auto listener = tcp_listener(7001);
  ASSERT_TRUE(listener);
  auto c = wan({});
  c.health.timeout_ms = 2000;
  for (const char* t : {"10.99.0.2", "fd99::2"}) {
    c.probes.push_back(
        ProbeSpec{.method = ProbeMethod::kTcp, .target = *IpAddr::parse(t), .port = 7001});
  }
  c.health.reliability = 2;
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->received >= 20; }, 3000ms));
  for (const TargetHealth& t : prober_->targets("wan1")) {
    std::printf("[measured] tcp %s: connect rtt mean %.3f ms, jitter %.3f ms, %lu/%lu\n",
                t.target.to_string().c_str(), t.rtt_ms, t.jitter_ms, t.received, t.sent);
    EXPECT_GT(t.rtt_ms, 0.0);
    EXPECT_LT(t.rtt_ms, 5.0);
    EXPECT_EQ(t.failed, 0u);
  }

  listener.reset();  // closed port: the peer answers SYNs with RST
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  double down_ms = Ms(EventLoop::now() - t0).count();
  std::printf("[measured] tcp RST: down after %.1f ms (interval 100, timeout 2000)\n", down_ms);
  EXPECT_LT(down_ms, 400);
}

// Connections that never complete are failed by the expiry, not by an
// event; their sockets must still be closed (and leave the loop) right away.
TEST_F(ProberNetns, TcpTimeoutsFailAndCloseTheirSockets) {
  auto listener = tcp_listener(7002);
  ASSERT_TRUE(listener);
  auto c = wan({});
  for (const char* t : {"10.99.0.2", "fd99::2"}) {
    c.probes.push_back(
        ProbeSpec{.method = ProbeMethod::kTcp, .target = *IpAddr::parse(t), .port = 7002});
  }
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  auto open_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto fds_up = open_fds();

  set_peer_drop(true);  // SYNs vanish: every connect() waits for the timeout (200 ms)
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  run_until([] { return false; }, 1000ms);
  // In flight at most: two targets x (timeout / interval + 1) connections.
  EXPECT_LE(open_fds(), fds_up + 6);
  for (const TargetHealth& t : prober_->targets("wan1"))
    EXPECT_GE(t.failed, 10u) << t.target.to_string();

  set_peer_drop(false);
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  EXPECT_LE(open_fds(), fds_up + 2);
}

TEST_F(ProberNetns, StampAgainstOurReflectorAndPortUnreachableFailsAtOnce) {
  std::vector<std::unique_ptr<StampReflector>> reflectors;
  for (const char* a : {"0.0.0.0", "::"}) {
    in_peer([&] {
      auto r = StampReflector::create(
          *loop_, ReflectorOptions{.listen = {.addr = *IpAddr::parse(a), .port = 8620}});
      ASSERT_TRUE(r) << r.error().to_string();
      reflectors.push_back(std::move(*r));
    });
  }
  ASSERT_EQ(reflectors.size(), 2u);
  auto c = wan({});
  c.health.timeout_ms = 2000;
  c.health.reliability = 2;
  for (const char* t : {"10.99.0.2", "fd99::2"}) {
    c.probes.push_back(
        ProbeSpec{.method = ProbeMethod::kUdp, .target = *IpAddr::parse(t), .port = 8620});
  }
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 2000ms));
  ASSERT_TRUE(run_until([&] { return prober_->health("wan1")->received >= 20; }, 3000ms));
  for (const TargetHealth& t : prober_->targets("wan1")) {
    std::printf("[measured] stamp %s: rtt mean %.3f ms, jitter %.3f ms, %lu/%lu\n",
                t.target.to_string().c_str(), t.rtt_ms, t.jitter_ms, t.received, t.sent);
    EXPECT_GT(t.rtt_ms, 0.0);
    EXPECT_LT(t.rtt_ms, 5.0);
    EXPECT_EQ(t.failed, 0u);
  }
  EXPECT_GE(reflectors[0]->stats().reflected + reflectors[1]->stats().reflected, 20u);

  reflectors.clear();  // port unreachable from now on
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 2000ms));
  double down_ms = Ms(EventLoop::now() - t0).count();
  std::printf("[measured] stamp port unreachable: down after %.1f ms (timeout 2000)\n", down_ms);
  EXPECT_LT(down_ms, 400);
}

TEST_F(ProberNetns, FiftyMsIntervalDetectsBlackholeAndRecoversAfterUpAfterRounds) {
  constexpr double kInterval = 50, kTimeout = 100;
  constexpr uint32_t kDownAfter = 3, kUpAfter = 5;
  auto c = wan({"10.99.0.2"});
  c.health = HealthSpec{.interval_ms = 50,
                        .timeout_ms = 100,
                        .down_after = kDownAfter,
                        .up_after = kUpAfter,
                        .reliability = 1};
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 1000ms));
  pathsteer::testing::HostLateness host;  // what the host's load does to any timer

  const double bound = kInterval * kDownAfter + kTimeout + kInterval;
  double worst = 0;
  for (int i = 0; i < 5; ++i) {
    set_peer_drop(true);
    auto t0 = EventLoop::now();
    ASSERT_TRUE(wait_state("wan1", HealthState::kDown, 1000ms));
    double down_ms = Ms(EventLoop::now() - t0).count();
    worst = std::max(worst, down_ms);
    EXPECT_LE(down_ms, bound);

    set_peer_drop(false);
    t0 = EventLoop::now();
    ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 1000ms));
    double up_ms = Ms(EventLoop::now() - t0).count();
    // The up_after-th good round is sent at least up_after - 1 intervals
    // after the first one that can be answered.
    EXPECT_GE(up_ms, kInterval * (kUpAfter - 1) - 5);
    EXPECT_LE(up_ms, kInterval * (kUpAfter + 1) + kTimeout);
    std::printf(
        "[measured] interval 50: blackhole -> down %.1f ms (bound %.0f), heal -> up "
        "%.1f ms (up_after %u)\n",
        down_ms, bound, up_ms, kUpAfter);
  }
  std::printf("[measured] interval 50: worst down %.1f ms of bound %.0f\n", worst, bound);

  auto t0 = EventLoop::now();
  prober_->set_carrier("wan1", false);
  EXPECT_EQ(prober_->health("wan1")->state, HealthState::kDown);  // synchronously
  std::printf("[measured] carrier -> down in %.3f ms\n", Ms(EventLoop::now() - t0).count());

  ProberStats st = prober_->stats();
  host.stop();
  const double host_p99 = host.quantile_ms(0.99);
  std::printf(
      "[measured] send lateness p50 %.3f p99 %.3f max %.3f ms over %zu sends; %lu wakeups; "
      "the host's own timer lateness p99 %.3f ms (%zu wakeups)\n",
      st.lateness_p50_ms, st.lateness_p99_ms, st.lateness_max_ms, st.lateness_samples, st.wakeups,
      host_p99, host.samples());
  EXPECT_GT(st.lateness_samples, 0u);
  // The prober's budget is 5 ms on top of what the host does to every timer.
  EXPECT_LT(st.lateness_p99_ms, host_p99 + 5.0);
}

TEST_F(ProberNetns, DegradedOnLossAndBackBelowTheRecoveryBar) {
  auto c = wan({"10.99.0.2", "fd99::2"});
  c.health = HealthSpec{.interval_ms = 20,
                        .timeout_ms = 60,
                        .down_after = 3,
                        .up_after = 3,
                        .reliability = 1,
                        .degraded_if = {.loss_pct = 20},
                        .recover_if = {.loss_pct = 5}};
  ASSERT_TRUE(prober_->configure({c}));
  ASSERT_TRUE(wait_state("wan1", HealthState::kUp, 1000ms));
  // 50% of echo requests (not neighbour discovery, which would add its own losses).
  set_peer_rule({"icmp type echo-request numgen random mod 2 0 drop",
                 "icmpv6 type echo-request numgen random mod 2 0 drop"});
  auto t0 = EventLoop::now();
  ASSERT_TRUE(wait_state("wan1", HealthState::kDegraded, 5000ms));
  std::printf("[measured] 50%% loss: degraded after %.1f ms at loss %.1f%%\n",
              Ms(EventLoop::now() - t0).count(), prober_->health("wan1")->loss_pct);
  EXPECT_EQ(prober_->health("wan1")->reason, "degraded: loss_pct");
  EXPECT_GT(prober_->health("wan1")->loss_pct, 20.0);
  set_peer_drop(false);
  t0 = EventLoop::now();
  // Stays degraded until the 100-probe loss windows are back under the
  // recovery bar (loss <= 5%): whenever it is up, the loss must be under it.
  double loss_when_up = 100;
  ASSERT_TRUE(run_until(
      [&] {
        const UplinkHealth* h = prober_->health("wan1");
        if (h->state != HealthState::kUp)
          return false;
        loss_when_up = h->loss_pct;
        return true;
      },
      5000ms));
  double healed_ms = Ms(EventLoop::now() - t0).count();
  std::printf("[measured] up again after %.1f ms, loss then %.1f%%\n", healed_ms, loss_when_up);
  EXPECT_LE(loss_when_up, 5.0) << "left degraded above the recovery bar";
  // 50% loss filled much of the 100-probe windows: clearing them takes many rounds.
  EXPECT_GT(healed_ms, 20 * 10);
}

}  // namespace
}  // namespace pathsteer
