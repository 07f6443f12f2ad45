// pathsteer's own HTTP interface, so that nothing outside api/ includes an
// HTTP library (cpprestsdk, in maintenance mode, is the client; the server is
// Boost.Beast: docs/ARCHITECTURE.md says why).
//
// HttpServer: one I/O thread of its own reads and writes every connection;
// the Handler runs on the EventLoop thread (the request is posted there) and
// never on the I/O thread. Its promises, whatever a client sends:
//  * Listeners: "ADDR:PORT", "[V6ADDR]:PORT" (TCP; TLS where the address says
//    so, with the certificate and key given) or "unix:PATH" (mode 0660,
//    replaced if stale, removed on shutdown). Each listener holds at most max_connections at once;
//    a connection beyond that is closed at once, so API clients can never take the descriptors the
//    probes need.
//  * Time: a connection waiting for a request is closed after idle_timeout; a
//    header must arrive within read_timeout of its first byte and a body
//    within read_timeout of its header; a response must be taken within
//    write_timeout.
//  * Memory: a header over 16 KiB is refused (431); a body over max_body is
//    refused (413) from its Content-Length before any of it is read, and a
//    chunked body is cut off at max_body (413). The rest of a refused body is
//    read and discarded for a moment (bounded in time and bytes, never stored)
//    so that the client sees the answer; then the connection closes.
//  * Before the body is read, `precheck` (on the I/O thread; it must be
//    thread-safe) may answer instead, e.g. 401 for a change without a token,
//    and may lower that request's body limit (a route with small bodies).
//  * A path or query that is not valid UTF-8 or not valid percent-encoding is
//    refused (400) before the handler sees it.
//  * Exactly one outcome per request: the handler runs, or — when the loop
//    has not started it within kReplyTimeout — the client gets 503 and the
//    handler never runs. A handler that throws is answered 500 (logged once
//    per kind of exception), and the daemon goes on.
//  * Streams (server-sent events): a response with `stream` set stays open;
//    publish(channel, data) queues `data` to every stream on the channel. The
//    fan-out runs on the I/O thread: the loop pays one post per publish,
//    however many clients listen. At most max_streams are open at once (more
//    are answered 503); a stream whose client lets more than
//    max_stream_backlog bytes pile up is closed (it may reconnect with
//    Last-Event-ID); a comment line every stream_heartbeat keeps proxies and
//    dead peers honest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"

namespace pathsteer {

struct HttpRequest {
  std::string method;                        // "GET", "PUT", ...
  std::string path;                          // decoded (valid UTF-8), without the query
  std::map<std::string, std::string> query;  // decoded (valid UTF-8)
  std::string authorization;                 // the Authorization header, verbatim
  std::string user_agent;                    // the User-Agent header, verbatim
  std::string last_event_id;                 // Last-Event-ID (an EventSource reconnecting)
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra header fields (e.g. Cache-Control, Content-Security-Policy).
  std::vector<std::pair<std::string, std::string>> headers = {};
  // Non-empty: a server-sent event stream on this channel. `body` goes first;
  // then everything HttpServer::publish() sends on the channel, until the
  // client leaves (see HttpServer).
  std::string stream = {};
};

// {"error": {"code": code, "message": message}}; invalid UTF-8 in the
// message is replaced, never thrown.
HttpResponse json_error(int status, const std::string& code, const std::string& message);

inline constexpr size_t kMaxBodyBytes = 1 << 20;

// The User-Agent http_call() sends (the CLI), by which the API names its caller.
inline constexpr const char* kCliUserAgent = "pathsteer-cli";

// One --listen value.
struct ListenAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // kTcp: the address, without brackets
  uint16_t port = 0;
  std::string path;       // kUnix
  bool tls = false;       // kTcp: serve TLS (HttpServerOptions' certificate and key)
  bool loopback() const;  // a unix socket, 127.0.0.0/8 or ::1
  std::string to_string() const;
};
// "ADDR:PORT", "[V6ADDR]:PORT" or "unix:PATH"; the address must be numeric.
Result<ListenAddress> parse_listen(const std::string& s);

struct HttpServerOptions {
  std::vector<ListenAddress> listen;
  std::string tls_cert;  // PEM files; both or neither; needed by a listener with tls
  std::string tls_key;
  size_t max_connections = 512;  // per listener
  size_t max_body = kMaxBodyBytes;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{30000};
  size_t max_streams = 64;              // per server
  size_t max_stream_backlog = 1 << 20;  // bytes queued for one stream
  std::chrono::milliseconds stream_heartbeat{15000};
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // May answer instead of the handler, and may lower the request's body limit
  // (*max_body, initially HttpServerOptions::max_body) before it is read.
  using Precheck =
      std::function<std::optional<HttpResponse>(const HttpRequest& head, size_t* max_body)>;
  static constexpr auto kReplyTimeout = std::chrono::seconds(5);

  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   EventLoop& loop, Handler handler,
                                                   Precheck precheck = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  struct Stats {
    uint64_t accepted = 0;
    uint64_t refused = 0;    // closed at once: over max_connections
    uint64_t timed_out = 0;  // idle, read or write timeouts
    uint64_t open = 0;       // connections open now
    uint64_t streams = 0;    // server-sent event streams open now
  };
  Stats stats() const;

  // Thread-safe: queues `data` (a complete server-sent event) to every open
  // stream on `channel`, in publish order.
  void publish(const std::string& channel, std::string data);

  struct Impl;  // api/http_server.cpp

 private:
  HttpServer() = default;

  std::shared_ptr<Impl> impl_;  // first: destroyed last
  std::vector<std::function<void()>> stop_listeners_;
  std::vector<std::string> unix_paths_;
  std::thread thread_;  // runs the I/O
};

// What the server makes of one raw request (header and body), without a
// socket: the same parsing, limits and UTF-8 checks as a connection. An
// error response (400, 413, 431) when it refuses it. For tests and fuzzing.
std::variant<HttpRequest, HttpResponse> parse_http_request(std::string_view raw,
                                                           size_t max_body = kMaxBodyBytes);

// A blocking client for the CLI. url: "http://127.0.0.1:9370/v1/status",
// "https://..." or "unix:/run/pathsteer/api.sock/v1/status" (the socket path
// is everything before "/v1/" or "/healthz").
struct HttpReply {
  int status = 0;
  std::string body;
};
Result<HttpReply> http_call(const std::string& method, const std::string& url,
                            const std::string& body = {}, const std::string& bearer_token = {});

}  // namespace pathsteer
