#include "controller/intents.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"

namespace pathsteer {
namespace {

Policy test_policy() {
  auto parsed = parse_policy(R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1 }
  wan2: { interface: eth2, gateway: 198.51.100.1 }
classes:
  voip:
    match: [ { proto: udp, dport: 5060 } ]
    paths: [wan1, wan2]
  default:
    paths: [wan1, wan2]
)",
                             "t.yaml");
  EXPECT_TRUE(parsed.ok());
  return parsed.value();
}

IntentRequest must_parse(const std::string& body) {
  auto r = parse_intent_request(body);
  if (!r) {
    ADD_FAILURE() << body << ": " << r.error().context;
    return {};
  }
  return *r;
}

Error must_fail(const std::string& body) {
  auto r = parse_intent_request(body);
  EXPECT_FALSE(r.ok()) << body;
  return r ? Error{} : r.error();
}

const WallTime kT0 = WallTime(std::chrono::seconds(1'800'000'000));

TEST(IntentParse, FullRequest) {
  auto r =
      must_parse(R"({"class":"voip","paths":["wan2"],"sla":{"max_rtt_ms":80,"max_loss_pct":1.5},)"
                 R"("ttl_s":600,"comment":"call"})");
  EXPECT_EQ(r.klass, "voip");
  ASSERT_TRUE(r.paths);
  EXPECT_EQ(*r.paths, std::vector<std::string>{"wan2"});
  ASSERT_TRUE(r.sla);
  EXPECT_EQ(r.sla->max_rtt_ms, 80u);
  EXPECT_EQ(r.sla->max_loss_pct, 1.5);
  EXPECT_FALSE(r.sla->max_jitter_ms);
  EXPECT_EQ(r.ttl_s, 600u);
  EXPECT_EQ(r.comment, "call");
}

TEST(IntentParse, MalformedBodiesNameTheField) {
  EXPECT_EQ(must_fail("{").kind, ErrorKind::kMalformed);
  EXPECT_EQ(must_fail("[]").kind, ErrorKind::kMalformed);
  EXPECT_NE(must_fail(R"({"paths":["wan1"],"ttl_s":5})").context.find("'class'"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","paths":["wan1"]})").context.find("'ttl_s'"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","ttl_s":5})").context.find("'paths' or 'sla'"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","paths":"wan1","ttl_s":5})").context.find("'paths'"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","paths":["wan1"],"ttl_s":-1})").context.find("ttl_s"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","paths":["wan1"],"ttl_s":1.5})").context.find("ttl_s"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","paths":["wan1"],"ttl_s":5,"pahts":[]})")
                .context.find("'pahts'"),
            std::string::npos);
  EXPECT_NE(must_fail(R"({"class":"voip","sla":{"rtt":5},"ttl_s":5})").context.find("sla.rtt"),
            std::string::npos);
}

TEST(IntentParse, TtlAboveTheMaximumIsInvalidNotMalformed) {
  auto e = must_fail(R"({"class":"voip","paths":["wan1"],"ttl_s":99999999})");
  EXPECT_EQ(e.kind, ErrorKind::kInvalidPolicy);
}

TEST(IntentValidate, AgainstThePolicy) {
  Policy p = test_policy();
  // validate() returns ok, or the error (Result<void>).
  auto fails = [&](const char* body) { return !validate(must_parse(body), p).ok(); };
  EXPECT_FALSE(fails(R"({"class":"voip","paths":["wan2"],"ttl_s":5})"));
  auto e = validate(must_parse(R"({"class":"nosuch","paths":["wan2"],"ttl_s":5})"), p);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::kInvalidPolicy);
  EXPECT_NE(e.error().context.find("'nosuch'"), std::string::npos);
  e = validate(must_parse(R"({"class":"voip","paths":["wan9"],"ttl_s":5})"), p);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().context.find("'wan9'"), std::string::npos);
  e = validate(must_parse(R"({"class":"voip","paths":["wan1","wan1"],"ttl_s":5})"), p);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().context.find("twice"), std::string::npos);
  EXPECT_TRUE(fails(R"({"class":"voip","paths":[],"ttl_s":5})"));
  EXPECT_TRUE(fails(R"({"class":"voip","paths":["wan1"],"ttl_s":0})"));
  EXPECT_TRUE(fails(R"({"class":"voip","sla":{},"ttl_s":5})"));
  EXPECT_TRUE(fails(R"({"class":"voip","sla":{"max_loss_pct":101},"ttl_s":5})"));
}

TEST(IntentStore, OneIntentPerClassAndRemove) {
  IntentStore s("/nonexistent/intents.json");
  auto a = s.add(must_parse(R"({"class":"voip","paths":["wan2"],"ttl_s":60})"), kT0);
  ASSERT_TRUE(a.ok());
  const Intent& ia = a.value();
  EXPECT_EQ(ia.id.size(), 18u);
  EXPECT_EQ(ia.expires_ms - ia.created_ms, 60'000);
  auto b = s.add(must_parse(R"({"class":"voip","paths":["wan1"],"ttl_s":60})"), kT0);
  ASSERT_TRUE(!b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::kConflict);
  EXPECT_NE(b.error().context.find(ia.id), std::string::npos);
  auto c = s.add(must_parse(R"({"class":"default","sla":{"max_rtt_ms":50},"ttl_s":60})"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(s.intents().size(), 2u);
  EXPECT_FALSE(s.remove("i-nope"));
  EXPECT_TRUE(s.remove(ia.id));
  EXPECT_EQ(s.find(ia.id), nullptr);
  EXPECT_EQ(s.intents().size(), 1u);
}

TEST(IntentStore, ExpiresOnTime) {
  IntentStore s("/nonexistent/intents.json");
  auto a = s.add(must_parse(R"({"class":"voip","paths":["wan2"],"ttl_s":10})"), kT0);
  auto b = s.add(must_parse(R"({"class":"default","paths":["wan2"],"ttl_s":20})"), kT0);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(s.next_expiry());
  EXPECT_EQ(*s.next_expiry(), kT0 + std::chrono::seconds(10));
  EXPECT_TRUE(s.expire(kT0 + std::chrono::milliseconds(9999)).empty());
  auto gone = s.expire(kT0 + std::chrono::seconds(10));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].request.klass, "voip");
  EXPECT_EQ(*s.next_expiry(), kT0 + std::chrono::seconds(20));
  EXPECT_EQ(s.expire(kT0 + std::chrono::seconds(30)).size(), 1u);
  EXPECT_FALSE(s.next_expiry());
}

TEST(IntentStore, OverridesOnlyForIntentsThatApply) {
  Policy p = test_policy();
  IntentStore s("/nonexistent/intents.json");
  (void)s.add(must_parse(R"({"class":"voip","paths":["wan2"],"ttl_s":10})"), kT0);
  (void)s.add(must_parse(R"({"class":"default","sla":{"max_rtt_ms":5},"ttl_s":10})"), kT0);
  auto ov = s.overrides(p);
  ASSERT_EQ(ov.size(), 2u);
  EXPECT_EQ(ov["voip"].paths, std::vector<std::string>{"wan2"});
  EXPECT_FALSE(ov["voip"].sla);
  EXPECT_EQ(ov["default"].sla->max_rtt_ms, 5u);
  // A reload drops wan2: the intent stays stored but no longer applies.
  Policy smaller = p;
  std::erase_if(smaller.wans, [](const Wan& w) { return w.name == "wan2"; });
  EXPECT_FALSE(applies(s.intents()[0], smaller));
  EXPECT_EQ(s.overrides(smaller).count("voip"), 0u);
  EXPECT_EQ(s.overrides(smaller).count("default"), 1u);
}

TEST(IntentStore, SurvivesSaveAndLoad) {
  TempDir dir;
  IntentStore s(dir.file("intents.json"));
  ASSERT_TRUE(s.load());  // missing file: empty
  EXPECT_TRUE(s.intents().empty());
  auto a = s.add(must_parse(R"({"class":"voip","paths":["wan2","wan1"],"sla":{"max_jitter_ms":9,)"
                            R"("max_loss_pct":0.5},"ttl_s":600,"comment":"by test"})"),
                 kT0);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(s.save());
  IntentStore t(dir.file("intents.json"));
  ASSERT_TRUE(t.load());
  ASSERT_EQ(t.intents().size(), 1u);
  const Intent& x = t.intents()[0];
  const Intent& y = a.value();
  EXPECT_EQ(x.id, y.id);
  EXPECT_EQ(x.created_ms, y.created_ms);
  EXPECT_EQ(x.expires_ms, y.expires_ms);
  EXPECT_EQ(x.request.paths, y.request.paths);
  EXPECT_EQ(x.request.sla, y.request.sla);
  EXPECT_EQ(x.request.comment, "by test");
  EXPECT_FALSE(std::filesystem::exists(dir.file("intents.json.tmp")));
}

TEST(IntentStore, CorruptFileIsAnErrorNotAnEmptyStore) {
  TempDir dir;
  for (const char* text : {"not json", R"({"version":2,"intents":[]})",
                           R"({"version":1,"intents":[{"class":"voip"}]})"}) {
    std::ofstream(dir.file("intents.json")) << text;
    IntentStore s(dir.file("intents.json"));
    auto r = s.load();
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().to_string().find("corrupt"), std::string::npos);
  }
}

std::string intents_file(const std::string& entry_fields) {
  return R"({"version":1,"intents":[{"id":"i-1","class":"voip","paths":["wan1"],)" + entry_fields +
         "}]}";
}

TEST(IntentStore, RefusesAbsurdNumbersAsCorrupt) {
  const char* bad[] = {
      // Past year 2262: WallTime (int64 ns) cannot hold it.
      R"("ttl_s":60,"created_ms":0,"expires_ms":9000000000000000000)",
      R"("ttl_s":60,"created_ms":0,"expires_ms":18446744073709551615)",
      R"("ttl_s":60,"created_ms":0,"expires_ms":253402300800000)",  // year 10000
      R"("ttl_s":60,"created_ms":-1,"expires_ms":1000)",
      R"("ttl_s":60,"created_ms":2000,"expires_ms":1000)",  // expires before created
      R"("ttl_s":60,"created_ms":0,"expires_ms":1.5e3)",
      R"("ttl_s":60,"created_ms":"0","expires_ms":1000)",
      R"("ttl_s":0,"created_ms":0,"expires_ms":1000)",
      R"("ttl_s":2678401,"created_ms":0,"expires_ms":1000)",  // kMaxIntentTtlS + 1
      R"("ttl_s":-5,"created_ms":0,"expires_ms":1000)",
      R"("ttl_s":60,"sla":{"max_loss_pct":101},"created_ms":0,"expires_ms":1000)",
      R"("ttl_s":60,"sla":{"max_rtt_ms":4294967296},"created_ms":0,"expires_ms":1000)",
  };
  TempDir dir;
  for (const char* fields : bad) {
    std::ofstream(dir.file("intents.json")) << intents_file(fields);
    IntentStore s(dir.file("intents.json"));
    auto r = s.load();
    ASSERT_FALSE(r) << fields;
    EXPECT_NE(r.error().to_string().find("corrupt"), std::string::npos) << r.error().to_string();
    EXPECT_TRUE(s.intents().empty());
  }
}

TEST(IntentStore, RefusesTwoIntentsWithOneIdOrOneClass) {
  const std::string a = R"({"id":"i-1","class":"voip","paths":["wan1"],"ttl_s":60,)"
                        R"("created_ms":0,"expires_ms":60000})";
  const std::string b = R"({"id":"i-1","class":"default","paths":["wan1"],"ttl_s":60,)"
                        R"("created_ms":0,"expires_ms":60000})";
  const std::string c = R"({"id":"i-2","class":"voip","paths":["wan2"],"ttl_s":60,)"
                        R"("created_ms":0,"expires_ms":60000})";
  IntentStore s("intents.json");
  EXPECT_TRUE(s.parse(R"({"version":1,"intents":[)" + a + "]}"));
  auto twice_id = s.parse(R"({"version":1,"intents":[)" + a + "," + b + "]}");
  ASSERT_FALSE(twice_id);
  EXPECT_NE(twice_id.error().context.find("i-1 appears twice"), std::string::npos);
  auto twice_class = s.parse(R"({"version":1,"intents":[)" + a + "," + c + "]}");
  ASSERT_FALSE(twice_class);
  EXPECT_NE(twice_class.error().context.find("'voip' has two intents"), std::string::npos);
}

TEST(IntentStore, ADeadlinePastWallTimesRangeSaturates) {
  IntentStore s("intents.json");
  // Year 9999 is a time the file may hold, though WallTime cannot.
  ASSERT_TRUE(s.parse(intents_file(R"("ttl_s":60,"created_ms":0,"expires_ms":253402300799999)")));
  EXPECT_EQ(s.next_expiry_ms(), 253402300799999);
  EXPECT_EQ(s.next_expiry(), WallTime::max());
  EXPECT_TRUE(s.expire(kT0).empty());
  EXPECT_EQ(from_unix_ms(-253402300799999), WallTime::min());
  EXPECT_EQ(from_unix_ms(1'800'000'000'000), kT0);
}

// The planner sees an intent as an override for exactly as long as it lives.
TEST(IntentStore, PlanFollowsAnIntentUntilItExpires) {
  Policy p = test_policy();
  std::map<std::string, uint32_t> ids{{"wan1", 1}, {"wan2", 2}};
  PlanInput in;
  in.policy = &p;
  in.uplink_ids = &ids;
  in.uplinks["wan1"] = UplinkView{.ifindex = 11, .usable = true};
  in.uplinks["wan2"] = UplinkView{.ifindex = 12, .usable = true};
  p.wans[0].gateway4 = IpAddr::parse("192.0.2.1");
  IntentStore s("/nonexistent/intents.json");
  ASSERT_TRUE(s.add(must_parse(R"({"class":"voip","paths":["wan2"],"ttl_s":30})"), kT0).ok());
  PlanTime t{};
  in.overrides = s.overrides(p);
  DesiredState out = plan(in, PlannerMemory{}, t);
  EXPECT_EQ(out.classes[0].uplink, "wan2");
  EXPECT_EQ(out.classes[0].reason, kReasonIntent);
  EXPECT_TRUE(out.classes[0].intent);
  EXPECT_EQ(out.classes[1].uplink, "wan1");  // the other class is untouched

  EXPECT_TRUE(s.expire(kT0 + std::chrono::seconds(29)).empty());
  EXPECT_EQ(s.expire(kT0 + std::chrono::seconds(30)).size(), 1u);
  in.overrides = s.overrides(p);
  out = plan(in, out.memory, t + std::chrono::seconds(30));
  EXPECT_EQ(out.classes[0].uplink, "wan1");
  EXPECT_EQ(out.classes[0].reason, kReasonPreferred);
  EXPECT_FALSE(out.classes[0].intent);
}

}  // namespace
}  // namespace pathsteer
