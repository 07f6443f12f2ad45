// The FleetAgent against a real etcd (one member, started here) with a fake
// node (sink): precedence, rejection with errors in status, the cache, fleet
// intents with selectors, and the rollback.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/event_loop.h"
#include "common/file.h"
#include "common/temp_dir.h"
#include "common/test_skip.h"
#include "controller/policy.h"
#include "fleet/agent.h"
#include "fleet/etcd_test_util.h"

namespace pathsteer::fleet {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::string policy(const std::string& video_first) {
  std::string other = video_first == "wan1" ? "wan2" : "wan1";
  return "version: 1\nlan_interfaces: [lan0]\nwans:\n  wan1: { interface: eth1 }\n"
         "  wan2: { interface: eth2 }\nclasses:\n  video: { match: [ { proto: udp, dport: 5001 "
         "} ], paths: [" +
         video_first + ", " + other + "] }\n  default: { paths: [wan1, wan2] }\n";
}

class FakeNode final : public FleetSink {
 public:
  Result<void> apply_fleet_policy(const std::optional<FleetPolicyText>& p) override {
    if (p) {
      auto parsed = parse_policy(p->text, p->origin);
      if (!parsed)
        return parsed.take_error();
    }
    std::lock_guard lock(mu);
    applied.push_back(p ? p->origin : "file");
    return ok();
  }
  void set_fleet_intents(std::vector<Intent> in) override {
    std::lock_guard lock(mu);
    intents = std::move(in);
  }
  StatusSnapshot snapshot() const override {
    std::lock_guard lock(mu);
    StatusSnapshot s;
    s.generation = applied.size();
    for (int i = 0; i < 2; ++i) {
      WanStatus w;
      w.planned.name = "wan" + std::to_string(i + 1);
      w.planned.usable = up;
      w.health = UplinkHealth{.state = up ? HealthState::kUp : HealthState::kDown};
      s.wans.push_back(w);
    }
    return s;
  }
  std::string last() const {
    std::lock_guard lock(mu);
    return applied.empty() ? "" : applied.back();
  }
  std::vector<Intent> fleet_intents() const {
    std::lock_guard lock(mu);
    return intents;
  }
  void set_up(bool v) {
    std::lock_guard lock(mu);
    up = v;
  }

  mutable std::mutex mu;
  std::vector<std::string> applied;
  std::vector<Intent> intents;
  bool up = true;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(testing::kEtcdBinary, X_OK) != 0)
      PS_SKIP_OR_FAIL("needs etcd (apt install etcd-server)");
    cluster_ = std::make_unique<testing::EtcdCluster>(dir_.file("etcd"), 1);
    ASSERT_TRUE(cluster_->wait_ready(30s));
    auto admin = EtcdClient::create({.endpoints = cluster_->endpoints()});
    ASSERT_TRUE(admin);
    admin_ = std::move(admin).value();
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    loop_ = std::move(*loop);
    auto rt = LoopRuntime::create(*loop_);
    ASSERT_TRUE(rt);
    rt_ = std::move(*rt);
    state_ = dir_.file("state");
    std::filesystem::create_directories(state_);
  }
  void TearDown() override {
    if (thread_.joinable()) {
      loop_->post([this] {
        agent_.reset();
        loop_->stop();
      });
      thread_.join();
    }
  }
  void start(uint32_t confirm_s = 0) {
    FleetSpec spec{.endpoints = cluster_->endpoints(),
                   .node = "n1",
                   .groups = {"branch", "eu"},
                   .confirm_s = confirm_s,
                   .status_ttl_s = 5};
    agent_ = std::make_unique<FleetAgent>(
        FleetAgent::Options{.spec = spec, .state_dir = state_}, *rt_,
        [this](std::function<void()> fn) { loop_->post(std::move(fn)); }, node_);
    ASSERT_TRUE(agent_->start());
    thread_ = std::thread([this] { (void)loop_->run(); });
  }
  json status() {
    auto r = admin_->range(keys_.status("n1"));
    if (!r || r->kvs.empty())
      return json();
    return json::parse(r->kvs[0].value, nullptr, false);
  }
  template <typename F>
  bool eventually(F f, std::chrono::seconds within = 10s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (f())
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return f();
  }

  TempDir dir_;
  std::string state_;
  std::unique_ptr<testing::EtcdCluster> cluster_;
  std::unique_ptr<EtcdClient> admin_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<LoopRuntime> rt_;
  FakeNode node_;
  std::unique_ptr<FleetAgent> agent_;
  std::thread thread_;
  KeyLayout keys_;
};

TEST_F(AgentTest, PrecedenceRejectionStatusAndCache) {
  auto rev = admin_->put(keys_.policy_default(), policy("wan1"));
  ASSERT_TRUE(rev);
  start();
  std::string want = "etcd:" + keys_.policy_default() + "@" + std::to_string(*rev);
  ASSERT_TRUE(eventually([&] { return node_.last() == want; })) << node_.last();
  // The status key, under a lease.
  ASSERT_TRUE(eventually([&] { return status().is_object(); }));
  auto st = admin_->range(keys_.status("n1"));
  EXPECT_NE(st->kvs[0].lease, 0);
  // A later group wins over an earlier one, which wins over the default.
  ASSERT_TRUE(admin_->put(keys_.policy_group("branch"), policy("wan2")));
  auto eu = admin_->put(keys_.policy_group("eu"), policy("wan2"));
  ASSERT_TRUE(eu);
  ASSERT_TRUE(eventually([&] {
    return node_.last() == "etcd:" + keys_.policy_group("eu") + "@" + std::to_string(*eu);
  })) << node_.last();
  // A bad node key: rejected, errors in the status, the eu policy stays.
  ASSERT_TRUE(admin_->put(keys_.policy_node("n1"), "version: 1\nwans: {}\n"));
  ASSERT_TRUE(eventually([&] {
    json s = status();
    return s.is_object() && s["policy"]["state"] == "rejected";
  }));
  json s = status();
  ASSERT_FALSE(s["policy"]["errors"].empty());
  EXPECT_NE(s["policy"]["errors"][0].get<std::string>().find("etcd:" + keys_.policy_node("n1")),
            std::string::npos)
      << s.dump();
  EXPECT_EQ(node_.last(), "etcd:" + keys_.policy_group("eu") + "@" + std::to_string(*eu));
  // The cache holds the last applied one.
  auto cache = load_cache(state_);
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->policy);
  EXPECT_EQ(cache->policy->origin, "etcd:" + keys_.policy_group("eu") + "@" + std::to_string(*eu));
  // Every key gone: the file's policy again.
  ASSERT_TRUE(admin_->remove(keys_.prefix + "/policy/", prefix_end(keys_.prefix + "/policy/")));
  ASSERT_TRUE(eventually([&] { return node_.last() == "file"; })) << node_.last();
}

TEST_F(AgentTest, FleetIntentsBySelector) {
  start();
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string created = std::to_string(now);
  ASSERT_TRUE(
      admin_->put(keys_.intent("mine"),
                  R"({"class":"video","paths":["wan1"],"ttl_s":60,"nodes":["n1"],"created_ms":)" +
                      created + "}"));
  ASSERT_TRUE(admin_->put(
      keys_.intent("group"),
      R"({"class":"default","paths":["wan2"],"ttl_s":60,"groups":["eu"],"created_ms":)" + created +
          "}"));
  ASSERT_TRUE(admin_->put(keys_.intent("other"),
                          R"({"class":"video","paths":["wan2"],"ttl_s":60,"nodes":["n2"]})"));
  ASSERT_TRUE(admin_->put(keys_.intent("bad"), "not json"));
  ASSERT_TRUE(eventually([&] { return node_.fleet_intents().size() == 2; }));
  auto got = node_.fleet_intents();
  EXPECT_EQ(got[0].id, "group");
  EXPECT_EQ(got[1].id, "mine");
  EXPECT_EQ(got[1].expires_ms, now + 60000);
  ASSERT_TRUE(admin_->remove(keys_.intent("mine")));
  ASSERT_TRUE(eventually([&] { return node_.fleet_intents().size() == 1; }));
}

TEST_F(AgentTest, ALeasedIntentGoesWithItsLease) {
  start();
  auto lease = admin_->lease_grant(3);
  ASSERT_TRUE(lease);
  ASSERT_TRUE(admin_->put(keys_.intent("leased"), R"({"class":"video","paths":["wan1"]})", *lease));
  ASSERT_TRUE(eventually([&] { return node_.fleet_intents().size() == 1; }));
  EXPECT_EQ(node_.fleet_intents()[0].id, "leased");
  // Not kept alive: etcd deletes the key when the lease runs out, the node drops it.
  ASSERT_TRUE(eventually([&] { return node_.fleet_intents().empty(); }, 15s));
}

TEST_F(AgentTest, RollsBackWhenEveryUplinkGoesDown) {
  auto first = admin_->put(keys_.policy_group("branch"), policy("wan1"));
  ASSERT_TRUE(first);
  start(/*confirm_s=*/30);
  std::string first_origin = "etcd:" + keys_.policy_group("branch") + "@" + std::to_string(*first);
  ASSERT_TRUE(eventually([&] { return node_.last() == first_origin; }));
  ASSERT_TRUE(eventually([&] {
    json s = status();
    return s.is_object() && s["rollback"]["state"] == "watching";
  }));
  // The next policy takes every uplink down on this node.
  auto second = admin_->put(keys_.policy_group("branch"), policy("wan2"));
  ASSERT_TRUE(second);
  std::string second_origin =
      "etcd:" + keys_.policy_group("branch") + "@" + std::to_string(*second);
  ASSERT_TRUE(eventually([&] { return node_.last() == second_origin; }));
  node_.set_up(false);
  ASSERT_TRUE(eventually([&] { return node_.last() == first_origin; })) << node_.last();
  ASSERT_TRUE(eventually([&] {
    json s = status();
    return s.is_object() && s["rollback"]["state"] == "rolled-back";
  }));
  json s = status();
  EXPECT_NE(s["rollback"]["reason"].get<std::string>().find("every uplink down"), std::string::npos)
      << s.dump();
  EXPECT_EQ(s["policy"]["state"], "rolled-back");
  // Not applied again; the cache says so for a restart.
  auto cache = load_cache(state_);
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->refused_origin, second_origin);
  EXPECT_EQ(cache->policy->origin, first_origin);
}

}  // namespace
}  // namespace pathsteer::fleet
