// Datapath tests against the real kernel: BPF_PROG_TEST_RUN fixtures (crafted
// frame in, skb->mark and counters out) on a private pin dir, plus attach/detach
// on a veth inside a throwaway network namespace. Need root.
#include "bpf/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bpf/pathsteer_abi.h"
#include "common/fd.h"

namespace pathsteer {
namespace {

constexpr uint32_t kMask = 0x0ff00000;
constexpr uint32_t kForeign = 0xf000000f;  // bits of other tenants: never touched
constexpr uint8_t kHopByHop = 0;

// ---- packet builder ----------------------------------------------------------

struct Frame {
  std::string src = "10.9.9.9";
  std::string dst = "10.8.8.8";
  uint8_t proto = IPPROTO_TCP;
  uint16_t sport = 40000;
  uint16_t dport = 9999;
  bool vlan = false;
  uint8_t ip_option_words = 0;  // IPv4 options, in 4-byte words
  uint16_t frag_off = 0;        // IPv4 flags + offset (host order)
  uint16_t ether_type = 0;      // 0 = from the address family
};

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put_addr(std::vector<uint8_t>& b, const IpAddr& a) {
  b.insert(b.end(), a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()));
}

std::vector<uint8_t> l4(const Frame& f) {
  std::vector<uint8_t> b;
  put16(b, f.sport);
  put16(b, f.dport);
  if (f.proto == IPPROTO_TCP) {
    b.resize(20, 0);
    b[12] = 5 << 4;  // data offset
  } else {
    b.resize(8, 0);
  }
  return b;
}

std::vector<uint8_t> build(const Frame& f) {
  IpAddr src = *IpAddr::parse(f.src);
  IpAddr dst = *IpAddr::parse(f.dst);
  std::vector<uint8_t> b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  if (f.vlan) {
    put16(b, 0x8100);
    put16(b, 42);
  }
  put16(b, f.ether_type ? f.ether_type : (src.is_v4() ? 0x0800 : 0x86dd));
  std::vector<uint8_t> payload = l4(f);
  if (src.is_v4()) {
    uint16_t ihl = 5 + f.ip_option_words;
    b.push_back(static_cast<uint8_t>(0x40 | ihl));
    b.push_back(0);
    put16(b, static_cast<uint16_t>(ihl * 4 + payload.size()));
    put16(b, 1);  // id
    put16(b, f.frag_off);
    b.push_back(64);
    b.push_back(f.proto);
    put16(b, 0);  // checksum: the classifier does not check it
    put_addr(b, src);
    put_addr(b, dst);
    b.insert(b.end(), f.ip_option_words * 4u, 0x01);  // NOPs
  } else {
    b.push_back(0x60);
    b.insert(b.end(), 3, 0);
    put16(b, static_cast<uint16_t>(payload.size()));
    b.push_back(f.proto);
    b.push_back(64);
    put_addr(b, src);
    put_addr(b, dst);
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// ---- plan builders -----------------------------------------------------------

Prefix pfx(const char* s) {
  return *Prefix::parse(s);
}

DatapathClass cls(std::string name, MatchEntry m, uint32_t mark) {
  return DatapathClass{.name = std::move(name), .match = {std::move(m)}, .mark = mark};
}

uint32_t m(uint32_t n) {
  return n << 20;
}  // class mark n inside kMask

// Classes in policy order; several overlap on purpose (first one must win).
DatapathPlan table_plan() {
  DatapathPlan p{.mark_mask = kMask};
  p.classes.push_back(cls("dns", {.proto = IPPROTO_UDP, .dport = {{53, 53}}}, m(1)));
  p.classes.push_back(cls("range", {.proto = IPPROTO_TCP, .dport = {{8000, 8080}}}, m(2)));
  p.classes.push_back(cls("list", {.proto = IPPROTO_TCP, .dport = {{22, 22}, {443, 443}}}, m(3)));
  p.classes.push_back(cls("src", {.src = {pfx("10.1.0.0/16"), pfx("2001:db8:1::/48")}}, m(4)));
  p.classes.push_back(cls("dst", {.dst = {pfx("192.0.2.7/32"), pfx("2001:db8:ff::7/128")}}, m(5)));
  p.classes.push_back(cls("udp-any", {.proto = IPPROTO_UDP}, m(6)));
  DatapathClass leave = cls("icmp-leave", {.proto = IPPROTO_ICMP}, 0);
  leave.leave_mark = true;
  p.classes.push_back(leave);
  p.classes.push_back(cls("clear", {.dst = {pfx("198.51.100.0/24")}}, 0));
  p.classes.push_back(
      cls("frag-ports", {.proto = IPPROTO_TCP, .dport = {{80, 80}}, .dst = {pfx("203.0.113.0/24")}},
          m(9)));
  p.classes.push_back(cls("frag-any", {.dst = {pfx("203.0.113.0/24")}}, m(10)));
  return p;
}

// ---- fixture -----------------------------------------------------------------

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "\n*** SKIPPED: Datapath tests need root (BPF maps, bpffs, netns). "
                      "***\n"
                   << "*** Run this binary as root to exercise the data plane.      ***";
    }
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

  uint32_t run(const Frame& f, uint32_t mark_in) { return run_raw(build(f), mark_in); }

  uint32_t run_raw(const std::vector<uint8_t>& frame, uint32_t mark_in) {
    auto r = dp_->simulate(frame, mark_in);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r.ok()) {
      return 0xdeadbeef;
    }
    EXPECT_EQ(r->retval, TC_ACT_UNSPEC) << "classifier must never end the filter chain or drop";
    return r->mark;
  }

  ps_config pinned_config() {
    Fd fd(bpf_obj_get((pin_dir_ + "/" + PS_CONFIG_MAP).c_str()));
    ps_config cfg{};
    uint32_t key = 0;
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(bpf_map_lookup_elem(fd.get(), &key, &cfg), 0);
    return cfg;
  }

  void write_pinned_config(const ps_config& cfg) {
    Fd fd(bpf_obj_get((pin_dir_ + "/" + PS_CONFIG_MAP).c_str()));
    uint32_t key = 0;
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(bpf_map_update_elem(fd.get(), &key, &cfg, BPF_ANY), 0);
  }

  std::string pin_dir_;
  std::unique_ptr<Datapath> dp_;
};

// ---- classification table ----------------------------------------------------

struct Case {
  const char* name;
  Frame frame;
  uint32_t mark_in;
  uint32_t want;
};

constexpr uint32_t kUntouched = 0xffffffff;  // want == mark_in

TEST_F(DatapathTest, ClassificationTable) {
  ASSERT_TRUE(dp_->program(table_plan()).ok());
  const uint32_t in = kForeign | m(7);  // foreign bits + stale bits of ours
  const Case cases[] = {
      {"v4 udp dport 53", {.proto = IPPROTO_UDP, .dport = 53}, in, kForeign | m(1)},
      {"v6 udp dport 53",
       {.src = "2001:db8:9::1", .dst = "2001:db8:8::1", .proto = IPPROTO_UDP, .dport = 53},
       in,
       kForeign | m(1)},
      {"range low edge", {.dport = 8000}, in, kForeign | m(2)},
      {"range high edge", {.dport = 8080}, in, kForeign | m(2)},
      {"below range", {.dport = 7999}, in, kUntouched},
      {"above range", {.dport = 8081}, in, kUntouched},
      {"v6 tcp range",
       {.src = "2001:db8:9::1", .dst = "2001:db8:8::1", .dport = 8080},
       in,
       kForeign | m(2)},
      {"udp in tcp range", {.proto = IPPROTO_UDP, .dport = 8000}, in, kForeign | m(6)},
      {"port list first", {.dport = 22}, in, kForeign | m(3)},
      {"port list second", {.dport = 443}, in, kForeign | m(3)},
      {"not in port list", {.dport = 23}, in, kUntouched},
      {"v4 src prefix", {.src = "10.1.200.3"}, in, kForeign | m(4)},
      {"v4 src outside", {.src = "10.2.0.1"}, in, kUntouched},
      {"v6 src prefix", {.src = "2001:db8:1:ffff::5", .dst = "2001:db8:8::1"}, in, kForeign | m(4)},
      {"v6 src outside", {.src = "2001:db8:2::5", .dst = "2001:db8:8::1"}, in, kUntouched},
      {"v4 dst host", {.dst = "192.0.2.7"}, in, kForeign | m(5)},
      {"v4 dst other host", {.dst = "192.0.2.8"}, in, kUntouched},
      {"v6 dst host", {.src = "2001:db8:9::1", .dst = "2001:db8:ff::7"}, in, kForeign | m(5)},
      {"first class wins (dns over udp-any)", {.proto = IPPROTO_UDP, .dport = 53}, 0, m(1)},
      {"later class on overlap miss", {.proto = IPPROTO_UDP, .dport = 54}, 0, m(6)},
      {"foreign bits preserved, ours set",
       {.proto = IPPROTO_UDP, .dport = 53},
       0xffffffff,
       0xf01fffff},
      {"leave_mark class", {.proto = IPPROTO_ICMP}, 0x12345678, kUntouched},
      {"mark 0 clears our bits", {.dst = "198.51.100.1"}, kForeign | m(0xff), kForeign},
      {"unmatched untouched", {}, 0x12345678, kUntouched},
      {"vlan tagged", {.proto = IPPROTO_UDP, .dport = 53, .vlan = true}, in, kForeign | m(1)},
      {"ipv4 options", {.dport = 443, .ip_option_words = 3}, in, kForeign | m(3)},
      {"ipv4 options max ihl", {.dport = 22, .ip_option_words = 10}, in, kForeign | m(3)},
      {"first fragment has ports",
       {.dst = "203.0.113.9", .dport = 80, .frag_off = 0x2000},
       in,
       kForeign | m(9)},
      {"non-first fragment portless",
       {.dst = "203.0.113.9", .dport = 80, .frag_off = 185},
       in,
       kForeign | m(10)},
      {"non-first fragment skips port rules",
       {.proto = IPPROTO_UDP, .dport = 53, .frag_off = 7},
       in,
       kForeign | m(6)},
      {"v6 ext header: ports unknown, prefix matches",
       {.src = "2001:db8:9::1", .dst = "2001:db8:ff::7", .proto = kHopByHop},
       in,
       kForeign | m(5)},
      {"v6 ext header: port rule cannot match",
       {.src = "2001:db8:9::1", .dst = "2001:db8:8::1", .proto = kHopByHop, .dport = 53},
       in,
       kUntouched},
  };
  for (const Case& c : cases) {
    uint32_t want = c.want == kUntouched ? c.mark_in : c.want;
    EXPECT_EQ(run(c.frame, c.mark_in), want)
        << c.name << std::hex << " (mark_in 0x" << c.mark_in << ", want 0x" << want << ")";
  }
  auto counters = dp_->read_counters();
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ(counters->parse_errors, 0u);
  EXPECT_EQ(counters->non_ip, 0u);
}

TEST_F(DatapathTest, MalformedAndNonIpPassUntouchedAndCounted) {
  ASSERT_TRUE(dp_->program(table_plan()).ok());
  const uint32_t in = kForeign | m(7);
  std::vector<uint8_t> v4 = build({.proto = IPPROTO_UDP, .dport = 53});
  std::vector<uint8_t> v6 =
      build({.src = "2001:db8:9::1", .dst = "2001:db8:8::1", .proto = IPPROTO_UDP, .dport = 53});

  // The kernel's test_run refuses untagged IPv4/IPv6 frames shorter than the IP
  // header (EINVAL), so truncated IP headers are tested behind a VLAN tag,
  // where test_run does not look.
  std::vector<uint8_t> v4_tagged = build({.proto = IPPROTO_UDP, .dport = 53, .vlan = true});
  std::vector<uint8_t> v6_tagged = build({.src = "2001:db8:9::1",
                                          .dst = "2001:db8:8::1",
                                          .proto = IPPROTO_UDP,
                                          .dport = 53,
                                          .vlan = true});
  EXPECT_EQ(run_raw({v4_tagged.begin(), v4_tagged.begin() + 18 + 10}, in), in)
      << "truncated IPv4 header";
  EXPECT_EQ(run_raw({v6_tagged.begin(), v6_tagged.begin() + 18 + 30}, in), in)
      << "truncated IPv6 header";
  EXPECT_EQ(run_raw({v4.begin(), v4.begin() + 14 + 20 + 2}, in), in) << "truncated UDP ports";
  EXPECT_EQ(run_raw({v6.begin(), v6.begin() + 14 + 40 + 3}, in), in) << "truncated UDP ports v6";
  std::vector<uint8_t> vlan_cut = build({.vlan = true});
  vlan_cut.resize(16);
  EXPECT_EQ(run_raw(vlan_cut, in), in) << "truncated VLAN tag";
  std::vector<uint8_t> bad_ihl = v4;
  bad_ihl[14] = 0x44;
  EXPECT_EQ(run_raw(bad_ihl, in), in) << "ihl < 5";
  EXPECT_EQ(run(Frame{.ether_type = 0x0806}, in), in) << "ARP";

  auto counters = dp_->read_counters();
  ASSERT_TRUE(counters.ok()) << counters.error().to_string();
  EXPECT_EQ(counters->parse_errors, 6u);
  EXPECT_EQ(counters->non_ip, 1u);
  EXPECT_EQ(counters->unclassified, 0u);
  for (const ClassCounters& c : counters->classes) {
    EXPECT_EQ(c.packets, 0u);
  }
}

TEST_F(DatapathTest, CountersIncrement) {
  DatapathPlan plan{.mark_mask = kMask};
  plan.classes.push_back(cls("dns", {.proto = IPPROTO_UDP, .dport = {{53, 53}}}, m(1)));
  plan.classes.push_back(cls("web", {.proto = IPPROTO_TCP, .dport = {{443, 443}}}, m(2)));
  ASSERT_TRUE(dp_->program(plan).ok());

  std::vector<uint8_t> dns = build({.proto = IPPROTO_UDP, .dport = 53});
  std::vector<uint8_t> web = build({.dport = 443, .vlan = true});
  for (int i = 0; i < 3; ++i) {
    run_raw(dns, 0);
  }
  run_raw(web, 0);
  run(Frame{.dport = 1}, 0);

  auto c = dp_->read_counters();
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->classes.size(), 2u);
  EXPECT_EQ(c->classes[0], (ClassCounters{.packets = 3, .bytes = 3 * dns.size()}));
  EXPECT_EQ(c->classes[1], (ClassCounters{.packets = 1, .bytes = web.size()}));
  EXPECT_EQ(c->unclassified, 1u);
}

TEST_F(DatapathTest, EmptyMatchMatchesEverything) {
  DatapathPlan plan{.mark_mask = kMask};
  plan.classes.push_back(DatapathClass{.name = "default", .mark = m(3)});
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(run(Frame{}, 0), m(3));
  EXPECT_EQ(run(Frame{.src = "2001:db8::1", .dst = "2001:db8::2", .proto = 58}, 0), m(3));
}

TEST_F(DatapathTest, MixedFamilyPairsAreSkipped) {
  DatapathPlan plan{.mark_mask = kMask};
  // v4 src with v6 dst can never match; v4/v4 and v6/v6 can.
  plan.classes.push_back(cls("mixed",
                             {.src = {pfx("10.0.0.0/8"), pfx("2001:db8::/32")},
                              .dst = {pfx("2001:db8:8::/48"), pfx("10.8.0.0/16")}},
                             m(1)));
  ASSERT_TRUE(dp_->program(plan).ok());
  EXPECT_EQ(run(Frame{.src = "10.1.1.1", .dst = "10.8.1.1"}, 0), m(1));
  EXPECT_EQ(run(Frame{.src = "2001:db8::1", .dst = "2001:db8:8::1"}, 0), m(1));
  EXPECT_EQ(run(Frame{.src = "10.1.1.1", .dst = "10.9.1.1"}, 0), 0u);
}

TEST_F(DatapathTest, GenerationFlip) {
  DatapathPlan a{.mark_mask = kMask};
  a.classes.push_back(cls("dns", {.proto = IPPROTO_UDP, .dport = {{53, 53}}}, m(1)));
  DatapathPlan b{.mark_mask = kMask};
  b.classes.push_back(cls("web", {.proto = IPPROTO_TCP, .dport = {{80, 80}}}, m(2)));
  b.classes.push_back(cls("ssh", {.proto = IPPROTO_TCP, .dport = {{22, 22}}}, m(3)));
  const Frame dns{.proto = IPPROTO_UDP, .dport = 53};
  const Frame web{.dport = 80};

  ASSERT_TRUE(dp_->program(a).ok());
  uint32_t gen_a = pinned_config().active_gen;
  EXPECT_EQ(run(dns, 0), m(1));
  EXPECT_EQ(run(web, 0), 0u);

  ASSERT_TRUE(dp_->program(b).ok());
  uint32_t gen_b = pinned_config().active_gen;
  EXPECT_NE(gen_a, gen_b) << "new rules must go to the other generation";
  EXPECT_EQ(run(dns, 0), 0u) << "old rule set must be gone";
  EXPECT_EQ(run(web, 0), m(2));
  EXPECT_EQ(run(Frame{.dport = 22}, 0), m(3));

  // Same rules, new marks: updated in place, no flip.
  b.classes[0].mark = m(9);
  b.classes[1].leave_mark = true;
  ASSERT_TRUE(dp_->program(b).ok());
  EXPECT_EQ(pinned_config().active_gen, gen_b);
  EXPECT_EQ(run(web, 0), m(9));
  EXPECT_EQ(run(Frame{.dport = 22}, 0x5), 0x5u);

  // Back to a: flips again.
  ASSERT_TRUE(dp_->program(a).ok());
  EXPECT_EQ(pinned_config().active_gen, gen_a);
  EXPECT_EQ(run(dns, 0), m(1));
  EXPECT_EQ(run(web, 0), 0u);
}

TEST_F(DatapathTest, ReopenFromPins) {
  ASSERT_TRUE(dp_->program(table_plan()).ok());
  run(Frame{.proto = IPPROTO_UDP, .dport = 53}, 0);

  auto second = Datapath::open(pin_dir_);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  auto r = (*second)->simulate(build({.proto = IPPROTO_UDP, .dport = 53}), 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mark, m(1)) << "second Datapath must see the rules of the first";
  auto c = (*second)->read_counters();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->classes.size(), table_plan().classes.size());
  EXPECT_EQ(c->classes[0].packets, 2u) << "counters are shared through the pins";

  // The second owner can reprogram; the first sees it (same maps).
  DatapathPlan p{.mark_mask = kMask};
  p.classes.push_back(cls("dns", {.proto = IPPROTO_UDP, .dport = {{53, 53}}}, m(4)));
  ASSERT_TRUE((*second)->program(p).ok());
  EXPECT_EQ(run(Frame{.proto = IPPROTO_UDP, .dport = 53}, 0), m(4));
}

TEST_F(DatapathTest, RefusesNewerAbiAndForeignConfig) {
  ps_config cfg = pinned_config();
  ASSERT_EQ(cfg.magic, static_cast<uint32_t>(PS_ABI_MAGIC));
  ASSERT_EQ(cfg.abi_version, static_cast<uint32_t>(PS_ABI_VERSION));

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
  EXPECT_TRUE(Datapath::open(pin_dir_).ok());
}

TEST_F(DatapathTest, PlanErrors) {
  DatapathPlan bad_mark{.mark_mask = kMask};
  bad_mark.classes.push_back(cls("oops", {}, 0x1));
  auto r = dp_->program(bad_mark);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidPolicy);
  EXPECT_NE(r.error().context.find("'oops'"), std::string::npos);

  DatapathPlan big{.mark_mask = kMask};
  big.classes.push_back(cls("small", {.proto = IPPROTO_TCP}, m(1)));
  MatchEntry huge{.proto = IPPROTO_TCP};
  for (uint16_t i = 0; i < 33; ++i) {
    huge.sport.push_back({static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)});
    huge.dport.push_back({static_cast<uint16_t>(2000 + i), static_cast<uint16_t>(2000 + i)});
  }
  big.classes.push_back(cls("huge", huge, m(2)));
  r = dp_->program(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnrealizable);
  EXPECT_NE(r.error().context.find("'huge'"), std::string::npos) << r.error().context;

  DatapathPlan many{.mark_mask = kMask};
  many.classes.resize(kMaxClasses + 1);
  EXPECT_FALSE(dp_->program(many).ok());

  // A failed program() leaves the previous state in force.
  EXPECT_EQ(run(Frame{}, 0x5), 0x5u);
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
  // unshare() on this thread only: the namespace (and the veth in it)
  // disappears when the thread exits, and system() children inherit it.
  std::thread t([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_EQ(std::system("ip link add psveth0 type veth peer name psveth1 && "
                          "ip link set psveth0 up && ip link set psveth1 up"),
              0);
    int ifindex = static_cast<int>(if_nametoindex("psveth0"));
    ASSERT_GT(ifindex, 0);
    // A foreign filter on the same clsact must survive our detach. (u32: the
    // one classifier besides bpf that the test kernel has built in.)
    ASSERT_EQ(std::system("tc qdisc add dev psveth0 clsact && tc filter add dev psveth0 "
                          "ingress pref 1 protocol all u32 match u32 0 0"),
              0);

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
  t.join();
}

}  // namespace
}  // namespace pathsteer
