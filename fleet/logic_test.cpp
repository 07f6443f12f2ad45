// The fleet's pure logic (fleet/logic.h) and the client's parsers, without a network.
#include <gtest/gtest.h>

#include "fleet/etcd_client.h"
#include "fleet/logic.h"

namespace pathsteer::fleet {
namespace {

KeyValue kv(std::string key, std::string value, int64_t rev = 1, int64_t lease = 0) {
  return KeyValue{.key = std::move(key),
                  .value = std::move(value),
                  .create_revision = rev,
                  .mod_revision = rev,
                  .lease = lease};
}

TEST(FleetPrecedence, NodeOverGroupsOverDefault) {
  KeyLayout keys;
  std::map<std::string, KeyValue> kvs;
  std::vector<std::string> groups = {"branch", "eu"};
  EXPECT_EQ(select_policy(kvs, keys, "n1", groups), nullptr);

  kvs[keys.policy_default()] = kv(keys.policy_default(), "default");
  ASSERT_NE(select_policy(kvs, keys, "n1", groups), nullptr);
  EXPECT_EQ(select_policy(kvs, keys, "n1", groups)->value, "default");

  kvs[keys.policy_group("branch")] = kv(keys.policy_group("branch"), "branch");
  EXPECT_EQ(select_policy(kvs, keys, "n1", groups)->value, "branch");
  // The later group overrides the earlier one.
  kvs[keys.policy_group("eu")] = kv(keys.policy_group("eu"), "eu");
  EXPECT_EQ(select_policy(kvs, keys, "n1", groups)->value, "eu");
  EXPECT_EQ(select_policy(kvs, keys, "n1", {"eu", "branch"})->value, "branch");
  // A group the node is not in never applies.
  EXPECT_EQ(select_policy(kvs, keys, "n1", {"us"})->value, "default");

  kvs[keys.policy_node("n1")] = kv(keys.policy_node("n1"), "node");
  EXPECT_EQ(select_policy(kvs, keys, "n1", groups)->value, "node");
  // Another node's key is not this node's.
  EXPECT_EQ(select_policy(kvs, keys, "n2", groups)->value, "eu");
  // A node key named like a prefix of another does not match it.
  EXPECT_EQ(select_policy(kvs, keys, "n", groups)->value, "eu");
}

TEST(FleetKeys, WatchRangeCoversPolicyAndIntentsButNotStatus) {
  KeyLayout keys{.prefix = "/p"};
  auto inside = [&](const std::string& k) {
    return k >= keys.watch_begin() && k < keys.watch_end();
  };
  EXPECT_TRUE(inside(keys.policy_default()));
  EXPECT_TRUE(inside(keys.policy_group("g")));
  EXPECT_TRUE(inside(keys.policy_node("n")));
  EXPECT_TRUE(inside(keys.intent("x")));
  EXPECT_FALSE(inside(keys.status("n")));
  EXPECT_FALSE(inside("/q/policy/default"));
  EXPECT_EQ(prefix_end("/p/policy/"), "/p/policy0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
}

TEST(FleetWatchCursor, ResumesAfterLastSeenAndRelistsOnCompaction) {
  WatchCursor c;
  EXPECT_TRUE(c.need_list());
  c.listed(41);
  EXPECT_FALSE(c.need_list());
  EXPECT_EQ(c.start_revision(), 42);
  c.seen(45);
  EXPECT_EQ(c.start_revision(), 46);
  c.seen(44);  // an older event (a batch out of order) never moves it back
  EXPECT_EQ(c.start_revision(), 46);
  c.progress(50);
  EXPECT_EQ(c.start_revision(), 51);
  // The stream broke: it resumes from 51. Then etcd says 51 is compacted.
  c.compacted();
  EXPECT_TRUE(c.need_list());
  c.listed(80);
  EXPECT_EQ(c.start_revision(), 81);
}

TEST(FleetMirror, ListThenEventsAndBounds) {
  Mirror m;
  m.replace({kv("/a", "1"), kv("/b", "2")});
  EXPECT_EQ(m.kvs().size(), 2u);
  m.apply(WatchEvent{.type = WatchEvent::Type::kDelete, .kv = kv("/a", "")});
  m.apply(WatchEvent{.type = WatchEvent::Type::kPut, .kv = kv("/c", "3", 5)});
  ASSERT_EQ(m.kvs().size(), 2u);
  EXPECT_EQ(m.kvs().at("/c").mod_revision, 5);
  // An oversized value is dropped, and does not leave the old one in force.
  m.apply(WatchEvent{.type = WatchEvent::Type::kPut,
                     .kv = kv("/b", std::string(kMaxFleetValue + 1, 'x'), 6)});
  EXPECT_FALSE(m.kvs().contains("/b"));
  EXPECT_EQ(m.dropped(), 1u);
  // At most kMaxFleetKeys keys.
  std::vector<KeyValue> many;
  for (size_t i = 0; i < kMaxFleetKeys + 10; ++i)
    many.push_back(kv("/k" + std::to_string(i), "v"));
  m.replace(many);
  EXPECT_EQ(m.kvs().size(), kMaxFleetKeys);
}

TEST(FleetBackoff, GrowsWithJitterToTheCapAndResets) {
  using ms = std::chrono::milliseconds;
  Backoff b(ms(100), ms(1000));
  EXPECT_EQ(b.next(0.0), ms(50));   // [50, 100]
  EXPECT_EQ(b.next(1.0), ms(200));  // [100, 200]
  EXPECT_EQ(b.next(0.5), ms(300));  // [200, 400]
  for (int i = 0; i < 100; ++i) {
    auto d = b.next(0.999);
    EXPECT_LE(d, ms(1000));
    EXPECT_GE(d, ms(500));
  }
  b.reset();
  EXPECT_EQ(b.next(0.0), ms(50));
}

TEST(FleetIntents, ParseSelectorsAndTtl) {
  KeyLayout keys;
  auto fi = parse_fleet_intent(
      kv(keys.intent("move-1"),
         R"({"class":"bulk","paths":["wan2"],"ttl_s":60,"nodes":["n1"],"created_ms":1000})"),
      keys, 5000);
  ASSERT_TRUE(fi) << fi.error().to_string();
  EXPECT_EQ(fi->intent.id, "move-1");
  EXPECT_EQ(fi->intent.request.klass, "bulk");
  EXPECT_EQ(fi->intent.created_ms, 1000);
  EXPECT_EQ(fi->intent.expires_ms, 61000);
  EXPECT_TRUE(selects(*fi, "n1", {}));
  EXPECT_FALSE(selects(*fi, "n2", {"branch"}));

  // Without created_ms the deadline counts from when the node first saw it.
  auto g = parse_fleet_intent(
      kv(keys.intent("g"), R"({"class":"bulk","paths":["wan1"],"ttl_s":10,"groups":["eu"]})"), keys,
      5000);
  ASSERT_TRUE(g) << g.error().to_string();
  EXPECT_EQ(g->intent.expires_ms, 15000);
  EXPECT_TRUE(selects(*g, "n9", {"branch", "eu"}));
  EXPECT_FALSE(selects(*g, "n9", {"branch"}));

  // Neither selector: every node.
  auto all = parse_fleet_intent(kv(keys.intent("all"), R"({"class":"c","paths":["w"],"ttl_s":5})"),
                                keys, 0);
  ASSERT_TRUE(all);
  EXPECT_TRUE(selects(*all, "anyone", {}));

  // A leased key may leave out ttl_s: the lease is its lifetime.
  auto leased =
      parse_fleet_intent(kv(keys.intent("l"), R"({"class":"c","paths":["w"]})", 1, 77), keys, 0);
  ASSERT_TRUE(leased) << leased.error().to_string();
  EXPECT_EQ(leased->lease, 77);
  EXPECT_FALSE(parse_fleet_intent(kv(keys.intent("l"), R"({"class":"c","paths":["w"]})"), keys, 0));

  // Bad input names the key.
  for (const char* bad : {R"(not json)", R"({"class":"c","paths":["w"],"ttl_s":5,"nodes":"n1"})",
                          R"({"class":"c","paths":["w"],"ttl_s":5,"nodes":[1]})",
                          R"({"class":"c","paths":["w"],"ttl_s":5,"bogus":1})",
                          R"({"class":"c","paths":["w"],"ttl_s":5,"created_ms":"x"})"}) {
    auto r = parse_fleet_intent(kv(keys.intent("bad"), bad), keys, 0);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().to_string().find(keys.intent("bad")), std::string::npos)
        << r.error().to_string();
  }
  EXPECT_FALSE(parse_fleet_intent(
      kv(keys.intent("a/b"), R"({"class":"c","paths":["w"],"ttl_s":5})"), keys, 0));
  EXPECT_FALSE(parse_fleet_intent(
      kv(keys.intent("a b"), R"({"class":"c","paths":["w"],"ttl_s":5})"), keys, 0));
}

TEST(FleetStatusThrottle, OnChangeAtMostOncePerSecondFiguresSlower) {
  using std::chrono::seconds;
  StatusThrottle t(seconds(10));
  StatusThrottle::Time t0{};
  EXPECT_TRUE(t.due("s1", "f1", t0));
  t.written("s1", "f1", t0);
  EXPECT_FALSE(t.due("s1", "f1", t0 + seconds(100)));  // nothing new
  EXPECT_FALSE(t.due("s2", "f1", t0 + std::chrono::milliseconds(500)));
  EXPECT_TRUE(t.due("s2", "f1", t0 + seconds(1)));
  EXPECT_FALSE(t.due("s1", "f2", t0 + seconds(5)));  // figures alone wait
  EXPECT_TRUE(t.due("s1", "f2", t0 + seconds(10)));
  t.forget();
  EXPECT_TRUE(t.due("s1", "f1", t0));
}

TEST(FleetRollback, Verdicts) {
  ConfirmInput in{.previous_had_uplink = true,
                  .previous_had_etcd = true,
                  .uplinks = 2,
                  .up = 0,
                  .down = 1,
                  .etcd_reachable = true};
  EXPECT_FALSE(rollback_reason(in));  // one still undecided, the deadline not passed
  in.down = 2;
  EXPECT_TRUE(rollback_reason(in));
  in.down = 0;
  in.deadline_passed = true;
  EXPECT_TRUE(rollback_reason(in));  // nothing came up within confirm_s
  in.up = 1;
  EXPECT_FALSE(rollback_reason(in));  // confirmed
  in.etcd_reachable = false;
  EXPECT_TRUE(rollback_reason(in));
  // The previous policy had no uplink either: nothing to lose, keep the new one.
  ConfirmInput none{.previous_had_uplink = false, .uplinks = 1, .up = 0, .down = 1};
  EXPECT_FALSE(rollback_reason(none));
}

TEST(FleetClientParsers, Base64RoundTripAndRejects) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", "/pathsteer/v1/policy/default",
                                std::string("\0\xff\x80", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("/a/b"), "L2EvYg==");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab=c"));
  EXPECT_FALSE(base64_decode("a==="));
  EXPECT_FALSE(base64_decode("ab!c"));
  // Non-canonical: bits the padding drops are set ("L2EvYc==" would also read "/a/b").
  EXPECT_FALSE(base64_decode("L2EvYc=="));
  EXPECT_FALSE(base64_decode("L2Evb2J="));
  EXPECT_EQ(base64_decode("L2Evb2I="), "/a/ob");
}

TEST(FleetClientParsers, WatchLines) {
  // As etcd 3.4's gateway prints them.
  auto created = parse_watch_line(
      R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},"created":true}})");
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->header_revision, 2);
  auto events = parse_watch_line(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L2EvYg==","create_revision":"2","mod_revision":"2","version":"1","value":"aGVsbG8="}},{"type":"DELETE","kv":{"key":"L2EvYg==","mod_revision":"3"}}]}})");
  ASSERT_TRUE(events) << events.error().to_string();
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].kv.key, "/a/b");
  EXPECT_EQ(events->events[0].kv.value, "hello");
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events->events[1].kv.mod_revision, 3);
  auto compacted = parse_watch_line(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"2"}})");
  ASSERT_TRUE(compacted);
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 2);
  auto err = parse_watch_line(R"({"error":{"grpc_code":14,"message":"etcdserver: no leader"}})");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().to_string().find("no leader"), std::string::npos);
  EXPECT_FALSE(parse_watch_line("[1,2]"));
  EXPECT_FALSE(parse_watch_line(R"({"result":{"events":[{"kv":{"key":"!!"}}]}})"));
  EXPECT_FALSE(parse_watch_line(R"({"result":{"events":{}}})"));
}

TEST(FleetClientParsers, Endpoints) {
  auto e = parse_endpoint("http://127.0.0.1:2379");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->tls);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, "2379");
  auto v6 = parse_endpoint("https://[fd00::1]:2379/");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->tls);
  EXPECT_EQ(v6->host, "fd00::1");
  for (const char* bad : {"127.0.0.1:2379", "http://host", "http://host:0", "http://host:99999",
                          "http://host:12a", "ftp://host:1", "http://:2379", "http://h:1/x"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
  EXPECT_FALSE(EtcdClient::create({}));
}

}  // namespace
}  // namespace pathsteer::fleet
