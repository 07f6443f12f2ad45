// DNS learning against the real kernel: table-driven BPF_PROG_TEST_RUN of
// ps_dns_learn (a reply from bpf/dns_builder.h in; verdict, learned addresses
// and counters out), then the classifier on the same live maps: a packet to a
// learned address takes its domain's class. Hostile replies leave the maps
// untouched. Needs root.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/dns_builder.h"
#include "bpf/dns_names.h"
#include "bpf/packet_builder.h"
#include "bpf/pathsteer_abi.h"
#include "bpf/prog_run.h"
#include "common/test_skip.h"

namespace pathsteer {
namespace {

using testing::build_dns;
using testing::dns_a;
using testing::dns_aaaa;
using testing::dns_cname;
using testing::dns_frame;
using testing::DnsRecord;
using testing::DnsReply;

constexpr uint32_t kMask = 0x0ff00000;
constexpr uint32_t kVideo = 0;  // class ids of plan()
constexpr uint32_t kMeet = 1;
constexpr uint32_t kWide = 2;
constexpr uint32_t kRest = 3;

MatchEntry domains(std::vector<std::string> d) {
  return MatchEntry{.domain = std::move(d)};
}

DatapathClass fixed(std::string name, std::vector<MatchEntry> match, uint32_t n) {
  return DatapathClass{.name = std::move(name), .match = std::move(match), .mark = n << 20};
}

// video: exact and "*." names; meet: a domain combined with proto udp; wide:
// every name under example (after video in policy order); rest: everything.
DatapathPlan plan(DnsOptions dns = {}) {
  DatapathPlan p;
  p.mark_mask = kMask;
  p.dns = dns;
  p.classes = {
      fixed("video", {domains({"video.example", "*.cdn.example"})}, 1),
      fixed("meet", {MatchEntry{.proto = 17, .domain = {"meet.example"}}}, 2),
      fixed("wide", {domains({"*.example"})}, 3),
      fixed("rest", {}, 4),
  };
  return p;
}

class DnsLearnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      PS_SKIP_OR_FAIL("DNS learning tests need root (BPF maps, bpffs)");
    pin_dir_ = "/sys/fs/bpf/ps-dnstest-" + std::to_string(getpid());
    auto dp = Datapath::open(pin_dir_);
    ASSERT_TRUE(dp.ok()) << dp.error().to_string();
    dp_ = std::move(*dp);
    program(plan());
  }

  void TearDown() override {
    if (dp_) {
      EXPECT_TRUE(dp_->unpin().ok());
      dp_.reset();
    }
    std::error_code ec;
    std::filesystem::remove_all(pin_dir_, ec);
  }

  void program(const DatapathPlan& p) {
    auto r = dp_->program(p);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }

  // One reply through ps_dns_learn; it must pass it, always.
  void reply(const std::vector<uint8_t>& frame) {
    auto r = test_run(dp_->dns_program_fd(), frame, 0, 0);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->retval, TC_ACT_UNSPEC) << "DNS learning must never drop or end the chain";
  }
  void reply(const DnsReply& r, const char* server = "10.1.0.1", const char* client = "10.1.0.2") {
    reply(dns_frame(build_dns(r), server, client));
  }

  // The class a new TCP (or proto) flow to dst gets, without recording it.
  std::optional<uint32_t> class_to(const char* dst, uint8_t proto = IPPROTO_TCP) {
    IpAddr d = *IpAddr::parse(dst);
    testing::Frame f{.src = d.is_v4() ? "10.1.0.2" : "fd00::2", .dst = dst, .proto = proto};
    auto r = dp_->simulate(testing::build(f), 0, 0, /*record_flow=*/false);
    EXPECT_TRUE(r.ok());
    return r ? r->class_id : std::nullopt;
  }

  std::vector<LearnedAddress> learned() {
    auto r = dp_->learned_addresses();
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    auto v = r ? *r : std::vector<LearnedAddress>{};
    std::sort(v.begin(), v.end(),
              [](const auto& a, const auto& b) { return a.addr.to_string() < b.addr.to_string(); });
    return v;
  }

  std::vector<std::string> learned_text() {
    std::vector<std::string> out;
    for (const auto& l : learned())
      out.push_back(l.addr.to_string() + " " + l.domain);
    return out;
  }

  DnsCounters counters() {
    auto r = dp_->read_counters();
    EXPECT_TRUE(r.ok());
    return r ? r->dns : DnsCounters{};
  }

  std::string pin_dir_;
  std::unique_ptr<Datapath> dp_;
};

using Strings = std::vector<std::string>;

TEST_F(DnsLearnTest, PatternKeysFollowCaseAndKind) {
  EXPECT_EQ(dns_pattern_key("video.example"), dns_pattern_key("VIDEO.Example"));
  EXPECT_NE(dns_pattern_key("video.example"), dns_pattern_key("*.video.example"));
  EXPECT_NE(dns_pattern_key("a.bc"), dns_pattern_key("ab.c"));
}

TEST_F(DnsLearnTest, LearnsExactNamesBeforeReturningAndClassifiesByThem) {
  EXPECT_EQ(class_to("192.0.2.10"), kRest);
  reply(DnsReply{
      .qname = "video.example",
      .answers = {dns_a("video.example", "192.0.2.10"), dns_a("video.example", "192.0.2.11")}});
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.10 video.example", "192.0.2.11 video.example"}));
  EXPECT_EQ(class_to("192.0.2.10"), kVideo);
  EXPECT_EQ(class_to("192.0.2.11"), kVideo);
  EXPECT_EQ(class_to("192.0.2.12"), kRest);
  DnsCounters c = counters();
  EXPECT_EQ(c.replies, 1u);
  EXPECT_EQ(c.learned, 2u);
  auto l = learned();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].class_id, kVideo);
  EXPECT_EQ(l[0].ttl_s, 60u);
  // max(60, min_ttl 60) + grace 300 s
  EXPECT_GT(l[0].expires_in_ms, 355'000);
  EXPECT_LE(l[0].expires_in_ms, 360'000);
}

TEST_F(DnsLearnTest, LearnsAaaaOverIpv6AndIgnoresCase) {
  reply(DnsReply{.qname = "ViDeO.ExAmPlE",
                 .qtype = testing::kDnsAaaa,
                 .answers = {dns_aaaa("ViDeO.ExAmPlE", "2001:db8::10")}},
        "fd00::1", "fd00::2");
  EXPECT_EQ(learned_text(), (Strings{"2001:db8::10 video.example"}));
  EXPECT_EQ(class_to("2001:db8::10"), kVideo);
  EXPECT_EQ(class_to("2001:db8::11"), kRest);
}

TEST_F(DnsLearnTest, StarMatchesEveryNameBelowButNotTheApex) {
  reply(DnsReply{.qname = "a.b.cdn.example", .answers = {dns_a("a.b.cdn.example", "192.0.2.20")}});
  reply(DnsReply{.qname = "cdn.example", .answers = {dns_a("cdn.example", "192.0.2.21")}});
  // cdn.example is not below cdn.example, but it is below example: class wide.
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.20 *.cdn.example", "192.0.2.21 *.example"}));
  EXPECT_EQ(class_to("192.0.2.20"), kVideo);
  EXPECT_EQ(class_to("192.0.2.21"), kWide);
}

TEST_F(DnsLearnTest, FollowsTheCnameChainAndTheFirstClassOwns) {
  // shop.other (no pattern) -> edge.cdn.example (video) -> x.example (wide):
  // the chain's addresses belong to the first matching class, video.
  reply(DnsReply{
      .qname = "shop.other",
      .answers = {dns_cname("shop.other", "edge.cdn.example"),
                  dns_cname("edge.cdn.example", "x.example"), dns_a("x.example", "192.0.2.30"),
                  dns_a("unrelated.example", "192.0.2.31")}});
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.30 *.cdn.example"}));
  EXPECT_EQ(class_to("192.0.2.30"), kVideo);
  EXPECT_EQ(class_to("192.0.2.31"), kRest) << "an address off the chain is not learned";
}

TEST_F(DnsLearnTest, DomainCombinesWithProto) {
  reply(DnsReply{.qname = "meet.example", .answers = {dns_a("meet.example", "192.0.2.40")}});
  EXPECT_EQ(class_to("192.0.2.40", IPPROTO_UDP), kMeet);
  // TCP fails meet's proto; the address is meet.example's, so wide's *.example
  // entry does not hold for it either (one owner per address).
  EXPECT_EQ(class_to("192.0.2.40", IPPROTO_TCP), kRest);
}

TEST_F(DnsLearnTest, NamesNoPatternCountsAndLearnsNothing) {
  reply(DnsReply{.qname = "video.other", .answers = {dns_a("video.other", "192.0.2.50")}});
  EXPECT_TRUE(learned().empty());
  EXPECT_EQ(counters().no_match, 1u);
  // Not a reply from port 53: not even looked at.
  reply(dns_frame(build_dns(DnsReply{.answers = {dns_a("video.example", "192.0.2.51")}}),
                  "10.1.0.1", "10.1.0.2", 5353));
  EXPECT_TRUE(learned().empty());
  EXPECT_EQ(counters().replies, 1u);
}

TEST_F(DnsLearnTest, TruncatedAndErrorRepliesAreCountedNotLearned) {
  reply(DnsReply{.flags = 0x8380, .answers = {dns_a("video.example", "192.0.2.52")}});  // TC
  reply(DnsReply{.flags = 0x8183, .answers = {dns_a("video.example", "192.0.2.53")}});  // NXDOMAIN
  reply(DnsReply{.flags = 0x0100, .answers = {dns_a("video.example", "192.0.2.54")}});  // a query
  EXPECT_TRUE(learned().empty());
  DnsCounters c = counters();
  EXPECT_EQ(c.truncated, 1u);
  EXPECT_EQ(c.not_answer, 2u);
}

// ---- hostile replies: passed, counted, maps untouched -----------------------

struct Hostile {
  const char* name;
  std::vector<uint8_t> msg;
  const char* reason;  // DnsCounters::failures key, or "" for another counter
};

std::vector<uint8_t> with(std::vector<uint8_t> b, size_t at, std::vector<uint8_t> bytes) {
  if (b.size() < at + bytes.size())
    b.resize(at + bytes.size());
  std::copy(bytes.begin(), bytes.end(), b.begin() + static_cast<ptrdiff_t>(at));
  return b;
}

std::vector<Hostile> hostile_replies() {
  const DnsReply ok{.answers = {dns_a("video.example", "192.0.2.60")}};
  const auto good = build_dns(ok);
  // The answer's owner (offset 31: 12 header + 15 name + 4) is a pointer.
  std::vector<Hostile> out;
  out.push_back({"PointerToItself", with(good, 31, {0xc0, 31}), "loop"});
  out.push_back({"PointerForward", with(good, 31, {0xc0, 40}), "loop"});
  {
    // Two pointers that point at each other: a -> b -> a.
    auto b = good;
    b.insert(b.end(),
             {0xc0, static_cast<uint8_t>(b.size() + 2), 0xc0, static_cast<uint8_t>(b.size())});
    auto loop = with(b, 31, {0xc0, static_cast<uint8_t>(good.size())});
    out.push_back({"PointerCycle", loop, "loop"});
  }
  {
    auto b = good;
    b.resize(b.size() - 2);  // the A record's rdata cut short
    out.push_back({"TruncatedRecord", b, "short"});
  }
  out.push_back({"RdlengthPastTheEnd", with(good, 41, {0x00, 0xff}), "short"});
  {
    // 10,000 answers announced, as many as BPF_PROG_TEST_RUN takes (a page) present.
    DnsReply r{.ancount = 10000};
    for (int i = 0; i < 200; ++i)
      r.answers.push_back(dns_a("video.example", "192.0.2.61"));
    out.push_back({"TenThousandRecords", build_dns(r), "count"});
  }
  {
    // 70 answers: more than the parser reads (and all well-formed).
    DnsReply r;
    for (int i = 0; i < 70; ++i)
      r.answers.push_back(dns_a("video.example", "192.0.2.62"));
    out.push_back({"SeventyRecords", build_dns(r), "count"});
  }
  {
    // A 255-character name ending in video.example: 257 bytes on the wire.
    std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                       std::string(63, 'c') + "." + std::string(49, 'd') + ".video.example";
    EXPECT_EQ(name.size(), 255u);
    out.push_back({"Name255",
                   build_dns(DnsReply{.qname = name, .answers = {dns_a(name, "192.0.2.63")}}),
                   "name"});
  }
  out.push_back({"ReservedLabelType", with(good, 12, {0x47}), "name"});
  {
    DnsRecord rr = dns_a("video.example", "192.0.2.64");
    rr.cls = 3;  // CHAOS
    out.push_back({"UnknownClass", build_dns(DnsReply{.answers = {rr}}), "class"});
  }
  out.push_back(
      {"QuestionClass",
       build_dns(DnsReply{.qclass = 255, .answers = {dns_a("video.example", "192.0.2.65")}}),
       "class"});
  {
    DnsRecord rr = dns_a("video.example", "192.0.2.66");
    rr.rdata.push_back(0);  // an A record of 5 bytes
    out.push_back({"ALength5", build_dns(DnsReply{.answers = {rr}}), "rdata"});
  }
  out.push_back(
      {"TwoQuestions",
       build_dns(DnsReply{.answers = {dns_a("video.example", "192.0.2.67")}, .qdcount = 2}),
       "count"});
  {
    DnsReply r{.qname = "video.example"};
    for (int i = 0; i < 9; ++i)
      r.answers.push_back(dns_cname(i == 0 ? "video.example" : "c" + std::to_string(i) + ".other",
                                    "c" + std::to_string(i + 1) + ".other"));
    r.answers.push_back(dns_a("c9.other", "192.0.2.68"));
    out.push_back({"LongCnameChain", build_dns(r), "chain"});
  }
  {
    DnsReply r;
    for (int i = 0; i < 33; ++i)
      r.answers.push_back(dns_a("video.example", ("192.0.2." + std::to_string(100 + i)).c_str()));
    out.push_back({"ThirtyThreeAddresses", build_dns(r), "chain"});
  }
  out.push_back({"ShortHeader", std::vector<uint8_t>(good.begin(), good.begin() + 11), "short"});
  // (A message over 4,096 bytes, "too-big", needs a frame larger than BPF_PROG_TEST_RUN takes.)
  return out;
}

TEST_F(DnsLearnTest, HostileRepliesArePassedCountedAndLeaveTheMapsUntouched) {
  for (const Hostile& h : hostile_replies()) {
    SCOPED_TRACE(h.name);
    DnsCounters before = counters();
    reply(dns_frame(h.msg));
    EXPECT_TRUE(learned().empty());
    DnsCounters after = counters();
    EXPECT_EQ(after.learned, 0u);
    EXPECT_EQ(after.failures[h.reason], before.failures[h.reason] + 1) << h.reason;
    EXPECT_EQ(class_to("192.0.2.60"), kRest);
  }
}

// Random mutations of well-formed replies (a seeded, reproducible fuzz of the
// BPF parser against the real verifier-checked program): every reply is
// passed, every one is counted once, whatever is learned is owned by a
// pattern of the policy, and the maps keep working.
TEST_F(DnsLearnTest, MutatedRepliesArePassedAndCounted) {
  const std::vector<std::vector<uint8_t>> seeds = {
      build_dns(DnsReply{
          .answers = {dns_a("video.example", "192.0.2.1"), dns_a("video.example", "192.0.2.2")}}),
      build_dns(DnsReply{.qname = "x.other",
                         .answers = {dns_cname("x.other", "a.cdn.example"),
                                     dns_aaaa("a.cdn.example", "2001:db8::1")}}),
  };
  uint32_t state = 12345;
  auto rnd = [&state] {
    state = state * 1103515245u + 12345u;
    return state >> 8;
  };
  constexpr int kRuns = 3000;
  DnsCounters before = counters();
  for (int i = 0; i < kRuns; ++i) {
    std::vector<uint8_t> msg = seeds[static_cast<size_t>(i) % seeds.size()];
    int flips = 1 + static_cast<int>(rnd() % 4);
    for (int f = 0; f < flips; ++f) {
      switch (rnd() % 3) {
        case 0:
          msg[rnd() % msg.size()] = static_cast<uint8_t>(rnd());
          break;
        case 1:
          msg.resize(std::max<size_t>(12, rnd() % (msg.size() + 1)));
          break;
        default:
          msg.insert(msg.begin() + static_cast<ptrdiff_t>(rnd() % msg.size()),
                     static_cast<uint8_t>(rnd()));
          break;
      }
    }
    reply(dns_frame(msg));
    if (HasFailure())
      break;
  }
  DnsCounters after = counters();
  EXPECT_EQ(after.replies - before.replies, static_cast<uint64_t>(kRuns));
  // Whatever was learned is owned by one of the policy's patterns.
  for (const LearnedAddress& l : learned())
    EXPECT_FALSE(l.domain.empty()) << l.addr.to_string();
  // The maps still work: a good reply is learned as before.
  reply(DnsReply{.answers = {dns_a("video.example", "198.51.100.1")}});
  EXPECT_EQ(class_to("198.51.100.1"), kVideo);
}

TEST_F(DnsLearnTest, UnknownTypesOnTheChainAreSkippedAndCounted) {
  DnsRecord odd{.name = "video.example", .type = 0xff00, .rdata = {1, 2, 3, 4}};
  reply(DnsReply{.answers = {odd}});
  EXPECT_TRUE(learned().empty());
  EXPECT_EQ(counters().skipped_records, 1u);
  // Beside a good record, the good one is learned.
  reply(DnsReply{.answers = {odd, dns_a("video.example", "192.0.2.70")}});
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.70 video.example"}));
}

// ---- lifetime ---------------------------------------------------------------

// Polls cond every 20 ms until it holds or the deadline passes.
template <typename Cond>
bool eventually(Cond cond, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

TEST_F(DnsLearnTest, ExpiresAfterTtlPlusGraceAndWhileAFlowLivesThenGoes) {
  DatapathPlan p = plan(DnsOptions{.min_ttl_s = 0, .grace_s = 1, .max_addrs_per_name = 256});
  p.flow_idle_s = 2;  // a flow unseen for 2 s has left the flow table's live set
  program(p);
  reply(DnsReply{.answers = {dns_a("video.example", "192.0.2.80", 0),
                             dns_a("video.example", "192.0.2.81", 0)}});
  ASSERT_EQ(class_to("192.0.2.80"), kVideo);
  // A flow to .81 (recorded in the flow table).
  testing::Frame f{.src = "10.1.0.2", .dst = "192.0.2.81"};
  ASSERT_TRUE(dp_->simulate(testing::build(f), 0, 0, true).ok());
  auto t0 = std::chrono::steady_clock::now();
  // TTL 0 + grace 1 s: the data plane stops using .80 on its own.
  ASSERT_TRUE(eventually([&] { return class_to("192.0.2.80") == kRest; }, std::chrono::seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  ASSERT_TRUE(dp_->expire_learned().ok());
  // .80 is gone; .81 stays while its flow is in the flow table.
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.81 video.example"}));
  EXPECT_EQ(class_to("192.0.2.81"), kVideo);
  EXPECT_EQ(counters().evicted, 1u);
  // The flow idles out: then the address goes too.
  ASSERT_TRUE(eventually(
      [&] {
        EXPECT_TRUE(dp_->expire_learned().ok());
        return learned().empty();
      },
      std::chrono::seconds(8)));
  EXPECT_EQ(class_to("192.0.2.81"), kRest);
  EXPECT_EQ(counters().evicted, 2u);
}

TEST_F(DnsLearnTest, KeepsAtMostMaxAddrsPerNameTheOldestGoFirst) {
  program(plan(DnsOptions{.min_ttl_s = 60, .grace_s = 0, .max_addrs_per_name = 2}));
  reply(DnsReply{.answers = {dns_a("video.example", "192.0.2.90")}});
  auto j = dp_->jiffies();
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE(eventually([&] { return *dp_->jiffies() > *j; }, std::chrono::seconds(2)));
  reply(DnsReply{
      .answers = {dns_a("video.example", "192.0.2.91"), dns_a("video.example", "192.0.2.92")}});
  ASSERT_EQ(learned().size(), 3u);
  ASSERT_TRUE(dp_->expire_learned().ok());
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.91 video.example", "192.0.2.92 video.example"}));
}

TEST_F(DnsLearnTest, ReloadKeepsAddressesOfKeptDomainsOnly) {
  reply(DnsReply{.answers = {dns_a("video.example", "192.0.2.95")}});
  reply(DnsReply{.qname = "meet.example", .answers = {dns_a("meet.example", "192.0.2.96")}});
  DatapathPlan p = plan();
  p.classes.erase(p.classes.begin() + 1);  // meet goes; video stays (now with other neighbours)
  program(p);
  ASSERT_TRUE(dp_->expire_learned().ok());
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.95 video.example"}));
  EXPECT_EQ(class_to("192.0.2.95"), 0u);
  EXPECT_EQ(class_to("192.0.2.96", IPPROTO_UDP), 2u) << "rest, now class 2";
}

TEST_F(DnsLearnTest, LearnedAddressesSurviveAReopen) {
  reply(DnsReply{.answers = {dns_a("video.example", "192.0.2.97")}});
  dp_.reset();  // the daemon stops; pins stay
  auto dp = Datapath::open(pin_dir_);
  ASSERT_TRUE(dp.ok()) << dp.error().to_string();
  dp_ = std::move(*dp);
  // Before any plan the old rules still classify, and nothing is expired.
  ASSERT_TRUE(dp_->expire_learned().ok());
  EXPECT_EQ(class_to("192.0.2.97"), kVideo);
  program(plan());
  ASSERT_TRUE(dp_->expire_learned().ok());
  EXPECT_EQ(learned_text(), (Strings{"192.0.2.97 video.example"}));
  EXPECT_EQ(class_to("192.0.2.97"), kVideo);
}

TEST_F(DnsLearnTest, LearnedDestinationUnderAListedPrefixAdmitsBothRules) {
  DatapathPlan p = plan();
  // Before video: TCP to 192.0.2.0/24 port 22 is class "ssh".
  p.classes.insert(
      p.classes.begin(),
      fixed("ssh",
            {MatchEntry{.proto = 6, .dport = {{22, 22}}, .dst = {*Prefix::parse("192.0.2.0/24")}}},
            5));
  program(p);
  reply(DnsReply{.answers = {dns_a("video.example", "192.0.2.98")}});
  testing::Frame ssh{.src = "10.1.0.2", .dst = "192.0.2.98", .dport = 22};
  testing::Frame web{.src = "10.1.0.2", .dst = "192.0.2.98", .dport = 443};
  EXPECT_EQ(dp_->simulate(testing::build(ssh), 0, 0, false)->class_id, 0u);
  EXPECT_EQ(dp_->simulate(testing::build(web), 0, 0, false)->class_id, 1u) << "video";
}

}  // namespace
}  // namespace pathsteer
