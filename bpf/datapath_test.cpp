// Datapath tests against the real kernel: table-driven BPF_PROG_TEST_RUN
// fixtures (a frame from bpf/packet_builder.h in; verdict, mark, class,
// uplink, redirect target and counters out) on a private pin dir, redirect
// mode inside a throwaway network namespace, attach/detach on a veth. Need root.
#include "bpf/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>
#include "common/test_skip.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bpf/bench_classifier.h"
#include "bpf/packet_builder.h"
#include "bpf/pathsteer_abi.h"
#include "bpf/prog_run.h"
#include "common/fd.h"

namespace pathsteer {
namespace {

using testing::build;
using testing::Frame;
using testing::V6Ext;

constexpr uint32_t kMask = 0x0ff00000;
constexpr uint32_t kForeign = 0xf000000f;  // bits of other tenants: never touched

uint32_t m(uint32_t n) {
  return n << 20;
}  // mark n inside kMask

Prefix pfx(const char* s) {
  return *Prefix::parse(s);
}

// A class with a fixed mark (no members): the verdict shows the class itself.
DatapathClass fixed(std::string name, std::vector<MatchEntry> match, uint32_t mark) {
  return DatapathClass{.name = std::move(name), .match = std::move(match), .mark = mark};
}

DatapathClass steered(std::string name, std::vector<MatchEntry> match,
                      std::vector<DatapathMember> members) {
  return DatapathClass{.name = std::move(name), .match = std::move(match), .members = members};
}

DatapathUplink uplink(uint32_t id, bool live = true) {
  return DatapathUplink{.id = id, .mark = m(id), .table = 200 + id, .ifindex = 0, .live = live};
}

// ---- fixture -----------------------------------------------------------------

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      PS_SKIP_OR_FAIL("Datapath tests need root (BPF maps, bpffs, netns)");
    pin_dir_ = "/sys/fs/bpf/ps-test-" + std::to_string(getpid());
    auto dp = Datapath::open(pin_dir_);
    ASSERT_TRUE(dp.ok()) << dp.error().to_string();
    dp_ = std::move(*dp);
  }

  void TearDown() override {
    if (dp_) {
      auto r = dp_->unpin();
      EXPECT_TRUE(r.ok()) << r.error().to_string();
      dp_.reset();
      EXPECT_FALSE(std::filesystem::exists(pin_dir_)) << pin_dir_ << " left behind by unpin()";
    }
    if (!pin_dir_.empty()) {
      // Also after a failed open(): libbpf pins maps before loading the program.
      std::error_code ec;
      std::filesystem::remove_all(pin_dir_, ec);
    }
  }

  SimulateResult sim(const std::vector<uint8_t>& frame, uint32_t mark_in = 0, int iif = 0) {
    auto r = dp_->simulate(frame, mark_in, iif);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r.ok()) {
      return SimulateResult{.mark = 0xdeadbeef};
    }
    if (r->retval != TC_ACT_REDIRECT) {
      EXPECT_EQ(r->retval, TC_ACT_UNSPEC) << "classifier must never end the filter chain or drop";
    }
    return *r;
  }
  SimulateResult sim(const Frame& f, uint32_t mark_in = 0, int iif = 0) {
    return sim(build(f), mark_in, iif);
  }
  uint32_t mark_of(const Frame& f, uint32_t mark_in = 0) { return sim(f, mark_in).mark; }

  Fd pinned(const char* name) { return Fd(bpf_obj_get((pin_dir_ + "/" + name).c_str())); }

  ps_config pinned_config() {
    Fd fd = pinned(PS_CONFIG_MAP);
    ps_config cfg{};
    uint32_t key = 0;
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(bpf_map_lookup_elem(fd.get(), &key, &cfg), 0);
    return cfg;
  }

  void write_pinned_config(const ps_config& cfg) {
    Fd fd = pinned(PS_CONFIG_MAP);
    uint32_t key = 0;
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(bpf_map_update_elem(fd.get(), &key, &cfg, BPF_ANY), 0);
  }

  // Every entry of both flow tables (so table cases do not see each other's flows).
  void flush_flows() {
    for (const char* name : {"ps_flow4_v4", "ps_flow6_v4"}) {
      Fd fd = pinned(name);
      ASSERT_TRUE(fd.valid()) << name;
      std::vector<uint8_t> key(64), next(64);
      while (bpf_map_get_next_key(fd.get(), nullptr, next.data()) == 0) {
        ASSERT_EQ(bpf_map_delete_elem(fd.get(), next.data()), 0);
      }
    }
  }

  size_t flow_count(const char* name) {
    Fd fd = pinned(name);
    std::vector<uint8_t> key(64), next(64);
    size_t n = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, next.data()) == 0) {
      ++n;
      key = next;
      prev = key.data();
    }
    return n;
  }

  // Makes every IPv4 flow look idle since boot.
  void age_flows4() {
    Fd fd = pinned("ps_flow4_v4");
    ps_flow4_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
      ps_flow v{};
      ASSERT_EQ(bpf_map_lookup_elem(fd.get(), &next, &v), 0);
      v.last_seen = 1;
      ASSERT_EQ(bpf_map_update_elem(fd.get(), &next, &v, BPF_EXIST), 0);
      key = next;
      prev = &key;
    }
  }

  // Makes every source-affinity entry look unrefreshed since boot.
  void age_affinity() {
    Fd fd = pinned("ps_aff_v4");
    ps_aff_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
      ps_aff v{};
      ASSERT_EQ(bpf_map_lookup_elem(fd.get(), &next, &v), 0);
      v.last_seen = 1;
      ASSERT_EQ(bpf_map_update_elem(fd.get(), &next, &v, BPF_EXIST), 0);
      key = next;
      prev = &key;
    }
  }

  DatapathCounters counters() {
    auto c = dp_->read_counters();
    EXPECT_TRUE(c.ok()) << c.error().to_string();
    return c.ok() ? *c : DatapathCounters{};
  }

  std::string pin_dir_;
  std::unique_ptr<Datapath> dp_;
};

// ---- classification table ----------------------------------------------------

constexpr int kLanA = 7;  // ingress ifindexes of the iif cases (no device needed)
constexpr int kLanB = 8;
constexpr int kLanEdge = PS_IIF_SLOTS - 1;  // the array's last slot
constexpr int kLanBig = PS_IIF_SLOTS;       // the first ifindex looked up in the hash

// Classes in policy order; several overlap on purpose (the first one must win).
// Class i has the fixed mark m(i + 1).
DatapathPlan table_plan() {
  DatapathPlan p{.mark_mask = kMask};
  auto add = [&](std::string name, std::vector<MatchEntry> match) {
    p.classes.push_back(fixed(std::move(name), std::move(match), m(p.classes.size() + 1)));
  };
  add("dns", {{.proto = IPPROTO_UDP, .dport = {{53, 53}}}});                // 0
  add("range", {{.proto = IPPROTO_TCP, .dport = {{8000, 8080}}}});          // 1
  add("list", {{.proto = IPPROTO_TCP, .dport = {{22, 22}, {443, 443}}}});   // 2
  add("src", {{.src = {pfx("10.1.0.0/16"), pfx("2001:db8:1::/48")}}});      // 3
  add("dst", {{.dst = {pfx("192.0.2.7/32"), pfx("2001:db8:ff::7/128")}}});  // 4
  add("sport", {{.proto = IPPROTO_TCP, .sport = {{1000, 1999}}}});          // 5
  add("voice", {{.dscp = 46}});                                             // 6
  add("wide-first", {{.dst = {pfx("10.20.0.0/16")}}});                      // 7
  add("narrow-after", {{.dst = {pfx("10.20.30.0/24")}}});                   // 8
  add("narrow-first", {{.dst = {pfx("10.30.40.0/24")}}});                   // 9
  add("wide-after", {{.dst = {pfx("10.30.0.0/16")}}});                      // 10
  add("web-in-16", {{.proto = IPPROTO_TCP, .dport = {{80, 80}}, .dst = {pfx("10.40.0.0/16")}}});
  add("any-in-24", {{.dst = {pfx("10.40.5.0/24")}}});  // 12
  add("from-lan-a",
      {{.proto = IPPROTO_TCP, .dport = {{7000, 7000}}, .iif = {"lan-a", "lan-edge", "lan-big"}}});
  add("ghost-iif", {{.iif = {"absent"}}});  // 14
  add("two-entries",
      {{.proto = IPPROTO_UDP, .dport = {{5060, 5061}}}, {.dst = {pfx("198.18.0.0/15")}}});  // 15
  add("frag-ports", {{.proto = IPPROTO_TCP, .dport = {{80, 80}}, .dst = {pfx("203.0.113.0/24")}}});
  add("frag-any", {{.dst = {pfx("203.0.113.0/24")}}});                   // 17
  add("icmp", {{.proto = IPPROTO_ICMP}});                                // 18
  add("udp-any", {{.proto = IPPROTO_UDP}});                              // 19
  DatapathClass leave = fixed("leave", {{.proto = IPPROTO_ICMPV6}}, 0);  // 20
  leave.leave_mark = true;
  p.classes.push_back(leave);
  add("clear", {{.dst = {pfx("198.51.100.0/24")}}});  // 21 (m(22))
  p.classes.back().mark = 0;
  p.interfaces = {{"lan-a", kLanA}, {"lan-b", kLanB}, {"lan-edge", kLanEdge}, {"lan-big", kLanBig}};
  return p;
}

constexpr int kNone = -1;  // no class

struct Case {
  const char* name;
  Frame frame;
  int want_class;  // class id, or kNone
  int iif = 1;
};

const char* kV6a = "2001:db8:9::1";
const char* kV6b = "2001:db8:8::1";

TEST_F(DatapathTest, ClassificationTable) {
  DatapathPlan plan = table_plan();
  ASSERT_TRUE(dp_->program(plan).ok());
  const V6Ext hop{.type = IPPROTO_HOPOPTS};
  const V6Ext dstopt{.type = IPPROTO_DSTOPTS};
  const V6Ext routing{.type = IPPROTO_ROUTING};
  const Case cases[] = {
      {"v4 udp dport 53", {.proto = IPPROTO_UDP, .dport = 53}, 0},
      {"v6 udp dport 53", {.src = kV6a, .dst = kV6b, .proto = IPPROTO_UDP, .dport = 53}, 0},
      {"udp dport 54 falls to udp-any", {.proto = IPPROTO_UDP, .dport = 54}, 19},
      {"tcp dport 53 is not dns", {.dport = 53}, kNone},
      {"range low edge", {.dport = 8000}, 1},
      {"range high edge", {.dport = 8080}, 1},
      {"below range", {.dport = 7999}, kNone},
      {"above range", {.dport = 8081}, kNone},
      {"v6 tcp range", {.src = kV6a, .dst = kV6b, .dport = 8080}, 1},
      {"udp in tcp range", {.proto = IPPROTO_UDP, .dport = 8000}, 19},
      {"port list first", {.dport = 22}, 2},
      {"port list second", {.dport = 443}, 2},
      {"between list items", {.dport = 23}, kNone},
      {"sport low edge", {.sport = 1000}, 5},
      {"sport high edge", {.sport = 1999}, 5},
      {"sport above", {.sport = 2000}, kNone},
      {"v4 src prefix", {.src = "10.1.200.3"}, 3},
      {"v4 src outside", {.src = "10.2.0.1"}, kNone},
      {"v6 src prefix", {.src = "2001:db8:1:ffff::5", .dst = kV6b}, 3},
      {"v6 src outside", {.src = "2001:db8:2::5", .dst = kV6b}, kNone},
      {"v4 dst host", {.dst = "192.0.2.7"}, 4},
      {"v4 dst other host", {.dst = "192.0.2.8"}, kNone},
      {"v6 dst host", {.src = kV6a, .dst = "2001:db8:ff::7"}, 4},
      {"dscp ef v4", {.dscp = 46}, 6},
      {"dscp ef v6", {.src = kV6a, .dst = kV6b, .dscp = 46}, 6},
      {"dscp af41 no match", {.dscp = 34}, kNone},
      {"wide class first wins over narrower later", {.dst = "10.20.30.5"}, 7},
      {"wide class alone", {.dst = "10.20.1.1"}, 7},
      {"narrow class first wins", {.dst = "10.30.40.5"}, 9},
      {"wide after narrow", {.dst = "10.30.1.1"}, 10},
      {"covering /16 rule holds inside a /24", {.dst = "10.40.5.9", .dport = 80}, 11},
      {"/24 rule when port differs", {.dst = "10.40.5.9", .dport = 81}, 12},
      {"/16 rule outside the /24", {.dst = "10.40.6.1", .dport = 80}, 11},
      {"iif listed", {.dport = 7000}, 13, kLanA},
      {"iif other interface", {.dport = 7000}, kNone, kLanB},
      {"iif listed, last array slot", {.dport = 7000}, 13, kLanEdge},
      {"iif listed, first hashed ifindex", {.dport = 7000}, 13, kLanBig},
      {"iif unlisted, below the array's end", {.dport = 7000}, kNone, kLanEdge - 1},
      {"iif unlisted, hashed", {.dport = 7000}, kNone, kLanBig + 1},
      {"iif unlisted, large", {.dport = 7000}, kNone, 70000},
      {"iif of an absent name matches nothing", {.dport = 7001}, kNone, kLanA},
      {"second entry of a class", {.dst = "198.19.1.1"}, 15},
      {"first entry of a class", {.proto = IPPROTO_UDP, .dport = 5061}, 15},
      {"icmp", {.proto = IPPROTO_ICMP}, 18},
      {"vlan tagged", {.proto = IPPROTO_UDP, .dport = 53, .vlan = true}, 0},
      {"vlan tagged v6", {.src = kV6a, .dst = kV6b, .dport = 443, .vlan = true}, 2},
      {"ipv4 options", {.dport = 443, .ip_option_words = 3}, 2},
      {"ipv4 options max ihl", {.dport = 22, .ip_option_words = 10}, 2},
      {"v4 first fragment has ports", {.dst = "203.0.113.9", .dport = 80, .frag_off = 0x2000}, 16},
      {"v4 non-first fragment: portless", {.dst = "203.0.113.9", .dport = 80, .frag_off = 185}, 17},
      {"v4 non-first fragment skips port rules",
       {.proto = IPPROTO_UDP, .dport = 53, .frag_off = 7},
       19},
      {"v6 hop-by-hop then tcp: ports found",
       {.src = kV6a, .dst = kV6b, .dport = 22, .v6_ext = {hop}},
       2},
      {"v6 three ext headers then udp",
       {.src = kV6a,
        .dst = kV6b,
        .proto = IPPROTO_UDP,
        .dport = 53,
        .v6_ext = {hop, routing, dstopt}},
       0},
      {"v6 first fragment has ports",
       {.src = kV6a, .dst = kV6b, .dport = 443, .v6_ext = {{.type = IPPROTO_FRAGMENT}}},
       2},
      {"v6 non-first fragment: portless, prefix matches",
       {.src = kV6a,
        .dst = "2001:db8:ff::7",
        .dport = 443,
        .v6_ext = {{.type = IPPROTO_FRAGMENT, .frag_offset = 100}}},
       4},
      {"v6 non-first fragment: port rule cannot match",
       {.src = kV6a,
        .dst = kV6b,
        .dport = 443,
        .v6_ext = {{.type = IPPROTO_FRAGMENT, .frag_offset = 100}}},
       kNone},
      {"v6 AH then udp",
       {.src = kV6a,
        .dst = kV6b,
        .proto = IPPROTO_UDP,
        .dport = 53,
        .v6_ext = {{.type = IPPROTO_AH}}},
       0},
      {"v6 ext chain too long: no ports",
       {.src = kV6a,
        .dst = kV6b,
        .proto = IPPROTO_UDP,
        .dport = 53,
        .v6_ext = {hop, dstopt, routing, dstopt, routing, dstopt, dstopt}},
       kNone},
  };
  ASSERT_GE(std::size(cases), 40u);
  for (const Case& c : cases) {
    flush_flows();
    SimulateResult r = sim(c.frame, kForeign | m(0xee), c.iif);
    if (c.want_class == kNone) {
      EXPECT_FALSE(r.class_id) << c.name << ": class " << r.class_id.value_or(999);
      EXPECT_EQ(r.mark, kForeign | m(0xee)) << c.name << ": unclassified must stay untouched";
    } else {
      EXPECT_EQ(r.class_id, static_cast<uint32_t>(c.want_class)) << c.name;
      EXPECT_EQ(r.mark, kForeign | m(c.want_class + 1)) << c.name;
    }
  }
  DatapathCounters c = counters();
  EXPECT_EQ(c.parse_errors, 0u);
  EXPECT_EQ(c.non_ip, 0u);
  EXPECT_EQ(c.fragments, 4u);
  EXPECT_EQ(c.no_ports, 1u);
  EXPECT_EQ(c.ip_options, 2u);
  EXPECT_EQ(c.vlan, 2u);
}

TEST_F(DatapathTest, MarkActions) {
  ASSERT_TRUE(dp_->program(table_plan()).ok());
  EXPECT_EQ(mark_of({.proto = IPPROTO_UDP, .dport = 53}, 0xffffffff), 0xf01fffffu)
      << "foreign bits preserved, ours set";
  EXPECT_EQ(mark_of({.src = kV6a, .dst = kV6b, .proto = IPPROTO_ICMPV6}, 0x12345678), 0x12345678u)
      << "leave_mark class";
  EXPECT_EQ(mark_of({.dst = "198.51.100.1"}, kForeign | m(0xff)), kForeign)
      << "mark 0 clears our bits";
  EXPECT_EQ(mark_of({.dport = 1}, 0x12345678), 0x12345678u) << "unmatched untouched";
}

TEST_F(DatapathTest, MalformedAndNonIpPassUntouchedAndCounted) {
  ASSERT_TRUE(dp_->program(table_plan()).ok());
  const uint32_t in = kForeign | m(7);
  std::vector<uint8_t> v4 = build({.proto = IPPROTO_UDP, .dport = 53});
  std::vector<uint8_t> v6 = build({.src = kV6a, .dst = kV6b, .proto = IPPROTO_UDP, .dport = 53});
  // The kernel's test_run refuses untagged IPv4/IPv6 frames shorter than the IP
  // header (EINVAL), so truncated IP headers are tested behind a VLAN tag,
  // where test_run does not look.
  std::vector<uint8_t> v4_tagged = build({.proto = IPPROTO_UDP, .dport = 53, .vlan = true});
  std::vector<uint8_t> v6_tagged =
      build({.src = kV6a, .dst = kV6b, .proto = IPPROTO_UDP, .dport = 53, .vlan = true});
  std::vector<uint8_t> v6_ext = build({.src = kV6a,
                                       .dst = kV6b,
                                       .proto = IPPROTO_UDP,
                                       .dport = 53,
                                       .v6_ext = {{.type = IPPROTO_HOPOPTS}}});
  std::vector<uint8_t> v6_frag = build({.src = kV6a,
                                        .dst = kV6b,
                                        .proto = IPPROTO_UDP,
                                        .dport = 53,
                                        .v6_ext = {{.type = IPPROTO_FRAGMENT}}});
  std::vector<uint8_t> bad_ihl = v4;
  bad_ihl[14] = 0x44;
  std::vector<uint8_t> bad_version = v4;
  bad_version[14] = 0x65;
  std::vector<uint8_t> bad_total = v4;
  bad_total[16] = 0;
  bad_total[17] = 12;  // total length below the header length
  std::vector<uint8_t> bad_v6_version = v6;
  bad_v6_version[14] = 0x40;
  std::vector<uint8_t> vlan_cut = build({.vlan = true});
  vlan_cut.resize(16);
  struct Bad {
    const char* name;
    std::vector<uint8_t> frame;
  };
  const Bad bad[] = {
      {"truncated IPv4 header", {v4_tagged.begin(), v4_tagged.begin() + 18 + 10}},
      {"truncated IPv6 header", {v6_tagged.begin(), v6_tagged.begin() + 18 + 30}},
      {"truncated UDP ports", {v4.begin(), v4.begin() + 14 + 20 + 2}},
      {"truncated UDP ports v6", {v6.begin(), v6.begin() + 14 + 40 + 3}},
      {"truncated VLAN tag", vlan_cut},
      {"ihl < 5", bad_ihl},
      {"IPv4 EtherType, version 6", bad_version},
      {"total length < header", bad_total},
      {"IPv6 EtherType, version 4", bad_v6_version},
      {"truncated v6 extension header", {v6_ext.begin(), v6_ext.begin() + 14 + 40 + 1}},
      {"truncated v6 fragment header", {v6_frag.begin(), v6_frag.begin() + 14 + 40 + 6}},
  };
  for (const Bad& b : bad) {
    SimulateResult r = sim(b.frame, in);
    EXPECT_EQ(r.mark, in) << b.name;
    EXPECT_FALSE(r.class_id) << b.name;
  }
  EXPECT_EQ(sim(Frame{.ether_type = 0x0806}, in).mark, in) << "ARP";
  EXPECT_EQ(sim(Frame{.ether_type = 0x88cc}, in).mark, in) << "LLDP";

  DatapathCounters c = counters();
  EXPECT_EQ(c.parse_errors, std::size(bad));
  EXPECT_EQ(c.non_ip, 2u);
  EXPECT_EQ(c.unclassified, 0u);
  EXPECT_EQ(c.flow_new, 0u) << "unparsed packets make no flow entries";
  for (const ClassCounters& cc : c.classes) {
    EXPECT_EQ(cc.packets, 0u);
  }
}

TEST_F(DatapathTest, CountersPerClassAndUplink) {
  DatapathPlan plan{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  plan.classes.push_back(steered("dns", {{.proto = IPPROTO_UDP, .dport = {{53, 53}}}}, {{1, 1}}));
  plan.classes.push_back(steered("web", {{.proto = IPPROTO_TCP, .dport = {{443, 443}}}}, {{2, 1}}));
  ASSERT_TRUE(dp_->program(plan).ok());

  std::vector<uint8_t> dns = build({.proto = IPPROTO_UDP, .dport = 53});
  std::vector<uint8_t> web = build({.dport = 443, .vlan = true});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sim(dns).uplink_id, 1u);
  }
  EXPECT_EQ(sim(web).mark, m(2));
  sim(Frame{.dport = 1});

  DatapathCounters c = counters();
  ASSERT_EQ(c.classes.size(), 2u);
  EXPECT_EQ(c.classes[0], (ClassCounters{.packets = 3, .bytes = 3 * dns.size()}));
  EXPECT_EQ(c.classes[1], (ClassCounters{.packets = 1, .bytes = web.size()}));
  EXPECT_EQ(c.uplinks[1], (ClassCounters{.packets = 3, .bytes = 3 * dns.size()}));
  EXPECT_EQ(c.uplinks[2], (ClassCounters{.packets = 1, .bytes = web.size()}));
  EXPECT_EQ(c.unclassified, 1u);
  EXPECT_EQ(c.flow_new, 3u);
  EXPECT_EQ(c.flow_hit, 2u);
}

TEST_F(DatapathTest, EmptyMatchMatchesEverything) {
  DatapathPlan plan{.mark_mask = kMask};
  plan.classes.push_back(DatapathClass{.name = "default", .mark = m(3)});
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(mark_of(Frame{}), m(3));
  EXPECT_EQ(mark_of(Frame{.src = "2001:db8::1", .dst = "2001:db8::2", .proto = 58}), m(3));
}

// Destinations no router forwards stay on the link: an empty match (which
// matches everything else) does not take them, and they make no flow entry.
TEST_F(DatapathTest, LinkScopeDestinationsPassUntouched) {
  DatapathPlan plan{.mark_mask = kMask};
  plan.classes.push_back(DatapathClass{.name = "default", .mark = m(3)});
  ASSERT_TRUE(dp_->program(plan).ok());
  const uint32_t in = kForeign | m(7);
  const char* link_scope[] = {"224.0.0.22",  "224.0.0.251", "239.255.255.250", "255.255.255.255",
                              "169.254.1.1", "ff02::16",    "ff05::c",         "fe80::1"};
  for (const char* dst : link_scope) {
    bool v6 = std::string_view(dst).find(':') != std::string_view::npos;
    SimulateResult r = sim(build({.src = v6 ? "2001:db8::1" : "192.0.2.1",
                                  .dst = dst,
                                  .proto = IPPROTO_UDP,
                                  .dport = 5353}),
                           in);
    EXPECT_EQ(r.mark, in) << dst;
    EXPECT_FALSE(r.class_id) << dst;
  }
  // Their neighbours just outside the ranges are routed, so classified.
  for (const char* dst : {"223.255.255.255", "240.0.0.1", "169.255.0.1", "fec0::1", "fe7f::1"}) {
    bool v6 = std::string_view(dst).find(':') != std::string_view::npos;
    EXPECT_EQ(mark_of(Frame{.src = v6 ? "2001:db8::1" : "192.0.2.1", .dst = dst}), m(3)) << dst;
  }
  DatapathCounters c = counters();
  EXPECT_EQ(c.link_scope, std::size(link_scope));
  EXPECT_EQ(c.flow_new, 5u) << "only the routed ones made flow entries";
}

// `uid` entries are for the gateway's own traffic (ip rules): a class of
// only such entries must match no forwarded packet, not every packet.
TEST_F(DatapathTest, UidEntriesNeverMatchForwardedTraffic) {
  DatapathPlan plan{.mark_mask = kMask};
  MatchEntry owner;
  owner.uid = {UidRange{1000, 1999}};
  plan.classes.push_back(DatapathClass{.name = "backups", .match = {owner}, .mark = m(2)});
  plan.classes.push_back(DatapathClass{.name = "default", .mark = m(3)});
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(mark_of(Frame{}), m(3));
  SimulateResult r = sim(Frame{.proto = IPPROTO_UDP, .dport = 53});
  EXPECT_EQ(r.class_id, 1u);
}

TEST_F(DatapathTest, MixedFamilyEntries) {
  DatapathPlan plan{.mark_mask = kMask};
  // v4 src with v6 dst can never match; v4/v4 and v6/v6 can.
  plan.classes.push_back(fixed("mixed",
                               {{.src = {pfx("10.0.0.0/8"), pfx("2001:db8::/32")},
                                 .dst = {pfx("2001:db8:8::/48"), pfx("10.8.0.0/16")}}},
                               m(1)));
  plan.classes.push_back(fixed("v4-src-only", {{.src = {pfx("10.0.0.0/8")}}}, m(2)));
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(mark_of(Frame{.src = "10.1.1.1", .dst = "10.8.1.1"}), m(1));
  EXPECT_EQ(mark_of(Frame{.src = "2001:db8::1", .dst = "2001:db8:8::1"}), m(1));
  EXPECT_EQ(mark_of(Frame{.src = "10.1.1.1", .dst = "10.9.1.1"}), m(2));
  EXPECT_EQ(mark_of(Frame{.src = "2001:db8::1", .dst = "2001:db8:9::1"}), 0u)
      << "an IPv4-only src list never matches IPv6";
}

// ---- flows -------------------------------------------------------------------

TEST_F(DatapathTest, StickyAcrossPreferenceChangeAndReload) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("web", {{.proto = IPPROTO_TCP}}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 41000, .dport = 443};
  EXPECT_EQ(sim(flow).uplink_id, 1u);

  // Preference change (failover now prefers uplink 2): same rules, new action generation.
  DatapathPlan b = a;
  b.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(b).ok());
  SimulateResult r = sim(flow);
  EXPECT_EQ(r.uplink_id, 1u) << "established flow keeps its live uplink";
  EXPECT_EQ(r.mark, m(1));
  EXPECT_EQ(sim(Frame{.sport = 41001, .dport = 443}).uplink_id, 2u) << "new flows follow";

  // A reload that changes the rules (new rule generation, class moved to id 1).
  DatapathPlan c = b;
  c.classes.insert(c.classes.begin(), fixed("dns", {{.proto = IPPROTO_UDP}}, m(9)));
  uint32_t gen_before = PS_STATE_RULE_GEN(pinned_config().state);
  ASSERT_TRUE(dp_->program(c).ok());
  EXPECT_NE(PS_STATE_RULE_GEN(pinned_config().state), gen_before);
  r = sim(flow);
  EXPECT_EQ(r.uplink_id, 1u) << "still sticky after a rule generation switch";
  EXPECT_EQ(r.class_id, 1u) << "but counted under the class's new id";
  EXPECT_EQ(counters().flow_reclassified, 2u);
}

// explain's test runs report a pinned flow but never create or refresh one.
// An upgrade onto a new layout copies the older layout's flow entries (same
// key and value) into the new tables: an established flow keeps its uplink.
TEST_F(DatapathTest, UpgradeCarriesFlowsFromAnOlderLayout) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("web", {{.proto = IPPROTO_TCP}}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 41000, .dport = 443};
  ASSERT_EQ(sim(flow).uplink_id, 1u);
  // Its entry as an older layout's table holds it, but on uplink 2.
  ps_flow4_key key{};
  ps_flow v{};
  {
    Fd fd = pinned("ps_flow4_v4");
    ASSERT_EQ(bpf_map_get_next_key(fd.get(), nullptr, &key), 0);
    ASSERT_EQ(bpf_map_lookup_elem(fd.get(), &key, &v), 0);
  }
  v.uplink_id = 2;
  const std::string dir = pin_dir_ + "-upgrade";
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  Fd old(
      bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "ps_flow4_v3", sizeof(key), sizeof(v), 1024, nullptr));
  ASSERT_TRUE(old.valid());
  ASSERT_EQ(bpf_map_update_elem(old.get(), &key, &v, BPF_ANY), 0);
  ASSERT_EQ(bpf_obj_pin(old.get(), (dir + "/ps_flow4_v3").c_str()), 0);
  // An older table with another entry layout is left alone.
  Fd odd(bpf_map_create(BPF_MAP_TYPE_HASH, "ps_flow6_v3", 8, 8, 16, nullptr));
  ASSERT_TRUE(odd.valid());
  ASSERT_EQ(bpf_obj_pin(odd.get(), (dir + "/ps_flow6_v3").c_str()), 0);

  auto up = Datapath::open(dir);
  ASSERT_TRUE(up.ok()) << up.error().to_string();
  ASSERT_TRUE((*up)->program(a).ok());
  auto carried = (*up)->simulate(build(flow));
  ASSERT_TRUE(carried.ok());
  EXPECT_EQ(carried->uplink_id, 2u) << "the carried flow keeps its uplink";
  EXPECT_EQ(carried->class_id, 0u);
  auto fresh = (*up)->simulate(build(Frame{.sport = 41001, .dport = 443}));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->uplink_id, 1u) << "new flows follow the class";
  auto c = (*up)->read_counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->flow_reclassified, 1u);  // an older epoch: classified again, uplink kept
  EXPECT_FALSE(std::filesystem::exists(dir + "/ps_flow4_v3")) << "old pins removed";
  EXPECT_TRUE((*up)->unpin().ok());
}

TEST_F(DatapathTest, DryRunLeavesTheFlowTableAlone) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("web", {{.proto = IPPROTO_TCP}}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 42000, .dport = 443};
  for (int i = 0; i < 2; ++i) {
    auto r = dp_->simulate(build(flow), 0, 0, /*record_flow=*/false);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->uplink_id, 1u);
    EXPECT_FALSE(r->established) << "a dry run must not have pinned the flow";
  }
  // Nor counted: explain must not show up in the class's or uplink's traffic.
  DatapathCounters c = counters();
  ASSERT_EQ(c.classes.size(), 1u);
  EXPECT_EQ(c.classes[0].packets, 0u);
  EXPECT_TRUE(c.uplinks.empty());
  EXPECT_EQ(c.flow_new, 0u);
  EXPECT_FALSE(sim(flow).established);  // a real packet creates the entry
  c = counters();
  EXPECT_EQ(c.classes[0].packets, 1u);
  EXPECT_EQ(c.flow_new, 1u);
  DatapathPlan b = a;
  b.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(b).ok());
  auto r = dp_->simulate(build(flow), 0, 0, /*record_flow=*/false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->established);
  EXPECT_EQ(r->uplink_id, 1u) << "the pinned flow's uplink, not the class's new choice";
  auto fresh = dp_->simulate(build(Frame{.sport = 42001, .dport = 443}), 0, 0, false);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->established);
  EXPECT_EQ(fresh->uplink_id, 2u);
}

TEST_F(DatapathTest, RechosenWhenUplinkGoesDown) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("all", {}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 42000};
  EXPECT_EQ(sim(flow).uplink_id, 1u);

  DatapathPlan down = a;
  down.uplinks = {uplink(1, false), uplink(2)};
  down.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(down).ok());
  EXPECT_EQ(sim(flow).uplink_id, 2u) << "re-chosen at its next packet";
  EXPECT_EQ(counters().flow_rechosen, 1u);

  // Back up: the flow stays where it went (no hop back).
  ASSERT_TRUE(dp_->program(a).ok());
  EXPECT_EQ(sim(flow).uplink_id, 2u);

  // All down: the class's own mark (last_resort), and the flow moves once one is back.
  DatapathPlan all_down = a;
  all_down.uplinks = {uplink(1, false), uplink(2, false)};
  all_down.classes[0].members = {};
  all_down.classes[0].mark = m(0xff);
  ASSERT_TRUE(dp_->program(all_down).ok());
  SimulateResult r = sim(flow);
  EXPECT_EQ(r.uplink_id, 0u);
  EXPECT_EQ(r.mark, m(0xff));
  ASSERT_TRUE(dp_->program(a).ok());
  EXPECT_EQ(sim(flow).uplink_id, 1u);
}

// Packets after the second of a flow come from the per-CPU flow cache
// (lib/flow.h); every flip must still reach the flow table's answer.
TEST_F(DatapathTest, CachedFlowFollowsFlips) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("all", {}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 44000};
  for (int i = 0; i < 4; ++i) {
    SimulateResult r = sim(flow);
    EXPECT_EQ(r.uplink_id, 1u);
    EXPECT_EQ(r.established, i > 0) << i;
  }
  DatapathPlan down = a;
  down.uplinks = {uplink(1, false), uplink(2)};
  down.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(down).ok());
  for (int i = 0; i < 4; ++i) {
    SimulateResult r = sim(flow);
    EXPECT_EQ(r.uplink_id, 2u) << i;
    EXPECT_EQ(r.mark, m(2)) << i;
  }
  EXPECT_EQ(counters().flow_rechosen, 1u);
  DatapathPlan prefer1 = a;  // both live again, the class prefers 1: no hop back
  ASSERT_TRUE(dp_->program(prefer1).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sim(flow).uplink_id, 2u) << i;
  }
  auto dry = dp_->simulate(build(flow), 0, 0, /*record_flow=*/false);
  ASSERT_TRUE(dry.ok());
  EXPECT_TRUE(dry->established);
  EXPECT_EQ(dry->uplink_id, 2u);
  DatapathCounters c = counters();
  EXPECT_EQ(c.flow_new, 1u);
  EXPECT_EQ(c.flow_reclassified, 2u);  // the first packet after each flip
  EXPECT_EQ(c.flow_hit, 9u);           // the others; the dry run is not counted
}

TEST_F(DatapathTest, IdleFlowIsNewAgain) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2)}};
  a.classes.push_back(steered("all", {}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(a).ok());
  const Frame flow{.sport = 43000};
  EXPECT_EQ(sim(flow).uplink_id, 1u);
  DatapathPlan b = a;
  b.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(b).ok());
  EXPECT_EQ(sim(flow).uplink_id, 1u);
  age_flows4();
  EXPECT_EQ(sim(flow).uplink_id, 2u) << "an idle flow is classified and chosen anew";
  EXPECT_EQ(counters().flow_expired, 1u);
}

TEST_F(DatapathTest, WeightedSplitOverTenThousandFlows) {
  DatapathPlan plan{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2), uplink(3)}};
  plan.classes.push_back(steered("bulk", {}, {{1, 5}, {2, 3}, {3, 2}}));
  ASSERT_TRUE(dp_->program(plan).ok());
  std::map<uint32_t, int> per_uplink;
  constexpr int kFlows = 10000;
  for (int i = 0; i < kFlows; ++i) {
    Frame f{.src = "10.50." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
            .sport = static_cast<uint16_t>(20000 + i % 3000)};
    SimulateResult r = sim(f);
    per_uplink[r.uplink_id]++;
    ASSERT_EQ(r.mark, m(r.uplink_id));
  }
  const std::map<uint32_t, double> want = {{1, 50.0}, {2, 30.0}, {3, 20.0}};
  for (const auto& [id, pct] : want) {
    double got = 100.0 * per_uplink[id] / kFlows;
    EXPECT_NEAR(got, pct, 3.0) << "uplink " << id;
  }
  EXPECT_EQ(per_uplink.count(0), 0u);
  EXPECT_EQ(flow_count("ps_flow4_v4"), static_cast<size_t>(kFlows));
}

// mwan3's `sticky`: with source_affinity_s, every new flow of a source takes
// the member its previous new flow took, while that is still a member.
TEST_F(DatapathTest, SourceAffinityKeepsEachSourceOnOneMember) {
  DatapathPlan a{.mark_mask = kMask, .uplinks = {uplink(1), uplink(2), uplink(3)}};
  a.classes.push_back(steered("https", {}, {{1, 1}, {2, 1}}));
  a.classes[0].source_affinity_s = 600;
  ASSERT_TRUE(dp_->program(a).ok());
  constexpr int kSources = 20, kFlows = 30;
  auto src = [](int i) { return "10.60.0." + std::to_string(i + 1); };
  std::map<int, uint32_t> home;
  std::map<uint32_t, int> sources_on;
  for (int i = 0; i < kSources; ++i) {
    for (int f = 0; f < kFlows; ++f) {
      SimulateResult r = sim(Frame{.src = src(i), .sport = static_cast<uint16_t>(30000 + f)});
      EXPECT_FALSE(r.established);
      if (f == 0) {
        home[i] = r.uplink_id;
        sources_on[r.uplink_id]++;
      }
      ASSERT_EQ(r.uplink_id, home[i]) << "source " << src(i) << " flow " << f;
    }
  }
  EXPECT_GT(sources_on[1], 0) << "sources are still spread by weight";
  EXPECT_GT(sources_on[2], 0);

  // Member 1 down: its sources move to 2 and stay there when 1 returns.
  DatapathPlan down = a;
  down.uplinks = {uplink(1, false), uplink(2), uplink(3)};
  down.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(down).ok());
  for (int i = 0; i < kSources; ++i)
    EXPECT_EQ(sim(Frame{.src = src(i), .sport = 31000}).uplink_id, 2u);
  ASSERT_TRUE(dp_->program(a).ok());
  for (int i = 0; i < kSources; ++i)
    EXPECT_EQ(sim(Frame{.src = src(i), .sport = 31001}).uplink_id, 2u) << src(i);

  // Another tier (members {3}): everyone goes there; back on {1, 2}, 3 is no
  // member, so each source is spread anew.
  DatapathPlan backup = a;
  backup.classes[0].members = {{3, 1}};
  ASSERT_TRUE(dp_->program(backup).ok());
  for (int i = 0; i < kSources; ++i)
    EXPECT_EQ(sim(Frame{.src = src(i), .sport = 32000}).uplink_id, 3u);
  ASSERT_TRUE(dp_->program(a).ok());
  std::map<uint32_t, int> after;
  for (int i = 0; i < kSources; ++i) {
    uint32_t first = sim(Frame{.src = src(i), .sport = 33000}).uplink_id;
    EXPECT_NE(first, 3u);
    after[first]++;
    for (int f = 1; f < 5; ++f)
      EXPECT_EQ(sim(Frame{.src = src(i), .sport = static_cast<uint16_t>(33000 + f)}).uplink_id,
                first);
  }
  EXPECT_GT(after[1], 0);
  EXPECT_GT(after[2], 0);

  // The timeout: an entry not refreshed for source_affinity_s no longer binds.
  ASSERT_TRUE(dp_->program(down).ok());
  for (int i = 0; i < kSources; ++i)
    EXPECT_EQ(sim(Frame{.src = src(i), .sport = 34000}).uplink_id, 2u);
  ASSERT_TRUE(dp_->program(a).ok());
  age_affinity();
  std::map<uint32_t, int> expired;
  for (int i = 0; i < kSources; ++i)
    expired[sim(Frame{.src = src(i), .sport = 35000}).uplink_id]++;
  EXPECT_GT(expired[1], 0) << "after the timeout sources are spread again";

  // Without affinity the flows of one source spread over both members.
  DatapathPlan plain = a;
  plain.classes[0].source_affinity_s = 0;
  ASSERT_TRUE(dp_->program(plain).ok());
  std::map<uint32_t, int> spread;
  for (int f = 0; f < 40; ++f)
    spread[sim(Frame{.src = src(0), .sport = static_cast<uint16_t>(36000 + f)}).uplink_id]++;
  EXPECT_GT(spread[1], 0);
  EXPECT_GT(spread[2], 0);
}

// One shared LRU, not per-CPU lists: the flows of one CPU (a LAN NIC with one
// queue) may fill the whole table. A per-CPU LRU would cap them at
// PS_FLOW_ENTRIES / possible CPUs and evict live flows early.
TEST_F(DatapathTest, OneCpuMayFillTheWholeFlowTable) {
  // One source: without a quota (it would stop it at its share).
  DatapathPlan plan{.mark_mask = kMask, .flow_quota = 0};
  plan.classes.push_back(fixed("all", {{}}, m(1)));
  ASSERT_TRUE(dp_->program(plan).ok());
  auto bench = BenchClassifier::open(pin_dir_);
  ASSERT_TRUE(bench.ok()) << bench.error().to_string();
  constexpr uint32_t kFlows = PS_FLOW_ENTRIES * 3 / 4;
  // All on this CPU: the kernel runs the repeats without migrating.
  auto run = run_program_repeated((*bench)->program_fd(BenchClassifier::Flows::kFresh),
                                  build({.dport = 443}), kFlows);
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  const size_t got = flow_count("ps_flow4_v4");
  std::printf("%zu of %u fresh flows kept (%d possible CPUs)\n", got, kFlows,
              libbpf_num_possible_cpus());
  EXPECT_GE(got, kFlows * 99 / 100);  // random salts may repeat a 5-tuple, rarely
  EXPECT_EQ(counters().flow_full, 0u);
}

// A source over its share of the flow table gets its new flows classified
// (steered) but not written: it cannot push other sources' flows out.
TEST_F(DatapathTest, FloodingSourceCannotEvictOthersFlows) {
  DatapathPlan plan{.mark_mask = kMask, .flow_quota = 4096, .uplinks = {uplink(1), uplink(2)}};
  plan.classes.push_back(steered("all", {{}}, {{1, 1}, {2, 1}}));
  ASSERT_TRUE(dp_->program(plan).ok());
  std::map<int, uint32_t> a_uplinks;
  for (int i = 0; i < 50; ++i) {
    auto r = sim(Frame{.src = "10.0.0.1", .sport = static_cast<uint16_t>(30000 + i)});
    a_uplinks[i] = r.uplink_id;
  }
  auto bench = BenchClassifier::open(pin_dir_);
  ASSERT_TRUE(bench.ok()) << bench.error().to_string();
  constexpr uint32_t kFlood = 60000;
  auto run = run_program_repeated((*bench)->program_fd(BenchClassifier::Flows::kFresh),
                                  build(Frame{.src = "10.0.0.2", .dport = 443}), kFlood);
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  const size_t entries = flow_count("ps_flow4_v4");
  EXPECT_LE(entries, 50u + 4096u) << "B holds no more than its quota";
  EXPECT_GE(entries, 50u + 4000u);
  // A's flows are all there, on their uplinks, also after a flip.
  plan.classes[0].members = {{2, 1}};
  ASSERT_TRUE(dp_->program(plan).ok());
  for (int i = 0; i < 50; ++i) {
    auto r =
        dp_->simulate(build(Frame{.src = "10.0.0.1", .sport = static_cast<uint16_t>(30000 + i)}), 0,
                      0, /*record_flow=*/false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->uplink_id, a_uplinks[i]) << "A's flow " << i << " moved";
  }
  // A's new flows follow the policy; B's are still steered, just not pinned.
  EXPECT_EQ(sim(Frame{.src = "10.0.0.1", .sport = 31000}).uplink_id, 2u);
  auto b = sim(Frame{.src = "10.0.0.2", .sport = 31000});
  EXPECT_EQ(b.uplink_id, 2u);
  EXPECT_FALSE(b.established);
  EXPECT_FALSE(sim(Frame{.src = "10.0.0.2", .sport = 31000}).established) << "not pinned";
  auto c = counters();
  EXPECT_GE(c.over_quota, kFlood - 4096u);
  ASSERT_FALSE(c.top_sources.empty());
  EXPECT_EQ(c.top_sources[0].source, "10.0.0.2");
  EXPECT_EQ(c.top_sources[0].flows, 4096u);
  EXPECT_GE(c.top_sources[0].over_quota, kFlood - 4096u);
  ASSERT_GE(c.top_sources.size(), 2u);
  EXPECT_EQ(c.top_sources[1].source, "10.0.0.1");
  EXPECT_EQ(c.top_sources[1].flows, 51u);
  EXPECT_EQ(c.top_sources[1].over_quota, 0u);
}

TEST_F(DatapathTest, GenerationSwitchMidStream) {
  // Under A the probe packet is class 0 with mark 1; under B class 1 with mark 4.
  // Any mixture of A's and B's maps gives another answer (class 0 with 3, a miss, ...).
  DatapathPlan a{.mark_mask = kMask};
  a.classes.push_back(fixed("a-dns", {{.proto = IPPROTO_UDP, .dport = {{53, 53}}}}, m(1)));
  a.classes.push_back(fixed("a-net", {{.dst = {pfx("10.8.0.0/16")}}}, m(2)));
  DatapathPlan b{.mark_mask = kMask};
  b.classes.push_back(fixed("b-web", {{.proto = IPPROTO_TCP, .dport = {{80, 80}}}}, m(3)));
  b.classes.push_back(fixed("b-host", {{.dst = {pfx("10.8.8.8/32")}, .dscp = 10}}, m(4)));
  b.classes.push_back(fixed("b-udp", {{.proto = IPPROTO_UDP, .sport = {{1, 65535}}}}, m(5)));
  ASSERT_TRUE(dp_->program(a).ok());
  auto bench = BenchClassifier::open(pin_dir_);
  ASSERT_TRUE(bench.ok()) << bench.error().to_string();
  // Every packet classified: the variant that makes each one a new flow.
  const int fresh = (*bench)->program_fd(BenchClassifier::Flows::kFresh);

  const std::vector<uint8_t> probe = build({.proto = IPPROTO_UDP, .dport = 53, .dscp = 10});
  std::atomic<bool> stop{false};
  std::atomic<int> seen_a{0}, seen_b{0}, mixed{0};
  std::thread sender([&] {
    while (!stop) {
      auto r = test_run(fresh, probe, 0, 0);
      if (!r.ok()) {
        mixed++;
        continue;
      }
      const uint32_t class_id = r->ctx.cb[PS_SIM_CB_CLASS];
      if (class_id == 0u && r->ctx.mark == m(1)) {
        seen_a++;
      } else if (class_id == 1u && r->ctx.mark == m(4)) {
        seen_b++;
      } else {
        mixed++;
      }
    }
  });
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(dp_->program(i % 2 ? a : b).ok());
  }
  stop = true;
  sender.join();
  EXPECT_EQ(mixed, 0) << "a packet saw a mixture of two rule sets";
  EXPECT_GT(seen_a, 0);
  EXPECT_GT(seen_b, 0);
}

// ---- redirect mode -----------------------------------------------------------

// Runs body on a thread inside a fresh network namespace (gone when it exits).
void in_netns(const std::function<void()>& body) {
  std::thread t([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    body();
  });
  t.join();
}

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_F(DatapathTest, RedirectModeForwardsAndFallsBack) {
  if (!dp_->features().fib_table_lookup) {
    PS_SKIP_OR_FAIL("kernel without bpf_fib_lookup table ids");
  }
  in_netns([&] {
    sh("ip link set lo up && "
       "ip link add lan0 type veth peer name lan1 && ip link add up0 type veth peer name up1 && "
       "ip link add up2 type veth peer name up3 && "
       "for d in lan0 lan1 up0 up1 up2 up3; do ip link set $d up; done && "
       "ip addr add 192.168.50.1/24 dev lan0 && ip addr add 198.51.100.1/24 dev up0 && "
       "ip -6 addr add 2001:db8:50::1/64 dev lan0 nodad && "
       "ip -6 addr add 2001:db8:ff::1/64 dev up0 nodad && "
       "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && "
       "ip route add default via 198.51.100.2 dev up0 table 201 && "
       "ip -6 route add default via 2001:db8:ff::2 dev up0 table 201 && "
       "ip route add blackhole default table 203 && "
       "ip route add unreachable default table 204");
    int lan = static_cast<int>(if_nametoindex("lan0"));
    int up0 = static_cast<int>(if_nametoindex("up0"));
    ASSERT_GT(lan, 0);

    DatapathPlan plan{.mark_mask = kMask, .mode = DatapathMode::kRedirect};
    plan.uplinks = {uplink(1), uplink(2), uplink(3), uplink(4)};
    plan.classes.push_back(
        steered("u1", {{.dst = {pfx("203.0.113.0/24"), pfx("2001:db8:77::/48")}}}, {{1, 1}}));
    plan.classes.push_back(steered("empty-table", {{.dst = {pfx("203.0.114.0/24")}}}, {{2, 1}}));
    plan.classes.push_back(steered("blackhole", {{.dst = {pfx("203.0.115.0/24")}}}, {{3, 1}}));
    plan.classes.push_back(steered("unreach", {{.dst = {pfx("203.0.116.0/24")}}}, {{4, 1}}));
    ASSERT_TRUE(dp_->program(plan).ok());

    SimulateResult r = sim(Frame{.src = "192.168.50.10", .dst = "203.0.113.5"}, kForeign, lan);
    EXPECT_EQ(r.retval, TC_ACT_REDIRECT);
    EXPECT_EQ(r.redirect_ifindex, up0);
    EXPECT_EQ(r.mark, kForeign | m(1)) << "marked as well";
    EXPECT_EQ(r.fallback, "");

    r = sim(Frame{.src = "2001:db8:50::10", .dst = "2001:db8:77::5"}, 0, lan);
    EXPECT_EQ(r.retval, TC_ACT_REDIRECT) << r.fallback;
    EXPECT_EQ(r.redirect_ifindex, up0);

    struct Fallback {
      const char* name;
      Frame frame;
      const char* reason;
    };
    const Fallback fallbacks[] = {
        {"ttl 1", {.src = "192.168.50.10", .dst = "203.0.113.6", .ttl = 1}, "ttl"},
        {"vlan", {.src = "192.168.50.10", .dst = "203.0.113.7", .vlan = true}, "vlan"},
        {"empty table", {.src = "192.168.50.10", .dst = "203.0.114.1"}, "fib-not-forwarded"},
        {"blackhole", {.src = "192.168.50.10", .dst = "203.0.115.1"}, "fib-blackhole"},
        {"unreachable", {.src = "192.168.50.10", .dst = "203.0.116.1"}, "fib-unreachable"},
    };
    for (const Fallback& f : fallbacks) {
      r = sim(f.frame, 0, lan);
      EXPECT_EQ(r.retval, TC_ACT_UNSPEC) << f.name;
      EXPECT_EQ(r.fallback, f.reason) << f.name;
      EXPECT_NE(r.mark, 0u) << f.name << ": falls back to the mark";
    }
    sh("sysctl -qw net.ipv4.conf.all.forwarding=0");
    r = sim(Frame{.src = "192.168.50.10", .dst = "203.0.113.9"}, 0, lan);
    EXPECT_EQ(r.fallback, "fib-forwarding-disabled");

    DatapathCounters c = counters();
    EXPECT_EQ(c.redirected, 2u);
    EXPECT_EQ(c.fallbacks["ttl"], 1u);
    EXPECT_EQ(c.fallbacks["vlan"], 1u);
    EXPECT_EQ(c.fallbacks["fib-not-forwarded"], 1u);
    EXPECT_EQ(c.fallbacks["fib-blackhole"], 1u);
    EXPECT_EQ(c.fallbacks["fib-unreachable"], 1u);
    EXPECT_EQ(c.fallbacks["fib-forwarding-disabled"], 1u);
  });
}

TEST_F(DatapathTest, RedirectWithoutKernelSupportMarks) {
  std::string dir = pin_dir_ + "-nofib";
  auto dp = Datapath::open(dir, DatapathOptions{.disable_fib_table_lookup = true});
  ASSERT_TRUE(dp.ok()) << dp.error().to_string();
  EXPECT_FALSE((*dp)->features().fib_table_lookup);
  EXPECT_NE((*dp)->effective_mode(DatapathMode::kRedirect).find("mark (redirect unsupported"),
            std::string::npos);
  DatapathPlan plan{.mark_mask = kMask, .mode = DatapathMode::kRedirect, .uplinks = {uplink(1)}};
  plan.classes.push_back(steered("all", {}, {{1, 1}}));
  ASSERT_TRUE((*dp)->program(plan).ok());
  auto r = (*dp)->simulate(build(Frame{}), 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->retval, TC_ACT_UNSPEC);
  EXPECT_EQ(r->mark, m(1));
  EXPECT_EQ(r->fallback, "no-kernel-support");
  auto c = (*dp)->read_counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->fallbacks["no-kernel-support"], 1u);
  EXPECT_TRUE((*dp)->unpin().ok());
}

// ---- generations, pins, errors -----------------------------------------------

TEST_F(DatapathTest, GenerationFlip) {
  DatapathPlan a{.mark_mask = kMask};
  a.classes.push_back(fixed("dns", {{.proto = IPPROTO_UDP, .dport = {{53, 53}}}}, m(1)));
  DatapathPlan b{.mark_mask = kMask};
  b.classes.push_back(fixed("web", {{.proto = IPPROTO_TCP, .dport = {{80, 80}}}}, m(2)));
  b.classes.push_back(fixed("ssh", {{.proto = IPPROTO_TCP, .dport = {{22, 22}}}}, m(3)));
  const Frame dns{.proto = IPPROTO_UDP, .dport = 53};
  const Frame web{.dport = 80};

  ASSERT_TRUE(dp_->program(a).ok());
  uint32_t gen_a = PS_STATE_RULE_GEN(pinned_config().state);
  EXPECT_EQ(mark_of(dns), m(1));
  EXPECT_EQ(mark_of(web), 0u);

  ASSERT_TRUE(dp_->program(b).ok());
  uint32_t gen_b = PS_STATE_RULE_GEN(pinned_config().state);
  EXPECT_NE(gen_a, gen_b) << "new rules must go to the other generation";
  EXPECT_EQ(mark_of(dns), 0u) << "old rule set must be gone";
  EXPECT_EQ(mark_of(web), m(2));
  EXPECT_EQ(mark_of(Frame{.dport = 22}), m(3));

  // Same rules, new marks: only the action generation flips.
  b.classes[0].mark = m(9);
  b.classes[1].leave_mark = true;
  uint32_t act_before = PS_STATE_ACT_GEN(pinned_config().state);
  ASSERT_TRUE(dp_->program(b).ok());
  EXPECT_EQ(PS_STATE_RULE_GEN(pinned_config().state), gen_b);
  EXPECT_NE(PS_STATE_ACT_GEN(pinned_config().state), act_before);
  EXPECT_EQ(mark_of(web), m(9));
  EXPECT_EQ(mark_of(Frame{.dport = 22}, 0x5), 0x5u);

  ASSERT_TRUE(dp_->program(a).ok());
  EXPECT_EQ(PS_STATE_RULE_GEN(pinned_config().state), gen_a);
  EXPECT_EQ(mark_of(dns), m(1));
  EXPECT_EQ(mark_of(web), 0u);
}

TEST_F(DatapathTest, ManyEntriesAndPrefixes) {
  // At the rule capacity: 16,384 match entries (4,096 classes of 4) and 1,000,000
  // prefixes in the last class.
  static_assert(kMaxRules == 16384 && kMaxClasses == 8192);
  DatapathPlan plan{.mark_mask = kMask};
  for (int c = 0; c < 4095; ++c) {
    std::vector<MatchEntry> entries;
    for (int k = 0; k < 4; ++k) {
      auto port = static_cast<uint16_t>(10000 + 4 * c + k);
      entries.push_back({.proto = IPPROTO_TCP, .dport = {{port, port}}});
    }
    plan.classes.push_back(fixed("c" + std::to_string(c), entries, m(1 + c % 200)));
  }
  std::vector<Prefix> million;
  million.reserve(1000000);
  for (uint32_t i = 0; i < 1000000; ++i) {
    million.push_back(Prefix{.addr = IpAddr::v4((11u << 24) | i), .len = 32});
  }
  MatchEntry big{.dst = std::move(million)};
  plan.classes.push_back(fixed("big",
                               {big,
                                {.proto = IPPROTO_UDP, .dport = {{1, 1}}},
                                {.proto = IPPROTO_UDP, .dport = {{2, 2}}},
                                {.proto = IPPROTO_UDP, .dport = {{3, 3}}}},
                               m(250)));
  const auto t0 = std::chrono::steady_clock::now();
  auto loaded = dp_->program(plan);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.63", .dport = 1}), m(250));  // prefix 999,999
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.64", .dport = 1}), 0u);      // just past
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.5", .dport = 10000}), m(1));   // the first entry
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.5", .dport = 26379}), m(1 + 4094 % 200));  // 16,380th
  EXPECT_EQ(mark_of(Frame{.proto = IPPROTO_UDP, .dport = 3}), m(250));  // the last entry
  // The inactive half (empty) catches up with the active one, once: all of
  // it written, off the reload's path (the daemon does this when idle).
  const auto tm0 = std::chrono::steady_clock::now();
  auto mirrored = dp_->mirror_rules();
  const auto tm1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(mirrored.ok()) << mirrored.error().to_string();
  EXPECT_TRUE(*mirrored);
  auto again = dp_->mirror_rules();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "nothing left to mirror";
  // One class's ports changed: written into the mirrored half, only the
  // difference; the tries are left as they are.
  plan.classes[7].match[0].dport = {{40000, 40000}};
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(dp_->program(plan).ok());
  const auto t3 = std::chrono::steady_clock::now();
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 40000}), m(8));
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 10028}), 0u);
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.62", .dport = 2}), m(250));
  // Another class changed, without a mirror in between: the generation
  // written holds the first load's rules, so only the difference is written.
  plan.classes[9].match[0].dport = {{40001, 40001}};
  const auto t4 = std::chrono::steady_clock::now();
  ASSERT_TRUE(dp_->program(plan).ok());
  const auto t5 = std::chrono::steady_clock::now();
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 40001}), m(10));
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 40000}), m(8));
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 10028}), 0u);
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.61", .dport = 2}), m(250));
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.63", .dport = 1}), m(250));
  EXPECT_EQ(mark_of(Frame{.dst = "11.15.66.64", .dport = 1}), 0u);
  auto ms = [](auto d) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf(
      "16,384 entries, 1,000,000 prefixes: first load %ld ms, the empty inactive half mirrored "
      "%ld ms, one class changed %ld ms, another %ld ms (each only the difference)\n",
      ms(t1 - t0), ms(tm1 - tm0), ms(t3 - t2), ms(t5 - t4));

  plan.classes.back().match.push_back({.proto = IPPROTO_UDP, .dport = {{4, 4}}});
  auto r = dp_->program(plan);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnrealizable);
  EXPECT_NE(r.error().context.find("'big'"), std::string::npos) << r.error().context;
  EXPECT_NE(r.error().context.find("16385"), std::string::npos) << r.error().context;
  EXPECT_NE(r.error().context.find("16384"), std::string::npos) << r.error().context;
  EXPECT_EQ(mark_of(Frame{.dst = "12.0.0.6", .dport = 40000}), m(8)) << "refused: kept";
}

// Aggregated bit vectors: a word where every field admits some rule, but no
// rule all of them (rules 200 and 201), must not stop the search; the first
// rule in policy order still wins when later words match too.
// compile_rules() remembers its last tries: a plan whose prefix lists are
// unchanged (here: one port changed) takes them, and the result is what a
// compile from scratch gives; changed lists (even equal ones, not shared)
// are compared, and a real change compiles again.
TEST(Compile, RemembersTheTriesAndGivesWhatAFreshCompileGives) {
  std::vector<Prefix> many;
  for (uint32_t i = 0; i < 4096; ++i)
    many.push_back(Prefix{.addr = IpAddr::v4((10u << 24) | (i << 8)), .len = 24});
  many.push_back(pfx("10.0.0.0/8"));  // covers the others: nested sets
  many.push_back(pfx("2001:db8::/32"));
  const PrefixList big(std::move(many));
  auto plan_with = [&](uint16_t port, const PrefixList& list) {
    DatapathPlan plan{.mark_mask = kMask};
    plan.classes.push_back(fixed("web", {{.proto = IPPROTO_TCP, .dport = {{port, port}}}}, m(1)));
    plan.classes.push_back(fixed("big", {{.dst = list}}, m(2)));
    plan.classes.push_back(
        fixed("office", {{.src = {pfx("192.0.2.0/24")}, .dst = {pfx("10.1.0.0/16")}}}, m(3)));
    plan.classes.push_back(fixed("default", {}, m(4)));
    return plan;
  };
  auto first = compile_rules(plan_with(443, big));
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto port_changed = compile_rules(plan_with(8443, big));  // tries remembered
  ASSERT_TRUE(port_changed.ok());
  EXPECT_EQ(port_changed->dst4, first->dst4);
  EXPECT_EQ(port_changed->dst6, first->dst6);
  EXPECT_EQ(port_changed->src4, first->src4);
  EXPECT_NE(port_changed->dport, first->dport);

  // Something else in between, then the same plan again, compiled afresh.
  PrefixList other{pfx("198.51.100.0/24")};
  ASSERT_TRUE(compile_rules(plan_with(8443, other)).ok());
  auto fresh = compile_rules(plan_with(8443, big));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*fresh, *port_changed);

  // An equal list that is not shared compares equal: the same result.
  PrefixList copy(big.vec());
  ASSERT_FALSE(copy.same(big));
  auto equal = compile_rules(plan_with(8443, copy));
  ASSERT_TRUE(equal.ok());
  EXPECT_EQ(*equal, *fresh);

  // One prefix fewer: compiled again, and the trie says so.
  std::vector<Prefix> fewer(big.begin(), big.end());
  fewer.erase(fewer.begin());
  auto changed = compile_rules(plan_with(8443, PrefixList(std::move(fewer))));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->dst4.size(), fresh->dst4.size() - 1);
}

TEST_F(DatapathTest, BitmapSummariesKeepPolicyOrderAcrossWords) {
  DatapathPlan plan{.mark_mask = kMask};
  int next_filler = 0;
  auto fillers = [&](const std::string& name, int count, uint32_t mark) {
    std::vector<MatchEntry> entries;
    for (int i = 0; i < count; ++i, ++next_filler) {
      auto port = static_cast<uint16_t>(20000 + next_filler);
      entries.push_back({.proto = IPPROTO_UDP, .dport = {{port, port}}});
    }
    plan.classes.push_back(fixed(name, entries, m(mark)));
  };
  auto one = [&](const std::string& name, MatchEntry e, uint32_t mark) {
    plan.classes.push_back(fixed(name, {std::move(e)}, m(mark)));
  };
  fillers("fill-0", 200, 1);  // rules 0..199 (words 0..3)
  one("decoy-port", {.proto = IPPROTO_TCP, .dport = {{9000, 9000}}, .dst = {pfx("10.99.0.0/16")}},
      2);  // rule 200 (word 3)
  one("decoy-dst", {.proto = IPPROTO_TCP, .dport = {{1, 1}}, .dst = {pfx("10.77.0.0/16")}},
      3);                     // rule 201 (word 3)
  fillers("fill-1", 498, 4);  // rules 202..699
  one("mid", {.proto = IPPROTO_TCP, .dport = {{9001, 9001}}, .dst = {pfx("10.77.0.0/16")}},
      5);                     // rule 700 (word 10)
  fillers("fill-2", 199, 6);  // rules 701..899
  one("late", {.proto = IPPROTO_TCP, .dport = {{9000, 9001}}, .dst = {pfx("10.77.0.0/16")}},
      7);                     // rule 900 (word 14)
  fillers("fill-3", 123, 8);  // rules 901..1023
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(mark_of(Frame{.dst = "10.77.1.1", .dport = 9000}), m(7));  // past word 3's decoys
  EXPECT_EQ(mark_of(Frame{.dst = "10.77.1.1", .dport = 9001}), m(5));  // 700 before 900
  EXPECT_EQ(mark_of(Frame{.dst = "10.99.1.1", .dport = 9000}), m(2));
  EXPECT_EQ(mark_of(Frame{.dst = "10.77.1.1", .dport = 1}), m(3));
  EXPECT_EQ(mark_of(Frame{.dst = "10.77.1.1", .dport = 9002}), 0u);
  EXPECT_EQ(mark_of(Frame{.proto = IPPROTO_UDP, .dport = 21019}), m(8));  // the last rule
  EXPECT_EQ(mark_of(Frame{.proto = IPPROTO_UDP, .dport = 20000}), m(1));  // the first
}

TEST_F(DatapathTest, ReopenFromPins) {
  DatapathPlan plan{.mark_mask = kMask, .uplinks = {uplink(1)}};
  plan.classes.push_back(steered("dns", {{.proto = IPPROTO_UDP, .dport = {{53, 53}}}}, {{1, 1}}));
  ASSERT_TRUE(dp_->program(plan).ok());
  sim(Frame{.proto = IPPROTO_UDP, .dport = 53});

  auto second = Datapath::open(pin_dir_);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  auto r = (*second)->simulate(build({.proto = IPPROTO_UDP, .dport = 53}), 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mark, m(1)) << "second Datapath must see the rules of the first";
  auto c = (*second)->read_counters();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->classes.size(), 1u);
  EXPECT_EQ(c->classes[0].packets, 2u) << "counters are shared through the pins";
  EXPECT_EQ(c->flow_hit, 1u) << "so is the flow table";

  // The second owner can reprogram; the first sees it (same maps); the flow stays.
  DatapathPlan p = plan;
  p.uplinks.push_back(uplink(4));
  p.classes[0].members = {{4, 1}};
  ASSERT_TRUE((*second)->program(p).ok());
  EXPECT_EQ(mark_of(Frame{.proto = IPPROTO_UDP, .dport = 53}), m(1));
  EXPECT_EQ(mark_of(Frame{.proto = IPPROTO_UDP, .sport = 1, .dport = 53}), m(4));
}

TEST_F(DatapathTest, RefusesNewerAbiNewerLayoutAndForeignConfig) {
  ps_config cfg = pinned_config();
  ASSERT_EQ(cfg.magic, static_cast<uint32_t>(PS_ABI_MAGIC));
  ASSERT_EQ(cfg.abi_version, static_cast<uint32_t>(PS_ABI_VERSION));
  ASSERT_EQ(cfg.layout, static_cast<uint32_t>(PS_ABI_LAYOUT));

  ps_config newer = cfg;
  newer.abi_version = PS_ABI_VERSION + 1;
  write_pinned_config(newer);
  auto r = Datapath::open(pin_dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnrealizable);
  EXPECT_NE(r.error().context.find("newer pathsteer"), std::string::npos) << r.error().context;

  ps_config foreign = cfg;
  foreign.magic = 0x12345678;
  write_pinned_config(foreign);
  r = Datapath::open(pin_dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("not pathsteer's"), std::string::npos) << r.error().context;
  write_pinned_config(cfg);

  // A newer layout's config map beside ours.
  Fd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ps_cfg_v9", 4, 4, 1, nullptr));
  ASSERT_TRUE(fd.valid());
  std::string newer_pin = pin_dir_ + "/ps_cfg_v9";
  ASSERT_EQ(bpf_obj_pin(fd.get(), newer_pin.c_str()), 0);
  r = Datapath::open(pin_dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("layout v9"), std::string::npos) << r.error().context;
  ::unlink(newer_pin.c_str());

  // An older layout's pins are removed on open.
  Fd old(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ps_cfg_v1", 4, 4, 1, nullptr));
  std::string old_pin = pin_dir_ + "/ps_cfg_v1";
  ASSERT_EQ(bpf_obj_pin(old.get(), old_pin.c_str()), 0);
  EXPECT_TRUE(Datapath::open(pin_dir_).ok());
  EXPECT_FALSE(std::filesystem::exists(old_pin));
}

TEST_F(DatapathTest, PlanErrors) {
  DatapathPlan bad_mark{.mark_mask = kMask};
  bad_mark.classes.push_back(fixed("oops", {}, 0x1));
  auto r = dp_->program(bad_mark);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidPolicy);
  EXPECT_NE(r.error().context.find("'oops'"), std::string::npos);

  DatapathPlan bad_uplink{.mark_mask = kMask, .uplinks = {{.id = 1, .mark = 0x1}}};
  EXPECT_FALSE(dp_->program(bad_uplink).ok());

  DatapathPlan many_members{.mark_mask = kMask};
  DatapathClass c = fixed("wide", {}, 0);
  for (uint32_t i = 1; i <= kMaxMembers + 1; ++i) {
    c.members.push_back({i, 1});
  }
  many_members.classes.push_back(c);
  r = dp_->program(many_members);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("'wide'"), std::string::npos);

  DatapathPlan many{.mark_mask = kMask};
  many.classes.resize(kMaxClasses + 1);
  EXPECT_FALSE(dp_->program(many).ok());

  // A failed program() leaves the previous state in force.
  EXPECT_EQ(mark_of(Frame{}, 0x5), 0x5u);
}

// ---- attach / detach in a throwaway netns ------------------------------------

uint32_t our_prog_id_on(int ifindex, int* err) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  *err = bpf_tc_query(&hook, &opts);
  return *err == 0 ? opts.prog_id : 0;
}

std::string prog_name(uint32_t id) {
  Fd fd(bpf_prog_get_fd_by_id(id));
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (!fd.valid() || bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
    return {};
  }
  return info.name;
}

TEST_F(DatapathTest, AttachDetachInNetns) {
  in_netns([&] {
    sh("ip link add psveth0 type veth peer name psveth1 && "
       "ip link set psveth0 up && ip link set psveth1 up");
    int ifindex = static_cast<int>(if_nametoindex("psveth0"));
    ASSERT_GT(ifindex, 0);
    // A foreign filter on the same clsact must survive our detach. (u32: the
    // one classifier besides bpf that the test kernel has built in.)
    sh("tc qdisc add dev psveth0 clsact && tc filter add dev psveth0 "
       "ingress pref 1 protocol all u32 match u32 0 0");

    auto r = dp_->attach(ifindex);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    int err = 0;
    uint32_t id = our_prog_id_on(ifindex, &err);
    ASSERT_EQ(err, 0);
    EXPECT_EQ(prog_name(id), "ps_classifier");

    r = dp_->attach(ifindex);  // idempotent (BPF_TC_F_REPLACE)
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(our_prog_id_on(ifindex, &err), id);

    r = dp_->detach(ifindex);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    our_prog_id_on(ifindex, &err);
    EXPECT_EQ(err, -ENOENT) << "our filter must be gone";
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = ifindex;
    hook.attach_point = BPF_TC_INGRESS;
    EXPECT_EQ(bpf_tc_hook_create(&hook), -EEXIST) << "clsact must stay";
    EXPECT_EQ(std::system("tc filter show dev psveth0 ingress | grep -q 'pref 1 u32'"), 0)
        << "foreign filter removed";

    r = dp_->detach(ifindex);  // already gone: still fine
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    r = dp_->detach(static_cast<int>(if_nametoindex("psveth1")));  // no clsact at all
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_FALSE(dp_->attach(9999).ok()) << "no such interface must be an error";
  });
}

}  // namespace
}  // namespace pathsteer
