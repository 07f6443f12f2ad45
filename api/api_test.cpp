// The REST routes over a controller on fakes (no HTTP, no root): status
// codes, auth, error shapes and the JSON mapping.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/server.h"
#include "controller/core_test_util.h"

namespace pathsteer {
namespace {

using nlohmann::json;
using testing::CoreRig;
using testing::test_link;

constexpr const char* kPolicy = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1, probes: [ { target: 203.0.113.1 } ] }
  wan2: { interface: eth2, gateway: 198.51.100.1 }
classes:
  video: { match: [ { proto: udp, dport: 5001 } ], paths: [wan2, wan1] }
  default: { paths: [wan1, wan2] }
)";

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rig.start());
    auto l = EventLoop::create();
    ASSERT_TRUE(l);
    loop = std::move(*l);
    api = std::make_unique<ApiServer>(ApiOptions{.token = "s3cret"}, *loop, *rig.core);
  }

  HttpResponse call(const std::string& method, const std::string& path,
                    const std::string& body = {}, bool token = false,
                    std::map<std::string, std::string> query = {}) {
    HttpRequest req{.method = method, .path = path, .query = std::move(query), .body = body};
    if (token)
      req.authorization = "Bearer s3cret";
    return api->handle(req);
  }
  static json body(const HttpResponse& r) { return json::parse(r.body); }
  static std::string code(const HttpResponse& r) { return body(r)["error"]["code"]; }

  CoreRig rig{kPolicy, {test_link(2, "lan0"), test_link(11, "eth1"), test_link(12, "eth2")}};
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<ApiServer> api;
};

TEST_F(Api, ReadsNeedNoTokenAndWrongMethodsAre405) {
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  auto st = call("GET", "/v1/status");
  ASSERT_EQ(st.status, 200);
  json s = body(st);
  EXPECT_EQ(s["policy_generation"], 1);
  EXPECT_EQ(s["wans"].size(), 2u);
  EXPECT_EQ(s["classes"][0]["name"], "video");
  EXPECT_EQ(s["classes"][0]["uplink"], "wan2");
  EXPECT_EQ(s["datapath"]["mode"], "mark");
  EXPECT_EQ(call("POST", "/v1/status").status, 405);
  EXPECT_EQ(code(call("DELETE", "/v1/policy")), "method_not_allowed");
  EXPECT_EQ(call("GET", "/v1/explain").status, 405);
  auto nf = call("GET", "/v2/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(code(nf), "not_found");
}

TEST_F(Api, ChangesNeedTheBearerToken) {
  const std::string intent = R"({"class":"video","paths":["wan1"],"ttl_s":60})";
  auto missing = call("POST", "/v1/intents", intent);
  EXPECT_EQ(missing.status, 401);
  EXPECT_NE(body(missing)["error"]["message"].get<std::string>().find("missing"),
            std::string::npos);
  HttpRequest wrong{
      .method = "POST", .path = "/v1/intents", .authorization = "Bearer nope", .body = intent};
  EXPECT_EQ(api->handle(wrong).status, 401);
  auto made = call("POST", "/v1/intents", intent, true);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(body(made)["applies"], true);
  std::string id = body(made)["id"];
  EXPECT_EQ(call("GET", "/v1/intents/" + id).status, 200);
  EXPECT_EQ(call("POST", "/v1/intents", intent, true).status, 409);
  EXPECT_EQ(call("DELETE", "/v1/intents/" + id).status, 401);
  EXPECT_EQ(call("DELETE", "/v1/intents/" + id, "", true).status, 204);
  EXPECT_EQ(call("DELETE", "/v1/intents/" + id, "", true).status, 404);
  EXPECT_EQ(call("POST", "/v1/intents", "{", true).status, 400);
  EXPECT_EQ(call("POST", "/v1/intents", R"({"class":"x","paths":["wan1"],"ttl_s":5})", true).status,
            422);
}

// Before any body is read: 401 for a change without the token, and the
// route's body limit (only a policy PUT may send 1 MiB).
TEST_F(Api, PrecheckRefusesEarlyAndSetsTheBodyLimit) {
  size_t limit = kMaxBodyBytes;
  HttpRequest put{.method = "PUT", .path = "/v1/policy"};
  auto early = api->precheck(put, &limit);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 401);
  EXPECT_EQ(limit, kMaxBodyBytes);
  put.authorization = "Bearer s3cret";
  EXPECT_FALSE(api->precheck(put, &limit));
  HttpRequest explain{.method = "POST", .path = "/v1/explain"};
  limit = kMaxBodyBytes;
  EXPECT_FALSE(api->precheck(explain, &limit));  // no token needed
  EXPECT_EQ(limit, ApiServer::kSmallBodyBytes);
  HttpRequest del{.method = "DELETE", .path = "/v1/intents/i-1"};
  EXPECT_EQ(api->precheck(del, &limit)->status, 401);
  HttpRequest get{.method = "GET", .path = "/v1/intents"};
  EXPECT_FALSE(api->precheck(get, &limit));
}

TEST_F(Api, WithoutATokenFileChangesAreDisabled) {
  ApiServer open(ApiOptions{}, *loop, *rig.core);
  HttpRequest req{
      .method = "PUT", .path = "/v1/policy", .authorization = "Bearer ", .body = R"({"text":""})"};
  auto r = open.handle(req);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("no --token-file"),
            std::string::npos);
}

TEST_F(Api, TheCliIsNamedAsTheCaller) {
  HttpRequest req{.method = "POST",
                  .path = "/v1/intents",
                  .authorization = "Bearer s3cret",
                  .user_agent = std::string(kCliUserAgent) + "/0.1",
                  .body = R"({"class":"default","paths":["wan2"],"ttl_s":60})"};
  ASSERT_EQ(api->handle(req).status, 201);
  // The intent and the class move it caused both name the CLI.
  auto events = rig.core->events(0);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].kind, EventKind::kIntentAdded);
  EXPECT_EQ(events[events.size() - 2].by, "cli");
  EXPECT_EQ(events.back().kind, EventKind::kClassMove);
  EXPECT_EQ(events.back().by, "cli");
  req.user_agent = "curl/8";
  req.body = R"({"class":"video","paths":["wan1"],"ttl_s":60})";
  ASSERT_EQ(api->handle(req).status, 201);
  EXPECT_EQ(rig.core->events(0).back().by, "api");
}

TEST_F(Api, PolicyErrorsCarryEveryFindingWithItsPosition) {
  auto bad = call("PUT", "/v1/policy", json{{"text", "version: 1\nwans: 3\n"}}.dump(), true);
  ASSERT_EQ(bad.status, 422);
  json e = body(bad)["error"];
  EXPECT_EQ(e["code"], "invalid_policy");
  ASSERT_GE(e["details"].size(), 1u);
  EXPECT_GT(e["details"][0]["line"].get<int>(), 0);
  EXPECT_EQ(call("PUT", "/v1/policy", R"({"txt":"x"})", true).status, 400);
  EXPECT_EQ(call("PUT", "/v1/policy", json{{"text", kPolicy}}.dump(), true, {{"dry_run", "maybe"}})
                .status,
            400);
  auto dry = call("PUT", "/v1/policy", json{{"text", kPolicy}}.dump(), true, {{"dry_run", "true"}});
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(body(dry)["applied"], false);
  EXPECT_FALSE(body(dry).contains("generation"));
  EXPECT_EQ(body(dry)["diff"]["classes"].size(), 0u);
  auto get = body(call("GET", "/v1/policy"));
  EXPECT_EQ(get["generation"], 1);
  EXPECT_EQ(get["text"], kPolicy);
}

TEST_F(Api, EventsAndTheDashboardsFiles) {
  auto ev = call("GET", "/v1/events");
  ASSERT_EQ(ev.status, 200) << ev.body;
  json e = body(ev);
  ASSERT_FALSE(e["events"].empty());
  EXPECT_EQ(e["events"][0]["kind"], "policy-applied");
  uint64_t last = e["last_id"];
  EXPECT_EQ(e["events"].back()["id"], last);
  EXPECT_TRUE(
      body(call("GET", "/v1/events", "", false, {{"since", std::to_string(last)}}))["events"]
          .empty());
  EXPECT_EQ(call("GET", "/v1/events", "", false, {{"since", "-1"}}).status, 400);
  // The stream: the backlog after `since` (or Last-Event-ID), as server-sent events.
  auto stream = call("GET", "/v1/events/stream", "", false, {{"since", "0"}});
  EXPECT_EQ(stream.stream, ApiServer::kEventsChannel);
  EXPECT_EQ(stream.body.rfind("id: 1\nevent: policy-applied\ndata: {", 0), 0u) << stream.body;
  HttpRequest resume{
      .method = "GET", .path = "/v1/events/stream", .last_event_id = std::to_string(last)};
  EXPECT_TRUE(api->handle(resume).body.empty());
  // The page and its files, with a policy that keeps it to this origin.
  auto page = call("GET", "/ui/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  bool csp = false;
  for (const auto& [k, v] : page.headers)
    csp = csp || (k == "Content-Security-Policy" && v.find("default-src 'self'") == 0);
  EXPECT_TRUE(csp);
  EXPECT_EQ(call("GET", "/ui").status, 200);
  EXPECT_EQ(call("GET", "/ui/uplot.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(call("GET", "/ui/nope.js").status, 404);
  EXPECT_EQ(call("POST", "/ui/").status, 405);
}

TEST_F(Api, HistoryExplainAndMetrics) {
  EXPECT_EQ(call("GET", "/v1/wans/nope/history").status, 404);
  EXPECT_EQ(call("GET", "/v1/wans/wan1/history", "", false, {{"since_ms", "x"}}).status, 400);
  auto h = call("GET", "/v1/wans/wan1/history");
  ASSERT_EQ(h.status, 200);
  EXPECT_EQ(body(h)["capacity"], kHistorySamples);
  auto minutes = call("GET", "/v1/wans/wan1/history", "", false, {{"resolution", "1m"}});
  ASSERT_EQ(minutes.status, 200);
  EXPECT_EQ(body(minutes)["resolution"], "1m");
  EXPECT_EQ(body(minutes)["capacity"], kHistoryMinutes);
  EXPECT_EQ(call("GET", "/v1/wans/wan1/history", "", false, {{"resolution", "5s"}}).status, 400);
  EXPECT_EQ(call("POST", "/v1/explain", R"({"src":"10.0.0.1"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/explain", R"({"src":"10.0.0.1","dst":"::1"})").status, 422);
  auto unknown_iif =
      call("POST", "/v1/explain", R"({"src":"10.0.0.1","dst":"10.0.0.2","iif":"nosuch"})");
  EXPECT_EQ(unknown_iif.status, 422);
  auto ex = call("POST", "/v1/explain", R"({"src":"10.0.0.1","dst":"10.0.0.2","proto":"udp"})");
  ASSERT_EQ(ex.status, 200) << ex.body;
  EXPECT_EQ(body(ex)["input"]["proto"], "udp");
  EXPECT_EQ(body(ex)["action"], "unclassified");  // the fake data plane's verdict
  auto m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type.rfind("text/plain", 0), 0u);
  for (const char* family :
       {"pathsteer_build_info{version=\"test\"} 1", "pathsteer_uplink_up{uplink=\"wan1\"}",
        "pathsteer_class_info{", "pathsteer_probe_lateness_seconds_bucket{le=\"+Inf\"}",
        "pathsteer_kernel_synced 1",
        "pathsteer_uplink_state_since_timestamp_seconds{uplink=\"wan1\"}"}) {
    EXPECT_NE(m.body.find(family), std::string::npos) << family;
  }
}

TEST_F(Api, DomainsListsWhatDnsTaughtAndDnsMetrics) {
  rig.dataplane.learned = {LearnedAddress{.addr = *IpAddr::parse("2001:db8::7"),
                                          .domain = "*.cdn.example",
                                          .class_id = 0,
                                          .ttl_s = 60,
                                          .expires_in_ms = 1500}};
  rig.dataplane.counters.dns.replies = 5;
  rig.dataplane.counters.dns.learned = 3;
  rig.dataplane.counters.dns.failures["loop"] = 2;
  auto d = call("GET", "/v1/domains");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(body(d), json::parse(R"({"domains":[{"domain":"*.cdn.example","address":"2001:db8::7",
      "class":"video","ttl_s":60,"expires_in_s":1.5}]})"));
  EXPECT_EQ(body(call("GET", "/v1/domains", "", false, {{"class", "default"}}))["domains"].size(),
            0u);
  auto nf = call("GET", "/v1/domains", "", false, {{"class", "nosuch"}});
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(code(nf), "not_found");
  EXPECT_EQ(call("POST", "/v1/domains").status, 405);
  auto m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  for (const char* sample : {"pathsteer_dns_replies_total{outcome=\"parsed\"} 5",
                             "pathsteer_dns_addresses_total{event=\"learned\"} 3",
                             "pathsteer_dns_parse_failures_total{reason=\"loop\"} 2",
                             "pathsteer_dns_parse_failures_total{reason=\"short\"} 0"}) {
    EXPECT_NE(m.body.find(sample), std::string::npos) << sample;
  }
}

}  // namespace
}  // namespace pathsteer
