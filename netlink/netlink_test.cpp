// Kernel tests: every test unshares into a fresh network namespace (needs
// root), so nothing here can touch the host. ip(8) is used only to set up and
// to play the "operator poking at the kernel by hand". The uplink is a veth
// (this kernel has no dummy driver); its carrier follows the peer wan0p.
#include <gtest/gtest.h>

#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include "common/test_skip.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include "netlink/gateway.h"
#include "netlink/reconcile.h"
#include "netlink/socket.h"
#include "netlink/watcher.h"

namespace pathsteer {
namespace {

constexpr uint8_t kOurs = 201;
constexpr uint32_t kTable = 300;  // >= 256: lives only in FRA_TABLE / RTA_TABLE
const OwnedSlice kSlice{.rule_priority_lo = 10000,
                        .rule_priority_hi = 11000,
                        .table_lo = 300,
                        .table_hi = 556,
                        .protocol = kOurs};

IpAddr addr(const char* s) {
  return *IpAddr::parse(s);
}
Prefix pfx(const char* s) {
  return *Prefix::parse(s);
}

bool sh(const std::string& cmd) {
  int rc = std::system((cmd + " 2>&1").c_str());
  if (rc != 0)
    ADD_FAILURE() << "command failed (" << rc << "): " << cmd;
  return rc == 0;
}

class NetlinkKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      PS_SKIP_OR_FAIL("kernel tests need root for unshare(CLONE_NEWNET)");
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_TRUE(
        sh("ip link set lo up && ip link add wan0 type veth peer name wan0p && ip link set wan0p "
           "up && ip link set wan0 up"));
    ASSERT_TRUE(sh("ip addr add 10.0.0.1/24 dev wan0 && ip addr add fd00::1/64 dev wan0 nodad"));
    ifindex_ = static_cast<int>(if_nametoindex("wan0"));
    ASSERT_GT(ifindex_, 0);
    auto s = NetlinkSocket::open();
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    sock_.emplace(std::move(*s));
  }

  Rule mark_rule(int family, uint32_t prio, uint32_t table, int32_t suppress = -1) {
    return Rule{.family = family,
                .priority = prio,
                .fwmark = 0x00100000,
                .fwmask = 0x0ff00000,
                .table = table,
                .suppress_prefixlen = suppress,
                .protocol = kOurs};
  }
  Route default_via(int family, const char* gw) {
    return Route{.family = family,
                 .table = kTable,
                 .dst = Prefix::default_route(family),
                 .gateway = addr(gw),
                 .oif = ifindex_,
                 .protocol = kOurs,
                 .priority = family == AF_INET6 ? 1024u : 0u};
  }
  DesiredKernel desired() {
    return {
        .rules = {mark_rule(AF_INET, 10000, RT_TABLE_MAIN, 0), mark_rule(AF_INET, 10001, kTable),
                  mark_rule(AF_INET6, 10000, RT_TABLE_MAIN, 0), mark_rule(AF_INET6, 10001, kTable)},
        .routes = {default_via(AF_INET, "10.0.0.254"), default_via(AF_INET6, "fd00::fe")}};
  }

  std::vector<Rule> our_rules() {
    std::vector<Rule> out;
    for (int f : {AF_INET, AF_INET6}) {
      auto r = sock_->dump_rules(f);
      EXPECT_TRUE(r.ok()) << r.error().to_string();
      for (auto& x : *r) {
        if (x.protocol == kOurs)
          out.push_back(x);
      }
    }
    return out;
  }
  std::vector<Route> table_routes(uint32_t table) {
    std::vector<Route> out;
    for (int f : {AF_INET, AF_INET6}) {
      auto r = sock_->dump_routes(f);
      EXPECT_TRUE(r.ok()) << r.error().to_string();
      for (auto& x : *r) {
        if (x.table == table)
          out.push_back(x);
      }
    }
    return out;
  }

  int ifindex_ = 0;
  std::optional<NetlinkSocket> sock_;
};

void expect_all_ok(const std::vector<ChangeResult>& results) {
  for (const auto& r : results) {
    EXPECT_TRUE(r.result.ok()) << r.result.error().to_string();
  }
}

// Polls the watcher until `done` holds for the collected events, or 3 s pass.
std::vector<Event> collect_until(Watcher& w, const std::function<bool(const Event&)>& done) {
  std::vector<Event> seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = w.fd(), .events = POLLIN, .revents = 0};
    poll(&p, 1, 100);
    auto ev = w.read_events();
    EXPECT_TRUE(ev.ok()) << ev.error().to_string();
    if (!ev.ok())
      break;
    for (auto& e : *ev) {
      seen.push_back(e);
      if (done(e))
        return seen;
    }
  }
  std::string names;
  for (const auto& e : seen)
    names += "\n  " + e.to_string();
  ADD_FAILURE() << "event not seen within 3 s; saw " << seen.size() << " events:" << names;
  return seen;
}

TEST_F(NetlinkKernelTest, DumpsLinksAndAddresses) {
  auto links = sock_->dump_links();
  ASSERT_TRUE(links.ok()) << links.error().to_string();
  auto it =
      std::find_if(links->begin(), links->end(), [](const Link& l) { return l.name == "wan0"; });
  ASSERT_NE(it, links->end());
  EXPECT_EQ(it->ifindex, ifindex_);
  EXPECT_TRUE(it->admin_up);
  EXPECT_TRUE(it->carrier);

  auto addrs = sock_->dump_addresses(AF_UNSPEC);
  ASSERT_TRUE(addrs.ok()) << addrs.error().to_string();
  EXPECT_NE(std::find(addrs->begin(), addrs->end(),
                      Address{.ifindex = ifindex_,
                              .family = AF_INET,
                              .prefix = pfx("10.0.0.0/24"),
                              .addr = addr("10.0.0.1")}),
            addrs->end());
  EXPECT_NE(std::find(addrs->begin(), addrs->end(),
                      Address{.ifindex = ifindex_,
                              .family = AF_INET6,
                              .prefix = pfx("fd00::/64"),
                              .addr = addr("fd00::1")}),
            addrs->end());
}

TEST_F(NetlinkKernelTest, WrittenRulesAndRoutesReadBackEqual) {
  auto want = desired();
  Rule with_ports{.family = AF_INET,
                  .priority = 10002,
                  .table = kTable,
                  .protocol = kOurs,
                  .src = pfx("192.168.0.0/16"),
                  .iifname = "wan0",
                  .ip_proto = IPPROTO_TCP,
                  .dport = PortRange{.lo = 443, .hi = 443},
                  .uid_range = UidRange{.lo = 1000, .hi = 1999}};
  Route unreachable6{.family = AF_INET6,
                     .table = kTable + 1,
                     .dst = pfx("::/0"),
                     .protocol = kOurs,
                     .type = RTN_UNREACHABLE,
                     .priority = 1024};
  std::vector<Change> changes;
  for (const auto& r : want.routes)
    changes.push_back({Change::Op::kAdd, r});
  changes.push_back({Change::Op::kAdd, unreachable6});
  for (const auto& r : want.rules)
    changes.push_back({Change::Op::kAdd, r});
  changes.push_back({Change::Op::kAdd, with_ports});
  expect_all_ok(sock_->apply(changes));

  auto rules = our_rules();
  for (const Rule& r : want.rules) {
    EXPECT_NE(std::find(rules.begin(), rules.end(), r), rules.end()) << "missing " << r.to_string();
  }
  EXPECT_NE(std::find(rules.begin(), rules.end(), with_ports), rules.end());
  EXPECT_EQ(rules.size(), want.rules.size() + 1);

  auto routes = table_routes(kTable);
  ASSERT_EQ(routes.size(), 2u);
  for (const Route& r : want.routes) {
    EXPECT_NE(std::find(routes.begin(), routes.end(), r), routes.end())
        << "missing " << r.to_string();
  }
  auto r301 = table_routes(kTable + 1);
  ASSERT_EQ(r301.size(), 1u);
  EXPECT_EQ(normalized(r301[0]), normalized(unreachable6)) << r301[0].to_string();

  // ip(8) agrees that the table id survived (>= 256).
  EXPECT_TRUE(sh("ip rule show | grep -q 'fwmark 0x100000/0xff00000 lookup 300 proto 201'"));
  EXPECT_TRUE(sh("ip -6 route show table 300 | grep -q 'default via fd00::fe dev wan0 proto 201'"));
}

TEST_F(NetlinkKernelTest, ReconcileIsIdempotentRepairsAndLeavesForeignAlone) {
  Reconciler rec;
  auto first = rec.reconcile(*sock_, desired(), kSlice);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->applied.size(), 6u);
  EXPECT_TRUE(first->clean());

  auto second = rec.reconcile(*sock_, desired(), kSlice);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->applied.empty()) << second->applied[0].to_string();
  EXPECT_TRUE(second->clean());

  // Someone deletes our rule by hand: the next pass puts exactly it back.
  ASSERT_TRUE(sh("ip rule del pref 10001"));
  auto repair = rec.reconcile(*sock_, desired(), kSlice);
  ASSERT_TRUE(repair.ok());
  ASSERT_EQ(repair->applied.size(), 1u);
  EXPECT_EQ(repair->applied[0], (Change{Change::Op::kInsert, desired().rules[1]}));

  // Foreign objects inside our slice are reported and left alone.
  ASSERT_TRUE(sh("ip rule add pref 10500 fwmark 0x5 lookup 300 proto static"));
  ASSERT_TRUE(sh("ip route add 10.9.0.0/16 via 10.0.0.254 table 300 proto static"));
  auto foreign = rec.reconcile(*sock_, desired(), kSlice);
  ASSERT_TRUE(foreign.ok());
  EXPECT_TRUE(foreign->applied.empty());
  EXPECT_TRUE(foreign->failed.empty());
  ASSERT_EQ(foreign->conflicts.size(), 2u);
  EXPECT_NE(foreign->conflicts[1].what.find("pref 10500"), std::string::npos)
      << foreign->conflicts[1].what;
  EXPECT_TRUE(sh("ip rule show pref 10500 | grep -q 'proto static'"));
  EXPECT_TRUE(sh("ip route show table 300 10.9.0.0/16 | grep -q 'proto static'"));

  // Drop the IPv6 half from the plan: only our IPv6 objects go.
  DesiredKernel v4_only = desired();
  std::erase_if(v4_only.rules, [](const Rule& r) { return r.family == AF_INET6; });
  std::erase_if(v4_only.routes, [](const Route& r) { return r.family == AF_INET6; });
  auto shrink = rec.reconcile(*sock_, v4_only, kSlice);
  ASSERT_TRUE(shrink.ok());
  EXPECT_EQ(shrink->applied.size(), 3u);
  EXPECT_TRUE(shrink->failed.empty());
  EXPECT_TRUE(table_routes(kTable).size() == 2u);  // ours v4 + the foreign one
}

TEST_F(NetlinkKernelTest, BatchReportsEachFailureWithTheKernelsMessage) {
  Route good1{.family = AF_INET,
              .table = kTable,
              .dst = pfx("10.1.0.0/16"),
              .gateway = addr("10.0.0.254"),
              .protocol = kOurs};
  Route bad{.family = AF_INET,
            .table = kTable,
            .dst = pfx("10.2.0.0/16"),
            .gateway = addr("192.0.2.1"),
            .protocol = kOurs};
  Rule good2 = mark_rule(AF_INET6, 10001, kTable);
  auto results = sock_->apply({{Change::Op::kAdd, good1},
                               {Change::Op::kAdd, bad},
                               {Change::Op::kAdd, good2},
                               {Change::Op::kAdd, good1},  // EEXIST
                               {Change::Op::kReplace, good2},
                               {Change::Op::kDelete, good1}});
  ASSERT_EQ(results.size(), 6u);
  EXPECT_TRUE(results[0].result.ok());
  ASSERT_FALSE(results[1].result.ok());
  const Error& e = results[1].result.error();
  EXPECT_EQ(e.err_no, ENETUNREACH) << e.to_string();
  EXPECT_FALSE(e.kernel_message.empty()) << e.to_string();
  EXPECT_NE(e.context.find("10.2.0.0/16 via 192.0.2.1"), std::string::npos) << e.context;
  std::printf("bad route error: %s\n", e.to_string().c_str());
  EXPECT_TRUE(results[2].result.ok());
  ASSERT_FALSE(results[3].result.ok());
  EXPECT_EQ(results[3].result.error().err_no, EEXIST);
  ASSERT_FALSE(results[4].result.ok());
  EXPECT_EQ(results[4].result.error().err_no, EOPNOTSUPP);
  EXPECT_TRUE(results[5].result.ok());
  EXPECT_TRUE(table_routes(kTable).empty());
}

TEST_F(NetlinkKernelTest, LargeBatchSpansSeveralSends) {
  std::vector<Change> changes;
  for (int i = 0; i < 1500; ++i) {
    Route r{.family = AF_INET,
            .table = kTable,
            .dst = Prefix{.addr = IpAddr::v4(0x0b000000 + (i << 8)), .len = 24},
            .gateway = addr("10.0.0.254"),
            .protocol = kOurs};
    changes.push_back({Change::Op::kAdd, r});
  }
  expect_all_ok(sock_->apply(changes));
  EXPECT_EQ(table_routes(kTable).size(), 1500u);
}

TEST_F(NetlinkKernelTest, GatewayDiscoveryFromTheMainTable) {
  ASSERT_TRUE(sh("ip route add default via 10.0.0.253 dev wan0 proto dhcp metric 200"));
  ASSERT_TRUE(sh("ip route add default via 10.0.0.252 dev wan0 proto dhcp metric 100"));
  auto routes = sock_->dump_routes(AF_INET);
  ASSERT_TRUE(routes.ok());
  EXPECT_EQ(find_default_gateway(*routes, ifindex_, AF_INET, kOurs), addr("10.0.0.252"));
}

TEST_F(NetlinkKernelTest, WatcherSeesCarrierAdminAndRuleChanges) {
  auto w = Watcher::open();
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  auto is_link = [&](const Event& e, auto pred) {
    auto* l = std::get_if<Link>(&e.object);
    return e.kind == Event::Kind::kNewLink && l != nullptr && l->ifindex == ifindex_ && pred(*l);
  };

  ASSERT_TRUE(sh("ip link set wan0p down"));
  collect_until(*w, [&](const Event& e) {
    return is_link(e, [](const Link& l) { return l.admin_up && !l.carrier; });
  });
  ASSERT_TRUE(sh("ip link set wan0p up"));
  collect_until(
      *w, [&](const Event& e) { return is_link(e, [](const Link& l) { return l.carrier; }); });
  ASSERT_TRUE(sh("ip link set wan0 down"));
  collect_until(
      *w, [&](const Event& e) { return is_link(e, [](const Link& l) { return !l.admin_up; }); });

  Rule r = mark_rule(AF_INET6, 10001, kTable);
  expect_all_ok(sock_->apply({{Change::Op::kAdd, r}}));
  collect_until(*w, [&](const Event& e) {
    return e.kind == Event::Kind::kNewRule && std::get<Rule>(e.object) == r;
  });
  ASSERT_TRUE(sh("ip -6 rule del pref 10001"));
  collect_until(*w, [&](const Event& e) {
    return e.kind == Event::Kind::kDelRule && std::get<Rule>(e.object) == r;
  });
}

TEST_F(NetlinkKernelTest, WatcherReportsOverrunOnce) {
  auto w = Watcher::open(/*rcvbuf_bytes=*/1);  // the kernel clamps it to its minimum
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  std::vector<Change> burst;
  for (int i = 0; i < 500; ++i) {
    Route r{.family = AF_INET,
            .table = kTable,
            .dst = Prefix{.addr = IpAddr::v4(0x0c000000 + (i << 8)), .len = 24},
            .oif = ifindex_,
            .protocol = kOurs,
            .scope = RT_SCOPE_LINK};
    burst.push_back({Change::Op::kAdd, r});
  }
  expect_all_ok(sock_->apply(burst));
  auto ev = w->read_events();
  ASSERT_TRUE(ev.ok()) << ev.error().to_string();
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].kind, Event::Kind::kOverrun);
  // The socket stays usable after the overrun.
  Rule r = mark_rule(AF_INET, 10001, kTable);
  expect_all_ok(sock_->apply({{Change::Op::kAdd, r}}));
  collect_until(*w, [&](const Event& e) {
    return e.kind == Event::Kind::kNewRule && std::get<Rule>(e.object) == r;
  });
}

}  // namespace
}  // namespace pathsteer
