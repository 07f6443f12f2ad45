#include "controller/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "controller/prefix_list.h"

namespace pathsteer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// DESIGN.md §7, verbatim.
constexpr const char* kDesignExample = R"(version: 1
lan_interfaces: [br-lan]            # classifier attaches here (ingress)
datapath: { mode: mark }            # mark | redirect
ownership:                          # optional; defaults shown
  mark_mask: 0x0ff00000
  rule_priority_base: 10000
  table_base: 200
  route_protocol: 201

wans:
  wan1:
    interface: eth1
    gateway: auto                   # learn from the interface's default route, or an address
    weight: 3                       # for balance
    cost: 0                         # higher = avoid when others meet the SLA
    probes:
      - { method: icmp, target: 192.0.2.10 }
      - { method: udp, target: 192.0.2.11, port: 862 }
    health:
      interval_ms: 200
      timeout_ms: 400
      down_after: 3
      up_after: 5
      reliability: 1
      degraded_if: { rtt_ms: 250, jitter_ms: 50, loss_pct: 10 }
  wan2:
    interface: eth2
    gateway: 198.51.100.1
    weight: 1
    probes: [ { method: icmp, target: 198.51.100.10 } ]

classes:                            # evaluated in file order, first match wins
  voip:
    match:
      - { proto: udp, dport: "5060-5061,10000-20000" }
      - { dscp: ef }
    strategy: sla
    sla: { max_rtt_ms: 150, max_jitter_ms: 30, max_loss_pct: 1 }
    paths: [wan1, wan2]
  bulk:
    match:
      - { src: 192.168.1.50/32 }
      - { dst: [203.0.113.0/24, "2001:db8::/32"], proto: tcp, dport: 443 }
    strategy: balance
    paths: [wan1, wan2]
  default:                          # everything else
    strategy: failover
    paths: [wan1, wan2]
)";

IpAddr addr(const char* s) {
  return *IpAddr::parse(s);
}
Prefix prefix(const char* s) {
  return *Prefix::parse(s);
}

std::string errors_text(const Result<Policy>& r) {
  std::string out;
  if (auto* errs = (r ? nullptr : &r.error().details)) {
    for (const auto& e : *errs)
      out += e.to_string() + "\n";
  }
  return out;
}

Policy parse_ok(const std::string& text) {
  auto r = parse_policy(text, "t.yaml");
  EXPECT_TRUE(r.ok()) << errors_text(r);
  if (auto* p = (r ? &r.value() : nullptr))
    return *p;
  return {};
}

std::vector<std::string> errors_of(const Result<Policy>& r) {
  std::vector<std::string> out;
  if (auto* errs = (r ? nullptr : &r.error().details)) {
    for (const auto& e : *errs)
      out.push_back(e.to_string());
  }
  return out;
}

std::vector<std::string> errors_of(const std::string& text) {
  return errors_of(parse_policy(text, "t.yaml"));
}

std::filesystem::path policies_dir() {
  if (const char* src = std::getenv("PATHSTEER_SOURCE_DIR")) {
    return std::filesystem::path(src) / "policies";
  }
  return std::filesystem::path(__FILE__).parent_path() / ".." / "policies";
}

Policy design_policy() {
  Wan wan1{
      .name = "wan1",
      .interface = "eth1",
      .gateway_auto = true,
      .weight = 3,
      .cost = 0,
      .probes = {{.method = ProbeMethod::kIcmp, .target = addr("192.0.2.10")},
                 {.method = ProbeMethod::kUdp, .target = addr("192.0.2.11"), .port = 862}},
      .health = {.interval_ms = 200,
                 .timeout_ms = 400,
                 .down_after = 3,
                 .up_after = 5,
                 .reliability = 1,
                 .degraded_if = {.rtt_ms = 250, .jitter_ms = 50, .loss_pct = 10}},
  };
  Wan wan2{
      .name = "wan2",
      .interface = "eth2",
      .gateway4 = addr("198.51.100.1"),
      .weight = 1,
      .probes = {{.method = ProbeMethod::kIcmp, .target = addr("198.51.100.10")}},
  };
  ClassSpec voip{
      .name = "voip",
      .match = {{.proto = 17, .dport = {{.lo = 5060, .hi = 5061}, {.lo = 10000, .hi = 20000}}},
                {.dscp = 46}},
      .strategy = Strategy::kSla,
      .sla = SlaSpec{.max_rtt_ms = 150, .max_jitter_ms = 30, .max_loss_pct = 1},
      .paths = {"wan1", "wan2"},
  };
  ClassSpec bulk{
      .name = "bulk",
      .match = {{.src = {prefix("192.168.1.50/32")}},
                {.proto = 6,
                 .dport = {{.lo = 443, .hi = 443}},
                 .dst = {prefix("203.0.113.0/24"), prefix("2001:db8::/32")}}},
      .strategy = Strategy::kBalance,
      .paths = {"wan1", "wan2"},
  };
  ClassSpec dflt{.name = "default", .strategy = Strategy::kFailover, .paths = {"wan1", "wan2"}};
  return Policy{
      .version = 1,
      .lan_interfaces = {"br-lan"},
      .mode = DatapathMode::kMark,
      .last_resort = LastResort::kMain,
      .ownership = {.mark_mask = 0x0ff00000,
                    .rule_priority_base = 10000,
                    .table_base = 200,
                    .route_protocol = 201},
      .wans = {wan1, wan2},
      .classes = {voip, bulk, dflt},
  };
}

TEST(Policy, DesignExampleParsesToExpectedValues) {
  Policy p = parse_ok(kDesignExample);
  Policy want = design_policy();
  // Field by field first, so that a failure says where.
  ASSERT_EQ(p.wans.size(), 2u);
  EXPECT_EQ(p.wans[0], want.wans[0]);
  EXPECT_EQ(p.wans[1], want.wans[1]);
  ASSERT_EQ(p.classes.size(), 3u);
  EXPECT_EQ(p.classes[0], want.classes[0]);
  EXPECT_EQ(p.classes[1], want.classes[1]);
  EXPECT_EQ(p.classes[2], want.classes[2]);
  EXPECT_EQ(p.ownership, want.ownership);
  EXPECT_EQ(p, want);
  EXPECT_EQ(p.find_wan("wan2")->gateway4, addr("198.51.100.1"));
  EXPECT_EQ(p.find_wan("wan3"), nullptr);
  EXPECT_EQ(p.find_class("bulk")->strategy, Strategy::kBalance);
}

constexpr const char* kMinimal = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1 }
classes:
  default: { paths: [wan1] }
)";

TEST(Policy, OmittedKeysTakeDefaults) {
  Policy p = parse_ok(kMinimal);
  EXPECT_EQ(p.mode, DatapathMode::kMark);
  EXPECT_EQ(p.last_resort, LastResort::kMain);
  EXPECT_EQ(p.ownership, Ownership{});
  ASSERT_EQ(p.wans.size(), 1u);
  const Wan& w = p.wans[0];
  EXPECT_TRUE(w.gateway_auto);  // gateway omitted = auto
  EXPECT_FALSE(w.gateway4);
  EXPECT_EQ(w.weight, 1u);
  EXPECT_EQ(w.cost, 0u);
  EXPECT_THAT(w.probes, IsEmpty());
  EXPECT_EQ(w.health, HealthSpec{});
  ASSERT_EQ(p.classes.size(), 1u);
  EXPECT_THAT(p.classes[0].match, IsEmpty());
  EXPECT_EQ(p.classes[0].strategy, Strategy::kFailover);
  EXPECT_FALSE(p.classes[0].sla);
  EXPECT_EQ(p.classes[0].hold_down_s, 0u);
}

TEST(Policy, KeepsFileOrderOfWansAndClasses) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0, lan1]
wans:
  zulu: { interface: eth3 }
  alpha: { interface: eth1 }
  mike: { interface: eth2 }
classes:
  zz: { match: [ { proto: tcp } ], paths: [mike] }
  aa: { match: [ { proto: udp } ], paths: [alpha, zulu] }
  default: { paths: [zulu] }
)");
  std::vector<std::string> wans, classes;
  for (const auto& w : p.wans)
    wans.push_back(w.name);
  for (const auto& c : p.classes)
    classes.push_back(c.name);
  EXPECT_THAT(wans, ElementsAre("zulu", "alpha", "mike"));
  EXPECT_THAT(classes, ElementsAre("zz", "aa", "default"));
  EXPECT_THAT(p.lan_interfaces, ElementsAre("lan0", "lan1"));
}

TEST(Policy, AcceptsValueVariants) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
datapath: { mode: redirect }
last_resort: blackhole
ownership: { mark_mask: "0x00000300", table_base: 0x1000, route_protocol: 5 }
wans:
  a:
    interface: eth1
    gateway: [192.0.2.1, "fe80::1"]
    probes:
      - { target: 192.0.2.9 }
      - { method: udp, target: "2001:db8::9" }
      - { method: tcp, target: 192.0.2.9, port: 443 }
    health: { reliability: 3, degraded_if: { loss_pct: 2.5 }, recover_if: { loss_pct: 1 } }
  b: { interface: eth2, gateway: "2001:db8::1", cost: 10 }
  c: { interface: eth3 }
classes:
  c1:
    match:
      - { proto: udp, sport: 53, dport: [80, "443", "8000-8080"] }
      - { proto: 132, src: [10.0.0.0/8, "fd00::/8"], dst: "2001:db8::/32" }
      - { dscp: af41 }
      - { dscp: CS7 }
      - { dscp: 10 }
      - { proto: any, dst: 0.0.0.0/0 }
      - { proto: icmpv6 }
    strategy: lowest-latency
    hold_down_s: 30
    paths: [c, a]
  default: { strategy: balance, paths: [a, b, c] }
)");
  EXPECT_EQ(p.mode, DatapathMode::kRedirect);
  EXPECT_EQ(p.last_resort, LastResort::kBlackhole);
  EXPECT_EQ(p.ownership.mark_mask, 0x300u);
  EXPECT_EQ(p.ownership.table_base, 0x1000u);
  EXPECT_EQ(p.ownership.route_protocol, 5);
  ASSERT_EQ(p.wans.size(), 3u);
  EXPECT_FALSE(p.wans[0].gateway_auto);
  EXPECT_EQ(p.wans[0].gateway4, addr("192.0.2.1"));
  EXPECT_EQ(p.wans[0].gateway6, addr("fe80::1"));
  ASSERT_EQ(p.wans[0].probes.size(), 3u);
  EXPECT_EQ(p.wans[0].probes[0].method, ProbeMethod::kIcmp);
  EXPECT_EQ(p.wans[0].probes[1].port, 862);  // STAMP default
  EXPECT_EQ(p.wans[0].probes[2].port, 443);
  EXPECT_EQ(p.wans[0].health.reliability, 3u);
  EXPECT_EQ(p.wans[0].health.degraded_if.loss_pct, 2.5);
  EXPECT_FALSE(p.wans[0].health.degraded_if.rtt_ms);
  EXPECT_EQ(p.wans[0].health.recover_if.loss_pct, 1.0);
  EXPECT_FALSE(p.wans[0].health.recover_if.rtt_ms);
  EXPECT_EQ(p.wans[1].gateway6, addr("2001:db8::1"));
  EXPECT_FALSE(p.wans[1].gateway4);
  EXPECT_EQ(p.wans[1].cost, 10u);
  const auto& m = p.classes[0].match;
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[0].sport, (std::vector<PortRange>{{53, 53}}));
  EXPECT_EQ(m[0].dport, (std::vector<PortRange>{{80, 80}, {443, 443}, {8000, 8080}}));
  EXPECT_EQ(m[1].proto, 132);
  EXPECT_EQ(m[1].src.size(), 2u);
  EXPECT_EQ(m[2].dscp, 34);
  EXPECT_EQ(m[3].dscp, 56);
  EXPECT_EQ(m[4].dscp, 10);
  EXPECT_FALSE(m[5].proto);
  EXPECT_EQ(m[6].proto, 58);
  EXPECT_EQ(p.classes[0].strategy, Strategy::kLowestLatency);
  EXPECT_EQ(p.classes[0].hold_down_s, 30u);
  EXPECT_THAT(p.classes[0].paths, ElementsAre("c", "a"));
  EXPECT_EQ(p.classes[1].strategy, Strategy::kBalance);
}

TEST(Policy, IifTakesANameOrAList) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0, lan1]
wans: { wan1: { interface: eth1 } }
classes:
  guests: { match: [ { iif: lan1 }, { iif: [lan0, lan1, lan0], proto: udp } ], paths: [wan1] }
)");
  ASSERT_EQ(p.classes[0].match.size(), 2u);
  EXPECT_EQ(p.classes[0].match[0].iif, (std::vector<std::string>{"lan1"}));
  EXPECT_EQ(p.classes[0].match[1].iif, (std::vector<std::string>{"lan0", "lan1"}));
}

TEST(Policy, BalanceTiersAndSourceAffinity) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
wans: { a: { interface: eth1 }, b: { interface: eth2 }, c: { interface: eth3 } }
classes:
  tiered: { match: [ { proto: tcp } ], strategy: balance, paths: [[a, b], c], source_affinity_s: 600 }
  flat: { strategy: balance, paths: [c, a] }
)");
  EXPECT_THAT(p.classes[0].paths, ElementsAre("a", "b", "c"));
  EXPECT_THAT(p.classes[0].tiers, ElementsAre(0u, 0u, 1u));
  EXPECT_EQ(p.classes[0].source_affinity_s, 600u);
  EXPECT_THAT(p.classes[1].tiers, IsEmpty());  // one tier: the plain form
  EXPECT_EQ(p.classes[1].source_affinity_s, 0u);
  // a bare name is a tier of its own
  Policy q = parse_ok(R"(version: 1
lan_interfaces: [lan0]
wans: { a: { interface: eth1 }, b: { interface: eth2 }, c: { interface: eth3 } }
classes:
  x: { strategy: balance, paths: [a, [b, c]] }
)");
  EXPECT_THAT(q.classes[0].tiers, ElementsAre(0u, 1u, 1u));
}

TEST(Policy, TiersAndAffinityErrorsNameTheirPlace) {
  auto doc3 = [](const std::string& cls) {
    return "version: 1\nlan_interfaces: [lan0]\n"
           "wans: { a: { interface: eth1 }, b: { interface: eth2 } }\nclasses:\n  x: " +
           cls + "\n";
  };
  EXPECT_THAT(errors_of(doc3("{ strategy: failover, paths: [[a, b]] }")),
              ElementsAre("t.yaml:5:36: class 'x' paths: a list of paths (a tier) is only used "
                          "with strategy balance (strategy is failover)"));
  EXPECT_THAT(errors_of(doc3("{ strategy: balance, paths: [[], a] }")),
              ElementsAre("t.yaml:5:35: class 'x' paths: empty tier classes.x.paths[0]"));
  EXPECT_THAT(
      errors_of(doc3("{ strategy: balance, paths: [[a, [b]]] }")),
      ElementsAre("t.yaml:5:39: class 'x' paths: tiers do not nest (classes.x.paths[0][1])"));
  EXPECT_THAT(errors_of(doc3("{ strategy: balance, paths: [[a, b], a] }")),
              ElementsAre("t.yaml:5:43: class 'x' paths: wan 'a' is listed twice"));
  EXPECT_THAT(errors_of(doc3("{ strategy: failover, paths: [a], source_affinity_s: 60 }")),
              ElementsAre("t.yaml:5:40: 'source_affinity_s' in classes.x is only used with "
                          "strategy balance (strategy is failover)"));
  EXPECT_THAT(errors_of(doc3("{ strategy: balance, paths: [a], source_affinity_s: 0 }")),
              ElementsAre(testing::HasSubstr(
                  "t.yaml:5:58: classes.x.source_affinity_s must be between 1 and 604800")));
}

TEST(Policy, ActionClassesUseNoUplink) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
last_resort: blackhole
wans: { a: { interface: eth1 } }
classes:
  lan_direct: { match: [ { dst: 10.0.0.0/8 } ], action: main }
  dropped: { match: [ { dst: 192.0.2.0/24 } ], action: blackhole }
  rest: { paths: [a] }
)");
  EXPECT_EQ(p.classes[0].action, LastResort::kMain);
  EXPECT_THAT(p.classes[0].paths, IsEmpty());
  EXPECT_EQ(p.classes[1].action, LastResort::kBlackhole);
  EXPECT_FALSE(p.classes[2].action.has_value());

  auto doc = [](const std::string& cls) {
    return "version: 1\nlan_interfaces: [lan0]\nwans: { a: { interface: eth1 } }\nclasses:\n"
           "  x: " +
           cls + "\n";
  };
  EXPECT_THAT(errors_of(doc("{ action: main, paths: [a] }")),
              ElementsAre("t.yaml:5:22: 'paths' in classes.x is not used with 'action' (the "
                          "class uses no uplink)"));
  EXPECT_THAT(errors_of(doc("{ action: unreachable }")),
              ElementsAre("t.yaml:5:16: action unreachable in classes.x needs last_resort: "
                          "unreachable (last_resort is main; one mark value leads there)"));
  EXPECT_THAT(errors_of(doc("{ action: drop }")),
              ElementsAre(testing::HasSubstr("t.yaml:5:16: invalid value 'drop'")));
  EXPECT_THAT(errors_of(doc("{ strategy: failover }")),
              ElementsAre(testing::HasSubstr("missing required key 'paths'")));
}

TEST(Policy, DomainsAreNormalizedAndCombineWithOtherKeys) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
wans: { wan1: { interface: eth1 }, wan2: { interface: eth2 } }
classes:
  video:
    match:
      - { domain: ["Video.Example.", "*.CDN.example", video.example] }
      - { domain: meet.example, proto: udp, dport: 3478, src: 10.0.0.0/8, iif: lan0 }
    paths: [wan2, wan1]
  rest: { paths: [wan1] }
)");
  ASSERT_EQ(p.classes[0].match.size(), 2u);
  EXPECT_EQ(p.classes[0].match[0].domain,
            (std::vector<std::string>{"video.example", "*.cdn.example"}));
  const MatchEntry& e = p.classes[0].match[1];
  EXPECT_EQ(e.domain, (std::vector<std::string>{"meet.example"}));
  EXPECT_EQ(e.proto, 17);
  EXPECT_EQ(e.dport, (std::vector<PortRange>{{3478, 3478}}));
  EXPECT_EQ(e.src, (std::vector<Prefix>{prefix("10.0.0.0/8")}));
  EXPECT_EQ(e.iif, (std::vector<std::string>{"lan0"}));
  EXPECT_EQ(p.dns, DnsOptions{});  // defaults: 60 s floor, 300 s grace, 256 per name
  EXPECT_EQ(p.dns.min_ttl_s, 60u);
  EXPECT_EQ(p.dns.grace_s, 300u);
  EXPECT_EQ(p.dns.max_addrs_per_name, 256u);
}

TEST(Policy, DnsOptionsAreRead) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
dns: { min_ttl_s: 0, grace_s: 5, max_addrs_per_name: 2 }
wans: { wan1: { interface: eth1 } }
classes:
  c: { match: [ { domain: "*.example" } ], paths: [wan1] }
)");
  EXPECT_EQ(p.dns, (DnsOptions{.min_ttl_s = 0, .grace_s = 5, .max_addrs_per_name = 2}));
}

TEST(Policy, FlowQuotaIsReadAndOptional) {
  EXPECT_FALSE(parse_ok(kMinimal).flow_quota);  // the data plane's default applies
  auto with = [](const std::string& quota) {
    return std::string("version: 1\nlan_interfaces: [lan0]\ndatapath: { mode: mark, flow_quota: ") +
           quota + " }\nwans: { wan1: { interface: eth1 } }\nclasses:\n  c: { paths: [wan1] }\n";
  };
  EXPECT_EQ(parse_ok(with("5000")).flow_quota, 5000u);
  EXPECT_EQ(parse_ok(with("0")).flow_quota, 0u);  // no limit
  EXPECT_EQ(parse_ok(with("262144")).flow_quota, 262144u);
  EXPECT_THAT(errors_of(with("262145")),
              ElementsAre("t.yaml:3:37: datapath.flow_quota must be between 0 and 262144, got "
                          "262145"));
}

TEST(Policy, UidTakesAnIdARangeOrAList) {
  Policy p = parse_ok(R"(version: 1
lan_interfaces: [lan0]
wans: { wan1: { interface: eth1 } }
classes:
  backups: { match: [ { uid: 34 }, { uid: ["1000-1999", 4242], proto: tcp } ], paths: [wan1] }
)");
  ASSERT_EQ(p.classes[0].match.size(), 2u);
  EXPECT_EQ(p.classes[0].match[0].uid, (std::vector<UidRange>{{34, 34}}));
  EXPECT_EQ(p.classes[0].match[1].uid, (std::vector<UidRange>{{1000, 1999}, {4242, 4242}}));
}

TEST(Policy, OwnershipOwnsItsTablesButNeverTheKernelOnes) {
  Ownership o;  // base 200
  EXPECT_TRUE(o.owns_table(200));
  EXPECT_TRUE(o.owns_table(252));
  EXPECT_FALSE(o.owns_table(253));
  EXPECT_FALSE(o.owns_table(254));
  EXPECT_FALSE(o.owns_table(255));
  EXPECT_TRUE(o.owns_table(455));
  EXPECT_FALSE(o.owns_table(456));
  EXPECT_FALSE(o.owns_table(199));
}

// One mistake per case: the exact "file:line:col: message" of every error.
struct ErrorCase {
  const char* name;
  std::string text;
  std::vector<std::string> want;
};

// A policy with pieces inserted: `wan1_extra` goes inside wans.wan1 from line
// 6; with it empty, `class_body` (the body of class c, the only class) starts
// at line 9, and `top` (more top-level keys) follows it.
std::string doc(const std::string& wan1_extra, const std::string& class_body,
                const std::string& top = "") {
  return "version: 1\n"                   // 1
         "lan_interfaces: [lan0]\n"       // 2
         "wans:\n"                        // 3
         "  wan1:\n"                      // 4
         "    interface: eth1\n" +        // 5
         wan1_extra +                     // 6..
         "  wan2: { interface: eth2 }\n"  // n
         "classes:\n"                     // n+1
         "  c:\n" +                       // n+2
         class_body +                     // n+3..
         top;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  return s.replace(s.find(from), from.size(), to);
}

const std::vector<ErrorCase>& error_cases() {
  static const std::vector<ErrorCase> cases = {
      // --- structure, keys and types ---
      {"UnknownKeyWithSuggestion",
       doc("    health:\n      intervl_ms: 100\n", "    paths: [wan1]\n"),
       {"t.yaml:7:7: unknown key 'intervl_ms' in wans.wan1.health (did you mean 'interval_ms'?)"}},
      {"UnknownKeyWithoutSuggestion",
       doc("", "    colour: blue\n    paths: [wan1]\n"),
       {"t.yaml:9:5: unknown key 'colour' in classes.c"}},
      {"UnknownTopLevelKey",
       doc("", "    paths: [wan1]\n", "last_resrt: main\n"),
       {"t.yaml:10:1: unknown key 'last_resrt' at top level (did you mean 'last_resort'?)"}},
      {"DuplicateKey",
       doc("    weight: 2\n    weight: 3\n", "    paths: [wan1]\n"),
       {"t.yaml:7:5: duplicate key 'weight' in wans.wan1 (first at line 6)"}},
      {"DuplicateWan",
       doc("  wan1: { interface: eth9 }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:3: duplicate key 'wan1' in wans (first at line 4)"}},
      {"WrongTypeNumber",
       doc("    weight: abc\n", "    paths: [wan1]\n"),
       {"t.yaml:6:13: expected an integer for wans.wan1.weight, got 'abc'"}},
      {"WrongTypeList",
       doc("", "    paths: wan1\n"),
       {"t.yaml:9:12: expected a list for classes.c.paths, got 'wan1'"}},
      {"WrongTypeMap",
       doc("    health: [1, 2]\n", "    paths: [wan1]\n"),
       {"t.yaml:6:13: expected a map for wans.wan1.health, got a list"}},
      {"NullValueReportedAtKey",
       doc("    health:\n", "    paths: [wan1]\n"),
       {"t.yaml:6:5: expected a map for wans.wan1.health, got nothing"}},
      {"MissingRequiredKey",
       doc("", "    strategy: failover\n"),
       {"t.yaml:8:3: missing required key 'paths' in classes.c"}},
      {"MissingVersion",
       "lan_interfaces: [lan0]\nwans: { w: { interface: e1 } }\n"
       "classes: { d: { paths: [w] } }\n",
       {"t.yaml:1:1: missing required key 'version' at top level"}},
      {"UnsupportedVersion",
       "version: 2\nlan_interfaces: [lan0]\nwans: { w: { interface: e1 } }\n"
       "classes: { d: { paths: [w] } }\n",
       {"t.yaml:1:10: unsupported policy version 2 (this pathsteer reads version 1)"}},
      {"NotAMap", "- version: 1\n", {"t.yaml:1:1: expected a map for the top level, got a list"}},
      {"EmptyDocument", "# nothing\n", {"t.yaml:1:1: the policy is empty"}},
      {"SyntaxError",
       "version: 1\nlan_interfaces: [lan0\nwans: {}\n",
       {"t.yaml:3:5: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
        "sequence started at line 2, column 17)"}},
      {"TwoDocuments",
       std::string(kMinimal) + "---\nversion: 1\n",
       {"t.yaml:8:1: expected one YAML document, found 2"}},
      {"UndefinedAlias",
       doc("    health: *h\n", "    paths: [wan1]\n"),
       {"t.yaml:6:13: YAML syntax error: alias '*h' has no anchor before it"}},
      {"StrayComma", ",\n", {"t.yaml:1:1: YAML syntax error: did not find expected node content"}},
      {"StrayCommaAfterFlow",
       "[a]\n,\n",
       {"t.yaml:2:1: YAML syntax error: did not find expected <document start>"}},
      // The top map, classes, c and paths are 4 levels: the 62nd '[' opens the 65th.
      {"NestingTooDeep",
       doc("", "    paths: " + std::string(70, '[') + std::string(70, ']') + "\n"),
       {"t.yaml:9:73: YAML nesting deeper than 64 levels"}},

      // --- top level ---
      {"LanInterfacesNotEmpty",
       "version: 1\nlan_interfaces: []\nwans: { w: { interface: e1 } }\n"
       "classes: { d: { paths: [w] } }\n",
       {"t.yaml:2:17: lan_interfaces must not be empty"}},
      {"LanInterfaceName",
       "version: 1\nlan_interfaces: [lan0, this-is-too-long0]\n"
       "wans: { w: { interface: e1 } }\nclasses: { d: { paths: [w] } }\n",
       {"t.yaml:2:24: invalid interface name 'this-is-too-long0' in lan_interfaces (1-15 "
        "characters, no '/', ':' or whitespace)"}},
      {"DatapathMode",
       doc("", "    paths: [wan1]\n", "datapath: { mode: marc }\n"),
       {"t.yaml:10:19: invalid value 'marc' for datapath.mode (expected one of: mark, redirect; "
        "did you mean 'mark'?)"}},
      {"LastResort",
       doc("", "    paths: [wan1]\n", "last_resort: drop\n"),
       {"t.yaml:10:14: invalid value 'drop' for last_resort (expected one of: main, unreachable, "
        "blackhole)"}},

      // --- ownership ---
      {"MarkMaskZero",
       doc("", "    paths: [wan1]\n", "ownership: { mark_mask: 0 }\n"),
       {"t.yaml:10:25: ownership.mark_mask must not be 0"}},
      {"MarkMaskNotContiguous",
       doc("", "    paths: [wan1]\n", "ownership: { mark_mask: 0x0f0f0000 }\n"),
       {"t.yaml:10:25: ownership.mark_mask 0x0f0f0000 is not one contiguous run of bits"}},
      {"MarkMaskTooNarrow",
       doc("", "    paths: [wan1]\n", "ownership: { mark_mask: 0x10 }\n"),
       {"t.yaml:10:25: ownership.mark_mask 0x00000010 has 1 bit(s), too few for 2 wans (needs 2)"}},
      {"RulePriorityBase",
       doc("", "    paths: [wan1]\n", "ownership: { rule_priority_base: 31001 }\n"),
       {"t.yaml:10:34: ownership.rule_priority_base must be between 1 and 31000, got 31001"}},
      {"TableBase",
       doc("", "    paths: [wan1]\n", "ownership: { table_base: 4294967040 }\n"),
       {"t.yaml:10:26: ownership.table_base must be between 1 and 4294967039, got 4294967040"}},
      {"RouteProtocolReserved",
       doc("", "    paths: [wan1]\n", "ownership: { route_protocol: 4 }\n"),
       {"t.yaml:10:30: ownership.route_protocol 4 is reserved for the kernel (0-4: unspec, "
        "redirect, kernel, boot, static); use 5..255"}},
      {"RouteProtocolRange",
       doc("", "    paths: [wan1]\n", "ownership: { route_protocol: 256 }\n"),
       {"t.yaml:10:30: ownership.route_protocol must be between 0 and 255, got 256"}},

      // --- wans ---
      {"NoWans",
       "version: 1\nlan_interfaces: [lan0]\nwans: {}\nclasses: { d: { paths: [w] } }\n",
       {"t.yaml:3:7: wans must define at least one wan",
        "t.yaml:4:25: class 'd' paths: unknown wan or overlay 'w'"}},
      {"WanName",
       "version: 1\nlan_interfaces: [lan0]\nwans: { w.1: { interface: e1 } }\n"
       "classes: { d: { paths: [w.1] } }\n",
       {"t.yaml:3:9: invalid wan name 'w.1' (1-32 characters of A-Z a-z 0-9 _ -)",
        "t.yaml:4:25: class 'd' paths: unknown wan or overlay 'w.1'"}},
      {"WanMissingInterface",
       "version: 1\nlan_interfaces: [lan0]\nwans:\n  w: { weight: 2 }\n"
       "classes: { d: { paths: [w] } }\n",
       {"t.yaml:4:3: missing required key 'interface' in wans.w"}},
      {"TwoWansOneInterface",
       replaced(doc("", "    paths: [wan1]\n", ""), "wan2: { interface: eth2 }",
                "wan2: { interface: eth1 }"),
       {"t.yaml:6:22: wans 'wan1' and 'wan2' both use interface 'eth1'"}},
      {"WanOnLanInterface",
       replaced(doc("", "    paths: [wan1]\n"), "eth2 }", "lan0 }"),
       {"t.yaml:6:22: interface 'lan0' of wan 'wan2' is also in lan_interfaces"}},
      {"WanInterfaceName",
       replaced(doc("", "    paths: [wan1]\n"), "eth2 }", "\"a/b\" }"),
       {"t.yaml:6:22: invalid interface name 'a/b' in wans.wan2.interface (1-15 characters, no "
        "'/', ':' or whitespace)"}},
      {"GatewayNotAnAddress",
       doc("    gateway: 192.0.2.0/24\n", "    paths: [wan1]\n"),
       {"t.yaml:6:14: invalid gateway '192.0.2.0/24' in wans.wan1.gateway (expected 'auto', an "
        "IP address, or a list of one IPv4 and one IPv6 address)"}},
      {"GatewayTwoV4",
       doc("    gateway: [192.0.2.1, 192.0.2.2]\n", "    paths: [wan1]\n"),
       {"t.yaml:6:26: two inet gateways in wans.wan1.gateway (expected 'auto', an IP address, "
        "or a list of one IPv4 and one IPv6 address)"}},
      {"WeightZero",
       doc("    weight: 0\n", "    paths: [wan1]\n"),
       {"t.yaml:6:13: wans.wan1.weight must be >= 1, got 0"}},
      {"CostNegative",
       doc("    cost: -1\n", "    paths: [wan1]\n"),
       {"t.yaml:6:11: wans.wan1.cost must be >= 0, got -1"}},
      {"ProbeMethod",
       doc("    probes: [ { method: icmpp, target: 192.0.2.1 } ]\n", "    paths: [wan1]\n"),
       {"t.yaml:6:25: invalid value 'icmpp' for wans.wan1.probes[0].method (expected one of: "
        "icmp, udp, tcp; did you mean 'icmp'?)"}},
      {"ProbeTarget",
       doc("    probes: [ { method: icmp, target: example.com } ]\n", "    paths: [wan1]\n"),
       {"t.yaml:6:39: invalid probe target 'example.com' in wans.wan1.probes[0].target "
        "(expected an IP address)"}},
      {"ProbeMissingTarget",
       doc("    probes:\n      - { method: icmp }\n", "    paths: [wan1]\n"),
       {"t.yaml:7:9: missing required key 'target' in wans.wan1.probes[0]"}},
      {"TcpProbeNeedsPort",
       doc("    probes:\n      - { method: tcp, target: 192.0.2.1 }\n", "    paths: [wan1]\n"),
       {"t.yaml:7:9: missing required key 'port' in wans.wan1.probes[0] (tcp probes need a "
        "port)"}},
      {"IcmpProbeNoPort",
       doc("    probes:\n      - { method: icmp, target: 192.0.2.1, port: 7 }\n",
           "    paths: [wan1]\n"),
       {"t.yaml:7:44: 'port' in wans.wan1.probes[0] is only valid for udp and tcp probes"}},
      {"HealthInterval",
       doc("    health: { interval_ms: 5 }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:28: wans.wan1.health.interval_ms must be >= 10, got 5"}},
      {"HealthDownAfter",
       doc("    health: { down_after: 0 }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:27: wans.wan1.health.down_after must be >= 1, got 0"}},
      {"HealthReliability",
       doc("    probes: [ { target: 192.0.2.1 } ]\n    health: { reliability: 2 }\n",
           "    paths: [wan1]\n"),
       {"t.yaml:7:28: wans.wan1.health.reliability 2 exceeds the number of probes (1)"}},
      {"DegradedLoss",
       doc("    health: { degraded_if: { loss_pct: 150 } }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:40: wans.wan1.health.degraded_if.loss_pct must be between 0 and 100, got 150"}},
      {"RecoverAboveDegraded",
       doc("    health: { degraded_if: { rtt_ms: 100 }, recover_if: { rtt_ms: 120 } }\n",
           "    paths: [wan1]\n"),
       {"t.yaml:6:67: wans.wan1.health.recover_if.rtt_ms must not exceed degraded_if.rtt_ms "
        "(100), got 120"}},
      {"RecoverWithoutDegraded",
       doc("    health: { degraded_if: { rtt_ms: 100 }, recover_if: { loss_pct: 1 } }\n",
           "    paths: [wan1]\n"),
       {"t.yaml:6:69: wans.wan1.health.recover_if.loss_pct needs degraded_if.loss_pct"}},
      {"RecoverUnknownKey",
       doc("    health: { recover_if: { rtt: 150 } }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:29: unknown key 'rtt' in wans.wan1.health.recover_if"}},
      {"DegradedUnknownKey",
       doc("    health: { degraded_if: { rtt: 150 } }\n", "    paths: [wan1]\n"),
       {"t.yaml:6:30: unknown key 'rtt' in wans.wan1.health.degraded_if"}},

      // --- classes ---
      {"UnknownWanInPaths",
       doc("", "    paths: [wan1, wan3]\n"),
       {"t.yaml:9:19: class 'c' paths: unknown wan or overlay 'wan3'"}},
      {"DuplicateWanInPaths",
       doc("", "    paths: [wan1, wan1]\n"),
       {"t.yaml:9:19: class 'c' paths: wan 'wan1' is listed twice"}},
      {"EmptyPaths",
       doc("", "    paths: []\n"),
       {"t.yaml:9:12: classes.c.paths must not be empty"}},
      {"NoClasses",
       "version: 1\nlan_interfaces: [lan0]\nwans: { w: { interface: e1 } }\n"
       "classes: {}\n",
       {"t.yaml:4:10: classes must define at least one class"}},
      {"ClassName",
       replaced(doc("", "    paths: [wan1]\n"), "  c:\n", "  \"c c\":\n"),
       {"t.yaml:8:3: invalid class name 'c c' (1-32 characters of A-Z a-z 0-9 _ -)"}},
      {"ClassAfterCatchAll",
       "version: 1\nlan_interfaces: [lan0]\nwans: { w: { interface: e1 } }\nclasses:\n"
       "  default: { paths: [w] }\n  late: { match: [ { proto: tcp } ], paths: [w] }\n",
       {"t.yaml:6:3: class 'late' can never match: class 'default' before it has no 'match' and "
        "takes all traffic"}},
      {"Strategy",
       doc("", "    strategy: fail-over\n    paths: [wan1]\n"),
       {"t.yaml:9:15: invalid value 'fail-over' for classes.c.strategy (expected one of: "
        "failover, balance, lowest-latency, sla; did you mean 'failover'?)"}},
      {"SlaNeedsBlock",
       doc("", "    strategy: sla\n    paths: [wan1]\n"),
       {"t.yaml:9:15: strategy sla in classes.c needs an 'sla' block"}},
      {"SlaWithoutStrategySla",
       doc("", "    strategy: balance\n    sla: { max_rtt_ms: 100 }\n    paths: [wan1]\n"),
       {"t.yaml:10:5: 'sla' in classes.c is only used with strategy sla (strategy is balance)"}},
      {"SlaEmpty",
       doc("", "    strategy: sla\n    sla: {}\n    paths: [wan1]\n"),
       {"t.yaml:10:10: classes.c.sla sets no constraint (max_rtt_ms, max_jitter_ms, "
        "max_loss_pct)"}},
      {"SlaWrongType",
       doc("", "    strategy: sla\n    sla: { max_rtt_ms: fast }\n    paths: [wan1]\n"),
       {"t.yaml:10:24: expected an integer for classes.c.sla.max_rtt_ms, got 'fast'"}},
      {"EmptyMatchList",
       doc("", "    match: []\n    paths: [wan1]\n"),
       {"t.yaml:9:12: classes.c.match must not be empty"}},
      {"EmptyMatchEntry",
       doc("", "    match: [ {} ]\n    paths: [wan1]\n"),
       {"t.yaml:9:14: empty match entry classes.c.match[0] (omit 'match' to match everything)"}},
      {"MatchUnknownKey",
       doc("", "    match: [ { proto: tcp, dprot: 80 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:28: unknown key 'dprot' in classes.c.match[0] (did you mean 'dport'?)"}},
      {"Proto",
       doc("", "    match: [ { proto: tpc } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:23: invalid value 'tpc' for classes.c.match[0].proto (expected tcp, udp, "
        "icmp, icmpv6, any or a number 0-255; did you mean 'tcp'?)"}},
      {"ProtoNumberRange",
       doc("", "    match: [ { proto: 300 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:23: classes.c.match[0].proto must be between 0 and 255, got 300"}},
      {"IifBadName",
       doc("", "    match: [ { iif: [lan0, \"a/b\"] } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:28: invalid interface name 'a/b' in classes.c.match[0].iif (1-15 characters, "
        "no '/', ':' or whitespace)"}},
      {"UidOutOfRange",
       doc("", "    match: [ { uid: 4294967295 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:21: uid '4294967295' in classes.c.match[0].uid is out of range "
        "0-4294967294"}},
      {"UidWithIifNeverMatches",
       doc("", "    match: [ { iif: lan0, uid: 5 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:32: classes.c.match[0] can never match: 'iif' selects forwarded traffic and "
        "'uid' the gateway's own"}},
      {"PortsNeedTcpOrUdp",
       doc("", "    match: [ { proto: icmp, dport: 80 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:29: 'dport' in classes.c.match[0] needs proto tcp or udp"}},
      {"PortsNeedProto",
       doc("", "    match: [ { sport: 80 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:16: 'sport' in classes.c.match[0] needs proto tcp or udp"}},
      {"PortRangeReversed",
       doc("", "    match: [ { proto: udp, dport: \"5061-5060\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:35: port range '5061-5060' in classes.c.match[0].dport has low > high"}},
      {"PortZero",
       doc("", "    match: [ { proto: udp, dport: 0 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:35: port '0' in classes.c.match[0].dport is out of range 1-65535"}},
      {"PortTooHigh",
       doc("", "    match: [ { proto: tcp, dport: [80, 70000] } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:40: port '70000' in classes.c.match[0].dport[1] is out of range 1-65535"}},
      {"PortNotANumber",
       doc("", "    match: [ { proto: tcp, dport: \"80,http\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:35: invalid port 'http' in classes.c.match[0].dport (expected a port 1-65535 "
        "or a range lo-hi)"}},
      {"PrefixHostBits",
       doc("", "    match: [ { src: 192.168.1.1/24 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:21: invalid prefix in classes.c.match[0].src: '192.168.1.1/24' has host bits "
        "set beyond /24"}},
      {"PrefixInList",
       doc("", "    match: [ { dst: [10.0.0.0/8, \"2001:db8::/129\"] } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:34: invalid prefix in classes.c.match[0].dst[1]: prefix length 129 is out of "
        "range 0-128"}},
      {"FamiliesNeverAgree",
       doc("",
           "    match:\n      - { src: 10.0.0.0/8, dst: \"2001:db8::/32\" }\n    paths: [wan1]\n"),
       {"t.yaml:10:9: classes.c.match[0] can never match: src is only IPv4 and dst is only IPv6"}},
      {"IcmpWithV6Prefix",
       doc("", "    match: [ { proto: icmp, dst: \"2001:db8::/32\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:23: classes.c.match[0] can never match: proto icmp is IPv4 only but the "
        "prefixes are IPv6"}},
      {"DscpName",
       doc("", "    match: [ { dscp: af44 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:22: invalid value 'af44' for classes.c.match[0].dscp (expected ef, af11..af43, "
        "cs0..cs7 or a number 0-63)"}},
      {"DomainBadCharacter",
       doc("",
           "    match: [ { domain: [video.example, \"bad name.example\"] } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:40: invalid domain 'bad name.example' in classes.c.match[0].domain: the "
        "character ' ' (expected a DNS name like video.example or *.cdn.example)"}},
      {"DomainStarInside",
       doc("", "    match: [ { domain: \"a.*.example\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:24: invalid domain 'a.*.example' in classes.c.match[0].domain: '*' other than "
        "as a leading \"*.\" label (expected a DNS name like video.example or *.cdn.example)"}},
      {"DomainEmptyLabel",
       doc("", "    match: [ { domain: \"a..example\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:24: invalid domain 'a..example' in classes.c.match[0].domain: an empty label "
        "(expected a DNS name like video.example or *.cdn.example)"}},
      {"DomainOnlyStar",
       doc("", "    match: [ { domain: \"*.\" } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:24: invalid domain '*.' in classes.c.match[0].domain: an empty name (expected "
        "a DNS name like video.example or *.cdn.example)"}},
      {"DomainLabelTooLong",
       doc("",
           "    match: [ { domain: " + std::string(64, 'a') + ".example } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:24: invalid domain '" + std::string(64, 'a') +
        ".example' in classes.c.match[0].domain: a label longer than 63 characters (expected a "
        "DNS name like video.example or *.cdn.example)"}},
      {"DomainNameTooLong",
       doc("", "    match: [ { domain: " + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                   std::string(63, 'c') + "." + std::string(63, 'd') +
                   ".example } ]\n"
                   "    paths: [wan1]\n"),
       {"t.yaml:9:24: invalid domain '" + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
        std::string(63, 'c') + "." + std::string(63, 'd') +
        ".example' in classes.c.match[0].domain: longer than 253 characters (expected a DNS "
        "name like video.example or *.cdn.example)"}},
      {"DomainWithDst",
       doc("", "    match: [ { domain: v.example, dst: 192.0.2.0/24 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:16: 'domain' and 'dst' in classes.c.match[0] cannot be combined (the learned "
        "addresses are the destinations; use two entries)"}},
      {"DomainEmptyList",
       doc("", "    match: [ { domain: [] } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:24: classes.c.match[0].domain must not be empty"}},
      {"DnsUnknownKey",
       doc("", "    paths: [wan1]\n", "dns: { min_ttl: 5 }\n"),
       {"t.yaml:10:8: unknown key 'min_ttl' in dns (did you mean 'min_ttl_s'?)"}},
      {"DnsMaxAddrsZero",
       doc("", "    paths: [wan1]\n", "dns: { max_addrs_per_name: 0 }\n"),
       {"t.yaml:10:28: dns.max_addrs_per_name must be between 1 and 4096, got 0"}},
      {"DscpRange",
       doc("", "    match: [ { dscp: 64 } ]\n    paths: [wan1]\n"),
       {"t.yaml:9:22: invalid value '64' for classes.c.match[0].dscp (expected ef, af11..af43, "
        "cs0..cs7 or a number 0-63)"}},
  };
  return cases;
}

// gtest looks this name up; it prints the case name instead of bytes.
// NOLINTNEXTLINE(readability-identifier-naming)
void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.name;
}

class PolicyErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(PolicyErrors, ReportsPositionAndMessage) {
  const ErrorCase& c = GetParam();
  EXPECT_EQ(errors_of(c.text), c.want) << c.text;
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyErrors, ::testing::ValuesIn(error_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Policy, SurvivesEveryTruncationOfTheExample) {
  // Cut the example at every byte: each cut either parses or gives errors
  // with a position, and never throws or crashes.
  std::string text = kDesignExample;
  for (size_t n = 0; n < text.size(); ++n) {
    auto r = parse_policy(text.substr(0, n), "t.yaml");
    if (auto* errs = (r ? nullptr : &r.error().details)) {
      ASSERT_FALSE(errs->empty());
      for (const auto& e : *errs) {
        EXPECT_GT(e.line, 0) << "cut at " << n << ": " << e.to_string();
      }
    }
  }
}

TEST(Policy, AnchorsAndAliasesShareOneValue) {
  Policy p = parse_ok(
      "version: 1\n"
      "lan_interfaces: [lan0]\n"
      "wans:\n"
      "  wan1: { interface: eth1, health: &h { interval_ms: 50, down_after: 2 } }\n"
      "  wan2: { interface: eth2, health: *h }\n"
      "classes:\n"
      "  voip: { match: [ &udp { proto: udp, dport: 5060 } ], paths: &both [wan1, wan2] }\n"
      "  rest: { match: [ *udp ], paths: *both }\n");
  ASSERT_EQ(p.wans.size(), 2U);
  EXPECT_EQ(p.wans[1].health.interval_ms, 50U);
  EXPECT_EQ(p.wans[1].health.down_after, 2U);
  ASSERT_EQ(p.classes.size(), 2U);
  EXPECT_EQ(p.classes[1].match.size(), 1U);
  EXPECT_EQ(p.classes[1].paths, p.classes[0].paths);
  // An error in an aliased value is reported where the value is written, once per use.
  EXPECT_THAT(errors_of("version: 1\n"
                        "lan_interfaces: [lan0]\n"
                        "wans:\n"
                        "  wan1: { interface: eth1, health: &h { down_after: 0 } }\n"
                        "  wan2: { interface: eth2, health: *h }\n"
                        "classes:\n"
                        "  c: { paths: [wan1] }\n"),
              ElementsAre("t.yaml:4:53: wans.wan1.health.down_after must be >= 1, got 0",
                          "t.yaml:4:53: wans.wan2.health.down_after must be >= 1, got 0"));
}

TEST(Policy, ByteOrderMarkAndCrlfLineEndsKeepPositions) {
  std::string text = doc("    weight: abc\n", "    paths: [wan1]\n");
  std::string crlf;
  for (char c : text)
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const std::string want = "t.yaml:6:13: expected an integer for wans.wan1.weight, got 'abc'";
  EXPECT_THAT(errors_of(text), ElementsAre(want));
  EXPECT_THAT(errors_of(crlf), ElementsAre(want));
  EXPECT_THAT(errors_of("\xEF\xBB\xBF" + crlf), ElementsAre(want));
  std::string minimal_crlf;
  for (const char* c = kMinimal; *c != '\0'; ++c)
    minimal_crlf += *c == '\n' ? std::string("\r\n") : std::string(1, *c);
  EXPECT_EQ(parse_ok("\xEF\xBB\xBF" + minimal_crlf).wans.at(0).interface, "eth1");
}

TEST(Policy, NumbersBeyond32BitsAreRangeErrors) {
  EXPECT_THAT(errors_of(doc("    weight: 4294967296\n", "    paths: [wan1]\n")),
              ElementsAre("t.yaml:6:13: wans.wan1.weight must be between 1 and 4294967295, got "
                          "4294967296"));
  EXPECT_THAT(errors_of(doc("    weight: 99999999999999999999\n", "    paths: [wan1]\n")),
              ElementsAre("t.yaml:6:13: expected an integer for wans.wan1.weight, got "
                          "'99999999999999999999'"));
}

TEST(Policy, CollectsManyErrorsInFileOrder) {
  auto r = parse_policy_file((policies_dir() / "invalid" / "many-errors.yaml").string());
  auto errs = errors_of(r);
  ASSERT_FALSE(errs.empty()) << "many-errors.yaml parsed";
  std::string file = (policies_dir() / "invalid" / "many-errors.yaml").string();
  std::vector<std::string> want = {
      file + ":2:10: unsupported policy version 2 (this pathsteer reads version 1)",
      file +
          ":4:19: invalid value 'marc' for datapath.mode (expected one of: mark, redirect; did "
          "you mean 'mark'?)",
      file + ":8:13: expected an integer for wans.wan1.weight, got 'abc'",
      file + ":10:16: wans 'wan1' and 'wan2' both use interface 'wan1'",
      file + ":14:24: 'dport' in classes.default.match[0] needs proto tcp or udp",
      file + ":15:19: class 'default' paths: wan 'wan1' is listed twice",
  };
  EXPECT_EQ(errs, want);
}

TEST(Policy, InvalidFilesReportTheirErrors) {
  auto dir = policies_dir() / "invalid";
  auto path = [&](const char* f) { return (dir / f).string(); };
  EXPECT_THAT(errors_of(parse_policy_file(path("unknown-key.yaml"))),
              ElementsAre(path("unknown-key.yaml") +
                          ":7:7: unknown key 'intervl_ms' in wans.wan1.health (did you mean "
                          "'interval_ms'?)"));
  EXPECT_THAT(errors_of(parse_policy_file(path("unknown-wan.yaml"))),
              ElementsAre(path("unknown-wan.yaml") +
                          ":9:19: class 'voip' paths: unknown wan or overlay 'wan3'"));
  EXPECT_THAT(errors_of(parse_policy_file(path("syntax-error.yaml"))),
              ElementsAre(path("syntax-error.yaml") +
                          ":3:5: YAML syntax error: did not find expected ',' or ']' (while "
                          "parsing a flow sequence started at line 2, column 17)"));
  // Every file in invalid/ must fail: a new file without a test still counts.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_FALSE(errors_of(parse_policy_file(entry.path().string())).empty()) << entry.path();
  }
}

TEST(Policy, MissingFileIsAnError) {
  auto errs = errors_of(parse_policy_file("/nonexistent/pathsteer.yaml"));
  EXPECT_THAT(errs,
              ElementsAre("/nonexistent/pathsteer.yaml: cannot open: No such file or directory"));
}

TEST(Policy, ExampleFileIsTheDesignExample) {
  auto r = parse_policy_file((policies_dir() / "example.yaml").string());
  ASSERT_TRUE(r.ok()) << errors_text(r);
  EXPECT_EQ(r.value(), design_policy());
}

TEST(Policy, TwoWanLabPolicy) {
  auto r = parse_policy_file((policies_dir() / "two-wan.yaml").string());
  ASSERT_TRUE(r.ok()) << errors_text(r);
  const Policy& p = r.value();
  EXPECT_THAT(p.lan_interfaces, ElementsAre("lan0"));
  ASSERT_EQ(p.wans.size(), 2u);
  for (const char* name : {"wan1", "wan2"}) {
    const Wan* w = p.find_wan(name);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->interface, name);
    EXPECT_TRUE(w->gateway_auto);
    EXPECT_EQ(
        w->probes,
        (std::vector<ProbeSpec>{{.method = ProbeMethod::kIcmp, .target = addr("203.0.113.10")}}));
    EXPECT_EQ(w->health, (HealthSpec{.interval_ms = 100,
                                     .timeout_ms = 300,
                                     .down_after = 3,
                                     .up_after = 3,
                                     .reliability = 1}));
  }
  ASSERT_EQ(p.classes.size(), 2u);
  EXPECT_EQ(p.classes[0], (ClassSpec{.name = "video",
                                     .match = {{.proto = 17, .dport = {{.lo = 5001, .hi = 5001}}}},
                                     .strategy = Strategy::kFailover,
                                     .paths = {"wan2", "wan1"}}));
  EXPECT_EQ(
      p.classes[1],
      (ClassSpec{.name = "default", .strategy = Strategy::kFailover, .paths = {"wan1", "wan2"}}));
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

TEST(PolicyConntrack, FlushOnDownDefaultsOnAndCanBeTurnedOff) {
  const std::string base =
      "version: 1\nlan_interfaces: [lan0]\nwans:\n  wan1: { interface: eth1 }\n"
      "classes:\n  default: { paths: [wan1] }\n";
  auto on = parse_policy(base, "p.yaml");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on.value().conntrack_flush_on_down);

  auto off = parse_policy(base + "conntrack: { flush_on_down: false }\n", "p.yaml");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.value().conntrack_flush_on_down);

  auto bad = parse_policy(base + "conntrack: { flush_on_down: maybe }\n", "p.yaml");
  ASSERT_TRUE(!bad.ok());
  auto errs = bad.error().details;
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].to_string().rfind("p.yaml:7:", 0), 0u) << errs[0].to_string();
  EXPECT_NE(errs[0].message.find("maybe"), std::string::npos);

  auto typo = parse_policy(base + "conntrack: { flush_on_dwn: true }\n", "p.yaml");
  ASSERT_TRUE(!typo.ok());
  EXPECT_NE(typo.error().details[0].message.find("did you mean 'flush_on_down'"),
            std::string::npos);
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

TEST(PolicySpellings, ToStringGivesThePolicyFilesOwnWords) {
  EXPECT_STREQ(to_string(Strategy::kFailover), "failover");
  EXPECT_STREQ(to_string(Strategy::kLowestLatency), "lowest-latency");
  EXPECT_STREQ(to_string(Strategy::kSla), "sla");
  EXPECT_STREQ(to_string(ProbeMethod::kUdp), "udp");
  EXPECT_STREQ(to_string(DatapathMode::kRedirect), "redirect");
  EXPECT_STREQ(to_string(LastResort::kBlackhole), "blackhole");
  EXPECT_STREQ(to_string(static_cast<Strategy>(99)), "?");
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

// Overlays: a base policy with two wans and one overlay; `overlay_body` replaces
// the overlay's keys (lines 7..), `extra` is appended at the top level.
std::string overlay_doc(const std::string& overlay_body, const std::string& paths = "[tun0, wan1]",
                        const std::string& extra = "") {
  return "version: 1\n"                   // 1
         "lan_interfaces: [lan0]\n"       // 2
         "wans:\n"                        // 3
         "  wan1: { interface: eth1 }\n"  // 4
         "  wan2: { interface: eth2 }\n"  // 5
         "overlays:\n"                    // 6
         "  tun0:\n" +                    // 7
         overlay_body +                   // 8..
         "classes:\n"                     // n
         "  c: { paths: " +
         paths + " }\n" +  // n+1
         extra;
}

const std::string kTunBody =
    "    interface: wg0\n"            // 8
    "    remote: 198.51.100.77\n"     // 9
    "    underlays: [wan1, wan2]\n";  // 10

TEST(PolicyOverlays, ParseWithDefaultsAndAllKeys) {
  Policy p = parse_ok(overlay_doc(kTunBody));
  ASSERT_EQ(p.overlays.size(), 1u);
  EXPECT_EQ(p.overlays[0], (Overlay{.name = "tun0",
                                    .interface = "wg0",
                                    .remote4 = addr("198.51.100.77"),
                                    .underlays = {"wan1", "wan2"}}));
  EXPECT_EQ(p.find_overlay("tun0"), &p.overlays[0]);
  EXPECT_EQ(p.find_overlay("wan1"), nullptr);
  EXPECT_EQ(p.classes[0].paths, (std::vector<std::string>{"tun0", "wan1"}));

  Policy full = parse_ok(overlay_doc(
      "    interface: gre1\n"
      "    remote: [198.51.100.77, \"2001:db8:77::1\"]\n"
      "    underlays: [wan2]\n"
      "    weight: 4\n    cost: 7\n    hold_down_s: 30\n"
      "    probes: [ { method: icmp, target: 10.99.0.1 }, { method: udp, target: 10.99.0.2 } ]\n"
      "    health: { interval_ms: 100, down_after: 2, reliability: 2 }\n"));
  const Overlay& o = full.overlays.at(0);
  EXPECT_EQ(o.remote4, addr("198.51.100.77"));
  EXPECT_EQ(o.remote6, addr("2001:db8:77::1"));
  EXPECT_EQ(o.underlays, (std::vector<std::string>{"wan2"}));
  EXPECT_EQ(o.weight, 4u);
  EXPECT_EQ(o.cost, 7u);
  EXPECT_EQ(o.hold_down_s, 30u);
  ASSERT_EQ(o.probes.size(), 2u);
  EXPECT_EQ(o.probes[1].port, 862);
  EXPECT_EQ(o.health.interval_ms, 100u);
  EXPECT_EQ(o.health.down_after, 2u);
  EXPECT_EQ(o.health.reliability, 2u);
}

TEST(PolicyOverlays, NoOverlaysKeyMeansNone) {
  Policy p = parse_ok(
      "version: 1\nlan_interfaces: [lan0]\nwans: { wan1: { interface: eth1 } }\n"
      "classes: { c: { paths: [wan1] } }\n");
  EXPECT_TRUE(p.overlays.empty());
}

TEST(PolicyOverlays, ErrorsNameTheirPlace) {
  struct Case {
    std::string text;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {overlay_doc("    interface: wg0\n    underlays: [wan1]\n"),
       {"t.yaml:7:3: missing required key 'remote' in overlays.tun0"}},
      {overlay_doc("    remote: 198.51.100.77\n    underlays: [wan1]\n"),
       {"t.yaml:7:3: missing required key 'interface' in overlays.tun0"}},
      {overlay_doc("    interface: wg0\n    remote: 198.51.100.77\n"),
       {"t.yaml:7:3: missing required key 'underlays' in overlays.tun0"}},
      {overlay_doc("    interface: wg0\n    remote: 198.51.100.77\n    underlays: [wan3]\n"),
       {"t.yaml:10:17: overlay 'tun0' underlays: unknown wan 'wan3'"}},
      {overlay_doc("    interface: wg0\n    remote: 198.51.100.77\n    underlays: [wan1, wan1]\n"),
       {"t.yaml:10:23: overlay 'tun0' underlays: wan 'wan1' is listed twice"}},
      {overlay_doc("    interface: wg0\n    remote: 198.51.100.77\n    underlays: [tun0]\n"),
       {"t.yaml:10:17: overlay 'tun0' underlays: 'tun0' is an overlay (an overlay rides on wans "
        "only)"}},
      {overlay_doc("    interface: wg0\n    remote: 198.51.100.77\n    underlays: []\n"),
       {"t.yaml:10:16: overlays.tun0.underlays must not be empty"}},
      {overlay_doc("    interface: eth2\n    remote: 198.51.100.77\n    underlays: [wan1]\n"),
       {"t.yaml:8:16: overlay 'tun0' and wan 'wan2' both use interface 'eth2'"}},
      {overlay_doc("    interface: lan0\n    remote: 198.51.100.77\n    underlays: [wan1]\n"),
       {"t.yaml:8:16: interface 'lan0' of overlay 'tun0' is also in lan_interfaces"}},
      {overlay_doc("    interface: wg/0\n    remote: 198.51.100.77\n    underlays: [wan1]\n"),
       {"t.yaml:8:16: invalid interface name 'wg/0' in overlays.tun0.interface (1-15 "
        "characters, no '/', ':' or whitespace)"}},
      {overlay_doc("    interface: wg0\n    remote: tunnel.example\n    underlays: [wan1]\n"),
       {"t.yaml:9:13: invalid remote 'tunnel.example' in overlays.tun0.remote (expected an IP "
        "address, or a list of one IPv4 and one IPv6 address)"}},
      {overlay_doc(
           "    interface: wg0\n    remote: [192.0.2.1, 192.0.2.2]\n    underlays: [wan1]\n"),
       {"t.yaml:9:25: two inet remotes in overlays.tun0.remote (expected an IP address, or a "
        "list of one IPv4 and one IPv6 address)"}},
      {overlay_doc(kTunBody + "    colour: blue\n"),
       {"t.yaml:11:5: unknown key 'colour' in overlays.tun0"}},
      {overlay_doc(kTunBody + "    probes: [ { target: 10.99.0.1 } ]\n"
                              "    health: { reliability: 2 }\n"),
       {"t.yaml:12:28: overlays.tun0.health.reliability 2 exceeds the number of probes (1)"}},
      {overlay_doc(kTunBody, "[tun1]"),
       {"t.yaml:12:16: class 'c' paths: unknown wan or overlay 'tun1'"}},
      {overlay_doc(kTunBody, "[tun0, tun0]"),
       {"t.yaml:12:22: class 'c' paths: overlay 'tun0' is listed twice"}},
      // Shared namespace: an overlay may not take a wan's name.
      {replaced(overlay_doc(kTunBody), "  tun0:\n", "  wan2:\n"),
       {"t.yaml:7:3: overlay 'wan2' has the name of a wan (wans and overlays share one "
        "namespace)",
        "t.yaml:12:16: class 'c' paths: unknown wan or overlay 'tun0'"}},
      // A second overlay on the same interface or the same remote.
      {replaced(overlay_doc(kTunBody), "classes:\n",
                "  tun1: { interface: wg0, remote: 203.0.113.1, underlays: [wan1] }\n"
                "classes:\n"),
       {"t.yaml:11:22: overlay 'tun1' and overlay 'tun0' both use interface 'wg0'"}},
      {replaced(overlay_doc(kTunBody), "classes:\n",
                "  tun1: { interface: wg1, remote: 198.51.100.77, underlays: [wan1] }\n"
                "classes:\n"),
       {"t.yaml:11:35: overlays 'tun0' and 'tun1' both have remote 198.51.100.77 (its outer "
        "packets can ride on only one underlay)"}},
      // The mark mask must leave room for the overlays too: 2 wans + 1 overlay + 0 = 4 values.
      {overlay_doc(kTunBody, "[tun0]", "ownership: { mark_mask: 0x1 }\n"),
       {"t.yaml:13:25: ownership.mark_mask 0x00000001 has 1 bit(s), too few for 2 wans and 1 "
        "overlays (needs 2)"}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(errors_of(parse_policy(c.text, "t.yaml")), c.want) << c.text;
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

TEST(PolicyFleet, TheFleetBlockWithDefaults) {
  Policy p = parse_ok(std::string(kMinimal) + R"(fleet:
  endpoints: ["http://10.0.0.5:2379", "https://[fd00::6]:2379"]
  groups: [branch, eu]
)");
  ASSERT_TRUE(p.fleet);
  EXPECT_EQ(p.fleet->endpoints.size(), 2u);
  EXPECT_EQ(p.fleet->node, "");  // the daemon fills in the host name
  EXPECT_EQ(p.fleet->groups, (std::vector<std::string>{"branch", "eu"}));
  EXPECT_EQ(p.fleet->prefix, "/pathsteer/v1");
  EXPECT_EQ(p.fleet->confirm_s, 60u);
  EXPECT_EQ(p.fleet->status_ttl_s, 15u);
  EXPECT_FALSE(parse_ok(kMinimal).fleet);
}

TEST(PolicyFleet, ErrorsNameFileLineAndColumn) {
  auto errs = errors_of(std::string(kMinimal) + R"(fleet:
  endpoints: ["10.0.0.5:2379", "http://ok:2379"]
  node: "bad/name"
  groups: [a, a]
  prefix: pathsteer/
  token_file: relative
  confirm_s: 7200
  status_ttl_s: 1
  bogus: 1
)");
  std::string all;
  for (const auto& e : errs)
    all += e + "\n";
  EXPECT_NE(all.find("t.yaml:8:15: invalid etcd endpoint '10.0.0.5:2379'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("t.yaml:9:9: invalid fleet.node 'bad/name'"), std::string::npos) << all;
  EXPECT_NE(all.find("t.yaml:10:15: duplicate group 'a'"), std::string::npos) << all;
  EXPECT_NE(all.find("t.yaml:11:11: invalid fleet.prefix"), std::string::npos) << all;
  EXPECT_NE(all.find("t.yaml:12:15: fleet.token_file must be an absolute path"), std::string::npos)
      << all;
  EXPECT_NE(all.find("t.yaml:13:14:"), std::string::npos) << all;
  EXPECT_NE(all.find("t.yaml:14:17:"), std::string::npos) << all;
  EXPECT_NE(all.find("t.yaml:15:3:"), std::string::npos) << all;
  EXPECT_EQ(errs.size(), 8u) << all;
  // endpoints is required.
  EXPECT_FALSE(errors_of(std::string(kMinimal) + "fleet: { node: n1 }\n").empty());
}

// --- prefix-list files (src_file, dst_file) ---

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A policy whose class c has the match entry `entry` (line 5, from column 32).
std::string with_entry(const std::string& entry) {
  return "version: 1\n"                           // 1
         "lan_interfaces: [lan0]\n"               // 2
         "wans: { wan1: { interface: eth1 } }\n"  // 3
         "classes:\n"                             // 4
         "  c: { paths: [wan1], match: [ " +
         entry + " ] }\n";  // 5
}

TEST(PolicyPrefixFiles, ReadsPrefixesAddressesCommentsAndBlankLines) {
  TempDir dir;
  write(dir.file("cn.txt"),
        "# a country list\n"
        "10.0.0.0/8\n"
        "  192.0.2.1   # an address is a /32\n"
        "\n"
        "   \t\n"
        "2001:db8::/32\r\n"
        "\t2001:db8:1::1\n"
        "198.51.100.0/24");  // no newline at the end
  write(dir.file("policy.yaml"), with_entry("{ dst_file: cn.txt }"));
  auto r = parse_policy_file(dir.file("policy.yaml"));
  ASSERT_TRUE(r.ok()) << errors_text(r);
  EXPECT_EQ(
      r->classes[0].match[0].dst,
      (std::vector<Prefix>{prefix("10.0.0.0/8"), prefix("192.0.2.1/32"), prefix("2001:db8::/32"),
                           prefix("2001:db8:1::1/128"), prefix("198.51.100.0/24")}));
  EXPECT_TRUE(r->classes[0].match[0].src.empty());
  EXPECT_EQ(r->prefix_files, (std::vector<std::string>{dir.file("cn.txt")}));
}

TEST(PolicyPrefixFiles, JoinTheInlineListsAndEachOther) {
  TempDir dir;
  write(dir.file("a.txt"), "10.1.0.0/16\n10.2.0.0/16\n");
  write(dir.file("b.txt"), "2001:db8::/32\n");
  write(dir.file("lan.txt"), "192.168.10.0/24\n");
  auto p = parse_policy(with_entry("{ dst: [203.0.113.0/24], dst_file: [a.txt, b.txt, a.txt], "
                                   "src: 192.168.1.0/24, src_file: lan.txt, proto: tcp }"),
                        dir.file("policy.yaml"));
  ASSERT_TRUE(p.ok()) << errors_text(p);
  const MatchEntry& e = p->classes[0].match[0];
  EXPECT_EQ(e.dst, (std::vector<Prefix>{prefix("203.0.113.0/24"), prefix("10.1.0.0/16"),
                                        prefix("10.2.0.0/16"), prefix("2001:db8::/32"),
                                        prefix("10.1.0.0/16"), prefix("10.2.0.0/16")}));
  EXPECT_EQ(e.src, (std::vector<Prefix>{prefix("192.168.1.0/24"), prefix("192.168.10.0/24")}));
  EXPECT_EQ(e.proto, 6);
  // Files in the order read: an entry's src_file before its dst_file.
  EXPECT_EQ(p->prefix_files,
            (std::vector<std::string>{dir.file("lan.txt"), dir.file("a.txt"), dir.file("b.txt")}));
}

TEST(PolicyPrefixFiles, RelativePathsResolveAgainstThePolicysDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("lists"));
  write(dir.file("lists/cn.txt"), "10.0.0.0/8\n");
  std::string text = with_entry("{ dst_file: lists/cn.txt }");
  // The text's own file: its directory.
  auto r = parse_policy(text, dir.file("policy.yaml"));
  ASSERT_TRUE(r.ok()) << errors_text(r);
  EXPECT_EQ(r->prefix_files, (std::vector<std::string>{dir.file("lists/cn.txt")}));
  // A text from elsewhere (an etcd key): the directory it is given.
  r = parse_policy(text, "etcd:/pathsteer/v1/policy/default@7", dir.path());
  ASSERT_TRUE(r.ok()) << errors_text(r);
  EXPECT_EQ(r->prefix_files, (std::vector<std::string>{dir.file("lists/cn.txt")}));
  EXPECT_EQ(r->classes[0].match[0].dst, (std::vector<Prefix>{prefix("10.0.0.0/8")}));
  // Without a directory the path is the current directory's; absolute paths are taken as they
  // are.
  EXPECT_EQ(directory_of("policy.yaml"), "");
  EXPECT_EQ(directory_of("/p.yaml"), "/");
  EXPECT_EQ(directory_of("/etc/pathsteer/policy.yaml"), "/etc/pathsteer");
  r = parse_policy(with_entry("{ dst_file: " + dir.file("lists/cn.txt") + " }"), "t.yaml",
                   "/nonexistent");
  ASSERT_TRUE(r.ok()) << errors_text(r);
  EXPECT_EQ(r->prefix_files, (std::vector<std::string>{dir.file("lists/cn.txt")}));
  // The directory a relative path was resolved against shows in the error.
  EXPECT_THAT(errors_of(parse_policy(text, "t.yaml", "/nonexistent")),
              ElementsAre("t.yaml:5:34: cannot read the prefix file 'lists/cn.txt' "
                          "(/nonexistent/lists/cn.txt) of classes.c.match[0].dst_file: No such "
                          "file or directory"));
}

TEST(PolicyPrefixFiles, BadLinesNameTheFileLineAndColumn) {
  TempDir dir;
  write(dir.file("cn.txt"),
        "10.0.0.0/8\n"
        "# fine\n"
        "  10.0.0.300/8\n"
        "10.0.0.1/8\n"
        "10.0.0.0/33 # too long\n"
        "10.1.0.0/16 10.2.0.0/16\n"
        "x\n");
  write(dir.file("policy.yaml"), with_entry("{ dst_file: cn.txt, dport: 99 }"));
  std::string cn = dir.file("cn.txt");
  // The policy's own errors first, then the prefix file's, in line order.
  EXPECT_THAT(
      errors_of(parse_policy_file(dir.file("policy.yaml"))),
      ElementsAre(
          dir.file("policy.yaml") + ":5:52: 'dport' in classes.c.match[0] needs proto tcp or udp",
          cn + ":3:3: invalid prefix: '10.0.0.300' is not an IPv4 or IPv6 address",
          cn + ":4:1: invalid prefix: '10.0.0.1/8' has host bits set beyond /8",
          cn + ":5:1: invalid prefix: prefix length 33 is out of range 0-32",
          cn + ":6:13: '10.1.0.0/16' is followed by more text (one prefix per line; '#' "
               "starts a comment)",
          cn + ":7:1: invalid prefix: 'x' is not an IPv4 or IPv6 address"));
}

TEST(PolicyPrefixFiles, AMissingOrUnreadableFileIsAnErrorAtTheKey) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("adir"));
  write(dir.file("ok.txt"), "10.0.0.0/8\n");
  auto errs = errors_of(parse_policy(with_entry("{ src_file: nope.txt }"), "t.yaml", dir.path()));
  EXPECT_THAT(errs, ElementsAre("t.yaml:5:34: cannot read the prefix file 'nope.txt' (" +
                                dir.file("nope.txt") +
                                ") of classes.c.match[0].src_file: No such file or directory"));
  // In a list: at the item.
  errs = errors_of(parse_policy(with_entry("{ dst_file: [ok.txt, adir] }"), "t.yaml", dir.path()));
  EXPECT_THAT(errs, ElementsAre("t.yaml:5:53: cannot read the prefix file 'adir' (" +
                                dir.file("adir") + ") of classes.c.match[0].dst_file: " +
                                dir.file("adir") + " is not a regular file"));
  // Larger than 64 MiB (a sparse file): refused before it is read.
  {
    std::ofstream(dir.file("huge.txt")) << "";
    ASSERT_EQ(::truncate(dir.file("huge.txt").c_str(), kMaxPrefixFileBytes + 1), 0);
  }
  errs = errors_of(parse_policy(with_entry("{ dst_file: huge.txt }"), "t.yaml", dir.path()));
  EXPECT_THAT(errs, ElementsAre("t.yaml:5:34: cannot read the prefix file 'huge.txt' (" +
                                dir.file("huge.txt") +
                                ") of classes.c.match[0].dst_file: " + dir.file("huge.txt") +
                                " is larger than 64 MiB, the most a prefix file may hold"));
}

TEST(PolicyPrefixFiles, AFileWithoutPrefixesIsAnError) {
  // An empty dst would leave the field free: the entry would match every destination.
  TempDir dir;
  write(dir.file("empty.txt"), "# nothing yet\n\n");
  EXPECT_THAT(
      errors_of(parse_policy(with_entry("{ dst_file: empty.txt }"), "t.yaml", dir.path())),
      ElementsAre("t.yaml:5:34: 'dst_file' in classes.c.match[0] lists no prefix, and an entry "
                  "without dst prefixes matches every destination"));
  // With inline prefixes beside it, it adds none.
  auto p =
      parse_policy(with_entry("{ dst_file: empty.txt, dst: 10.0.0.0/8 }"), "t.yaml", dir.path());
  ASSERT_TRUE(p.ok()) << errors_text(p);
  EXPECT_EQ(p->classes[0].match[0].dst, (std::vector<Prefix>{prefix("10.0.0.0/8")}));
}

TEST(PolicyPrefixFiles, FileFamiliesAndDomainsAreCheckedLikeInlineOnes) {
  TempDir dir;
  write(dir.file("v6.txt"), "2001:db8::/32\n");
  EXPECT_THAT(errors_of(parse_policy(with_entry("{ src: 10.0.0.0/8, dst_file: v6.txt }"), "t.yaml",
                                     dir.path())),
              ElementsAre("t.yaml:5:32: classes.c.match[0] can never match: src is only IPv4 "
                          "and dst is only IPv6"));
  EXPECT_THAT(errors_of(parse_policy(with_entry("{ domain: a.example, dst_file: v6.txt }"),
                                     "t.yaml", dir.path())),
              ElementsAre("t.yaml:5:34: 'domain' and 'dst_file' in classes.c.match[0] cannot be "
                          "combined (the learned addresses are the destinations; use two "
                          "entries)"));
}

TEST(PrefixList, StopsAfterTwentyBadLinesAndAtTheCapacity) {
  std::string junk;
  for (int i = 0; i < 100; ++i)
    junk += "junk\n";
  auto r = parse_prefix_list(junk, "j.txt", 10);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().details.size(), kMaxPrefixFileErrors + 1);
  EXPECT_EQ(r.error().details.back().to_string(),
            "j.txt:21:1: stopped after 20 invalid lines (expected one IPv4 or IPv6 prefix per "
            "line)");

  r = parse_prefix_list("10.0.0.0/24\n10.0.1.0/24\n# ok\n10.0.2.0/24\n", "c.txt", 2);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().details,
              ElementsAre(Diagnostic{.file = "c.txt",
                                     .line = 4,
                                     .column = 1,
                                     .message = "more than 2 prefixes, the data plane's capacity "
                                                "per address family and direction"}));

  // A NUL byte is no text (inet_pton would stop at it and take the address before it).
  r = parse_prefix_list(std::string("10.0.0.1\0junk\n", 14), "n.txt", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().details.at(0).to_string(),
            "n.txt:1:9: a NUL byte (expected one IPv4 or IPv6 prefix per line)");

  auto ok = parse_prefix_list("", "e.txt", 10);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->empty());
}

TEST(PrefixList, CopiesShareOneVectorAndAWriteCopiesFirst) {
  PrefixList a{*Prefix::parse("10.0.0.0/8"), *Prefix::parse("2001:db8::/32")};
  PrefixList b = a;
  EXPECT_TRUE(b.same(a));
  EXPECT_EQ(&b.vec(), &a.vec());
  b.push_back(*Prefix::parse("192.0.2.0/24"));
  EXPECT_FALSE(b.same(a));
  EXPECT_EQ(a.size(), 2U);
  EXPECT_EQ(b.size(), 3U);
  EXPECT_NE(a, b);
  PrefixList c{*Prefix::parse("10.0.0.0/8"), *Prefix::parse("2001:db8::/32")};
  EXPECT_FALSE(c.same(a));
  EXPECT_EQ(c, a);  // not shared, equal element by element
  PrefixList empty;
  empty.append(a);  // an empty list takes the other's vector
  EXPECT_TRUE(empty.same(a));
  EXPECT_TRUE(PrefixList{}.same(PrefixList(std::vector<Prefix>{})));
}

TEST(PrefixList, AnUnchangedFileIsParsedOnceAndAChangedOneAgain) {
  TempDir dir;
  const std::string path = dir.file("list.txt");
  auto write = [&](const char* text) { std::ofstream(path, std::ios::trunc) << text; };
  write("10.0.0.0/24\n10.0.1.0/24\n");
  auto first = load_prefix_list(path, 10);
  auto again = load_prefix_list(path, 10);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->size(), 2U);
  EXPECT_TRUE(first->same(*again)) << "an unchanged file was parsed again";
  // Another capacity is another reading (its errors differ).
  auto small = load_prefix_list(path, 1);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().details.size(), 1U);

  // Rewritten at once with the same size (its stamp may not change within the
  // filesystem's timestamp granularity): the text tells.
  write("10.0.0.0/24\n10.0.2.0/24\n");
  auto changed = load_prefix_list(path, 10);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(changed->same(*first));
  EXPECT_EQ(changed->at(1), *Prefix::parse("10.0.2.0/24"));

  // Errors are not remembered: a file that turns bad says so at the next load.
  write("10.0.0.0/24\njunk\n");
  auto bad = load_prefix_list(path, 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().details.at(0).to_string(),
            path + ":2:1: invalid prefix: 'junk' is not an IPv4 or IPv6 address");
  write("10.0.0.0/24\n10.0.2.0/24\n");
  auto back = load_prefix_list(path, 10);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *changed);

  // Old enough for its stamp to be trusted: still the same list.
  std::this_thread::sleep_for(std::chrono::milliseconds(kRacyFileS * 1000 + 100));
  auto settled = load_prefix_list(path, 10);
  auto settled2 = load_prefix_list(path, 10);
  ASSERT_TRUE(settled.ok() && settled2.ok());
  EXPECT_TRUE(settled->same(*settled2));
  EXPECT_EQ(*settled, *changed);
}

}  // namespace
}  // namespace pathsteer
