// The etcd client against a real etcd (one member, started here on loopback)
// and against hostile fake endpoints (a socket that never answers, a body
// without end).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/temp_dir.h"
#include "common/test_skip.h"
#include "fleet/etcd_client.h"
#include "fleet/etcd_test_util.h"

namespace pathsteer::fleet {
namespace {

using namespace std::chrono_literals;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(testing::kEtcdBinary, X_OK) != 0)
      PS_SKIP_OR_FAIL("needs etcd (apt install etcd-server)");
    cluster_ = std::make_unique<testing::EtcdCluster>(dir_.file("etcd"), 1);
    ASSERT_TRUE(cluster_->wait_ready(30s)) << "etcd did not come up; see " << dir_.path();
  }
  std::unique_ptr<EtcdClient> client(std::vector<std::string> endpoints = {}) {
    if (endpoints.empty())
      endpoints = cluster_->endpoints();
    auto c = EtcdClient::create(EtcdClient::Options{.endpoints = endpoints, .timeout = 2s});
    EXPECT_TRUE(c);
    return std::move(*c);
  }

  TempDir dir_;
  std::unique_ptr<testing::EtcdCluster> cluster_;
};

TEST_F(EtcdClientTest, PutRangePrefixDelete) {
  auto c = client();
  auto r1 = c->put("/t/policy/default", "version: 1\n");
  ASSERT_TRUE(r1) << r1.error().to_string();
  ASSERT_TRUE(c->put("/t/policy/groups/g", std::string("\0bin\xff", 5)));
  ASSERT_TRUE(c->put("/t/status/n", "s"));
  auto one = c->range("/t/policy/default");
  ASSERT_TRUE(one) << one.error().to_string();
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "version: 1\n");
  EXPECT_EQ(one->kvs[0].mod_revision, *r1);
  auto pre = c->range("/t/policy/", prefix_end("/t/policy/"));
  ASSERT_TRUE(pre);
  ASSERT_EQ(pre->kvs.size(), 2u);
  EXPECT_EQ(pre->kvs[1].value, std::string("\0bin\xff", 5));
  EXPECT_GE(pre->revision, *r1);
  auto limited = c->range("/t/", prefix_end("/t/"), 1);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->kvs.size(), 1u);
  EXPECT_TRUE(limited->more);
  auto del = c->remove("/t/policy/", prefix_end("/t/policy/"));
  ASSERT_TRUE(del);
  EXPECT_EQ(*del, 2);
  EXPECT_TRUE(c->range("/t/policy/", prefix_end("/t/policy/"))->kvs.empty());
}

TEST_F(EtcdClientTest, LeaseGrantKeepaliveAndExpiry) {
  auto c = client();
  auto lease = c->lease_grant(5);
  ASSERT_TRUE(lease) << lease.error().to_string();
  ASSERT_TRUE(c->put("/t/status/n1", "{}", *lease));
  auto kv = c->range("/t/status/n1");
  ASSERT_EQ(kv->kvs.size(), 1u);
  EXPECT_EQ(kv->kvs[0].lease, *lease);
  auto ka = c->lease_keepalive(*lease);
  ASSERT_TRUE(ka) << ka.error().to_string();
  EXPECT_EQ(*ka, 5);
  auto ttl = c->lease_ttl(*lease);
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, 0);
  // A lease etcd does not know: keepalive says 0 (gone), not an error.
  auto gone = c->lease_keepalive(*lease + 12345);
  ASSERT_TRUE(gone) << gone.error().to_string();
  EXPECT_EQ(*gone, 0);
}

TEST_F(EtcdClientTest, WatchStreamsEventsAndCancelEndsIt) {
  auto c = client();
  auto start = c->put("/w/a", "0");
  ASSERT_TRUE(start);
  auto watcher = client();
  std::promise<void> created;
  std::atomic<int> events{0};
  std::vector<WatchEvent> seen;
  std::mutex mu;
  auto done = std::async(std::launch::async, [&] {
    bool once = false;
    return watcher->watch("/w/", prefix_end("/w/"), *start + 1, [&](const WatchResponse& r) {
      if (r.created && !once) {
        once = true;
        created.set_value();
      }
      std::lock_guard lock(mu);
      for (const auto& e : r.events)
        seen.push_back(e);
      events += static_cast<int>(r.events.size());
      return true;
    });
  });
  ASSERT_EQ(created.get_future().wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(c->put("/w/b", "1"));
  ASSERT_TRUE(c->put("/x/outside", "1"));
  ASSERT_TRUE(c->remove("/w/a"));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (events < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  watcher->cancel();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready) << "cancel() did not end the watch";
  EXPECT_FALSE(done.get());  // cancelled: an error
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kv.key, "/w/b");
  EXPECT_EQ(seen[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(seen[1].kv.key, "/w/a");
  EXPECT_EQ(seen[1].type, WatchEvent::Type::kDelete);
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionSaysSo) {
  auto c = client();
  auto r1 = c->put("/c/a", "1");
  auto r2 = c->put("/c/a", "2");
  ASSERT_TRUE(r1 && r2);
  ASSERT_TRUE(c->compact(*r2));
  int64_t compact = 0;
  auto r = c->watch("/c/", prefix_end("/c/"), *r1, [&](const WatchResponse& w) {
    if (w.compact_revision > 0)
      compact = w.compact_revision;
    return true;
  });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(compact, *r2);
}

TEST_F(EtcdClientTest, FailsOverFromADeadEndpoint) {
  std::string dead = "http://127.0.0.1:" + std::to_string(testing::free_port());
  auto c = client({dead, cluster_->endpoint(0)});
  ASSERT_TRUE(c->put("/f/a", "1"));
  EXPECT_EQ(c->failovers(), 1u);
  EXPECT_EQ(c->current_endpoint(), cluster_->endpoint(0));
  // The endpoint that answered stays current.
  ASSERT_TRUE(c->range("/f/a"));
  EXPECT_EQ(c->failovers(), 1u);
  // Every endpoint dead: an error naming the last one.
  auto all_dead = client({dead});
  auto r = all_dead->put("/f/a", "1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find(dead), std::string::npos) << r.error().to_string();
}

// hasleader (etcd-io/etcd#10819): a watch on a member that lost its quorum
// ends (etcd cancels it for "no leader") instead of sitting silent on stale data.
TEST(EtcdClientQuorum, AWatchOnAMemberWithoutALeaderEnds) {
  if (::access(testing::kEtcdBinary, X_OK) != 0)
    PS_SKIP_OR_FAIL("needs etcd (apt install etcd-server)");
  TempDir dir;
  testing::EtcdCluster cluster(dir.file("etcd"), 3);
  ASSERT_TRUE(cluster.wait_ready(60s));
  auto c =
      EtcdClient::create(EtcdClient::Options{.endpoints = {cluster.endpoint(0)}, .timeout = 5s});
  ASSERT_TRUE(c);
  std::promise<void> created;
  auto done = std::async(std::launch::async, [&] {
    bool once = false;
    return (*c)->watch("/q/", prefix_end("/q/"), 0, [&](const WatchResponse& r) {
      if (r.created && !once) {
        once = true;
        created.set_value();
      }
      return true;
    });
  });
  ASSERT_EQ(created.get_future().wait_for(10s), std::future_status::ready);
  cluster.stop(1);
  cluster.stop(2);
  // etcd checks for a leader every few election timeouts (1 s each by default).
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready)
      << "the watch on a member without a leader did not end";
  // etcd 3.4 sends {"error": {"message": "etcdserver: no leader"}} and ends the
  // stream (without hasleader it stays open: checked by hand with curl).
  auto r = done.get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find("no leader"), std::string::npos) << r.error().to_string();
  // And a read there is refused rather than served stale.
  auto read = (*c)->range("/q/a");
  ASSERT_FALSE(read);
}

// etcd's auth: the client authenticates with the token file's user and
// password, sends the token, and re-authenticates when etcd drops it.
TEST_F(EtcdClientTest, AuthWithUserAndPassword) {
  if (::access("/usr/bin/etcdctl", X_OK) != 0)
    PS_SKIP_OR_FAIL("needs etcdctl (apt install etcd-client)");
  std::string eps = cluster_->endpoints()[0];
  auto ctl = [&](const std::string& args) {
    std::string cmd =
        "ETCDCTL_API=3 /usr/bin/etcdctl --endpoints " + eps + " " + args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(ctl("user add root:rootpw"), 0);
  ASSERT_EQ(ctl("user add node:nodepw"), 0);
  ASSERT_EQ(ctl("role add fleet"), 0);
  ASSERT_EQ(ctl("role grant-permission fleet --prefix=true readwrite /a/"), 0);
  ASSERT_EQ(ctl("user grant-role node fleet"), 0);
  ASSERT_EQ(ctl("auth enable"), 0);

  auto anonymous = client();
  auto refused = anonymous->put("/a/x", "1");
  ASSERT_FALSE(refused);
  auto c = EtcdClient::create(EtcdClient::Options{
      .endpoints = cluster_->endpoints(), .user = "node", .password = "nodepw", .timeout = 2s});
  ASSERT_TRUE(c);
  auto put = (*c)->put("/a/x", "1");
  ASSERT_TRUE(put) << put.error().to_string();
  auto got = (*c)->range("/a/x");
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_EQ(got->kvs.size(), 1u);
  // Outside the role's prefix: etcd's refusal, named.
  auto denied = (*c)->put("/b/x", "1");
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().to_string().find("permission denied"), std::string::npos)
      << denied.error().to_string();
  auto wrong = EtcdClient::create(EtcdClient::Options{
      .endpoints = cluster_->endpoints(), .user = "node", .password = "bad", .timeout = 2s});
  auto r = (*wrong)->range("/a/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find("authenticating as node"), std::string::npos)
      << r.error().to_string();
  ASSERT_EQ(ctl("--user root:rootpw auth disable"), 0);
}

// TLS to etcd: verified against the CA file; the system's store (which does not
// hold our self-signed certificate) refuses it.
TEST(EtcdClientTls, VerifiedAgainstTheCaFile) {
  if (::access(testing::kEtcdBinary, X_OK) != 0 || ::access("/usr/bin/openssl", X_OK) != 0)
    PS_SKIP_OR_FAIL("needs etcd and openssl");
  TempDir dir;
  std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  std::string cmd =
      "/usr/bin/openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
      "/CN=etcd-test -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  testing::EtcdCluster cluster(dir.file("etcd"), 1, cert, key);
  ASSERT_TRUE(cluster.wait_ready(30s)) << "etcd with TLS did not come up";
  ASSERT_EQ(cluster.endpoint(0).rfind("https://", 0), 0u);
  auto c = EtcdClient::create(
      EtcdClient::Options{.endpoints = cluster.endpoints(), .ca_file = cert, .timeout = 2s});
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->put("/tls/a", "1"));
  auto got = (*c)->range("/tls/a");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->kvs.size(), 1u);
  auto untrusted =
      EtcdClient::create(EtcdClient::Options{.endpoints = cluster.endpoints(), .timeout = 2s});
  auto refused = (*untrusted)->range("/tls/a");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().to_string().find("certificate"), std::string::npos)
      << refused.error().to_string();
}

// A fake endpoint: accepts one connection at a time and runs `serve` on it.
class FakeEndpoint {
 public:
  explicit FakeEndpoint(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    thread_ = std::thread([this] {
      while (!stop_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0)
          return;
        if (!stop_)
          serve_(c);
        ::close(c);
      }
    });
  }
  ~FakeEndpoint() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  const std::string& url() const { return url_; }

 private:
  std::function<void(int)> serve_;
  int fd_ = -1;
  std::string url_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Reads the request's head (enough for the fake to answer).
void drain_request(int fd) {
  char buf[4096];
  (void)::recv(fd, buf, sizeof(buf), 0);
}

// Sends chunked bytes without a newline until the client goes away or `cap` is sent.
void endless_body(int fd, size_t cap) {
  drain_request(fd);
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) < 0)
    return;
  std::string chunk(64 << 10, 'x');
  std::string framed = "10000\r\n" + chunk + "\r\n";
  for (size_t sent = 0; sent < cap; sent += chunk.size()) {
    if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) < 0)
      return;
  }
}

TEST(EtcdClientHostile, AnEndpointThatNeverAnswersTimesOut) {
  FakeEndpoint silent([](int fd) {
    drain_request(fd);
    char b;
    (void)::recv(fd, &b, 1, 0);  // until the client gives up and closes
  });
  auto c = EtcdClient::create(EtcdClient::Options{.endpoints = {silent.url()}, .timeout = 500ms});
  ASSERT_TRUE(c);
  auto t0 = std::chrono::steady_clock::now();
  auto r = (*c)->range("/a");
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_LT(took, 5s) << "the 500 ms deadline did not hold";
  EXPECT_NE(r.error().to_string().find(silent.url()), std::string::npos);
}

TEST(EtcdClientHostile, AnEndlessBodyIsCutAtTheLimit) {
  // Twice the limits: the client must stop reading at them.
  FakeEndpoint flood([](int fd) { endless_body(fd, 2 * std::max(kMaxBody, kMaxWatchLine)); });
  auto c = EtcdClient::create(EtcdClient::Options{.endpoints = {flood.url()}, .timeout = 20s});
  ASSERT_TRUE(c);
  auto r = (*c)->range("/a");
  ASSERT_FALSE(r);
  int lines = 0;
  auto w = (*c)->watch("/a", "", 0, [&](const WatchResponse&) {
    ++lines;
    return true;
  });
  ASSERT_FALSE(w);
  EXPECT_EQ(lines, 0);
}

}  // namespace
}  // namespace pathsteer::fleet
