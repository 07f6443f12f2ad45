// The controller core driven through its control service, with a fake
// kernel, data plane, prober, runtime and policy source: no root, no HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"
#include "controller/core_test_util.h"
#include "controller/strategy.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;
using testing::CoreRig;
using ::testing::ElementsAre;
using testing::test_link;

constexpr const char* kPolicy = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1:
    interface: eth1
    gateway: 192.0.2.1
    probes: [ { target: 203.0.113.1 } ]
  wan2:
    interface: eth2
    gateway: 198.51.100.1
    probes: [ { target: 203.0.113.1 } ]
classes:
  video:
    match: [ { proto: udp, dport: 5001 } ]
    strategy: failover
    paths: [wan2, wan1]
  default:
    strategy: failover
    paths: [wan1, wan2]
)";

std::vector<Link> links() {
  return {test_link(2, "lan0"), test_link(11, "eth1"), test_link(12, "eth2")};
}

const Caller kApi{.kind = Caller::Kind::kApi};

std::vector<std::string> kinds(const std::vector<ControlEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    out.push_back(std::string(to_string(e.kind)) + " " + e.subject + " " + e.from + ">" + e.to +
                  (e.reason.empty() ? "" : " (" + e.reason + ")") +
                  (e.by.empty() ? "" : " by " + e.by));
  return out;
}

// Both wans up by probes.
void bring_up(CoreRig& r) {
  r.prober.round("wan1", HealthState::kUp, 10);
  r.prober.round("wan2", HealthState::kUp, 20);
  r.rt.run_deferred();
}

TEST(Core, StartProgramsTheDataPlaneTheLanAndTheKernelSlice) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  ASSERT_FALSE(r.dataplane.plans.empty());
  EXPECT_EQ(r.dataplane.plans.back().classes.size(), 2u);
  EXPECT_THAT(r.dataplane.attached, ElementsAre(2));  // lan0
  // Two fwmark rules per wan and family (8), a local-traffic pair per class
  // selector and family (8); a default route per wan (IPv4 gateways only).
  EXPECT_EQ(r.fake_kernel.rules().size(), 16u);
  EXPECT_EQ(r.fake_kernel.rules().size(), r.core->desired().rules.size());
  EXPECT_EQ(r.fake_kernel.routes().size(), 2u);
  StatusSnapshot s = r.core->status();
  EXPECT_TRUE(s.synced);
  EXPECT_EQ(s.generation, 1u);
  EXPECT_EQ(s.classes.at(0).planned.uplink, "wan2");
  EXPECT_EQ(s.classes.at(0).planned.reason, kReasonPreferred);
  EXPECT_EQ(r.prober.configured.size(), 2u);
  EXPECT_NE(r.prober.configured[0].fwmark, 0u);
}

TEST(Core, ReasonsAndEventsFollowAProbeVerdict) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  uint64_t since = r.core->events(0).back().id;
  r.prober.round("wan2", HealthState::kDown, 0, 100);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  EXPECT_EQ(r.klass("video").reason, kReasonPreferredDown);
  EXPECT_THAT(kinds(r.core->events(since)),
              ElementsAre("path-state wan2 up>down (probes: 3 rounds lost)",
                          "class-move video wan2>wan1 (preferred-down)"));
  // The data plane has the move: video's member is wan1's id.
  const DatapathPlan& dp = r.dataplane.plans.back();
  ASSERT_EQ(dp.classes[0].members.size(), 1u);
  EXPECT_EQ(dp.classes[0].members[0].uplink_id, r.core->desired().uplinks[0].id);
  // Conntrack: wan2 has no addresses in this view, so nothing to hand over.
  EXPECT_TRUE(r.conntrack.empty());
}

TEST(Core, CarrierLossMovesTrafficAtOnceWithoutATimer) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  size_t plans = r.dataplane.plans.size();
  r.link_event(Link{.ifindex = 12, .name = "eth2", .admin_up = true, .carrier = false});
  EXPECT_EQ(r.prober.carriers["wan2"], false);
  EXPECT_EQ(r.klass("video").uplink, "wan1");  // no time has passed
  EXPECT_GT(r.dataplane.plans.size(), plans);
}

// One road: probe rounds re-plan once per loop turn, only when what the
// planner sees changed; no polling timer re-plans.
TEST(Core, FiguresReplanOnlyWhenTheyChange) {
  CoreRig r(R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1, probes: [ { target: 203.0.113.1 } ] }
  wan2: { interface: eth2, gateway: 198.51.100.1, probes: [ { target: 203.0.113.1 } ] }
classes:
  fast: { strategy: lowest-latency, paths: [wan1, wan2] }
)",
            links());
  ASSERT_TRUE(r.start());
  r.prober.round("wan1", HealthState::kUp, 30);
  r.prober.round("wan2", HealthState::kUp, 40);
  r.rt.run_deferred();
  EXPECT_EQ(r.klass("fast").uplink, "wan1");
  // Nothing changes for 10 s: no timer is set but the history sample.
  size_t plans = r.dataplane.plans.size();
  int dumps = r.fake_kernel.dump_calls();
  r.rt.advance(10s);
  EXPECT_EQ(r.dataplane.plans.size(), plans);
  EXPECT_EQ(r.fake_kernel.dump_calls(), dumps);
  // wan2 gets 20 ms faster: the first report starts the sustain, the plan's
  // deadline moves the class when it ends, with no further report.
  r.prober.round("wan2", HealthState::kUp, 10);
  r.prober.round("wan2", HealthState::kUp, 10);  // same turn: one plan
  r.rt.run_deferred();
  EXPECT_EQ(r.klass("fast").uplink, "wan1");
  r.rt.advance(kLatencySustain - 1ms);
  EXPECT_EQ(r.klass("fast").uplink, "wan1");
  r.rt.advance(1ms);
  EXPECT_EQ(r.klass("fast").uplink, "wan2");
  EXPECT_EQ(r.klass("fast").reason, kReasonLowestLatency);
  // The same figures again: nothing is planned or programmed.
  plans = r.dataplane.plans.size();
  dumps = r.fake_kernel.dump_calls();
  r.prober.round("wan2", HealthState::kUp, 10);
  r.rt.run_deferred();
  EXPECT_EQ(r.dataplane.plans.size(), plans);
  EXPECT_EQ(r.fake_kernel.dump_calls(), dumps);
}

TEST(Core, PolicyDryRunChangesNothingAndApplyWritesThenApplies) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  std::string moved = kPolicy;
  moved.replace(moved.find("paths: [wan2, wan1]"), 19, "paths: [wan1, wan2]");
  size_t plans = r.dataplane.plans.size();
  auto dry = r.core->apply_policy(moved, /*dry_run=*/true, kApi);
  ASSERT_TRUE(dry) << dry.error().to_string();
  EXPECT_FALSE(dry->applied);
  ASSERT_EQ(dry->diff.classes.size(), 1u);
  EXPECT_EQ(dry->diff.classes[0].klass, "video");
  EXPECT_EQ(dry->diff.classes[0].after->uplink, "wan1");
  EXPECT_EQ(r.dataplane.plans.size(), plans);
  EXPECT_EQ(r.source.writes, 0);
  EXPECT_EQ(r.core->policy().generation, 1u);

  auto applied = r.core->apply_policy(moved, /*dry_run=*/false, kApi);
  ASSERT_TRUE(applied) << applied.error().to_string();
  EXPECT_TRUE(applied->applied);
  EXPECT_EQ(applied->generation, 2u);
  EXPECT_EQ(r.source.writes, 1);
  EXPECT_EQ(r.source.text, moved);
  EXPECT_EQ(r.core->policy().text, moved);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  auto events = kinds(r.core->events(0));
  EXPECT_THAT(events, ::testing::Contains("policy-applied /etc/pathsteer/policy.yaml >2 by api"));
  EXPECT_THAT(events, ::testing::Contains("class-move video wan2>wan1 (preferred) by api"));
}

TEST(Core, AnInvalidPolicyIsRejectedWithEveryFindingAndTheRunningOneStays) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  auto bad = r.core->apply_policy("version: 1\nwans: 3\nclasses: {}\nbogus: 1\n", false, kApi);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidPolicy);
  EXPECT_GE(bad.error().details.size(), 2u);
  EXPECT_GT(bad.error().details[0].line, 0);
  EXPECT_EQ(r.source.writes, 0);
  EXPECT_EQ(r.core->policy().generation, 1u);
  // A bad file (SIGHUP) is a rejection: counted, shown, framed by the hooks.
  int reloading = 0, ready = 0;
  r.core->set_hooks({.reloading = [&] { ++reloading; }, .ready = [&] { ++ready; }});
  r.source.text = "version: 1\nwans: {}\n";
  r.core->reload(/*file_changed=*/false, Caller{.kind = Caller::Kind::kSignal});
  StatusSnapshot s = r.core->status();
  EXPECT_EQ(s.policy_rejections, 1u);
  EXPECT_FALSE(s.policy_errors.empty());
  EXPECT_EQ(s.generation, 1u);
  EXPECT_EQ(reloading, 1);
  EXPECT_EQ(ready, 1);
  EXPECT_NE(r.core->status_line().find("reload rejected"), std::string::npos);
  EXPECT_EQ(kinds(r.core->events(0)).back().substr(0, 15), "policy-rejected");
  // The file watch re-reads the same bad text: a new rejection, framed again.
  r.core->reload(/*file_changed=*/true, Caller{.kind = Caller::Kind::kFile});
  EXPECT_EQ(reloading, 2);
  // The good text back: in force again, errors cleared.
  r.source.text = kPolicy;
  r.core->reload(/*file_changed=*/true, Caller{.kind = Caller::Kind::kFile});
  EXPECT_TRUE(r.core->status().policy_errors.empty());
  EXPECT_EQ(r.core->status().generation, 2u);
  // Rewritten with the content in force: nothing happens, no framing.
  r.core->reload(/*file_changed=*/true, Caller{.kind = Caller::Kind::kFile});
  EXPECT_EQ(reloading, 3);
  EXPECT_EQ(r.core->status().generation, 2u);
}

TEST(Core, AReloadReadsThePrefixFilesAgainAndTheSourceWatchesThem) {
  TempDir dir;
  std::string list = dir.file("cn.txt");
  std::ofstream(list) << "10.0.0.0/8\n";
  std::string text = kPolicy;
  text.insert(text.find("  default:"),
              "  cn: { match: [ { dst_file: " + list + " } ], paths: [wan2] }\n");
  CoreRig r(text, links());
  ASSERT_TRUE(r.start());
  auto dst = [&] { return r.core->policy_in_force().find_class("cn")->match.at(0).dst; };
  EXPECT_EQ(dst(), (std::vector<Prefix>{*Prefix::parse("10.0.0.0/8")}));
  EXPECT_EQ(r.source.prefix_files, (std::vector<std::string>{list}));

  // The policy's text is the same; SIGHUP (and a watched prefix file's change) read the list.
  std::ofstream(list) << "10.0.0.0/8\n172.16.0.0/12\n";
  r.core->reload(/*file_changed=*/false, Caller{.kind = Caller::Kind::kSignal});
  EXPECT_EQ(dst(),
            (std::vector<Prefix>{*Prefix::parse("10.0.0.0/8"), *Prefix::parse("172.16.0.0/12")}));
  EXPECT_EQ(r.core->status().generation, 2u);

  // A broken list is a rejection; the running policy, and what is watched, stay.
  std::ofstream(list) << "10.0.0.0/8\nnot-a-prefix\n";
  r.core->reload(/*file_changed=*/false, Caller{.kind = Caller::Kind::kSignal});
  EXPECT_THAT(r.core->status().policy_errors,
              ::testing::ElementsAre(list + ":2:1: invalid prefix: 'not-a-prefix' is not an IPv4 "
                                            "or IPv6 address"));
  EXPECT_EQ(r.core->status().generation, 2u);
  EXPECT_EQ(dst().size(), 2u);
  EXPECT_EQ(r.source.prefix_files, (std::vector<std::string>{list}));
}

TEST(Core, APolicyThatCannotBeWrittenIsNotApplied) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  r.source.read_only = true;
  auto res = r.core->apply_policy(kPolicy, false, kApi);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().kind, ErrorKind::kSystem);
  EXPECT_NE(res.error().to_string().find("the running policy stays in force"), std::string::npos);
  EXPECT_EQ(r.core->policy().generation, 1u);
}

TEST(Core, IntentsMoveAClassUntilTheyExpireAndSurviveARestart) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  auto req = parse_intent_request(R"({"class":"video","paths":["wan1"],"ttl_s":4})");
  ASSERT_TRUE(req);
  auto added = r.core->add_intent(*req, kApi);
  ASSERT_TRUE(added) << added.error().to_string();
  EXPECT_TRUE(added->applies);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  EXPECT_EQ(r.klass("video").reason, kReasonIntent);
  // A second one for the class is a conflict.
  auto again = r.core->add_intent(*req, kApi);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  // Persisted; a restart (same state directory) restores it.
  EXPECT_TRUE(std::filesystem::exists(r.dir + "/intents.json"));
  r.make();
  ASSERT_TRUE(r.start());
  bring_up(r);
  ASSERT_EQ(r.core->intents().size(), 1u);
  EXPECT_EQ(r.klass("video").reason, kReasonIntent);
  // It expires at its deadline, to the millisecond of the fake clock.
  r.rt.advance(3999ms);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  r.rt.advance(1ms);
  EXPECT_EQ(r.klass("video").uplink, "wan2");
  EXPECT_EQ(r.klass("video").reason, kReasonPreferred);
  EXPECT_TRUE(r.core->intents().empty());
  EXPECT_THAT(kinds(r.core->events(0)),
              ::testing::Contains("intent-expired " + added->intent.id + " >video (ttl)"));
}

TEST(Core, IntentErrorsAndDeletion) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  auto bad = r.core->add_intent(
      *parse_intent_request(R"({"class":"nope","paths":["wan1"],"ttl_s":4})"), kApi);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidPolicy);
  EXPECT_EQ(r.core->delete_intent("i-none", kApi).error().kind, ErrorKind::kNotFound);
  auto added = r.core->add_intent(
      *parse_intent_request(R"({"class":"default","paths":["wan2"],"ttl_s":60})"),
      Caller{.kind = Caller::Kind::kCli});
  ASSERT_TRUE(added);
  EXPECT_EQ(r.klass("default").uplink, "wan2");
  ASSERT_TRUE(r.core->delete_intent(added->intent.id, kApi));
  EXPECT_EQ(r.klass("default").uplink, "wan1");
  auto events = kinds(r.core->events(0));
  EXPECT_THAT(events, ::testing::Contains("intent-added " + added->intent.id + " >default by cli"));
  EXPECT_THAT(events,
              ::testing::Contains("intent-deleted " + added->intent.id + " >default by api"));
}

TEST(Core, AnIntentDeadlinePastTheYear2262NeitherOverflowsNorSpins) {
  CoreRig r(kPolicy, links());
  std::ofstream(r.dir + "/intents.json")
      << R"({"version":1,"intents":[{"id":"i-0000000000000001","class":"video",)"
      << R"("paths":["wan1"],"ttl_s":60,"comment":"","created_ms":0,)"
      << R"("expires_ms":253402300799999}]})";  // year 9999: the latest a file may hold
  ASSERT_TRUE(r.start());
  ASSERT_EQ(r.core->intents().size(), 1u);
  // The expiry timer is re-checked a day out, not fired at once over and over.
  r.rt.advance(23h);
  EXPECT_EQ(r.core->intents().size(), 1u);
}

TEST(Core, EventsAreKeptInOrderAndStreamedToSubscribers) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  std::vector<uint64_t> seen;
  {
    Subscription sub = r.core->subscribe([&](const ControlEvent& e) { seen.push_back(e.id); });
    bring_up(r);
    r.prober.round("wan1", HealthState::kDown, 0);
  }
  size_t n = seen.size();
  ASSERT_GE(n, 3u);
  for (size_t i = 1; i < n; ++i)
    EXPECT_EQ(seen[i], seen[i - 1] + 1);
  auto after = r.core->events(seen[0]);
  EXPECT_EQ(after.front().id, seen[1]);
  r.prober.round("wan1", HealthState::kUp, 5);  // unsubscribed: not seen
  EXPECT_EQ(seen.size(), n);
  EXPECT_GT(r.core->events(0).back().id, seen.back());
}

TEST(Core, HealthAndPlannerMemorySurviveARestart) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.prober.round("wan2", HealthState::kDown, 0);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  // Restart with a prober that knows nothing yet: the last verdict holds.
  r.prober = testing::FakeProber();
  r.make();
  ASSERT_TRUE(r.start());
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  EXPECT_EQ(r.klass("video").reason, kReasonPreferredDown);
  // The prober's own verdict replaces it.
  r.prober.round("wan2", HealthState::kUp, 20);
  EXPECT_EQ(r.klass("video").uplink, "wan2");
}

TEST(Core, ExplainRunsTheDataPlaneWithoutRecordingAFlow) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.dataplane.verdict = SimulateResult{.mark = r.core->desired().uplinks[1].mark,
                                       .class_id = 0,
                                       .uplink_id = r.core->desired().uplinks[1].id};
  ExplainQuery q;
  q.frame.proto = 17;
  q.frame.dport = 5001;
  auto a = r.core->explain(q);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_FALSE(r.dataplane.last_record_flow);
  EXPECT_EQ(r.dataplane.last_ingress, 2);  // lan0, the policy's first LAN interface
  EXPECT_EQ(a->klass->name, "video");
  EXPECT_EQ(a->uplink->name, "wan2");
  EXPECT_EQ(a->action, "mark");
  q.iif = "nosuch";
  auto bad = r.core->explain(q);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidPolicy);
}

TEST(Core, ExplainNamesTheDomainThatDecidedAndDomainsListsByClass) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.dataplane.verdict = SimulateResult{.mark = r.core->desired().uplinks[1].mark,
                                       .class_id = 0,
                                       .uplink_id = r.core->desired().uplinks[1].id};
  r.dataplane.learned = {
      LearnedAddress{.addr = *IpAddr::parse("203.0.113.10"),
                     .domain = "*.cdn.example",
                     .class_id = 0,
                     .ttl_s = 60,
                     .expires_in_ms = 30000},
      LearnedAddress{.addr = *IpAddr::parse("198.51.100.7"),
                     .domain = "gone.example",
                     .class_id = 1,
                     .ttl_s = 5,
                     .expires_in_ms = -100},
  };
  ExplainQuery q;
  q.frame.dst = "203.0.113.10";
  auto a = r.core->explain(q);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->domain, "*.cdn.example");
  ASSERT_GE(a->reasons.size(), 2u);
  EXPECT_EQ(a->reasons[1],
            "the destination was learned from a DNS answer for *.cdn.example (30 s left)");
  q.frame.dst = "203.0.113.11";  // not learned: no domain named
  auto b = r.core->explain(q);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->domain, "");

  auto all = r.core->domains("");
  ASSERT_TRUE(all) << all.error().to_string();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].domain, "*.cdn.example");
  EXPECT_EQ((*all)[0].klass, "video");
  EXPECT_EQ((*all)[1].klass, r.core->desired().classes[1].name);
  auto video = r.core->domains("video");
  ASSERT_TRUE(video);
  ASSERT_EQ(video->size(), 1u);
  EXPECT_EQ((*video)[0].address, "203.0.113.10");
  auto none = r.core->domains("nosuch");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::kNotFound);
}

TEST(Core, ProgrammerExpiresLearnedAddressesEverySecond) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  int before = r.dataplane.expire_calls;
  r.rt.advance(3s);
  EXPECT_GE(r.dataplane.expire_calls - before, 2);
  EXPECT_LE(r.dataplane.expire_calls - before, 4);
}

TEST(Core, HistoryKeepsOneSampleASecond) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.rt.advance(3s);
  auto h = r.core->history("wan1", 0, HistoryResolution::kSecond);
  ASSERT_TRUE(h);
  ASSERT_EQ(h->samples.size(), 3u);
  EXPECT_EQ(h->samples[0].state, "up");
  EXPECT_EQ(h->samples[0].rtt_ms, 10.0);
  EXPECT_EQ(h->samples[1].t_ms - h->samples[0].t_ms, 1000);
  EXPECT_EQ(r.core->history("wan1", h->samples[1].t_ms, HistoryResolution::kSecond)->samples.size(),
            1u);
  EXPECT_EQ(r.core->history("nope", 0, HistoryResolution::kSecond).error().kind,
            ErrorKind::kNotFound);
}

// The 24 h ring is written once a minute and at a clean stop, and reloaded:
// the samples from before a restart are there, with the time it was down as a gap.
TEST(Core, TheMinuteHistorySurvivesARestartWithAGap) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.rt.advance(150s);  // two whole minutes and part of a third
  EXPECT_TRUE(std::filesystem::exists(r.dir + "/history.json"));
  auto before = r.core->history("wan1", 0, HistoryResolution::kMinute)->samples;
  ASSERT_GE(before.size(), 3u);
  r.core->persist();  // the clean stop writes the minute in progress too
  r.core.reset();
  r.rt.advance(600s);  // ten minutes without a daemon
  r.prober = testing::FakeProber();
  r.make();
  ASSERT_TRUE(r.start());
  bring_up(r);
  r.rt.advance(61s);
  auto after = r.core->history("wan1", 0, HistoryResolution::kMinute)->samples;
  ASSERT_GT(after.size(), before.size());
  EXPECT_EQ(after[0].t_ms, before[0].t_ms);
  // A gap: no minute between the last one before the restart and the first after.
  size_t i = before.size() - 1;
  EXPECT_GE(after[i + 1].t_ms - after[i].t_ms, 10 * 60 * 1000);
  EXPECT_TRUE(r.core->history("wan1", 0, HistoryResolution::kSecond)->samples.size() <= 62);
}

TEST(Core, StatusCarriesStateChangeTimesAndThresholds) {
  CoreRig r(R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1:
    interface: eth1
    gateway: 192.0.2.1
    probes: [ { target: 203.0.113.1 } ]
    health: { degraded_if: { rtt_ms: 80, loss_pct: 5 } }
  wan2: { interface: eth2, gateway: 198.51.100.1, probes: [ { target: 203.0.113.1 } ] }
classes:
  voip:
    match: [ { proto: udp, dport: 5060 } ]
    strategy: sla
    sla: { max_rtt_ms: 150 }
    paths: [wan1, wan2]
  default: { paths: [wan1, wan2] }
)",
            links());
  ASSERT_TRUE(r.start());
  int64_t t_start = to_unix_ms(r.rt.wall_now());
  StatusSnapshot s = r.core->status();
  EXPECT_EQ(s.wans[0].state_since_ms, t_start);
  EXPECT_EQ(s.wans[0].degraded_if.rtt_ms, 80u);
  EXPECT_EQ(s.wans[0].degraded_if.loss_pct, 5.0);
  EXPECT_FALSE(s.wans[1].degraded_if.rtt_ms);
  ASSERT_TRUE(s.classes[0].sla);
  EXPECT_EQ(s.classes[0].sla->max_rtt_ms, 150u);
  EXPECT_FALSE(s.classes[1].sla);
  r.rt.advance(5s);
  r.prober.round("wan1", HealthState::kUp, 10);
  EXPECT_EQ(r.core->status().wans[0].state_since_ms, t_start + 5000);
  // An intent's SLA is the one in force.
  ASSERT_TRUE(r.core->add_intent(
      *parse_intent_request(R"({"class":"default","sla":{"max_loss_pct":1},"ttl_s":60})"), kApi));
  EXPECT_EQ(r.core->status().classes[1].sla->max_loss_pct, 1.0);
}

TEST(Core, DataPlaneAndStateErrorsShowInStatus) {
  CoreRig r(kPolicy, links());
  r.dataplane.fail_program = true;
  ASSERT_TRUE(r.start());
  StatusSnapshot s = r.core->status();
  EXPECT_FALSE(s.synced);
  ASSERT_FALSE(s.errors.empty());
  EXPECT_EQ(s.errors[0].rfind("data plane:", 0), 0u) << s.errors[0];
  // Once the data plane takes a plan, the error clears.
  r.dataplane.fail_program = false;
  r.prober.round("wan1", HealthState::kUp, 10);
  EXPECT_TRUE(r.core->status().synced);
}

TEST(Core, DriftInTheOwnedSliceIsRepairedAfterTheDebounce) {
  CoreRig r(kPolicy, links());
  ASSERT_TRUE(r.start());
  ASSERT_FALSE(r.fake_kernel.rules().empty());
  Rule gone = r.fake_kernel.rules().front();
  r.fake_kernel.erase(gone);
  KernelDelta d;
  d.rule_priorities.insert(gone.priority);
  r.core->on_kernel_change(d);
  EXPECT_EQ(r.fake_kernel.rules().size(), 15u);  // not yet: debounced
  r.rt.advance(Controller::kReconcileDebounce);
  EXPECT_EQ(r.fake_kernel.rules().size(), 16u);
  // A rule outside the band is not ours to look at.
  KernelDelta foreign;
  foreign.rule_priorities.insert(32766);
  int dumps = r.fake_kernel.dump_calls();
  r.core->on_kernel_change(foreign);
  r.rt.advance(1s);
  EXPECT_EQ(r.fake_kernel.dump_calls(), dumps);
}

}  // namespace
}  // namespace pathsteer

namespace pathsteer {
namespace {

const Caller kFleetCaller{.kind = Caller::Kind::kFleet, .name = "n1"};

constexpr const char* kFleetFile = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1, probes: [ { target: 203.0.113.1 } ] }
  wan2: { interface: eth2, gateway: 198.51.100.1, probes: [ { target: 203.0.113.1 } ] }
classes:
  video: { match: [ { proto: udp, dport: 5001 } ], strategy: failover, paths: [wan2, wan1] }
  default: { strategy: failover, paths: [wan1, wan2] }
fleet:
  endpoints: ["http://127.0.0.1:2379"]
  node: n1
  groups: [branch]
)";

// The fleet's text: video prefers wan1 instead.
constexpr const char* kFleetText = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1, probes: [ { target: 203.0.113.1 } ] }
  wan2: { interface: eth2, gateway: 198.51.100.1, probes: [ { target: 203.0.113.1 } ] }
classes:
  video: { match: [ { proto: udp, dport: 5001 } ], strategy: failover, paths: [wan1, wan2] }
  default: { strategy: failover, paths: [wan1, wan2] }
)";

TEST(CoreFleet, AFleetPolicyIsValidatedAppliedAndKeepsTheFilesFleetBlock) {
  CoreRig r(kFleetFile, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  EXPECT_EQ(r.klass("video").uplink, "wan2");
  auto g0 = r.core->generation();
  auto ok = r.core->set_fleet_policy(
      FleetPolicyText{.text = kFleetText, .origin = "etcd:/p/policy/groups/branch@7"},
      kFleetCaller);
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  EXPECT_GT(r.core->generation(), g0);
  ASSERT_TRUE(r.core->policy_in_force().fleet);
  EXPECT_EQ(r.core->policy_in_force().fleet->node, "n1");
  EXPECT_EQ(r.core->status().policy_source, "etcd:/p/policy/groups/branch@7");
  EXPECT_EQ(r.core->policy().text, kFleetText);
  // The file is never written by the fleet.
  EXPECT_EQ(r.source.text, kFleetFile);
  // PUT /v1/policy is refused while the fleet's policy is in force.
  auto put = r.core->apply_policy(kFleetFile, false, kApi);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().kind, ErrorKind::kConflict);

  // A bad one is rejected whole, labelled with its origin; the running one stays.
  auto gen = r.core->generation();
  auto bad = r.core->set_fleet_policy(
      FleetPolicyText{.text = "version: 1\nlan_interfaces: [lan0]\nwans: {}\nclasses: {}\n",
                      .origin = "etcd:/p/policy/nodes/n1@9"},
      kFleetCaller);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().to_string().find("etcd:/p/policy/nodes/n1@9:"), std::string::npos)
      << bad.error().to_string();
  EXPECT_EQ(r.core->generation(), gen);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  EXPECT_EQ(r.core->status().policy_source, "etcd:/p/policy/groups/branch@7");

  // A fleet text with its own fleet: block is refused.
  auto with_block = r.core->set_fleet_policy(
      FleetPolicyText{.text = kFleetFile, .origin = "etcd:/p/policy/default@10"}, kFleetCaller);
  ASSERT_FALSE(with_block);
  EXPECT_NE(with_block.error().to_string().find("no fleet: block"), std::string::npos);

  // No fleet key any more: the file's policy again.
  ASSERT_TRUE(r.core->set_fleet_policy(std::nullopt, kFleetCaller));
  EXPECT_EQ(r.klass("video").uplink, "wan2");
  EXPECT_EQ(r.core->status().policy_source, "file");
}

TEST(CoreFleet, FleetIntentsApplyExpireAndLoseToALocalOne) {
  CoreRig r(kFleetFile, links());
  ASSERT_TRUE(r.start());
  bring_up(r);
  auto req = parse_intent_request(R"({"class":"video","paths":["wan1"],"ttl_s":10})");
  ASSERT_TRUE(req);
  int64_t now = to_unix_ms(r.rt.wall_now());
  Intent fi{.id = "move-video", .request = *req, .created_ms = now, .expires_ms = now + 5000};
  r.core->set_fleet_intents({fi}, kFleetCaller);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  ASSERT_EQ(r.core->intents().size(), 1u);
  EXPECT_EQ(r.core->intents()[0].source, "fleet");
  // Not deletable through the API.
  auto del = r.core->delete_intent("move-video", kApi);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().kind, ErrorKind::kConflict);
  // A local intent for the same class wins.
  auto local = parse_intent_request(R"({"class":"video","paths":["wan2"],"ttl_s":60})");
  auto added = r.core->add_intent(*local, kApi);
  ASSERT_TRUE(added) << added.error().to_string();
  EXPECT_EQ(r.klass("video").uplink, "wan2");
  ASSERT_TRUE(r.core->delete_intent(added->intent.id, kApi));
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  // It expires at its deadline.
  r.rt.advance(4999ms);
  EXPECT_EQ(r.klass("video").uplink, "wan1");
  r.rt.advance(1ms);
  EXPECT_EQ(r.klass("video").uplink, "wan2");
  EXPECT_TRUE(r.core->intents().empty());
}

}  // namespace
}  // namespace pathsteer
