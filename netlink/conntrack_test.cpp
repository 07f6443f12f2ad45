// Conntrack tests. The filter rule is tested purely; the kernel test builds a
// real NAT gateway in throwaway namespaces (needs root) and deletes the
// entries of real flows:
//
//   client ─eth0──lan0─ router ─up1──eth0─ server1 (203.0.113.1, 2001:db8:1::1)
//                              └─up2──eth0─ server2 (198.51.100.1, 2001:db8:2::1)
//
// The router masquerades on up1 and up2 (nftables, IPv4 and IPv6) and marks
// up2's connections in the ct mark. The client opens UDP, TCP and ICMP flows
// to both servers over both families, plus one UDP flow to the router itself.
// Sockets are opened from a thread that setns()'d into the right namespace;
// the test's own threads never leave the host namespace.
#include "netlink/conntrack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include "common/test_skip.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/event_loop.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;

IpAddr addr(const char* s) {
  return *IpAddr::parse(s);
}

ConntrackEntry entry(const char* reply_dst, uint32_t mark) {
  return ConntrackEntry{.family = AF_INET,
                        .original = {},
                        .reply = {.src = addr("203.0.113.1"), .dst = addr(reply_dst)},
                        .mark = mark};
}

TEST(ConntrackFilterTest, EmptyFilterMatchesNothing) {
  ConntrackFilter f;
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(f.matches(entry("10.1.0.1", 0)));
  EXPECT_FALSE(f.matches(entry("0.0.0.0", 0)));
}

TEST(ConntrackFilterTest, ReplyDestinationIsTheUplinkAddress) {
  ConntrackFilter f{.reply_dst = {addr("10.1.0.1"), addr("fd01::1")}};
  EXPECT_TRUE(f.matches(entry("10.1.0.1", 0)));
  EXPECT_FALSE(f.matches(entry("10.2.0.1", 0)));
  ConntrackEntry v6 = entry("fd01::1", 0);
  v6.family = AF_INET6;
  EXPECT_TRUE(f.matches(v6));
  v6.reply.dst = addr("fd02::1");
  EXPECT_FALSE(f.matches(v6));
}

TEST(ConntrackFilterTest, MarkUnderMaskOrAddress) {
  ConntrackFilter f{.reply_dst = {addr("10.1.0.1")},
                    .mark = std::pair<uint32_t, uint32_t>{0x00200000, 0x0ff00000}};
  EXPECT_TRUE(f.matches(entry("10.9.9.9", 0x00200001)));  // foreign bits ignored
  EXPECT_FALSE(f.matches(entry("10.9.9.9", 0x00300000)));
  EXPECT_FALSE(f.matches(entry("10.9.9.9", 0)));
  EXPECT_TRUE(f.matches(entry("10.1.0.1", 0)));  // either criterion
}

// ---------------------------------------------------------------------------

bool sh(const std::string& cmd) {
  int rc = std::system((cmd + " 2>&1").c_str());
  if (rc != 0)
    ADD_FAILURE() << "command failed (" << rc << "): " << cmd;
  return rc == 0;
}

std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr)
    return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  pclose(p);
  return out;
}

// Runs fn on a fresh thread inside network namespace `ns`. fn never runs if
// setns fails (it must not touch the host by accident).
bool in_netns(const std::string& ns, const std::function<void()>& fn) {
  bool entered = false;
  std::thread t([&] {
    int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    entered = setns(fd, CLONE_NEWNET) == 0;
    close(fd);
    if (entered)
      fn();
  });
  t.join();
  return entered;
}

sockaddr_storage sockaddr_of(const IpAddr& a, uint16_t port) {
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.bytes.data(), 4);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
  }
  return ss;
}

socklen_t sockaddr_len(const IpAddr& a) {
  return a.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

uint16_t icmp_checksum(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2 != 0)
    sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16 != 0)
    sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

constexpr uint16_t kUdpPort = 7000;
constexpr uint16_t kTcpPort = 7001;
constexpr int kUdpFlows = 3;
constexpr size_t kFlowsPerPath = kUdpFlows + 2;  // + one TCP, one ICMP echo

struct Path {
  const char* uplink_addr;  // the router's address on the uplink (masquerade source)
  const char* server;       // routed through that uplink
};
// up1 v4, up1 v6, up2 v4, up2 v6
const Path kPaths[] = {{"10.1.0.1", "203.0.113.1"},
                       {"fd01::1", "2001:db8:1::1"},
                       {"10.2.0.1", "198.51.100.1"},
                       {"fd02::1", "2001:db8:2::1"}};

class ConntrackKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      PS_SKIP_OR_FAIL("conntrack kernel tests need root (ip netns, nftables)");
    std::string id = std::to_string(getpid());
    client_ = "psct" + id + "c";
    router_ = "psct" + id + "r";
    server1_ = "psct" + id + "s1";
    server2_ = "psct" + id + "s2";
    for (const auto& ns : {client_, router_, server1_, server2_}) {
      ASSERT_TRUE(sh("ip netns add " + ns));
      created_.push_back(ns);
      ASSERT_TRUE(sh("ip -n " + ns + " link set lo up"));
    }
    const std::string r = "ip -n " + router_ + " ";
    ASSERT_TRUE(sh(r + "link add lan0 type veth peer name eth0 netns " + client_));
    ASSERT_TRUE(sh(r + "link add up1 type veth peer name eth0 netns " + server1_));
    ASSERT_TRUE(sh(r + "link add up2 type veth peer name eth0 netns " + server2_));
    ASSERT_TRUE(sh(
        r + "addr add 192.168.50.1/24 dev lan0 && " + r + "addr add fd50::1/64 dev lan0 nodad && " +
        r + "addr add 10.1.0.1/24 dev up1 && " + r + "addr add fd01::1/64 dev up1 nodad && " + r +
        "addr add 10.2.0.1/24 dev up2 && " + r + "addr add fd02::1/64 dev up2 nodad"));
    ASSERT_TRUE(sh(r + "link set lan0 up && " + r + "link set up1 up && " + r + "link set up2 up"));
    // One route per destination: server1's address via up1, server2's via up2.
    ASSERT_TRUE(sh(r + "route add 203.0.113.0/24 via 10.1.0.2 && " + r +
                   "route add 198.51.100.0/24 via 10.2.0.2 && " + r +
                   "route add 2001:db8:1::/64 via fd01::2 && " + r +
                   "route add 2001:db8:2::/64 via fd02::2"));
    ASSERT_TRUE(sh("ip netns exec " + router_ +
                   " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"));
    ASSERT_TRUE(
        sh(std::string("echo '") + kRuleset + "' | ip netns exec " + router_ + " nft -f -"));

    const std::string c = "ip -n " + client_ + " ";
    ASSERT_TRUE(sh(c + "addr add 192.168.50.2/24 dev eth0 && " + c +
                   "addr add fd50::2/64 dev eth0 nodad && " + c + "link set eth0 up && " + c +
                   "route add default via 192.168.50.1 && " + c + "route add default via fd50::1"));
    for (const auto& [ns, link, v4, v6] :
         {std::tuple{server1_, "1", "203.0.113.1", "2001:db8:1::1"},
          std::tuple{server2_, "2", "198.51.100.1", "2001:db8:2::1"}}) {
      const std::string s = "ip -n " + ns + " ";
      ASSERT_TRUE(sh(s + "addr add 10." + link + ".0.2/24 dev eth0 && " + s + "addr add fd0" +
                     link + "::2/64 dev eth0 nodad && " + s + "addr add " + v4 + "/32 dev lo && " +
                     s + "addr add " + v6 + "/128 dev lo && " + s + "link set eth0 up"));
    }
    ASSERT_TRUE(in_netns(router_, [&] {
      auto s = ConntrackSocket::open();
      ASSERT_TRUE(s.ok()) << s.error().to_string();
      ct_.emplace(std::move(*s));
    }));
    ASSERT_TRUE(ct_.has_value());
  }

  void TearDown() override {
    ct_.reset();
    sockets_.clear();
    for (const auto& ns : created_) {
      if (std::system(("ip netns del " + ns + " 2>/dev/null").c_str()) != 0)
        ADD_FAILURE() << "could not delete netns " << ns << " (left behind)";
    }
  }

  // Opens a socket inside namespace ns.
  int socket_in(const std::string& ns, int domain, int type, int protocol) {
    int fd = -1;
    EXPECT_TRUE(in_netns(ns, [&] { fd = socket(domain, type | SOCK_CLOEXEC, protocol); }));
    EXPECT_GE(fd, 0) << std::strerror(errno);
    if (fd >= 0)
      sockets_.emplace_back(fd);
    return fd;
  }

  // Servers: a dual-stack UDP sink and TCP listener in each server namespace.
  void start_servers() {
    for (const auto& ns : {server1_, server2_}) {
      for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
        int fd = socket_in(ns, AF_INET6, type, 0);
        ASSERT_GE(fd, 0);
        int zero = 0;
        int one = 1;
        ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
        ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        IpAddr any{.family = AF_INET6};
        auto sa = sockaddr_of(any, type == SOCK_DGRAM ? kUdpPort : kTcpPort);
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sockaddr_in6)), 0)
            << std::strerror(errno);
        if (type == SOCK_STREAM) {
          ASSERT_EQ(listen(fd, 16), 0);
        }
      }
    }
  }

  // From the client to `server`: kUdpFlows UDP flows (own source port each,
  // two datagrams), one TCP connection (handshake completed), one ICMP echo.
  void open_flows(const IpAddr& server) {
    int domain = server.is_v4() ? AF_INET : AF_INET6;
    auto sa = sockaddr_of(server, kUdpPort);
    for (int i = 0; i < kUdpFlows; ++i) {
      int fd = socket_in(client_, domain, SOCK_DGRAM, 0);
      ASSERT_GE(fd, 0);
      for (int k = 0; k < 2; ++k) {
        ASSERT_EQ(sendto(fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&sa), sockaddr_len(server)), 2)
            << std::strerror(errno);
      }
    }

    int tcp = socket_in(client_, domain, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(tcp, 0);
    auto ta = sockaddr_of(server, kTcpPort);
    int rc = connect(tcp, reinterpret_cast<sockaddr*>(&ta), sockaddr_len(server));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    pollfd p{.fd = tcp, .events = POLLOUT, .revents = 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "TCP connect to " << server.to_string() << " timed out";
    int err = 0;
    socklen_t len = sizeof(err);
    ASSERT_EQ(getsockopt(tcp, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ASSERT_EQ(err, 0) << "TCP connect to " << server.to_string() << ": " << std::strerror(err);

    int proto = server.is_v4() ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
    int icmp = socket_in(client_, domain, SOCK_RAW, proto);
    ASSERT_GE(icmp, 0);
    uint8_t echo[16] = {};
    echo[0] = server.is_v4() ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    echo[4] = 0x12;  // identifier
    echo[5] = static_cast<uint8_t>(server.bytes[3]);
    echo[7] = 1;           // sequence
    if (server.is_v4()) {  // the kernel checksums ICMPv6 raw sockets itself
      uint16_t sum = icmp_checksum(echo, sizeof(echo));
      std::memcpy(echo + 2, &sum, 2);
    }
    auto ia = sockaddr_of(server, 0);
    ASSERT_EQ(
        sendto(icmp, echo, sizeof(echo), 0, reinterpret_cast<sockaddr*>(&ia), sockaddr_len(server)),
        static_cast<ssize_t>(sizeof(echo)))
        << std::strerror(errno);
  }

  std::vector<ConntrackEntry> dump() {
    auto d = ct_->dump();
    EXPECT_TRUE(d.ok()) << d.error().to_string();
    return d.ok() ? *d : std::vector<ConntrackEntry>{};
  }

  static size_t count_reply_dst(const std::vector<ConntrackEntry>& all, const char* a) {
    IpAddr want = addr(a);
    size_t n = 0;
    for (const auto& e : all)
      n += e.reply.dst == want ? 1 : 0;
    return n;
  }

  // The independent witness: conntrack(8) in the router namespace.
  size_t conntrack_tool_count(const char* reply_dst) {
    IpAddr a = addr(reply_dst);
    std::string out =
        capture("ip netns exec " + router_ + " conntrack -L -f " + (a.is_v4() ? "ipv4" : "ipv6") +
                " --reply-dst " + reply_dst + " 2>/dev/null");
    size_t n = 0;
    for (char ch : out)
      n += ch == '\n' ? 1 : 0;
    return n;
  }

  // Builds every flow and waits (deadline, no fixed sleep) until the router
  // tracks all of them: kFlowsPerPath per path, plus the client->router flow.
  void open_all_flows() {
    start_servers();
    for (const auto& p : kPaths)
      open_flows(addr(p.server));
    int local = socket_in(client_, AF_INET, SOCK_DGRAM, 0);
    auto ra = sockaddr_of(addr("192.168.50.1"), 9);
    ASSERT_EQ(sendto(local, "x", 1, 0, reinterpret_cast<sockaddr*>(&ra), sizeof(sockaddr_in)), 1);

    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (true) {
      auto all = dump();
      bool ready = count_reply_dst(all, "192.168.50.2") >= 1;
      for (const auto& p : kPaths)
        ready = ready && count_reply_dst(all, p.uplink_addr) == kFlowsPerPath;
      if (ready)
        break;
      if (std::chrono::steady_clock::now() > deadline) {
        std::string got;
        for (const auto& e : all)
          got += "\n  " + e.to_string();
        FAIL() << "the router never tracked every flow; it has:" << got;
      }
      std::this_thread::sleep_for(20ms);  // poll interval, bounded by the deadline
    }
    for (const auto& p : kPaths)
      ASSERT_EQ(conntrack_tool_count(p.uplink_addr), kFlowsPerPath) << p.uplink_addr;
  }

  // Checks that path p's entries are all there (kept) or all gone, by our
  // dump and by conntrack(8).
  void expect_path(const Path& p, bool kept) {
    size_t want = kept ? kFlowsPerPath : 0;
    EXPECT_EQ(count_reply_dst(dump(), p.uplink_addr), want) << p.uplink_addr;
    EXPECT_EQ(conntrack_tool_count(p.uplink_addr), want) << p.uplink_addr << " (conntrack -L)";
  }

  static constexpr const char* kRuleset = R"(table ip pstest_nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "up1" masquerade
    oifname "up2" masquerade
  }
}
table ip6 pstest_nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "up1" masquerade
    oifname "up2" masquerade
  }
}
table inet pstest_mark {
  chain mark_up2 {
    type filter hook forward priority 0;
    oifname "up2" ct mark set ct mark or 0x00200000
  }
}
)";

  std::string client_, router_, server1_, server2_;
  std::vector<std::string> created_;
  std::vector<Fd> sockets_;
  std::optional<ConntrackSocket> ct_;
};

TEST_F(ConntrackKernelTest, DeletesOnlyTheDeadUplinksNatEntries) {
  ASSERT_NO_FATAL_FAILURE(open_all_flows());
  auto all = dump();
  size_t total = all.size();
  // What the rule relies on: masquerade made the uplink's address the reply
  // destination of the client's flows.
  for (const auto& e : all) {
    if (e.reply.dst == addr("10.1.0.1")) {
      EXPECT_EQ(e.original.src, addr("192.168.50.2")) << e.to_string();
    }
  }

  // An empty filter is not a flush.
  auto none = ct_->delete_matching(ConntrackFilter{});
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_EQ(none->deleted, 0u);
  EXPECT_EQ(dump().size(), total);

  auto r = ct_->delete_matching(ConntrackFilter{.reply_dst = {addr("10.1.0.1"), addr("fd01::1")}});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_GE(r->examined, total);
  EXPECT_EQ(r->deleted, 2 * kFlowsPerPath);
  EXPECT_EQ(r->failed, 0u) << (r->first_error ? r->first_error->to_string() : "");

  expect_path(kPaths[0], false);
  expect_path(kPaths[1], false);
  expect_path(kPaths[2], true);
  expect_path(kPaths[3], true);
  EXPECT_EQ(count_reply_dst(dump(), "192.168.50.2"), 1u) << "the client->router flow was hit";

  // Again: nothing left to match, nothing deleted.
  auto again = ct_->delete_matching(ConntrackFilter{.reply_dst = {addr("10.1.0.1")}});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->deleted + again->already_gone + again->failed, 0u);
}

TEST_F(ConntrackKernelTest, DeletesByCtMarkUnderMask) {
  ASSERT_NO_FATAL_FAILURE(open_all_flows());
  for (const auto& e : dump()) {
    bool via_up2 = e.reply.dst == addr("10.2.0.1") || e.reply.dst == addr("fd02::1");
    EXPECT_EQ(e.mark, via_up2 ? 0x00200000u : 0u) << e.to_string();
  }
  auto r = ct_->delete_matching(ConntrackFilter{
      .reply_dst = {}, .mark = std::pair<uint32_t, uint32_t>{0x00200000, 0x0ff00000}});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->deleted, 2 * kFlowsPerPath);
  EXPECT_EQ(r->failed, 0u) << (r->first_error ? r->first_error->to_string() : "");
  expect_path(kPaths[0], true);
  expect_path(kPaths[1], true);
  expect_path(kPaths[2], false);
  expect_path(kPaths[3], false);
  EXPECT_EQ(count_reply_dst(dump(), "192.168.50.2"), 1u);
}

TEST_F(ConntrackKernelTest, EntriesCountsThisNamespaceWithoutADump) {
  auto empty = ct_->entries();
  ASSERT_TRUE(empty.ok()) << empty.error().to_string();
  EXPECT_EQ(*empty, 0u);
  // An empty table: nothing to examine (delete_matching skips the dump).
  auto none = ct_->delete_matching(ConntrackFilter{.reply_dst = {addr("10.1.0.1")}});
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_EQ(none->examined, 0u);

  ASSERT_NO_FATAL_FAILURE(open_all_flows());
  auto n = ct_->entries();
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, dump().size());
}

TEST_F(ConntrackKernelTest, WorkerDeletesOffTheLoopThreadAndReportsOnIt) {
  ASSERT_NO_FATAL_FAILURE(open_all_flows());
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok()) << loop.error().to_string();
  std::unique_ptr<ConntrackWorker> worker;
  ASSERT_TRUE(in_netns(router_, [&] { worker = std::make_unique<ConntrackWorker>(**loop); }));

  std::optional<Result<ConntrackFlushReport>> got;
  std::thread::id done_on;
  worker->submit("up1", ConntrackFilter{.reply_dst = {addr("10.1.0.1"), addr("fd01::1")}},
                 [&](const Result<ConntrackFlushReport>& r) {
                   got = r;
                   done_on = std::this_thread::get_id();
                   (*loop)->stop();
                 });
  auto deadline = (*loop)->add_timer(std::chrono::seconds(5), {}, [&] { (*loop)->stop(); });
  ASSERT_TRUE(deadline.ok());
  ASSERT_TRUE((*loop)->run().ok());
  ASSERT_TRUE(got.has_value()) << "no report within 5 s";
  ASSERT_TRUE(got->ok()) << got->error().to_string();
  EXPECT_EQ(done_on, std::this_thread::get_id()) << "done must run on the loop thread";
  EXPECT_EQ((*got)->deleted, 2 * kFlowsPerPath);
  expect_path(kPaths[0], false);
  expect_path(kPaths[1], false);
  expect_path(kPaths[2], true);
  expect_path(kPaths[3], true);
  worker.reset();
}

}  // namespace
}  // namespace pathsteer
