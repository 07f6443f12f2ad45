// The HTTP server (api/http.h) on Boost.Beast: one I/O thread, every
// connection bounded in time, memory and number (docs/ARCHITECTURE.md says
// why not cpprestsdk's listener).
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <utility>  // before Boost: asio 1.74 uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>

#include "api/http.h"
#include "api/http_parse.h"
#include "common/log.h"

namespace pathsteer {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using unix_socket = net::local::stream_protocol;

// What is left of a refused body is read and dropped for at most this long
// and this much, so the client reads the answer instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 16 << 20;
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

HttpResponse too_large(size_t limit) {
  std::string size = limit >= (1 << 20) && limit % (1 << 20) == 0
                         ? std::to_string(limit >> 20) + " MiB"
                         : std::to_string(limit >> 10) + " KiB";
  return json_error(413, "body_too_large", "this request's body is limited to " + size);
}

// One request's outcome: the loop runs it, or the watchdog answers 503; the
// first to move it out of kQueued decides.
struct Pending {
  enum State { kQueued, kRunning, kTimedOut };
  std::atomic<int> state{kQueued};
};

}  // namespace

// A server-sent event stream, as publish() sees it (I/O thread only).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void push(const std::shared_ptr<const std::string>& data) = 0;

 protected:
  StreamSink() = default;
  StreamSink(const StreamSink&) = default;
  StreamSink& operator=(const StreamSink&) = default;
};

// What the server's parts share. Sessions and listeners live in io's
// handlers and hold a plain pointer; a task posted to the loop holds a
// shared_ptr, so io (the last member: destroyed first) outlives them all.
struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(HttpServerOptions o, EventLoop& l, Handler h, Precheck p)
      : opts(std::move(o)), loop(l), handler(std::move(h)), precheck(std::move(p)) {}

  HttpServerOptions opts;
  EventLoop& loop;
  Handler handler;
  Precheck precheck;
  std::atomic<bool> closed{false};  // set on the loop thread before io stops
  std::atomic<uint64_t> accepted{0}, refused{0}, timed_out{0}, open{0}, streams{0};
  // Open streams by channel (I/O thread only); dead ones are pruned on publish.
  std::map<std::string, std::vector<std::weak_ptr<StreamSink>>> channels;
  std::set<std::string> logged;  // handler exceptions already logged (loop thread)
  // Where refused bodies are read to be dropped: one for all (one I/O thread,
  // and nobody reads it).
  std::array<char, 65536> discard{};
  std::optional<ssl::context> tls;
  net::io_context io{1};

  HttpResponse run_handler(const HttpRequest& req) {
    try {
      return handler(req);
    } catch (const std::exception& e) {
      if (logged.insert(e.what()).second)
        PS_LOG(kError) << "API handler for " << req.method << " failed: " << e.what();
    } catch (...) {
      if (logged.insert("?").second)
        PS_LOG(kError) << "API handler for " << req.method << " failed";
    }
    return json_error(500, "internal", "the request failed inside the daemon; see its log");
  }
};

namespace {

using Impl = HttpServer::Impl;

template <typename Stream>
constexpr bool kIsTls = !std::is_same_v<Stream, beast::tcp_stream> &&
                        !std::is_same_v<Stream, beast::basic_stream<unix_socket>>;

template <typename Stream>
class Session final : public StreamSink, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(Impl* impl, std::shared_ptr<size_t> count, Args&&... args)
      : impl_(impl),
        count_(std::move(count)),
        stream_(std::forward<Args>(args)...),
        watchdog_(impl->io) {
    ++*count_;
    ++impl_->open;
  }
  ~Session() override {
    --*count_;
    --impl_->open;
    if (streaming_)
      --impl_->streams;
  }

  // Queues one event for a stream (publish(), I/O thread).
  void push(const std::shared_ptr<const std::string>& data) override {
    if (!streaming_ || closed_)
      return;
    if (queued_bytes_ + data->size() > impl_->opts.max_stream_backlog)
      return close();  // the client does not keep up: it may reconnect and resume
    queued_bytes_ += data->size();
    outbox_.push_back(data);
    if (!writing_)
      write_next();
  }

  void start() {
    if constexpr (kIsTls<Stream>) {
      lowest().expires_after(impl_->opts.read_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec)
                                  return self->fail(ec);
                                self->wait_request();
                              });
    } else {
      wait_request();
    }
  }

 private:
  auto& lowest() { return beast::get_lowest_layer(stream_); }

  void fail(beast::error_code ec) {
    if (ec == beast::error::timeout)
      ++impl_->timed_out;
    close();
  }

  void close() {
    if (closed_)
      return;
    closed_ = true;
    beast::error_code ignored;
    watchdog_.cancel();
    lowest().socket().shutdown(net::socket_base::shutdown_both, ignored);
    lowest().close();
  }

  // Idle until the first byte of the next request (pipelined bytes: at once).
  void wait_request() {
    if (buffer_.size() > 0)
      return read_header();
    lowest().expires_after(impl_->opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec)
                                return self->fail(ec);
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(impl_->opts.max_body);
    lowest().expires_after(impl_->opts.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::header_limit)
      return refuse(json_error(431, "header_too_large", "request headers are limited to 16 KiB"));
    // The parser refuses a Content-Length over the body limit with the header;
    // a change without the token is still 401 first (precheck below).
    bool too_long = ec == http::error::body_limit;
    if (ec && !too_long)
      return fail(ec);
    const auto& h = parser_->get();
    auto made =
        make_request(as_view(h.method_string()), as_view(h.target()),
                     as_view(h[http::field::authorization]), as_view(h[http::field::user_agent]));
    if (auto* bad = std::get_if<HttpResponse>(&made))
      return refuse(std::move(*bad));
    request_ = std::move(std::get<HttpRequest>(made));
    request_.last_event_id = std::string(as_view(h["Last-Event-ID"]).substr(0, 32));
    size_t max_body = impl_->opts.max_body;
    if (impl_->precheck) {
      if (auto early = impl_->precheck(request_, &max_body))
        return refuse(std::move(*early));
    }
    // After a body_limit error the parser stopped inside the header: it has
    // no content length to give (and asserts if asked).
    if (parser_->is_header_done()) {
      if (auto len = parser_->content_length(); len && *len > max_body)
        too_long = true;
    }
    if (too_long)
      return refuse(too_large(max_body));
    parser_->body_limit(max_body);  // a chunked body is cut off at the route's limit
    if (parser_->is_done())
      return dispatch();
    lowest().expires_after(impl_->opts.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this(), max_body](beast::error_code ec, size_t) {
                       if (ec == http::error::body_limit)
                         return self->refuse(too_large(max_body));
                       if (ec)
                         return self->fail(ec);
                       self->request_.body = std::move(self->parser_->get().body());
                       self->dispatch();
                     });
  }

  // Answers without running the request, then closes (draining what the
  // client still sends, bounded, so it reads the answer).
  void refuse(HttpResponse r) { write(std::move(r), /*keep_alive=*/false, /*linger=*/true); }

  void dispatch() {
    lowest().expires_never();
    auto pending = std::make_shared<Pending>();
    pending_ = pending;
    arm_watchdog();
    std::weak_ptr<Session> weak = this->shared_from_this();
    impl_->loop.post([owner = impl_->shared_from_this(), weak, pending, req = std::move(request_)] {
      int queued = Pending::kQueued;
      if (owner->closed || !pending->state.compare_exchange_strong(queued, Pending::kRunning))
        return;  // timed out (answered 503) or shutting down: it never runs
      HttpResponse resp = owner->run_handler(req);
      net::post(owner->io, [weak, pending, resp = std::move(resp)]() mutable {
        if (auto self = weak.lock())
          self->deliver(pending, std::move(resp));
      });
    });
  }

  // Keeps the session alive while the loop has the request; answers 503 if
  // the loop has not started it in time (a running one is waited for).
  void arm_watchdog() {
    watchdog_.expires_after(HttpServer::kReplyTimeout);
    watchdog_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || !self->pending_)
        return;
      int queued = Pending::kQueued;
      if (self->pending_->state.compare_exchange_strong(queued, Pending::kTimedOut)) {
        self->pending_.reset();
        return self->write(json_error(503, "busy", "the controller did not answer within 5 s"),
                           /*keep_alive=*/false, /*linger=*/false);
      }
      self->arm_watchdog();  // running: its answer comes
    });
  }

  void deliver(const std::shared_ptr<Pending>& pending, HttpResponse resp) {
    if (pending != pending_)
      return;
    pending_.reset();
    watchdog_.cancel();
    if (!resp.stream.empty())
      return start_stream(std::move(resp));
    write(std::move(resp), parser_->get().keep_alive(), /*linger=*/false);
  }

  // A server-sent event stream: the header and the backlog, then whatever is
  // published on the channel. Registered here, on the I/O thread, after the
  // loop built the backlog: publishes posted after it arrive after it.
  void start_stream(HttpResponse r) {
    if (impl_->streams >= impl_->opts.max_streams) {
      return write(json_error(503, "busy", "too many event streams open"), false, false);
    }
    streaming_ = true;
    ++impl_->streams;
    impl_->channels[r.stream].push_back(this->weak_from_this());
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n";
    for (const auto& [name, value] : r.headers)
      head += name + ": " + value + "\r\n";
    head += "\r\n" + r.body;
    push(std::make_shared<const std::string>(std::move(head)));
    heartbeat();
    watch_peer();
  }

  void write_next() {
    if (outbox_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    lowest().expires_after(impl_->opts.write_timeout);
    net::async_write(stream_, net::buffer(*outbox_.front()),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec)
                         return self->fail(ec);
                       self->queued_bytes_ -= self->outbox_.front()->size();
                       self->outbox_.pop_front();
                       self->write_next();
                     });
  }

  void heartbeat() {
    watchdog_.expires_after(impl_->opts.stream_heartbeat);
    watchdog_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_)
        return;
      static const auto kPing = std::make_shared<const std::string>(": ping\n\n");
      self->push(kPing);
      self->heartbeat();
    });
  }

  // A stream's client sends nothing more; a read that ends is its leaving.
  void watch_peer() {
    buffer_.clear();
    stream_.async_read_some(net::buffer(impl_->discard),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec)
                                return self->close();
                              self->watch_peer();
                            });
  }

  void write(HttpResponse r, bool keep_alive, bool linger) {
    response_.emplace(static_cast<http::status>(r.status), 11);
    response_->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers)
      response_->set(name, value);
    response_->keep_alive(keep_alive);
    response_->body() = std::move(r.body);
    response_->prepare_payload();
    lowest().expires_after(impl_->opts.write_timeout);
    http::async_write(
        stream_, *response_,
        [self = this->shared_from_this(), keep_alive, linger](beast::error_code ec, size_t) {
          self->response_.reset();
          if (ec)
            return self->fail(ec);
          if (keep_alive)
            return self->wait_request();
          if (linger && !kIsTls<Stream>)
            return self->drain();
          self->close();
        });
  }

  void drain() {
    beast::error_code ignored;
    lowest().socket().shutdown(net::socket_base::shutdown_send, ignored);
    if (!draining_) {
      draining_ = true;
      lowest().expires_after(kLingerTime);
    }
    buffer_.clear();
    buffer_.shrink_to_fit();
    lowest().async_read_some(net::buffer(impl_->discard),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ >= kLingerBytes)
                                 return self->close();
                               self->drain();
                             });
  }

  Impl* impl_;
  std::shared_ptr<size_t> count_;
  Stream stream_;
  beast::flat_buffer buffer_;  // bounded by the parser's header and body limits
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  std::optional<http::response<http::string_body>> response_;
  net::steady_timer watchdog_;
  std::shared_ptr<Pending> pending_;
  bool draining_ = false;
  size_t drained_ = 0;
  bool closed_ = false;
  // Streams: what is queued for the client and how much.
  bool streaming_ = false;
  bool writing_ = false;
  std::deque<std::shared_ptr<const std::string>> outbox_;
  size_t queued_bytes_ = 0;
};

template <typename Acceptor>
class Listener : public std::enable_shared_from_this<Listener<Acceptor>> {
 public:
  Listener(Impl* impl, Acceptor acceptor, std::string name, bool tls)
      : impl_(impl),
        acceptor_(std::move(acceptor)),
        retry_(impl->io),
        name_(std::move(name)),
        tls_(tls) {}

  void accept() {
    acceptor_.async_accept([self = this->shared_from_this()](
                               beast::error_code ec, typename Acceptor::protocol_type::socket s) {
      self->on_accept(ec, std::move(s));
    });
  }
  void stop() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void on_accept(beast::error_code ec, typename Acceptor::protocol_type::socket s) {
    if (ec == net::error::operation_aborted)
      return;
    if (ec) {
      // Out of descriptors (EMFILE) and the like: pause instead of spinning.
      if (!warned_) {
        PS_LOG(kWarn) << "API " << name_ << ": accept: " << ec.message() << "; retrying";
        warned_ = true;
      }
      retry_.expires_after(kAcceptRetry);
      retry_.async_wait([self = this->shared_from_this()](beast::error_code e) {
        if (!e)
          self->accept();
      });
      return;
    }
    warned_ = false;
    ++impl_->accepted;
    if (*count_ >= impl_->opts.max_connections) {
      ++impl_->refused;
      beast::error_code ignored;
      s.close(ignored);
    } else {
      start_session(std::move(s));
    }
    accept();
  }

  void start_session(tcp::socket s) {
    if (tls_) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          impl_, count_, beast::tcp_stream(std::move(s)), *impl_->tls)
          ->start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(impl_, count_, std::move(s))->start();
    }
  }
  void start_session(unix_socket::socket s) {
    std::make_shared<Session<beast::basic_stream<unix_socket>>>(impl_, count_, std::move(s))
        ->start();
  }

  Impl* impl_;
  Acceptor acceptor_;
  net::steady_timer retry_;
  std::string name_;
  std::shared_ptr<size_t> count_ = std::make_shared<size_t>(0);
  bool warned_ = false;
  bool tls_ = false;
};

// Raising the soft RLIMIT_NOFILE to the hard one (systemd: 1024 -> 524288)
// leaves the probes room whatever the API's connection caps are set to.
void raise_fd_limit() {
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    rlim_t was = fds.rlim_cur;
    fds.rlim_cur = fds.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &fds) == 0)
      PS_LOG(kDebug) << "RLIMIT_NOFILE raised from " << was << " to " << fds.rlim_max;
  }
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      EventLoop& loop, Handler handler,
                                                      Precheck precheck) {
  raise_fd_limit();
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_shared<Impl>(options, loop, std::move(handler), std::move(precheck));
  Impl& impl = *server->impl_;
  bool wants_tls = std::any_of(options.listen.begin(), options.listen.end(),
                               [](const ListenAddress& l) { return l.tls; });
  if (wants_tls || !options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      return policy_error("TLS needs both --tls-cert and --tls-key");
    impl.tls.emplace(ssl::context::tls_server);
    beast::error_code ec;
    impl.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                          ssl::context::no_tlsv1_1);
    impl.tls->use_certificate_chain_file(options.tls_cert, ec);
    if (ec)
      return system_error("--tls-cert " + options.tls_cert + ": " + ec.message(), 0);
    impl.tls->use_private_key_file(options.tls_key, ssl::context::pem, ec);
    if (ec)
      return system_error("--tls-key " + options.tls_key + ": " + ec.message(), 0);
  }
  for (const auto& l : options.listen) {
    beast::error_code ec;
    if (l.kind == ListenAddress::Kind::kTcp) {
      auto addr = net::ip::make_address(l.host, ec);
      if (ec)
        return policy_error("--listen " + l.to_string() + ": not a numeric address");
      tcp::acceptor acc(impl.io);
      tcp::endpoint ep(addr, l.port);
      acc.open(ep.protocol(), ec);
      if (!ec)
        acc.set_option(net::socket_base::reuse_address(true), ec);
      if (!ec && addr.is_v6())
        acc.set_option(net::ip::v6_only(true), ec);
      if (!ec)
        acc.bind(ep, ec);
      if (!ec)
        acc.listen(net::socket_base::max_listen_connections, ec);
      if (ec)
        return system_error("listening on " + l.to_string() + ": " + ec.message(), 0);
      auto listener =
          std::make_shared<Listener<tcp::acceptor>>(&impl, std::move(acc), l.to_string(), l.tls);
      server->stop_listeners_.push_back([listener] { listener->stop(); });
      listener->accept();
    } else {
      ::unlink(l.path.c_str());  // a stale socket of an earlier run
      unix_socket::acceptor acc(impl.io);
      acc.open(unix_socket(), ec);
      if (!ec)
        acc.bind(unix_socket::endpoint(l.path), ec);
      if (!ec && ::chmod(l.path.c_str(), 0660) != 0)
        ec = beast::error_code(errno, beast::system_category());
      if (!ec)
        acc.listen(net::socket_base::max_listen_connections, ec);
      if (ec)
        return system_error("listening on " + l.to_string() + ": " + ec.message(), 0);
      server->unix_paths_.push_back(l.path);
      auto listener = std::make_shared<Listener<unix_socket::acceptor>>(&impl, std::move(acc),
                                                                        l.to_string(), false);
      server->stop_listeners_.push_back([listener] { listener->stop(); });
      listener->accept();
    }
    PS_LOG(kInfo) << "REST API listening on " << l.to_string() << (l.tls ? " (TLS)" : "");
  }
  server->thread_ = std::thread([&impl] {
    for (;;) {
      try {
        impl.io.run();
        return;
      } catch (const std::exception& e) {  // a bug of ours: log it, keep serving
        PS_LOG(kError) << "API I/O thread: " << e.what();
      }
    }
  });
  return server;
}

HttpServer::~HttpServer() {
  if (!impl_)
    return;
  impl_->closed = true;  // tasks the loop still holds will not run
  if (thread_.joinable()) {
    impl_->io.stop();
    thread_.join();
  }
  for (auto& stop : stop_listeners_)
    stop();  // the I/O thread is gone: safe from here
  for (const auto& p : unix_paths_)
    ::unlink(p.c_str());
}

HttpServer::Stats HttpServer::stats() const {
  return Stats{.accepted = impl_->accepted,
               .refused = impl_->refused,
               .timed_out = impl_->timed_out,
               .open = impl_->open,
               .streams = impl_->streams};
}

void HttpServer::publish(const std::string& channel, std::string data) {
  if (!impl_ || impl_->closed)
    return;
  auto shared = std::make_shared<const std::string>(std::move(data));
  net::post(impl_->io, [impl = impl_.get(), channel, shared] {
    auto it = impl->channels.find(channel);
    if (it == impl->channels.end())
      return;
    auto& sinks = it->second;
    std::erase_if(sinks, [](const std::weak_ptr<StreamSink>& w) { return w.expired(); });
    for (const auto& w : sinks) {
      if (auto sink = w.lock())
        sink->push(shared);
    }
  });
}

}  // namespace pathsteer
