// The HTTP transport (api/http.h) without root: request parsing and limits,
// and a real server on a unix socket in a temp dir, driven by raw clients.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "api/http.h"
#include "api/http_parse.h"

namespace pathsteer {
namespace {

using namespace std::chrono_literals;

TEST(HttpParse, ListenAddresses) {
  auto v4 = parse_listen("127.0.0.1:9370");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->loopback());
  EXPECT_EQ(v4->port, 9370);
  auto v6 = parse_listen("[::1]:80");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->loopback());
  EXPECT_EQ(v6->to_string(), "[::1]:80");
  auto any = parse_listen("0.0.0.0:9370");
  ASSERT_TRUE(any);
  EXPECT_FALSE(any->loopback());
  auto sock = parse_listen("unix:/run/pathsteer/api.sock");
  ASSERT_TRUE(sock);
  EXPECT_EQ(sock->kind, ListenAddress::Kind::kUnix);
  EXPECT_TRUE(sock->loopback());
  for (const char* bad : {"9370", "localhost:9370", "::1:80", "1.2.3.4:0", "1.2.3.4:70000",
                          "unix:relative", "unix:", "1.2.3.4:"}) {
    EXPECT_FALSE(parse_listen(bad)) << bad;
  }
}

TEST(HttpParse, Utf8AndPercentEncoding) {
  EXPECT_TRUE(valid_utf8("plain/ascii"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80"})
    EXPECT_FALSE(valid_utf8(bad)) << bad;
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b%2Fc+d", out));
  EXPECT_EQ(out, "a b/c+d");
  EXPECT_FALSE(percent_decode("%G0", out));
  EXPECT_FALSE(percent_decode("%2", out));
}

HttpResponse refused(std::string_view raw) {
  auto r = parse_http_request(raw);
  EXPECT_TRUE(std::holds_alternative<HttpResponse>(r)) << raw.substr(0, 60);
  return std::holds_alternative<HttpResponse>(r) ? std::get<HttpResponse>(r) : HttpResponse{};
}

TEST(HttpParse, RequestsAndRefusals) {
  auto ok = parse_http_request(
      "PUT /v1/policy?dry_run=true&x=%C3%A9 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n"
      "User-Agent: pathsteer-cli\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(std::holds_alternative<HttpRequest>(ok));
  const auto& req = std::get<HttpRequest>(ok);
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.path, "/v1/policy");
  EXPECT_EQ(req.query.at("dry_run"), "true");
  EXPECT_EQ(req.query.at("x"), "\xc3\xa9");
  EXPECT_EQ(req.authorization, "Bearer t");
  EXPECT_EQ(req.body, "{}");
  // The crash of issue 14: a path that decodes to invalid UTF-8.
  EXPECT_EQ(refused("GET /%FF HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
  EXPECT_EQ(refused("GET /v1/wans/%FF/history HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
  EXPECT_EQ(refused("GET /v1/status?a=%FE HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
  EXPECT_EQ(refused("GET /a%ZZ HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
  EXPECT_EQ(refused("PUT /v1/policy HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n").status,
            413);
  std::string chunked =
      "POST /v1/intents HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i)
    chunked += "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
  EXPECT_EQ(refused(chunked).status, 413);
  EXPECT_EQ(refused("GET / HTTP/1.1\r\nX: " + std::string(20000, 'x') + "\r\n\r\n").status, 431);
  EXPECT_EQ(refused("NOT HTTP\r\n\r\n").status, 400);
}

// A server on a unix socket, its loop on a thread of its own.
class Server : public ::testing::Test {
 protected:
  void start(HttpServerOptions opts, HttpServer::Handler handler = {},
             HttpServer::Precheck precheck = {}) {
    char tmpl[] = "/tmp/ps-http-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/api.sock";
    opts.listen = {*parse_listen("unix:" + path_)};
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    loop_ = std::move(*loop);
    if (!handler) {
      handler = [this](const HttpRequest& r) {
        ++handled_;
        return HttpResponse{.body = "{\"path\":\"" + r.path +
                                    "\",\"len\":" + std::to_string(r.body.size()) + "}"};
      };
    }
    auto s = HttpServer::start(opts, *loop_, std::move(handler), std::move(precheck));
    ASSERT_TRUE(s) << s.error().to_string();
    server_ = std::move(*s);
    run_loop();
  }
  void run_loop() {
    loop_thread_ = std::thread([this] { (void)loop_->run(); });
  }
  void stop_loop() {
    if (loop_thread_.joinable()) {
      loop_->stop_from_any_thread();
      loop_thread_.join();
    }
  }
  void TearDown() override {
    stop_loop();
    server_.reset();
    loop_.reset();
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
  }

  int connect_raw() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd);
      return -1;
    }
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }
  // Sends raw bytes (stopping quietly if the server closed), returns what comes back.
  std::string exchange(int fd, const std::string& out, bool shut = false) const {
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        break;
      sent += static_cast<size_t>(n);
    }
    if (shut)
      ::shutdown(fd, SHUT_WR);
    std::string in;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        break;
      in.append(buf, static_cast<size_t>(n));
      if (in.find("\r\n\r\n") != std::string::npos &&
          in.find("Connection: close") == std::string::npos && !shut) {
        auto cl = in.find("Content-Length: ");
        if (cl != std::string::npos) {
          size_t len = std::stoul(in.substr(cl + 16));
          if (in.size() >= in.find("\r\n\r\n") + 4 + len)
            break;
        }
      }
    }
    return in;
  }
  std::string call(const std::string& raw) const {
    int fd = connect_raw();
    EXPECT_GE(fd, 0);
    std::string r = exchange(fd, raw);
    ::close(fd);
    return r;
  }

  std::string dir_, path_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<HttpServer> server_;
  std::thread loop_thread_;
  std::atomic<int> handled_{0};
};

TEST_F(Server, ServesAndRefusesWithoutReadingTooMuch) {
  start({});
  EXPECT_EQ(call("GET /x HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(call("GET /%FF HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  // A 2 MiB body: 413 from its Content-Length, and the client reads it.
  std::string big =
      "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2097152\r\n\r\n" + std::string(2 << 20, 'x');
  EXPECT_EQ(call(big).substr(0, 12), "HTTP/1.1 413");
  EXPECT_EQ(handled_, 1);
}

TEST_F(Server, APrecheckAnswersBeforeTheBody) {
  start({}, {}, [](const HttpRequest& head, size_t*) -> std::optional<HttpResponse> {
    if (head.method == "POST" && head.authorization.empty())
      return json_error(401, "unauthorized", "no token");
    return std::nullopt;
  });
  std::string r = call("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 500000000\r\n\r\n" +
                       std::string(1 << 20, 'y'));
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 401");
  EXPECT_EQ(handled_, 0);
}

TEST_F(Server, ARoutesLowerLimitHoldsForLengthAndChunkedBodies) {
  start({}, {}, [](const HttpRequest&, size_t* max_body) -> std::optional<HttpResponse> {
    *max_body = 1000;
    return std::nullopt;
  });
  EXPECT_EQ(
      call("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 900\r\n\r\n" + std::string(900, 'a'))
          .substr(0, 12),
      "HTTP/1.1 200");
  EXPECT_EQ(
      call("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'a'))
          .substr(0, 12),
      "HTTP/1.1 413");
  std::string chunked = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i)
    chunked += "200\r\n" + std::string(0x200, 'c') + "\r\n";
  EXPECT_EQ(call(chunked + "0\r\n\r\n").substr(0, 12), "HTTP/1.1 413");
  EXPECT_EQ(handled_, 1);
}

TEST_F(Server, IdleConnectionsAreClosedAndTheCapHolds) {
  HttpServerOptions o;
  o.idle_timeout = 1500ms;
  o.max_connections = 3;
  start(o);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i)
    fds.push_back(connect_raw());
  // Accepted: the server holds three.
  for (int i = 0; i < 100 && server_->stats().open < 3; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->stats().open, 3u);
  // The fourth is closed at once (EOF, no hang).
  int extra = connect_raw();
  ASSERT_GE(extra, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(exchange(extra, ""), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ::close(extra);
  // The idle three are closed by the idle timeout.
  for (int fd : fds) {
    auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(exchange(fd, ""), "");
    EXPECT_LT(std::chrono::steady_clock::now() - t, 3s);
    ::close(fd);
  }
  EXPECT_GE(server_->stats().refused, 1u);
  // The socket closes as the timer fires; the read that it ends counts it a moment later.
  for (int i = 0; i < 100 && server_->stats().timed_out < 3; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_GE(server_->stats().timed_out, 3u);
  EXPECT_EQ(call("GET /y HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

// Exactly one outcome: a request the loop does not start in time is answered
// 503 and never runs, even when the loop gets to it later.
TEST_F(Server, ARequestThatTimedOutNeverRuns) {
  start({});
  stop_loop();  // the loop is stuck
  auto t0 = std::chrono::steady_clock::now();
  std::string r = call("POST /intent HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 503");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, HttpServer::kReplyTimeout - 100ms);
  run_loop();  // the loop comes back and drains its queue
  EXPECT_EQ(call("GET /after HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(handled_, 1);  // only the second one
}

TEST_F(Server, AHandlerThatThrowsIs500AndTheServerGoesOn) {
  start({}, [](const HttpRequest& r) -> HttpResponse {
    if (r.path == "/boom")
      throw std::runtime_error("boom");
    return HttpResponse{.body = "{}"};
  });
  EXPECT_EQ(call("GET /boom HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 500");
  EXPECT_EQ(call("GET /fine HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

// Server-sent events: the backlog, then what is published, to every stream;
// a stream whose client does not read is closed once its backlog is full.
TEST_F(Server, StreamsGetTheBacklogThenEveryPublish) {
  HttpServerOptions o;
  o.max_streams = 2;
  o.max_stream_backlog = 64 << 10;
  start(o, [](const HttpRequest&) {
    return HttpResponse{.content_type = "text/event-stream", .body = "id: 1\n\n", .stream = "ev"};
  });
  auto open_stream = [&] {
    int fd = connect_raw();
    std::string req = "GET /s HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    return fd;
  };
  auto read_until = [&](int fd, const std::string& needle) {
    std::string in;
    char buf[4096];
    while (in.find(needle) == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        break;
      in.append(buf, static_cast<size_t>(n));
    }
    return in;
  };
  int a = open_stream(), b = open_stream();
  std::string head = read_until(a, "id: 1\n\n");
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 200");
  EXPECT_NE(head.find("text/event-stream"), std::string::npos);
  read_until(b, "id: 1\n\n");
  for (int i = 0; i < 100 && server_->stats().streams < 2; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->stats().streams, 2u);
  // A third is one too many.
  EXPECT_EQ(call("GET /s HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12), "HTTP/1.1 503");
  server_->publish("ev", "id: 2\n\n");
  server_->publish("other", "id: 99\n\n");
  server_->publish("ev", "id: 3\n\n");
  std::string got = read_until(a, "id: 3\n\n");
  EXPECT_NE(got.find("id: 2\n\nid: 3\n\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("id: 99"), std::string::npos);
  EXPECT_NE(read_until(b, "id: 3\n\n").find("id: 3"), std::string::npos);
  // b stops reading: once 64 KiB wait for it, it is closed; a goes on.
  int rcv = 4096;
  ::setsockopt(b, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  std::string big(4096, 'x');
  for (int i = 0; i < 200; ++i) {
    server_->publish("ev", "data: " + big + "\n\n");
    read_until(a, big + "\n\n");
  }
  for (int i = 0; i < 200 && server_->stats().streams > 1; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->stats().streams, 1u);
  ::close(a);
  ::close(b);
}

TEST_F(Server, TheUnixClientTalksToIt) {
  start({});
  auto r = http_call("GET", "unix:" + path_ + "/v1/status");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"path\":\"/v1/status\",\"len\":0}");
}

}  // namespace
}  // namespace pathsteer
