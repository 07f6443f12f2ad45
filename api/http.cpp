// The only file that includes cpprestsdk.
// _TURN_OFF_PLATFORM_STRING comes from CMake: cpprest's U() macro breaks Boost headers.
#include <cpprest/http_client.h>
#include <cpprest/http_listener.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "api/http.h"
#include "common/log.h"

namespace pathsteer {

namespace http = web::http;

HttpResponse json_error(int status, const std::string& code, const std::string& message) {
  nlohmann::json j;
  j["error"]["code"] = code;
  j["error"]["message"] = message;
  return HttpResponse{.status = status, .content_type = "application/json", .body = j.dump()};
}

namespace {

Result<std::string> listen_uri(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return policy_error("--listen '" + listen + "': expected ADDR:PORT");
  }
  return "http://" + listen + "/";
}

void answer(const http::http_request& req, HttpResponse r) {
  try {
    http::http_response resp(static_cast<http::status_code>(r.status));
    resp.set_body(std::move(r.body), r.content_type);
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception&) {
        // the client went away; nothing to do
      }
    });
  } catch (const std::exception&) {
    // already answered (e.g. 500 by cpprest when the listener closed)
  }
}

constexpr auto kReplyTimeout = std::chrono::seconds(5);
// The watchdog checks at most this often, so a timeout fires 5 to 5.25 s after the request.
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(250);

// One request waiting for the loop. Whoever comes first answers: the loop (through the Reply),
// the watchdog (503 after kReplyTimeout), or the destructor (500, if the handler dropped its
// Reply without calling it).
struct PendingReply {
  explicit PendingReply(http::http_request r) : req(std::move(r)) {}
  ~PendingReply() {
    if (!done.load())
      answer(req, json_error(500, "internal", "the controller dropped the request"));
  }
  void set(HttpResponse r) {
    if (!done.exchange(true))
      answer(req, std::move(r));
  }
  http::http_request req;
  std::atomic<bool> done{false};
};

// Answers 503 to the requests the loop has not answered within kReplyTimeout. Holds only weak
// references: a request the loop has answered (and released) costs nothing here. Deadlines
// arrive in order, so a FIFO is enough.
class ReplyWatchdog {
 public:
  ReplyWatchdog() : thread_([this] { run(); }) {}
  ~ReplyWatchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  ReplyWatchdog(const ReplyWatchdog&) = delete;
  ReplyWatchdog& operator=(const ReplyWatchdog&) = delete;

  void watch(const std::shared_ptr<PendingReply>& p) {
    bool was_empty = false;
    {
      std::lock_guard lock(mu_);
      was_empty = queue_.empty();
      queue_.push_back({std::chrono::steady_clock::now() + kReplyTimeout, p});
    }
    if (was_empty)
      cv_.notify_one();
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point deadline;
    std::weak_ptr<PendingReply> pending;
  };

  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto now = std::chrono::steady_clock::now();
      if (queue_.front().deadline > now) {
        cv_.wait_until(lock, queue_.front().deadline);
        continue;
      }
      std::vector<std::weak_ptr<PendingReply>> due;
      while (!queue_.empty() && queue_.front().deadline <= now) {
        due.push_back(std::move(queue_.front().pending));
        queue_.pop_front();
      }
      lock.unlock();
      for (auto& w : due) {
        if (auto p = w.lock())
          p->set(json_error(503, "busy", "the controller did not answer within 5 s"));
      }
      due.clear();  // a last reference may answer 500 in ~PendingReply: not under the lock
      lock.lock();
      cv_.wait_for(lock, kWatchdogPeriod, [this] { return stop_; });
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// What the cpprest callbacks share; they may outlive HttpServer by a moment (a body
// continuation scheduled while the listener closes), so they hold it by shared_ptr and stop
// posting to the loop once `closed` is set.
struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(EventLoop& l, HttpServer::Handler h) : loop(l), handler(std::move(h)) {}
  EventLoop& loop;
  HttpServer::Handler handler;
  ReplyWatchdog watchdog;
  std::mutex mu;
  bool closed = false;  // under mu

  void dispatch(http::http_request req, HttpRequest r) {
    auto pending = std::make_shared<PendingReply>(std::move(req));
    std::lock_guard lock(mu);
    if (closed) {
      pending->set(json_error(503, "busy", "the controller is shutting down"));
      return;
    }
    watchdog.watch(pending);
    loop.post([self = shared_from_this(), r = std::move(r), pending]() mutable {
      self->handler(r, [pending](HttpResponse resp) { pending->set(std::move(resp)); });
    });
  }
};

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<ServerState> state;
  std::unique_ptr<http::experimental::listener::http_listener> listener;
};

// Why nothing in the request path blocks: cpprestsdk's Linux listener does the socket I/O of
// every connection on one shared pool of 40 threads (crossplat::threadpool) and calls the
// handler below synchronously on the pool thread that parsed a request's header, before the
// body has arrived. Header bytes, idle connections and unread responses are async reads and
// writes there and pin no thread. But a handler that blocks does: the first version waited for
// the body (extract_vector().get()) and then for the loop's answer (up to 5 s) on that thread,
// so 40 clients sending a body one byte at a time stopped every other connection, /healthz
// included, and shutdown hung (tests/netns/test_slow_clients.py). Now the body is taken in a
// continuation, the loop answers by itself (http_request::reply() only queues the write on the
// pool) and the 5 s timeout is the watchdog thread's. cpprest has no idle timeout: a slow or
// idle client still holds one socket (file descriptor) for as long as it likes, and once the
// process runs out of descriptors cpprest's accept loop retries EMFILE without pause (one core
// at 100 %, and no new connection is served until clients leave). Not fixable from outside
// cpprest (it owns the acceptor); raising the soft RLIMIT_NOFILE to the hard limit (systemd:
// 1024 -> 524288) makes that take hundreds of thousands of connections instead of ~1,000.
Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, EventLoop& loop,
                                                      Handler handler) {
  auto uri = listen_uri(listen);
  if (!uri)
    return uri.take_error();
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    rlim_t was = fds.rlim_cur;
    fds.rlim_cur = fds.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &fds) == 0)
      PS_LOG(kDebug) << "RLIMIT_NOFILE raised from " << was << " to " << fds.rlim_max;
  }
  auto impl = std::make_unique<Impl>();
  impl->state = std::make_shared<ServerState>(loop, std::move(handler));
  try {
    impl->listener = std::make_unique<http::experimental::listener::http_listener>(*uri);
    impl->listener->support([state = impl->state](http::http_request req) {
      HttpRequest r;
      r.method = req.method();
      r.path = web::uri::decode(req.relative_uri().path());
      for (auto& [k, v] : web::uri::split_query(req.relative_uri().query())) {
        r.query[web::uri::decode(k)] = web::uri::decode(v);
      }
      if (req.headers().has(http::header_names::authorization)) {
        r.authorization = req.headers()[http::header_names::authorization];
      }
      if (req.headers().has(http::header_names::user_agent)) {
        r.user_agent = req.headers()[http::header_names::user_agent];
      }
      auto len = req.headers().content_length();
      if (len > kMaxBodyBytes) {
        answer(req, json_error(413, "body_too_large", "request bodies are limited to 1 MiB"));
        return;
      }
      if (len == 0 && !req.headers().has(http::header_names::transfer_encoding)) {
        state->dispatch(std::move(req), std::move(r));
        return;
      }
      req.extract_vector().then(
          [state, req, r = std::move(r)](pplx::task<std::vector<unsigned char>> t) mutable {
            std::vector<unsigned char> body;
            try {
              body = t.get();
            } catch (const std::exception& e) {
              answer(req, json_error(400, "bad_request", std::string("reading body: ") + e.what()));
              return;
            }
            if (body.size() > kMaxBodyBytes) {
              answer(req, json_error(413, "body_too_large", "request bodies are limited to 1 MiB"));
              return;
            }
            r.body.assign(body.begin(), body.end());
            state->dispatch(std::move(req), std::move(r));
          });
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return system_error("listening on " + listen + ": " + e.what(), 0);
  }
  PS_LOG(kInfo) << "REST API listening on " << *uri;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (!impl_)
    return;
  {
    std::lock_guard lock(impl_->state->mu);
    impl_->state->closed = true;
  }
  if (impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception&) {
    }
  }
}

Result<HttpReply> http_call(const std::string& method, const std::string& url,
                            const std::string& body, const std::string& bearer_token) {
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(10));
    web::uri u(url);
    web::uri_builder base;
    base.set_scheme(u.scheme()).set_host(u.host()).set_port(u.port());
    web::http::client::http_client client(base.to_uri(), cfg);
    http::http_request req(method);
    req.set_request_uri(web::uri_builder().set_path(u.path()).set_query(u.query()).to_string());
    req.headers().add(http::header_names::user_agent, kCliUserAgent);
    if (!bearer_token.empty()) {
      req.headers().add(http::header_names::authorization, "Bearer " + bearer_token);
    }
    if (!body.empty())
      req.set_body(body, "application/json");
    auto resp = client.request(req).get();
    return HttpReply{.status = resp.status_code(), .body = resp.extract_utf8string(true).get()};
  } catch (const std::exception& e) {
    return system_error(method + " " + url + ": " + e.what(), 0);
  }
}

}  // namespace pathsteer
