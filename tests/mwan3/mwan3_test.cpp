// `pathsteer import mwan3`, option by option and shape by shape: each test
// converts a small mwan3 file, reads the result back with the real policy
// parser and checks the values (and the notes: none when carried over exactly).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "controller/policy.h"
#include "import/mwan3.h"
#include "import/uci.h"

namespace pathsteer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kNetwork = R"(
config interface 'lan'
	option device 'br-lan'
config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'
config interface 'wanb'
	option device 'eth2'
config interface 'lte'
	option device 'wwan0'
config interface 'dsl'
	option proto 'pppoe'
	option device 'eth3'
config interface 'guest'
	option type 'bridge'
	option ifname 'eth4'
)";

// Two enabled interfaces, one member each, a rule: the frame most tests vary.
std::string two_wans(const std::string& wan_extra = "", const std::string& rule_extra = "",
                     const std::string& policy = "  list use_member 'wan_m1'\n") {
  return "config interface 'wan'\n  option enabled '1'\n  list track_ip '192.0.2.1'\n" + wan_extra +
         "config interface 'wanb'\n  option enabled '1'\n  list track_ip '198.51.100.1'\n"
         "config member 'wan_m1'\n  option interface 'wan'\n  option metric '1'\n"
         "  option weight '3'\n"
         "config member 'wanb_m1'\n  option interface 'wanb'\n  option metric '1'\n"
         "  option weight '2'\n"
         "config member 'wanb_m2'\n  option interface 'wanb'\n  option metric '2'\n"
         "  option weight '2'\n"
         "config policy 'p'\n" +
         policy + "config rule 'r'\n  option use_policy 'p'\n" + rule_extra;
}

struct Out {
  mwan3::Conversion conv;
  Policy policy;
  std::vector<std::string> notes;
  bool valid = false;
};

Out convert(const std::string& text, const char* network = kNetwork) {
  Out o;
  auto m = uci::parse(text, "mwan3");
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().to_string());
  if (!m.ok())
    return o;
  std::optional<uci::Package> net;
  if (network) {
    auto n = uci::parse(network, "network");
    EXPECT_TRUE(n.ok());
    net = *n;
  }
  o.conv = mwan3::convert(*m, net ? &*net : nullptr);
  for (const auto& n : o.conv.notes)
    o.notes.push_back(n.to_string());
  auto p = parse_policy(o.conv.yaml, "out.yaml");
  o.valid = p.ok();
  if (p.ok()) {
    o.policy = *p;
  } else {
    ADD_FAILURE() << p.error().to_string() << "\n" << o.conv.yaml;
  }
  return o;
}

const Wan& wan(const Out& o, const std::string& name) {
  static const Wan kNone{};
  const Wan* w = o.policy.find_wan(name);
  EXPECT_NE(w, nullptr) << name << "\n" << o.conv.yaml;
  return w ? *w : kNone;
}

const ClassSpec& cls(const Out& o, size_t i = 0) {
  static const ClassSpec kNone{};
  EXPECT_LT(i, o.policy.classes.size()) << o.conv.yaml;
  return i < o.policy.classes.size() ? o.policy.classes[i] : kNone;
}

// ---- interface options ----

TEST(Mwan3Interface, EnabledDefaultsToOffAsInMwan3) {
  auto o = convert(
      "config interface 'wan'\n  option enabled '1'\n"
      "config interface 'wanb'\n"
      "config member 'a'\n  option interface 'wan'\n"
      "config member 'b'\n  option interface 'wanb'\n  option metric '2'\n"
      "config policy 'p'\n  list use_member 'a'\n  list use_member 'b'\n"
      "config rule 'r'\n  option use_policy 'p'\n");
  EXPECT_THAT(o.policy.path_names(), ElementsAre("wan"));
  EXPECT_THAT(o.conv.yaml, HasSubstr("interface 'wanb' (mwan3:3) is not enabled"));
  EXPECT_EQ(cls(o).paths, std::vector<std::string>{"wan"});
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Interface, DeviceFromTheNetworkFile) {
  auto o = convert(two_wans());
  EXPECT_EQ(wan(o, "wan").interface, "eth1");
  EXPECT_EQ(wan(o, "wanb").interface, "eth2");
  EXPECT_TRUE(wan(o, "wan").gateway_auto);
  EXPECT_EQ(o.policy.lan_interfaces, std::vector<std::string>{"br-lan"});
}

TEST(Mwan3Interface, DeviceOfPppoeBridgeAndWithoutNetworkFile) {
  auto o = convert(
      "config interface 'dsl'\n  option enabled '1'\n"
      "config interface 'guest'\n  option enabled '1'\n"
      "config member 'a'\n  option interface 'dsl'\n"
      "config policy 'p'\n  list use_member 'a'\n"
      "config rule 'r'\n  option use_policy 'p'\n");
  EXPECT_EQ(wan(o, "dsl").interface, "pppoe-dsl");
  EXPECT_EQ(wan(o, "guest").interface, "br-guest");

  auto bare = convert(two_wans(), nullptr);
  EXPECT_EQ(wan(bare, "wan").interface, "wan");
  EXPECT_EQ(bare.policy.lan_interfaces, std::vector<std::string>{"br-lan"});
  EXPECT_THAT(bare.notes,
              testing::Contains(HasSubstr("its device is unknown (no --network file)")));
  EXPECT_THAT(bare.notes, testing::Contains(HasSubstr("br-lan, OpenWrt's default, is assumed")));
}

TEST(Mwan3Interface, TrackIpBecomesIcmpProbes) {
  auto o = convert(two_wans("  list track_ip '2001:db8::1'\n  list track_ip 'example.org'\n"));
  const auto& p = wan(o, "wan").probes;
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].method, ProbeMethod::kIcmp);
  EXPECT_EQ(p[0].target.to_string(), "192.0.2.1");
  EXPECT_EQ(p[1].target.to_string(), "2001:db8::1");
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr(
                           "mwan3:5: option 'track_ip' of interface 'wan': 'example.org' is not")));
}

TEST(Mwan3Interface, NoTrackIpFollowsCarrier) {
  auto o = convert(
      "config interface 'wan'\n  option enabled '1'\n  option interval '3'\n"
      "config member 'a'\n  option interface 'wan'\n"
      "config policy 'p'\n  list use_member 'a'\n"
      "config rule 'r'\n  option use_policy 'p'\n");
  EXPECT_THAT(wan(o, "wan").probes, IsEmpty());
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Interface, TrackMethods) {
  auto ping = convert(two_wans("  option track_method 'ping'\n"));
  EXPECT_EQ(wan(ping, "wan").probes[0].method, ProbeMethod::kIcmp);
  EXPECT_THAT(ping.notes, IsEmpty());

  auto http = convert(two_wans("  option track_method 'httping'\n"));
  EXPECT_EQ(wan(http, "wan").probes[0].method, ProbeMethod::kTcp);
  EXPECT_EQ(wan(http, "wan").probes[0].port, 80);
  EXPECT_THAT(http.notes, ElementsAre(HasSubstr("option 'track_method' of interface 'wan'")));

  auto https = convert(two_wans("  option track_method 'httping'\n  option httping_ssl '1'\n"));
  EXPECT_EQ(wan(https, "wan").probes[0].port, 443);

  auto arp = convert(two_wans("  option track_method 'arping'\n"));
  EXPECT_EQ(wan(arp, "wan").probes[0].method, ProbeMethod::kIcmp);
  EXPECT_THAT(arp.notes, ElementsAre(HasSubstr("arping")));
}

TEST(Mwan3Interface, HealthTimingsExactly) {
  auto o =
      convert(two_wans("  option interval '7'\n  option timeout '3'\n  option down '4'\n"
                       "  option up '6'\n  list track_ip '192.0.2.2'\n  option reliability '2'\n"));
  const auto& h = wan(o, "wan").health;
  EXPECT_EQ(h.interval_ms, 7000u);
  EXPECT_EQ(h.timeout_ms, 3000u);
  EXPECT_EQ(h.down_after, 4u);
  EXPECT_EQ(h.up_after, 6u);
  EXPECT_EQ(h.reliability, 2u);
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Interface, Mwan3DefaultTimings) {
  auto o = convert(two_wans());
  const auto& h = wan(o, "wanb").health;
  EXPECT_EQ(h.interval_ms, 10000u);
  EXPECT_EQ(h.timeout_ms, 4000u);
  EXPECT_EQ(h.down_after, 5u);
  EXPECT_EQ(h.up_after, 5u);
  EXPECT_EQ(h.reliability, 1u);
}

TEST(Mwan3Interface, ReliabilityAboveTrackIpsIsClamped) {
  auto o = convert(two_wans("  option reliability '3'\n"));
  EXPECT_EQ(wan(o, "wan").health.reliability, 1u);
  EXPECT_THAT(o.notes,
              ElementsAre(HasSubstr("option 'reliability' of interface 'wan': 3 exceeds")));
}

TEST(Mwan3Interface, CountOtherThanOneIsNoted) {
  EXPECT_THAT(convert(two_wans("  option count '1'\n")).notes, IsEmpty());
  EXPECT_THAT(convert(two_wans("  option count '3'\n")).notes,
              ElementsAre(HasSubstr("option 'count' of interface 'wan'")));
}

TEST(Mwan3Interface, FailureAndRecoveryIntervals) {
  EXPECT_THAT(convert(two_wans("  option interval '5'\n  option failure_interval '5'\n")).notes,
              IsEmpty());
  auto o = convert(two_wans("  option failure_interval '2'\n  option recovery_interval '3'\n"));
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'failure_interval'"),
                                   HasSubstr("option 'recovery_interval'")));
  EXPECT_EQ(wan(o, "wan").health.interval_ms, 10000u);
  EXPECT_THAT(convert(two_wans("  option keep_failure_interval '1'\n")).notes,
              ElementsAre(HasSubstr("keep_failure_interval")));
}

TEST(Mwan3Interface, SizeMaxTtlInitialState) {
  EXPECT_THAT(convert(two_wans("  option size '56'\n  option max_ttl '60'\n"
                               "  option initial_state 'online'\n"))
                  .notes,
              IsEmpty());
  auto o = convert(
      two_wans("  option size '1000'\n  option max_ttl '5'\n  option initial_state 'offline'\n"));
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("'size'"), HasSubstr("'max_ttl'"),
                                   HasSubstr("'initial_state'")));
}

TEST(Mwan3Interface, CheckQualityBecomesDegradedIf) {
  auto o = convert(two_wans(
      "  option check_quality '1'\n  option failure_latency '800'\n  option failure_loss '20'\n"
      "  option recovery_latency '400'\n  option recovery_loss '5'\n"));
  const auto& h = wan(o, "wan").health;
  EXPECT_EQ(h.degraded_if.rtt_ms, 800u);
  EXPECT_EQ(h.degraded_if.loss_pct, 20.0);
  EXPECT_EQ(h.recover_if.rtt_ms, 400u);
  EXPECT_EQ(h.recover_if.loss_pct, 5.0);
  // degraded is not down: reported as an approximation
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'check_quality' of interface 'wan'")));

  auto d = convert(two_wans("  option check_quality '1'\n"));
  EXPECT_EQ(wan(d, "wan").health.degraded_if.rtt_ms, 1000u);
  EXPECT_EQ(wan(d, "wan").health.degraded_if.loss_pct, 40.0);
  EXPECT_EQ(wan(d, "wan").health.recover_if.rtt_ms, 500u);
  EXPECT_EQ(wan(d, "wan").health.recover_if.loss_pct, 10.0);

  auto off = convert(two_wans("  option failure_latency '800'\n"));
  EXPECT_FALSE(wan(off, "wan").health.degraded_if.rtt_ms.has_value());
  EXPECT_THAT(off.notes, IsEmpty());
}

TEST(Mwan3Interface, FlushConntrack) {
  auto none = convert(two_wans());
  EXPECT_FALSE(none.policy.conntrack_flush_on_down);
  EXPECT_THAT(none.notes, IsEmpty());

  std::string both = two_wans("  list flush_conntrack 'ifdown'\n");
  both.insert(both.find("config member"), "  list flush_conntrack 'ifdown'\n");
  auto all = convert(both);
  EXPECT_TRUE(all.policy.conntrack_flush_on_down);
  EXPECT_THAT(all.notes, IsEmpty());

  auto mixed =
      convert(two_wans("  list flush_conntrack 'ifdown'\n  list flush_conntrack 'ifup'\n"));
  EXPECT_FALSE(mixed.policy.conntrack_flush_on_down);
  EXPECT_THAT(mixed.notes, testing::UnorderedElementsAre(HasSubstr("'ifup'"),
                                                         HasSubstr("every uplink or none")));
}

TEST(Mwan3Interface, Ipv6PairJoinsTheIpv4Wan) {
  auto o = convert(
      "config interface 'wan'\n  option enabled '1'\n  list track_ip '192.0.2.1'\n"
      "config interface 'wan6'\n  option enabled '1'\n  option family 'ipv6'\n"
      "  list track_ip '2001:db8::1'\n"
      "config member 'a'\n  option interface 'wan'\n"
      "config member 'a6'\n  option interface 'wan6'\n"
      "config policy 'p'\n  list use_member 'a'\n"
      "config policy 'p6'\n  list use_member 'a6'\n"
      "config rule 'r6'\n  option family 'ipv6'\n  option use_policy 'p6'\n"
      "config rule 'r'\n  option family 'ipv4'\n  option use_policy 'p'\n");
  EXPECT_THAT(o.policy.path_names(), ElementsAre("wan"));
  EXPECT_EQ(wan(o, "wan").probes.size(), 2u);
  EXPECT_EQ(cls(o, 0).paths, std::vector<std::string>{"wan"});
  ASSERT_EQ(cls(o, 0).match.size(), 1u);
  EXPECT_EQ(cls(o, 0).match[0].dst[0].to_string(), "::/0");
  EXPECT_EQ(cls(o, 1).match[0].dst[0].to_string(), "0.0.0.0/0");
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("interface 'wan6': merged with interface 'wan'")));
}

TEST(Mwan3Interface, UnknownOptionIsReported) {
  auto o = convert(two_wans("  option colour 'blue'\n"));
  EXPECT_THAT(o.notes, ElementsAre("mwan3:4: option 'colour' of interface 'wan': unknown option "
                                   "for a interface section; not carried over"));
}

// ---- members and policy shapes ----

TEST(Mwan3Policy, OneMemberIsFailover) {
  auto o = convert(two_wans());
  EXPECT_EQ(cls(o).strategy, Strategy::kFailover);
  EXPECT_EQ(cls(o).paths, std::vector<std::string>{"wan"});
}

TEST(Mwan3Policy, OneTierIsBalanceWithMemberWeights) {
  auto o = convert(two_wans("", "", "  list use_member 'wan_m1'\n  list use_member 'wanb_m1'\n"));
  EXPECT_EQ(cls(o).strategy, Strategy::kBalance);
  EXPECT_EQ(cls(o).paths, (std::vector<std::string>{"wan", "wanb"}));
  EXPECT_THAT(cls(o).tiers, IsEmpty());
  EXPECT_EQ(wan(o, "wan").weight, 3u);
  EXPECT_EQ(wan(o, "wanb").weight, 2u);
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Policy, OneMemberPerMetricIsFailoverInMetricOrder) {
  auto o = convert(two_wans("", "", "  list use_member 'wanb_m2'\n  list use_member 'wan_m1'\n"));
  EXPECT_EQ(cls(o).strategy, Strategy::kFailover);
  EXPECT_EQ(cls(o).paths, (std::vector<std::string>{"wan", "wanb"}));
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Policy, SeveralTiersOfSeveralMembersAreTieredBalance) {
  auto o = convert(
      "config interface 'wan'\n  option enabled '1'\n"
      "config interface 'wanb'\n  option enabled '1'\n"
      "config interface 'lte'\n  option enabled '1'\n"
      "config member 'a'\n  option interface 'wan'\n  option weight '3'\n"
      "config member 'b'\n  option interface 'wanb'\n  option weight '1'\n"
      "config member 'c'\n  option interface 'lte'\n  option metric '5'\n"
      "config policy 'p'\n  list use_member 'c'\n  list use_member 'a'\n  list use_member 'b'\n"
      "config rule 'r'\n  option use_policy 'p'\n");
  EXPECT_EQ(cls(o).strategy, Strategy::kBalance);
  EXPECT_EQ(cls(o).paths, (std::vector<std::string>{"wan", "wanb", "lte"}));
  EXPECT_EQ(cls(o).tiers, (std::vector<uint32_t>{0, 0, 1}));
  EXPECT_THAT(o.conv.yaml, HasSubstr("paths: [[wan, wanb], lte]"));
  EXPECT_EQ(wan(o, "wan").weight, 3u);
  EXPECT_EQ(wan(o, "lte").weight, 1u);  // alone in its tier: the weight does not matter
}

TEST(Mwan3Policy, ConflictingWeightsForOneWanAreNoted) {
  auto o = convert(two_wans("", "  option proto 'tcp'\n",
                            "  list use_member 'wan_m1'\n  list use_member 'wanb_m1'\n") +
                   "config member 'wanb_heavy'\n  option interface 'wanb'\n  option weight '9'\n"
                   "config policy 'q'\n  list use_member 'wan_m1'\n  list use_member 'wanb_heavy'\n"
                   "config rule 'r2'\n  option proto 'udp'\n  option use_policy 'q'\n");
  EXPECT_EQ(wan(o, "wanb").weight, 2u);
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'weight' of member 'wanb_heavy': wan 'wanb' "
                                             "already has weight 2")));
}

TEST(Mwan3Policy, UnknownMemberIsReported) {
  auto o = convert(two_wans("", "", "  list use_member 'wan_m1'\n  list use_member 'nope'\n"));
  EXPECT_THAT(o.notes,
              ElementsAre(HasSubstr("option 'use_member' of policy 'p': no member 'nope'")));
}

TEST(Mwan3Policy, LastResortAgreeingIsExact) {
  auto o =
      convert(two_wans("", "", "  list use_member 'wan_m1'\n  option last_resort 'default'\n"));
  EXPECT_EQ(o.policy.last_resort, LastResort::kMain);
  EXPECT_THAT(o.notes, IsEmpty());
  auto d = convert(two_wans());
  EXPECT_EQ(d.policy.last_resort, LastResort::kUnreachable);
  auto b =
      convert(two_wans("", "", "  list use_member 'wan_m1'\n  option last_resort 'blackhole'\n"));
  EXPECT_EQ(b.policy.last_resort, LastResort::kBlackhole);
}

TEST(Mwan3Policy, LastResortDifferingIsNoted) {
  auto o = convert(two_wans("", "  option proto 'tcp'\n",
                            "  list use_member 'wan_m1'\n  option last_resort 'blackhole'\n") +
                   "config policy 'q'\n  list use_member 'wanb_m1'\n"
                   "config policy 'q2'\n  list use_member 'wanb_m2'\n"
                   "config rule 'r2'\n  option proto 'udp'\n  option use_policy 'q'\n"
                   "config rule 'r3'\n  option use_policy 'q2'\n");
  EXPECT_EQ(o.policy.last_resort, LastResort::kUnreachable);
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'last_resort' of policy 'p'")));
}

// ---- rules ----

TEST(Mwan3Rule, ProtoAndPorts) {
  auto o = convert(two_wans("",
                            "  option proto 'tcp'\n  option dest_port '80,443'\n"
                            "  option src_port '1000:2000'\n"));
  const auto& e = cls(o).match.at(0);
  EXPECT_EQ(e.proto, 6);
  EXPECT_EQ(e.dport, (std::vector<PortRange>{{80, 80}, {443, 443}}));
  EXPECT_EQ(e.sport, (std::vector<PortRange>{{1000, 2000}}));
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Rule, PortsWithoutTcpOrUdpAreIgnoredAsMwan3Does) {
  auto o = convert(two_wans("", "  option proto 'icmp'\n  option dest_port '80'\n"));
  EXPECT_EQ(cls(o).match.at(0).proto, 1);
  EXPECT_THAT(cls(o).match.at(0).dport, IsEmpty());
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'dest_port' of rule 'r': ports need")));
}

TEST(Mwan3Rule, ProtoAllNumbersAndNames) {
  EXPECT_THAT(convert(two_wans("", "  option proto 'all'\n")).policy.classes.at(0).match,
              IsEmpty());
  EXPECT_EQ(convert(two_wans("", "  option proto 'gre'\n")).policy.classes.at(0).match.at(0).proto,
            47);
  EXPECT_EQ(convert(two_wans("", "  option proto '41'\n")).policy.classes.at(0).match.at(0).proto,
            41);
}

TEST(Mwan3Rule, IcmpInAnIpv6RuleIsNotedAndIcmpv6Converts) {
  auto v6icmp = convert(two_wans("", "  option family 'ipv6'\n  option proto 'icmp'\n") +
                        "config rule 'rest'\n  option use_policy 'p'\n");
  EXPECT_EQ(v6icmp.policy.classes.size(), 1u);
  EXPECT_THAT(v6icmp.notes, testing::Contains(HasSubstr("option 'proto' of rule 'r': icmp in an "
                                                        "IPv6-only rule")));
  auto ok = convert(two_wans("", "  option proto 'ipv6-icmp'\n"));
  EXPECT_EQ(cls(ok).match.at(0).proto, 58);
}

TEST(Mwan3Interface, TwoIpv4InterfacesOnOneDeviceShareAWan) {
  const char* net =
      "config interface 'lan'\n  option device 'br-lan'\n"
      "config interface 'wan'\n  option device 'eth1'\n"
      "config interface 'wanx'\n  option device 'eth1'\n";
  auto o = convert(
      "config interface 'wan'\n  option enabled '1'\n"
      "config interface 'wanx'\n  option enabled '1'\n"
      "config member 'a'\n  option interface 'wanx'\n"
      "config policy 'p'\n  list use_member 'a'\n"
      "config rule 'r'\n  option use_policy 'p'\n",
      net);
  EXPECT_THAT(o.policy.path_names(), ElementsAre("wan"));
  EXPECT_EQ(cls(o).paths, std::vector<std::string>{"wan"});
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("mwan3:3: interface 'wanx': same device (eth1)")));
}

TEST(Mwan3Rule, Addresses) {
  auto o = convert(two_wans("",
                            "  option src_ip '192.168.1.5'\n"
                            "  option dest_ip '203.0.113.7/24,198.51.100.0/24'\n"));
  const auto& e = cls(o).match.at(0);
  ASSERT_EQ(e.src.size(), 1u);
  EXPECT_EQ(e.src[0].to_string(), "192.168.1.5/32");
  ASSERT_EQ(e.dst.size(), 2u);
  EXPECT_EQ(e.dst[0].to_string(), "203.0.113.0/24");  // host bits masked, as iptables does
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Rule, Family) {
  auto v6 = convert(two_wans("", "  option family 'ipv6'\n"));
  EXPECT_EQ(cls(v6).match.at(0).dst.at(0).to_string(), "::/0");
  auto any = convert(two_wans("", "  option family 'any'\n"));
  EXPECT_THAT(cls(any).match, IsEmpty());
  auto prefixed = convert(two_wans("", "  option family 'ipv4'\n  option src_ip '10.0.0.0/8'\n"));
  EXPECT_THAT(cls(prefixed).match.at(0).dst, IsEmpty());  // the prefix already says ipv4
}

TEST(Mwan3Rule, OneFamilyRuleOverAWanMwan3CarriesOnlyTheOtherOnIsNoted) {
  auto o = convert(two_wans("", "  option family 'ipv6'\n"));
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'use_policy' of rule 'r': policy 'p' reaches "
                                             "wan 'wan' through no enabled IPv6 interface")));
  EXPECT_THAT(convert(two_wans("", "  option family 'ipv4'\n")).notes, IsEmpty());
}

TEST(Mwan3Rule, SrcIfaceBecomesIif) {
  auto o = convert(two_wans("", "  option src_iface 'guest'\n"));
  EXPECT_EQ(cls(o).match.at(0).iif, std::vector<std::string>{"br-guest"});
  EXPECT_EQ(o.policy.lan_interfaces, (std::vector<std::string>{"br-lan", "br-guest"}));
}

TEST(Mwan3Rule, StickyIsSourceAffinityWithItsTimeout) {
  std::string bal = "  list use_member 'wan_m1'\n  list use_member 'wanb_m1'\n";
  auto o = convert(two_wans("", "  option sticky '1'\n  option timeout '900'\n", bal));
  EXPECT_EQ(cls(o).source_affinity_s, 900u);
  auto d = convert(two_wans("", "  option sticky '1'\n", bal));
  EXPECT_EQ(cls(d).source_affinity_s, 600u);
  auto off = convert(two_wans("", "  option sticky '0'\n  option timeout '900'\n", bal));
  EXPECT_EQ(cls(off).source_affinity_s, 0u);
  // failover: one uplink at a time, sticky has nothing to keep
  auto fo = convert(two_wans("", "  option sticky '1'\n"));
  EXPECT_EQ(cls(fo).source_affinity_s, 0u);
  EXPECT_THAT(fo.notes, IsEmpty());
}

TEST(Mwan3Rule, IpsetIsReportedAndTheRuleCommentedOut) {
  auto o = convert(two_wans("", "  option ipset 'vpn_domains'\n") +
                   "config rule 'rest'\n  option use_policy 'p'\n");
  ASSERT_EQ(o.policy.classes.size(), 1u);
  EXPECT_EQ(cls(o).name, "rest");
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'ipset' of rule 'r': pathsteer has no named "
                                             "sets")));
  EXPECT_THAT(o.notes[0], HasSubstr("domain:"));
  EXPECT_THAT(o.conv.yaml, HasSubstr("  # r:\n"));
}

TEST(Mwan3Rule, UsePolicyDefaultIsActionMain) {
  auto o = convert(two_wans("", "  option proto 'tcp'\n") +
                   "config rule 'lan_direct'\n  option dest_ip '10.0.0.0/8'\n"
                   "  option use_policy 'default'\n");
  ASSERT_EQ(o.policy.classes.size(), 2u);
  EXPECT_EQ(cls(o, 1).action, LastResort::kMain);
  EXPECT_THAT(cls(o, 1).paths, IsEmpty());
  EXPECT_EQ(cls(o, 1).match.at(0).dst.at(0).to_string(), "10.0.0.0/8");
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Rule, UsePolicyUnreachableOrBlackholeFollowsLastResort) {
  // The policy in use has last_resort unreachable (the default): an unreachable rule is exact.
  auto same = convert(two_wans("", "  option proto 'tcp'\n") +
                      "config rule 'deny'\n  option dest_ip '192.0.2.0/24'\n"
                      "  option use_policy 'unreachable'\n");
  EXPECT_EQ(cls(same, 1).action, LastResort::kUnreachable);
  EXPECT_EQ(same.policy.last_resort, LastResort::kUnreachable);
  EXPECT_THAT(same.notes, IsEmpty());
  // A blackhole rule beside it cannot have its own mark: noted, written as a comment.
  auto other = convert(two_wans("", "  option proto 'tcp'\n") +
                       "config rule 'deny'\n  option dest_ip '192.0.2.0/24'\n"
                       "  option use_policy 'unreachable'\n"
                       "config rule 'drop'\n  option dest_ip '198.18.0.0/15'\n"
                       "  option use_policy 'blackhole'\n");
  EXPECT_EQ(other.policy.classes.size(), 2u);
  EXPECT_THAT(other.notes, ElementsAre(HasSubstr("option 'use_policy' of rule 'drop': a pathsteer "
                                                 "class may send its traffic to the main table")));
  EXPECT_THAT(other.conv.yaml, HasSubstr("  # drop:\n"));
}

TEST(Mwan3Rule, RulesKeepTheirOrderAndAnonymousOnesGetNames) {
  auto o = convert(two_wans("", "  option proto 'tcp'\n") +
                   "config rule\n  option proto 'udp'\n  option use_policy 'p'\n");
  ASSERT_EQ(o.policy.classes.size(), 2u);
  EXPECT_EQ(o.policy.classes[0].name, "r");
  EXPECT_EQ(o.policy.classes[1].name, "rule_1");
  EXPECT_THAT(o.conv.yaml, HasSubstr("# rule '@rule[1]' (mwan3:"));
}

TEST(Mwan3Rule, ARuleAfterACatchAllIsACommentAsMwan3NeverReachesIt) {
  auto o = convert(two_wans() +
                   "config rule 'unreached'\n  option proto 'udp'\n  option use_policy 'p'\n");
  ASSERT_EQ(o.policy.classes.size(), 1u);
  EXPECT_THAT(o.conv.yaml, HasSubstr("never matches: rule 'r' before it takes all traffic"));
  EXPECT_THAT(o.conv.yaml, HasSubstr("  # unreached:\n"));
  EXPECT_THAT(o.notes, IsEmpty());
}

TEST(Mwan3Rule, LoggingIsNoted) {
  EXPECT_THAT(convert(two_wans("", "  option logging '1'\n")).notes,
              ElementsAre(HasSubstr("option 'logging' of rule 'r'")));
}

// ---- globals and the file as a whole ----

TEST(Mwan3Globals, OwnershipStaysClearOfMmxMask) {
  auto o = convert("config globals 'globals'\n  option mmx_mask '0x3F00'\n" + two_wans());
  EXPECT_EQ(o.policy.ownership.mark_mask, 0x0ff00000u);
  EXPECT_EQ(o.policy.ownership.rule_priority_base, 10000u);
  EXPECT_THAT(o.notes, IsEmpty());
  auto wide = convert("config globals 'globals'\n  option mmx_mask '0x0FF00000'\n" + two_wans());
  EXPECT_EQ(wide.policy.ownership.mark_mask & 0x0ff00000u, 0u);
  EXPECT_NE(wide.policy.ownership.mark_mask, 0u);
}

TEST(Mwan3Globals, UnknownSectionAndGlobalsOptionAreReported) {
  auto o =
      convert("config globals 'g'\n  option logging '1'\nconfig frobnicate 'x'\n" + two_wans());
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'logging' of globals 'g'"),
                                   "mwan3:3: frobnicate 'x': unknown section type 'frobnicate' "
                                   "(mwan3 knows globals, interface, member, policy, rule); not "
                                   "carried over"));
}

TEST(Mwan3Globals, LocalSourceAndRtmonIntervalAreNoted) {
  auto o = convert(
      "config globals 'g'\n  option local_source 'lan'\n"
      "  option rtmon_interval '5'\n" +
      two_wans());
  EXPECT_THAT(o.notes, ElementsAre(HasSubstr("option 'local_source' of globals 'g'"),
                                   HasSubstr("option 'rtmon_interval' of globals 'g'")));
}

TEST(Mwan3Naming, Mwan4SpellingsConvertTheSame) {
  std::string m3 = two_wans("", "  option family 'ipv4'\n",
                            "  list use_member 'wan_m1'\n  list use_member 'wanb_m1'\n");
  std::string m4 = m3;
  auto replace = [&](const std::string& a, const std::string& b) {
    for (size_t at = m4.find(a); at != std::string::npos; at = m4.find(a, at + b.size()))
      m4.replace(at, a.size(), b);
  };
  replace("config member", "config route");
  replace("config policy", "config strategy");
  replace("use_member", "use_route");
  replace("use_policy", "use_strategy");
  replace("option family 'ipv4'", "list family 'ipv4'");
  auto a = convert(m3), b = convert(m4);
  EXPECT_EQ(a.policy, b.policy);
  EXPECT_THAT(b.notes, IsEmpty());
  EXPECT_THAT(b.conv.yaml, HasSubstr("# mwan4 names"));
}

TEST(Mwan3Naming, Mwan4FamilyListOfBothIsAny) {
  auto o = convert(two_wans("", "  list family 'ipv4'\n  list family 'ipv6'\n"));
  EXPECT_THAT(cls(o).match, IsEmpty());
}

TEST(Mwan3Note, FormatNamesFileLineOptionAndSection) {
  mwan3::Note n{.file = "/etc/config/mwan3",
                .line = 42,
                .section_type = "rule",
                .section = "https",
                .option = "ipset",
                .why = "no named sets"};
  EXPECT_EQ(n.to_string(), "/etc/config/mwan3:42: option 'ipset' of rule 'https': no named sets");
}

}  // namespace
}  // namespace pathsteer
