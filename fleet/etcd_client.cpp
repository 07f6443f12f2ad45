// Each call is one HTTP/1.1 exchange on a fresh connection, run as a
// coroutine on the client's own io_context, so every step (resolve, connect,
// handshake, write, read) carries the same deadline through beast's
// tcp_stream. A fresh connection per call costs a handshake; it buys a client
// with no connection state to go stale behind a failover or a partition.
#include "fleet/etcd_client.h"
#include "fleet/etcd_json.h"

#include <utility>  // before Boost: asio 1.74 uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "common/log.h"

namespace pathsteer::fleet {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;

constexpr size_t kMaxHeader = 16 << 10;
constexpr size_t kWatchChunk = 64 << 10;

// The gateway's error body: {"error": "...", "message": "...", "code": n}.
struct GatewayError {
  int code = 0;
  std::string message;
};
GatewayError gateway_error(const std::string& body) {
  GatewayError e;
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    e.code = static_cast<int>(int_of(j, "code"));
    if (j.contains("message") && j["message"].is_string())
      e.message = j["message"].get<std::string>();
    else if (j.contains("error") && j["error"].is_string())
      e.message = j["error"].get<std::string>();
  }
  if (e.message.empty())
    e.message = body.substr(0, 200);
  return e;
}

bool is_auth_error(const GatewayError& e) {
  return e.message.find("invalid auth token") != std::string::npos ||
         e.message.find("user name is empty") != std::string::npos;
}

}  // namespace

// One exchange's outcome at the HTTP level.
struct Exchange {
  unsigned status = 0;
  std::string body;  // the whole body (not for a watch)
};

struct EtcdClient::Impl {
  net::io_context ioc;
  std::unique_ptr<ssl::context> tls;  // only with an https endpoint (it loads the CA store)
  std::atomic<bool> cancelled{false};
  std::mutex mu;                                    // guards `close`
  std::function<void()> close;                      // closes the watch's connection
  std::function<bool(const std::string&)> on_line;  // set: stream the body by lines

  template <class Stream>
  net::awaitable<void> talk(Stream& stream, beast::tcp_stream& lowest, const Endpoint& ep,
                            const std::string& path, const std::string& body,
                            const std::string& token, std::chrono::milliseconds timeout,
                            Exchange& out, beast::error_code& ec) {
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, ep.host + ":" + ep.port);
    req.set(http::field::content_type, "application/json");
    req.set("Grpc-Metadata-hasleader", "true");
    if (!token.empty())
      req.set(http::field::authorization, token);
    req.body() = body;
    req.prepare_payload();
    lowest.expires_after(timeout);
    co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
    if (ec)
      co_return;
    beast::flat_buffer buf;
    if (!on_line) {
      http::response_parser<http::string_body> parser;
      parser.header_limit(kMaxHeader);
      parser.body_limit(kMaxBody);
      co_await http::async_read(stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec)
        co_return;
      out.status = parser.get().result_int();
      out.body = std::move(parser.get().body());
      co_return;
    }
    // A watch: the body is a stream of JSON lines, each bounded.
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(kMaxHeader);
    parser.body_limit(boost::none);
    co_await http::async_read_header(stream, buf, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec)
      co_return;
    out.status = parser.get().result_int();
    if (out.status != 200) {
      // An error body is one JSON object: keep the first line of it.
      on_line = nullptr;
    }
    std::string line;
    std::vector<char> chunk(kWatchChunk);
    bool first = true;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      // Until the stream answers "created", the call's deadline holds; after
      // that only cancel() (the keepalive sees a dead etcd) ends it.
      if (!first)
        lowest.expires_never();
      co_await http::async_read_some(stream, buf, parser,
                                     net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::need_buffer)
        ec = {};
      if (ec)
        co_return;
      size_t n = chunk.size() - parser.get().body().size;
      for (size_t i = 0; i < n; ++i) {
        char c = chunk[i];
        if (c != '\n') {
          if (line.size() >= kMaxWatchLine) {
            ec = net::error::message_size;
            co_return;
          }
          line += c;
          continue;
        }
        if (out.status != 200) {
          out.body = line;
          co_return;
        }
        first = false;
        if (!line.empty() && !on_line(line))
          co_return;
        line.clear();
      }
    }
    if (out.status != 200)
      out.body = line;
    else if (!line.empty())
      (void)on_line(line);  // a last line without its newline ("no leader", then the end)
  }

  // Runs one exchange against `ep` within `timeout` (connect to last byte,
  // or to "created" for a watch).
  Exchange run(const Endpoint& ep, const std::string& path, const std::string& body,
               const std::string& token, std::chrono::milliseconds timeout, beast::error_code& ec) {
    Exchange out;
    ioc.restart();
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          tcp::resolver resolver(ioc);
          beast::tcp_stream lowest(ioc);
          // cancel() may come at any step, connect included.
          {
            std::lock_guard lock(mu);
            close = [&lowest, &resolver] {
              resolver.cancel();
              lowest.close();
            };
          }
          struct Forget {
            Impl* impl;
            ~Forget() {
              std::lock_guard lock(impl->mu);
              impl->close = nullptr;
            }
          } forget{this};
          if (cancelled) {
            ec = net::error::operation_aborted;
            co_return;
          }
          lowest.expires_after(timeout);
          auto results = co_await resolver.async_resolve(
              ep.host, ep.port, net::redirect_error(net::use_awaitable, ec));
          if (ec)
            co_return;
          co_await lowest.async_connect(results, net::redirect_error(net::use_awaitable, ec));
          if (ec)
            co_return;
          if (!ep.tls) {
            co_await talk(lowest, lowest, ep, path, body, token, timeout, out, ec);
            co_return;
          }
          beast::ssl_stream<beast::tcp_stream&> stream(lowest, *tls);
          if (!SSL_set_tlsext_host_name(stream.native_handle(), ep.host.c_str())) {
            ec = beast::error_code(static_cast<int>(::ERR_get_error()),
                                   net::error::get_ssl_category());
            co_return;
          }
          stream.set_verify_callback(ssl::host_name_verification(ep.host));
          co_await stream.async_handshake(ssl::stream_base::client,
                                          net::redirect_error(net::use_awaitable, ec));
          if (ec)
            co_return;
          co_await talk(stream, lowest, ep, path, body, token, timeout, out, ec);
        },
        net::detached);
    ioc.run();
    return out;
  }
};

EtcdClient::EtcdClient(Options options, std::vector<Endpoint> endpoints)
    : options_(std::move(options)),
      endpoints_(std::move(endpoints)),
      current_(options_.first % endpoints_.size()),
      impl_(new Impl) {
  for (const auto& e : endpoints_)
    endpoint_names_.push_back(e.to_string());
  bool any_tls = false;
  for (const auto& e : endpoints_)
    any_tls = any_tls || e.tls;
  if (!any_tls)
    return;
  impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  impl_->tls->set_verify_mode(ssl::verify_peer);
  if (!options_.ca_file.empty()) {
    beast::error_code ec;
    impl_->tls->load_verify_file(options_.ca_file, ec);
    if (ec)
      PS_LOG(kError) << "etcd: CA file " << options_.ca_file << ": " << ec.message();
  } else {
    impl_->tls->set_default_verify_paths();
  }
}

EtcdClient::~EtcdClient() = default;

Result<std::unique_ptr<EtcdClient>> EtcdClient::create(Options options) {
  if (options.endpoints.empty())
    return malformed_error("etcd: no endpoint");
  if (options.endpoints.size() > kMaxEndpoints)
    return malformed_error("etcd: more than " + std::to_string(kMaxEndpoints) + " endpoints");
  std::vector<Endpoint> eps;
  for (const auto& url : options.endpoints) {
    auto e = parse_endpoint(url);
    if (!e)
      return e.take_error();
    eps.push_back(*e);
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(options), std::move(eps)));
}

const std::string& EtcdClient::current_endpoint() const {
  return endpoint_names_[current_];
}

void EtcdClient::cancel() {
  impl_->cancelled = true;
  // Closing from here races with the loop using the socket: post it.
  net::post(impl_->ioc, [this] {
    std::lock_guard lock(impl_->mu);
    if (impl_->close)
      impl_->close();
  });
}

void EtcdClient::reset_cancel() {
  impl_->cancelled = false;
}

// Sends `body` to `path`, failing over across the endpoints; the body of a
// 200 answer, or the last failure.
Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  Error last = system_error("etcd: no endpoint tried", 0);
  bool reauthed = false;
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    if (impl_->cancelled)
      return system_error("etcd: cancelled", ECANCELED);
    const Endpoint& ep = endpoints_[current_];
    if (!options_.user.empty() && token_.empty() && path != "/v3/auth/authenticate") {
      json auth = {{"name", options_.user}, {"password", options_.password}};
      beast::error_code ec;
      Exchange a = impl_->run(ep, "/v3/auth/authenticate", auth.dump(), "", options_.timeout, ec);
      if (!ec && a.status == 200) {
        auto j = json::parse(a.body, nullptr, false);
        if (j.is_object() && j.contains("token") && j["token"].is_string())
          token_ = j["token"].get<std::string>();
      } else if (!ec) {
        return system_error("etcd " + ep.to_string() + ": authenticating as " + options_.user +
                                ": " + gateway_error(a.body).message,
                            EACCES);
      }
    }
    beast::error_code ec;
    Exchange x = impl_->run(ep, path, body, token_, options_.timeout, ec);
    if (!ec && x.status == 200)
      return std::move(x.body);
    if (!ec && x.status != 200) {
      GatewayError ge = gateway_error(x.body);
      if (is_auth_error(ge) && !options_.user.empty() && !reauthed) {
        token_.clear();
        reauthed = true;
        --tried;  // the same endpoint again, with a fresh token
        continue;
      }
      last = system_error("etcd " + ep.to_string() + path + ": " + ge.message, 0);
      // 4xx other than "unavailable": the request itself is wrong; another
      // member would say the same.
      bool unavailable =
          x.status >= 500 || ge.code == 14 || ge.message.find("no leader") != std::string::npos;
      if (!unavailable)
        return last;
    } else {
      last = system_error("etcd " + ep.to_string() + path + ": " + ec.message(), ec.value());
    }
    current_ = (current_ + 1) % endpoints_.size();
    ++failovers_;
  }
  return last;
}

Result<RangeResult> EtcdClient::range(const std::string& key, const std::string& range_end,
                                      int64_t limit) {
  json req = {{"key", base64_encode(key)}};
  if (!range_end.empty())
    req["range_end"] = base64_encode(range_end);
  if (limit > 0)
    req["limit"] = limit;
  auto body = call("/v3/kv/range", req.dump());
  if (!body)
    return body.take_error();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object())
    return malformed_error("etcd range: the answer is not a JSON object");
  RangeResult r;
  if (auto h = j.find("header"); h != j.end() && h->is_object())
    r.revision = int_of(*h, "revision");
  r.more = bool_of(j, "more");
  if (auto kvs = j.find("kvs"); kvs != j.end()) {
    if (!kvs->is_array())
      return malformed_error("etcd range: kvs is not a list");
    for (const auto& e : *kvs) {
      auto kv = kv_of(e);
      if (!kv)
        return malformed_error("etcd range: a key or value that is not base64");
      r.kvs.push_back(std::move(*kv));
    }
  }
  return r;
}

Result<int64_t> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0)
    req["lease"] = std::to_string(lease);
  auto body = call("/v3/kv/put", req.dump());
  if (!body)
    return body.take_error();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object() || !j.contains("header"))
    return malformed_error("etcd put: the answer has no header");
  return int_of(j["header"], "revision");
}

Result<int64_t> EtcdClient::remove(const std::string& key, const std::string& range_end) {
  json req = {{"key", base64_encode(key)}};
  if (!range_end.empty())
    req["range_end"] = base64_encode(range_end);
  auto body = call("/v3/kv/deleterange", req.dump());
  if (!body)
    return body.take_error();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object())
    return malformed_error("etcd deleterange: the answer is not a JSON object");
  return int_of(j, "deleted");
}

Result<void> EtcdClient::compact(int64_t revision) {
  json req = {{"revision", std::to_string(revision)}, {"physical", true}};
  auto body = call("/v3/kv/compaction", req.dump());
  if (!body)
    return body.take_error();
  return ok();
}

Result<int64_t> EtcdClient::lease_grant(int64_t ttl_s) {
  json req = {{"TTL", std::to_string(ttl_s)}};
  auto body = call("/v3/lease/grant", req.dump());
  if (!body)
    return body.take_error();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object() || int_of(j, "ID") == 0)
    return system_error("etcd lease grant: " + body->substr(0, 200), 0);
  return int_of(j, "ID");
}

Result<int64_t> EtcdClient::lease_keepalive(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  auto body = call("/v3/lease/keepalive", req.dump());
  if (!body)
    return body.take_error();
  // A stream of one line here: {"result": {"ID":..., "TTL":...}}.
  auto nl = body->find('\n');
  auto j = json::parse(body->substr(0, nl), nullptr, false);
  if (!j.is_object())
    return malformed_error("etcd lease keepalive: the answer is not a JSON object");
  if (j.contains("error"))
    return system_error("etcd lease keepalive: " + j["error"].dump().substr(0, 200), 0);
  if (!j.contains("result") || !j["result"].is_object())
    return malformed_error("etcd lease keepalive: no result");
  return int_of(j["result"], "TTL");
}

Result<int64_t> EtcdClient::lease_ttl(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  auto body = call("/v3/lease/timetolive", req.dump());
  if (!body)
    return body.take_error();
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object())
    return malformed_error("etcd lease timetolive: the answer is not a JSON object");
  return j.contains("TTL") ? int_of(j, "TTL") : 0;
}

Result<void> EtcdClient::watch(const std::string& key, const std::string& range_end,
                               int64_t start_revision,
                               const std::function<bool(const WatchResponse&)>& on_response) {
  json create = {{"key", base64_encode(key)}};
  if (!range_end.empty())
    create["range_end"] = base64_encode(range_end);
  if (start_revision > 0)
    create["start_revision"] = std::to_string(start_revision);
  create["progress_notify"] = true;
  json req = {{"create_request", create}};
  const std::string body = req.dump();

  Error last = system_error("etcd watch: no endpoint tried", 0);
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    if (impl_->cancelled)
      return system_error("etcd watch: cancelled", ECANCELED);
    const Endpoint& ep = endpoints_[current_];
    std::optional<Error> bad;
    bool ended_by_us = false;
    impl_->on_line = [&](const std::string& line) {
      auto w = parse_watch_line(line);
      if (!w) {
        bad = w.take_error();
        return false;
      }
      if (!on_response(*w)) {
        ended_by_us = true;
        return false;
      }
      if (w->canceled) {
        ended_by_us = true;
        return false;
      }
      return true;
    };
    beast::error_code ec;
    Exchange x = impl_->run(ep, "/v3/watch", body, token_, options_.timeout, ec);
    impl_->on_line = nullptr;
    if (ended_by_us)
      return ok();
    if (bad) {
      // etcd's own error line ("no leader" after a partition): another member may serve.
      current_ = (current_ + 1) % endpoints_.size();
      ++failovers_;
      return *bad;
    }
    if (impl_->cancelled)
      return system_error("etcd watch: cancelled", ECANCELED);
    if (!ec && x.status != 200) {
      GatewayError ge = gateway_error(x.body);
      last = system_error("etcd watch " + ep.to_string() + ": " + ge.message, 0);
      if (x.status < 500 && ge.code != 14 && ge.message.find("no leader") == std::string::npos)
        return last;
    } else if (ec) {
      last = system_error("etcd watch " + ep.to_string() + ": " + ec.message(), ec.value());
    } else {
      // The stream ended cleanly after it was created: the member went away.
      return system_error("etcd watch " + ep.to_string() + ": the stream ended", 0);
    }
    current_ = (current_ + 1) % endpoints_.size();
    ++failovers_;
  }
  return last;
}

}  // namespace pathsteer::fleet
