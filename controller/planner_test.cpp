#include "controller/planner.h"
#include "controller/local_rules.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <algorithm>

#include "common/file.h"
#include "controller/capacity.h"
#include "controller/uplink_ids.h"

namespace pathsteer {
namespace {

Policy two_wan_policy() {
  Policy p;
  p.lan_interfaces = {"lan0"};
  Wan w1;
  w1.name = "wan1";
  w1.interface = "eth1";
  w1.gateway_auto = true;
  Wan w2;
  w2.name = "wan2";
  w2.interface = "eth2";
  w2.gateway4 = IpAddr::parse("198.51.100.1");
  p.wans = {w1, w2};
  ClassSpec video;
  video.name = "video";
  MatchEntry m;
  m.proto = 17;
  m.dport = {PortRange{.lo = 5001, .hi = 5001}};
  video.match = {m};
  video.paths = {"wan2", "wan1"};
  ClassSpec dflt;
  dflt.name = "default";
  dflt.paths = {"wan1", "wan2"};
  p.classes = {video, dflt};
  return p;
}

// The uplink (fwmark) rules; local-traffic rules (iif lo) are tested apart.
std::vector<Rule> mark_rules(const DesiredState& out) {
  std::vector<Rule> v;
  for (const auto& r : out.rules) {
    if (r.iifname.empty())
      v.push_back(r);
  }
  return v;
}

std::vector<Rule> local_rules(const DesiredState& out) {
  std::vector<Rule> v;
  for (const auto& r : out.rules) {
    if (r.iifname == "lo")
      v.push_back(r);
  }
  return v;
}

struct Fixture {
  Policy policy = two_wan_policy();
  std::map<std::string, uint32_t> ids{{"wan1", 1}, {"wan2", 2}};
  PlanInput input() {
    PlanInput in;
    in.policy = &policy;
    in.uplink_ids = &ids;
    in.uplinks["wan1"] = UplinkView{.ifindex = 11,
                                    .usable = true,
                                    .learned_gateway4 = IpAddr::parse("100.64.1.1"),
                                    .learned_gateway6 = IpAddr::parse("2001:db8:1::1")};
    in.uplinks["wan2"] = UplinkView{.ifindex = 12, .usable = true};
    return in;
  }
};

TEST(Planner, MarksTablesAndRulesFollowTheStableIds) {
  Fixture f;
  auto out = plan(f.input());
  ASSERT_EQ(out.uplinks.size(), 2u);
  EXPECT_EQ(out.uplinks[0].mark, 0x00100000u);
  EXPECT_EQ(out.uplinks[0].table, 201u);
  EXPECT_EQ(out.uplinks[1].mark, 0x00200000u);
  EXPECT_EQ(out.uplinks[1].table, 202u);
  // Two rules per uplink per family, all in the owned band with our protocol.
  ASSERT_EQ(mark_rules(out).size(), 8u);
  for (const auto& r : mark_rules(out)) {
    EXPECT_GE(r.priority, 10000u);
    EXPECT_LT(r.priority, 11000u);
    EXPECT_EQ(r.protocol, 201);
    EXPECT_EQ(r.fwmask, 0x0ff00000u);
  }
  auto suppress = std::find_if(out.rules.begin(), out.rules.end(), [](const Rule& r) {
    return r.priority == 10002 && r.family == AF_INET;
  });
  ASSERT_NE(suppress, out.rules.end());
  EXPECT_EQ(suppress->table, static_cast<uint32_t>(RT_TABLE_MAIN));
  EXPECT_EQ(suppress->suppress_prefixlen, 0);
  auto lookup = std::find_if(out.rules.begin(), out.rules.end(), [](const Rule& r) {
    return r.priority == 10003 && r.family == AF_INET6;
  });
  ASSERT_NE(lookup, out.rules.end());
  EXPECT_EQ(lookup->table, 201u);
  EXPECT_EQ(lookup->fwmark, 0x00100000u);

  // Routes: wan1 learned v4+v6, wan2 explicit v4 only.
  ASSERT_EQ(out.routes.size(), 3u);
  EXPECT_EQ(out.routes[0].table, 201u);
  EXPECT_EQ(out.routes[0].gateway, IpAddr::parse("100.64.1.1"));
  EXPECT_EQ(out.routes[0].oif, 11);
  EXPECT_EQ(out.routes[1].family, AF_INET6);
  EXPECT_EQ(out.routes[2].table, 202u);
  EXPECT_EQ(out.routes[2].gateway, IpAddr::parse("198.51.100.1"));
}

TEST(Planner, ReorderingWansInTheFileChangesNothingInTheKernel) {
  Fixture f;
  auto before = plan(f.input());
  std::swap(f.policy.wans[0], f.policy.wans[1]);
  auto after = plan(f.input());
  auto sorted = [](std::vector<Rule> v) {
    std::sort(v.begin(), v.end(), [](const Rule& a, const Rule& b) {
      return std::tie(a.family, a.priority) < std::tie(b.family, b.priority);
    });
    return v;
  };
  EXPECT_EQ(sorted(before.rules), sorted(after.rules));
}

TEST(Planner, FailoverPicksFirstUsablePathWithReason) {
  Fixture f;
  auto out = plan(f.input());
  EXPECT_EQ(out.classes[0].uplink, "wan2");
  EXPECT_EQ(out.classes[0].reason, kReasonPreferred);
  EXPECT_EQ(out.classes[1].uplink, "wan1");
  EXPECT_EQ(out.datapath.classes[0].mark, 0x00200000u);
  EXPECT_EQ(out.datapath.classes[1].mark, 0x00100000u);
  EXPECT_EQ(out.datapath.mark_mask, 0x0ff00000u);
  EXPECT_EQ(out.datapath.classes[0].match, f.policy.classes[0].match);

  auto in = f.input();
  in.uplinks["wan1"].usable = false;
  out = plan(in);
  EXPECT_EQ(out.classes[1].uplink, "wan2");
  EXPECT_EQ(out.classes[1].reason, kReasonPreferredDown);
  EXPECT_EQ(out.datapath.classes[1].mark, 0x00200000u);
}

TEST(Planner, MissingInterfaceOrGatewayMakesAnUplinkUnusableButKeepsItsRules) {
  Fixture f;
  auto in = f.input();
  in.uplinks["wan1"].ifindex = 0;
  auto out = plan(in);
  EXPECT_FALSE(out.uplinks[0].usable);
  EXPECT_EQ(mark_rules(out).size(), 8u);
  EXPECT_EQ(out.routes.size(), 1u);  // only wan2's
  EXPECT_EQ(out.classes[1].uplink, "wan2");

  in = f.input();
  in.uplinks["wan1"].learned_gateway4.reset();
  in.uplinks["wan1"].learned_gateway6.reset();
  out = plan(in);
  EXPECT_FALSE(out.uplinks[0].usable);
}

TEST(Planner, AnAdminDownInterfaceGetsNoRoutes) {
  Fixture f;
  auto in = f.input();
  in.uplinks["wan1"].admin_up = false;  // the kernel would refuse a route via it
  auto out = plan(in);
  EXPECT_FALSE(out.uplinks[0].usable);
  EXPECT_EQ(mark_rules(out).size(), 8u);
  ASSERT_EQ(out.routes.size(), 1u);
  EXPECT_EQ(out.routes[0].table, 202u);
  EXPECT_EQ(out.classes[1].uplink, "wan2");
}

TEST(Planner, AllDownFallsBackToLastResort) {
  Fixture f;
  auto in = f.input();
  in.uplinks["wan1"].usable = false;
  in.uplinks["wan2"].usable = false;
  auto out = plan(in);
  EXPECT_FALSE(out.classes[0].uplink);
  EXPECT_EQ(out.classes[0].reason, kReasonAllDown);
  EXPECT_EQ(out.datapath.classes[0].mark, 0u);  // main: our bits cleared

  f.policy.last_resort = LastResort::kUnreachable;
  out = plan(in);
  EXPECT_EQ(out.datapath.classes[0].mark, 0x0ff00000u);
  auto unreachable = std::count_if(out.rules.begin(), out.rules.end(), [](const Rule& r) {
    return r.action == FR_ACT_UNREACHABLE && r.priority == 10999 && r.fwmark == 0x0ff00000u;
  });
  EXPECT_EQ(unreachable, 2);
}

TEST(Planner, AnActionClassUsesNoUplink) {
  Fixture f;
  f.policy.classes[0].paths.clear();
  f.policy.classes[0].action = LastResort::kMain;  // mwan3's use_policy default
  f.policy.last_resort = LastResort::kUnreachable;
  auto out = plan(f.input());  // every uplink usable
  EXPECT_FALSE(out.classes[0].uplink);
  EXPECT_EQ(out.classes[0].reason, kReasonAction);
  EXPECT_EQ(out.datapath.classes[0].mark, 0u) << "our bits cleared: the main table decides";
  EXPECT_TRUE(out.datapath.classes[0].members.empty());
  EXPECT_FALSE(out.datapath.classes[0].leave_mark);
  EXPECT_EQ(out.classes[0].local, kLocalMain) << "not last_resort's unreachable";
  EXPECT_EQ(out.classes[1].uplink, "wan1");  // the others plan as before

  f.policy.classes[0].action = LastResort::kUnreachable;  // equal to last_resort
  out = plan(f.input());
  EXPECT_EQ(out.datapath.classes[0].mark, 0x0ff00000u);
  EXPECT_EQ(out.classes[0].local, kLocalSteered);
  auto rules = local_rules(out);
  EXPECT_EQ(std::count_if(rules.begin(), rules.end(),
                          [](const Rule& r) { return r.action == FR_ACT_UNREACHABLE; }),
            2);  // the video entry, v4 and v6
}

// video = udp dport 5001 on [wan2, wan1] (v4 and v6); default matches all.
TEST(LocalRules, ClassesBecomeIifLoRulePairsInClassOrder) {
  Fixture f;
  auto out = plan(f.input());
  auto rules = local_rules(out);
  ASSERT_EQ(rules.size(), 8u);  // (video v4, v6, default v4, v6) x (suppress, lookup)
  uint32_t prio = 10000 + kLocalRuleOffset;
  for (const auto& r : rules) {
    EXPECT_EQ(r.priority, prio++);
    EXPECT_EQ(r.protocol, 201);
    EXPECT_EQ(r.fwmark, 0u);
  }
  EXPECT_EQ(rules[0].family, AF_INET);
  EXPECT_EQ(rules[0].ip_proto, 17);
  EXPECT_EQ(rules[0].dport, (PortRange{5001, 5001}));
  EXPECT_EQ(rules[0].table, RT_TABLE_MAIN);
  EXPECT_EQ(rules[0].suppress_prefixlen, 0);
  EXPECT_EQ(rules[1].table, 202u);  // video -> wan2 (id 2)
  EXPECT_EQ(rules[1].suppress_prefixlen, -1);
  EXPECT_EQ(rules[3].family, AF_INET6);
  EXPECT_EQ(rules[3].table, 202u);
  EXPECT_EQ(rules[5].ip_proto, 0);  // default: everything, to wan1
  EXPECT_FALSE(rules[5].dport);
  EXPECT_EQ(rules[5].table, 201u);
  EXPECT_EQ(rules[7].family, AF_INET6);
  EXPECT_EQ(out.classes[0].local, kLocalSteered);
  EXPECT_EQ(out.classes[1].local, kLocalSteered);
}

TEST(LocalRules, ListsExpandPerFamilyWithDscp) {
  Fixture f;
  MatchEntry m;
  m.proto = 6;
  m.dport = {PortRange{80, 80}, PortRange{443, 443}};
  m.dst = {*Prefix::parse("203.0.113.0/24"), *Prefix::parse("2001:db8::/32")};
  m.dscp = 46;
  f.policy.classes[0].match = {m};
  auto rules = local_rules(plan(f.input()));
  // video: 2 dports x (1 v4 dst + 1 v6 dst) = 4 selectors, 8 rules; default: 4 rules.
  ASSERT_EQ(rules.size(), 12u);
  EXPECT_EQ(rules[0].dst, Prefix::parse("203.0.113.0/24"));
  EXPECT_EQ(rules[0].tos, 46 << 2);
  EXPECT_EQ(rules[0].dport, (PortRange{80, 80}));
  EXPECT_EQ(rules[2].dport, (PortRange{443, 443}));
  EXPECT_EQ(rules[4].family, AF_INET6);
  EXPECT_EQ(rules[4].dst, Prefix::parse("2001:db8::/32"));
}

TEST(LocalRules, UidRangesExpandAndIifEntriesAreSkipped) {
  Fixture f;
  MatchEntry owner;
  owner.uid = {UidRange{1000, 1999}, UidRange{4242, 4242}};
  MatchEntry lan;
  lan.iif = {"lan0"};
  f.policy.classes[0].match = {owner, lan};
  auto out = plan(f.input());
  auto rules = local_rules(out);
  // video: 2 uid ranges x 2 families x 2 rules (the iif entry adds none); default: 4.
  ASSERT_EQ(rules.size(), 12u);
  EXPECT_EQ(rules[0].uid_range, (UidRange{1000, 1999}));
  EXPECT_EQ(rules[2].uid_range, (UidRange{4242, 4242}));
  EXPECT_EQ(rules[3].table, 202u);
  EXPECT_EQ(out.classes[0].local, kLocalSteered);
  // The data plane never sees the uid entry: only the iif entry is a rule there.
  ASSERT_EQ(out.datapath.classes[0].match.size(), 2u);  // the planner passes both; compile skips

  f.policy.classes[0].match = {lan};
  out = plan(f.input());
  EXPECT_EQ(out.classes[0].local, kLocalLanOnly);
  EXPECT_EQ(local_rules(out).size(), 4u);  // default only
}

TEST(LocalRules, LastResortAndNoRoom) {
  Fixture f;
  auto in = f.input();
  in.uplinks["wan1"].usable = false;
  in.uplinks["wan2"].usable = false;
  auto out = plan(in);  // last_resort main
  EXPECT_TRUE(local_rules(out).empty());
  EXPECT_EQ(out.classes[0].local, kLocalMain);

  f.policy.last_resort = LastResort::kBlackhole;
  out = plan(in);
  auto rules = local_rules(out);
  ASSERT_EQ(rules.size(), 4u);  // one blackhole rule per selector
  for (const auto& r : rules)
    EXPECT_EQ(r.action, FR_ACT_BLACKHOLE);

  // 300 dports x 2 families x 2 rules do not fit in the band: video is not
  // steered locally, and neither is default after it (first-match order).
  MatchEntry big;
  big.proto = 17;
  for (uint16_t p = 1000; p < 1300; ++p)
    big.dport.push_back(PortRange{p, p});
  f.policy.classes[0].match = {big};
  out = plan(f.input());
  EXPECT_TRUE(local_rules(out).empty());
  EXPECT_EQ(out.classes[0].local, kLocalNoRoom);
  EXPECT_EQ(out.classes[1].local, kLocalNoRoom);

  // A million dst prefixes (a dst_file) are no room either (counted, not expanded), and
  // neither is a cross product beyond 2^64.
  MatchEntry huge;
  for (uint32_t i = 0; i < 1000000; ++i)
    huge.dst.push_back(Prefix{.addr = IpAddr::v4((10U << 24) + i * 16), .len = 28});
  f.policy.classes[0].match = {huge};
  out = plan(f.input());
  EXPECT_TRUE(local_rules(out).empty());
  EXPECT_EQ(out.classes[0].local, kLocalNoRoom);
  EXPECT_EQ(out.classes[1].local, kLocalNoRoom);
  huge.src = huge.dst;
  huge.proto = 17;
  huge.sport = {{1, 1}, {2, 2}, {3, 3}};
  huge.dport = huge.sport;
  f.policy.classes[0].match = {huge};
  out = plan(f.input());
  EXPECT_EQ(out.classes[0].local, kLocalNoRoom);
  // A class that fits exactly: (999 - 776) / 2 = 111 selectors, the band's last slot unused.
  MatchEntry fits;
  for (uint32_t i = 0; i < 111; ++i)
    fits.dst.push_back(Prefix{.addr = IpAddr::v4((10U << 24) + i * 16), .len = 28});
  f.policy.classes[0].match = {fits};
  out = plan(f.input());
  EXPECT_EQ(out.classes[0].local, kLocalSteered);
  EXPECT_EQ(local_rules(out).size(), 222u);
  fits.dst.push_back(Prefix{.addr = IpAddr::v4(11U << 24), .len = 8});
  f.policy.classes[0].match = {fits};
  out = plan(f.input());
  EXPECT_EQ(out.classes[0].local, kLocalNoRoom);
}

TEST(Planner, DatapathPlanCarriesUplinksAndMembers) {
  Fixture f;
  f.policy.mode = DatapathMode::kRedirect;
  f.policy.wans[0].weight = 3;
  f.policy.classes[1].strategy = Strategy::kBalance;
  auto in = f.input();
  auto out = plan(in);
  EXPECT_EQ(out.datapath.mode, DatapathMode::kRedirect);
  ASSERT_EQ(out.datapath.uplinks.size(), 2u);
  EXPECT_EQ(
      out.datapath.uplinks[0],
      (DatapathUplink{.id = 1, .mark = 0x00100000, .table = 201, .ifindex = 11, .live = true}));
  EXPECT_EQ(out.datapath.uplinks[1].table, 202u);
  // failover: one member, the chosen uplink; balance: every live path by weight.
  EXPECT_EQ(out.datapath.classes[0].members, (std::vector<DatapathMember>{{2, 1}}));
  EXPECT_EQ(out.datapath.classes[1].members, (std::vector<DatapathMember>{{1, 3}, {2, 1}}));

  in.uplinks["wan1"].usable = false;
  out = plan(in);
  EXPECT_FALSE(out.datapath.uplinks[0].live);
  EXPECT_EQ(out.datapath.classes[1].members, (std::vector<DatapathMember>{{2, 1}}));
  in.uplinks["wan2"].usable = false;
  out = plan(in);
  EXPECT_TRUE(out.datapath.classes[0].members.empty()) << "all down: the last_resort mark";
  EXPECT_TRUE(out.datapath.classes[1].members.empty());
}

TEST(UplinkIds, StableAcrossReorderAndAdditions) {
  UplinkIds ids(254);
  ASSERT_TRUE(ids.assign({"b", "a"}));
  EXPECT_EQ(ids.ids().at("b"), 1u);
  EXPECT_EQ(ids.ids().at("a"), 2u);
  ASSERT_TRUE(ids.assign({"a", "c", "b"}));
  EXPECT_EQ(ids.ids().at("b"), 1u);
  EXPECT_EQ(ids.ids().at("a"), 2u);
  EXPECT_EQ(ids.ids().at("c"), 3u);
  ASSERT_TRUE(ids.assign({"c"}));
  ASSERT_TRUE(ids.assign({"c", "d"}));
  EXPECT_EQ(ids.ids().at("c"), 3u);
  EXPECT_EQ(ids.ids().at("d"), 1u);

  UplinkIds small(2);
  EXPECT_FALSE(small.assign({"x", "y", "z"}));
}

TEST(UplinkIds, NeverMapsAnUplinkOntoTheKernelsOwnTables) {
  UplinkIds ids(254, /*table_base=*/200);
  std::vector<std::string> names;
  for (int i = 0; i < 60; ++i)
    names.push_back("wan" + std::to_string(i));
  ASSERT_TRUE(ids.assign(names));
  for (const auto& [name, n] : ids.ids()) {
    EXPECT_FALSE(Ownership::is_reserved_table(200 + n)) << name << " got table " << 200 + n;
  }
  EXPECT_EQ(ids.ids().at("wan52"), 56u);  // 53, 54, 55 (tables 253-255) skipped
}

TEST(UplinkIds, PersistsAtomicallyAndRejectsCorruptFiles) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/uplink-ids-test.json";
  UplinkIds ids(254);
  ASSERT_TRUE(ids.assign({"wan1", "wan2"}));
  ASSERT_TRUE(ids.save(path));
  UplinkIds loaded(254);
  ASSERT_TRUE(loaded.load(path));
  EXPECT_EQ(loaded.ids(), ids.ids());

  ASSERT_TRUE(write_file_atomic(path, "{not json"));
  auto r = loaded.load(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find(path), std::string::npos);

  UplinkIds fresh(254);
  EXPECT_TRUE(fresh.load(dir + "/does-not-exist.json"));
  EXPECT_TRUE(fresh.ids().empty());
}

TEST(UplinkIds, RefusesNumbersOutOfRangeOrGivenTwice) {
  const char* bad[] = {
      R"({"uplinks":{"wan1":0}})",
      R"({"uplinks":{"wan1":255}})",         // above max_id
      R"({"uplinks":{"wan1":4294967297}})",  // 2^32 + 1: wrapped to 1 before
      R"({"uplinks":{"wan1":18446744073709551615}})",
      R"({"uplinks":{"wan1":-1}})",
      R"({"uplinks":{"wan1":1.0}})",
      R"({"uplinks":{"wan1":"1"}})",
      R"({"uplinks":{"wan1":54}})",  // table 254, main (table_base 200)
      R"({"uplinks":{"wan1":3,"wan2":3}})",
  };
  UplinkIds ids(254, 200);
  ASSERT_TRUE(ids.parse(R"({"version":1,"uplinks":{"wan1":1,"wan2":2}})", "ids.json"));
  for (const char* text : bad) {
    auto r = ids.parse(text, "ids.json");
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().kind, ErrorKind::kUnrealizable);
    EXPECT_NE(r.error().context.find("ids.json"), std::string::npos);
    EXPECT_EQ(ids.ids().size(), 2u) << "a refused file changes nothing";
  }
}

TEST(Planner, FlowQuotaComesFromThePolicyOrTheDefault) {
  Policy p = two_wan_policy();
  PlanInput in;
  std::map<std::string, uint32_t> ids{{"wan1", 1}, {"wan2", 2}};
  in.policy = &p;
  in.uplink_ids = &ids;
  EXPECT_EQ(plan(in).datapath.flow_quota, kDefaultFlowQuota);
  p.flow_quota = 5000;
  EXPECT_EQ(plan(in).datapath.flow_quota, 5000u);
  p.flow_quota = 0;
  EXPECT_EQ(plan(in).datapath.flow_quota, 0u);
}

// A policy the classifier cannot hold is refused before it is taken, with the
// numbers and the origin; one at the capacity passes.
TEST(Capacity, RefusesBeyondTheClassifierWithTheNumbers) {
  auto with_classes = [](size_t n, size_t entries_each) {
    Policy p = two_wan_policy();
    p.classes.clear();
    for (size_t i = 0; i < n; ++i) {
      ClassSpec c;
      c.name = "c" + std::to_string(i);
      c.paths = {"wan1", "wan2"};
      for (size_t k = 0; k < entries_each; ++k) {
        MatchEntry m;
        uint16_t port = static_cast<uint16_t>(1 + (i * entries_each + k) % 65535);
        m.dport = {PortRange{.lo = port, .hi = port}};
        c.match.push_back(m);
      }
      p.classes.push_back(c);
    }
    return p;
  };
  EXPECT_TRUE(check_capacity(with_classes(8192, 2), "p.yaml"));  // 8,192 classes, 16,384 entries

  auto classes = check_capacity(with_classes(8193, 1), "p.yaml");
  ASSERT_FALSE(classes);
  ASSERT_EQ(classes.error().details.size(), 1u);
  EXPECT_EQ(classes.error().details[0].to_string(),
            "p.yaml: the data plane cannot hold this policy: 8193 classes exceed the capacity "
            "of 8192");

  auto entries = check_capacity(with_classes(4097, 4), "etcd:/k@7");
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().details[0].to_string(),
            "etcd:/k@7: the data plane cannot hold this policy: class 'c4096' (#4096) brings the "
            "match entries to 16388, over the capacity of 16384");
}

}  // namespace
}  // namespace pathsteer
