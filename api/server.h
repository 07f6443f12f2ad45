// The REST API (DESIGN §9, docs/openapi.yaml) over the control service: the
// routes, their status codes, the bearer-token check and the JSON mapping
// (api/json_map.h). HttpServer (api/http.h) is the transport; it posts every
// request to the loop, where handle() runs and calls the service directly.
//
// Routes: GET /healthz, GET /v1/status, GET|POST /v1/intents, GET|DELETE
// /v1/intents/{id}, GET|PUT /v1/policy[?dry_run=true], GET
// /v1/wans/{name}/history[?since_ms=&resolution=1s|1m], POST /v1/explain,
// GET /v1/events[?since=ID], GET /v1/events/stream (server-sent events, one
// per control event: `id:`, `event:` its kind, `data:` its JSON), GET
// /metrics, GET /ui/ (the dashboard; its files are built into the binary).
// Changes (POST/PUT/DELETE of intents and the policy) need `Authorization:
// Bearer <token>` (compared in constant time); without a token file they are
// refused. A wrong method is 405, an unknown path 404. Errors are
// {"error": {"code", "message"}}, an invalid policy with "details" (line,
// column, message). Service error kinds map to statuses: kMalformed 400,
// kInvalidPolicy 422, kNotFound 404, kConflict 409, others 500.
// Who asked: the API (Caller::kApi), or the CLI when its User-Agent says so.
// Listening (DESIGN §8): a listener off loopback is refused without a token
// file, and without TLS unless insecure_http, which logs a warning.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "common/event_loop.h"
#include "common/result.h"
#include "controller/service.h"

namespace pathsteer {

struct ApiOptions {
  std::vector<std::string> listen = {"127.0.0.1:9370"};  // --listen, each as parse_listen()
  std::string token;              // "" : changes through the API are disabled
  std::string tls_cert, tls_key;  // TLS on the TCP listeners off loopback
  // A listener off loopback needs the token, and TLS or this (warned at every start).
  bool insecure_http = false;
  HttpServerOptions limits;  // connection caps, timeouts (listen/tls fields are ignored)
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> start(ApiOptions options, EventLoop& loop,
                                                  ControlService& service);
  // Without a listener: handle() only (unit tests of the routes).
  ApiServer(ApiOptions options, EventLoop& loop, ControlService& service)
      : options_(std::move(options)), loop_(loop), service_(service) {}
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // One request, on the loop thread.
  HttpResponse handle(const HttpRequest& req);
  // Before the body is read, on the server's I/O thread: 401 for a change
  // without the token (thread-safe: reads the token only), and the route's
  // body limit: kMaxBodyBytes for PUT /v1/policy, kSmallBodyBytes elsewhere
  // (so an unauthenticated client can hold at most that much per connection).
  std::optional<HttpResponse> precheck(const HttpRequest& head, size_t* max_body) const;

  static constexpr size_t kSmallBodyBytes = 64 << 10;

  const HttpServer* http() const { return http_.get(); }

  // The server-sent event channel of GET /v1/events/stream.
  static constexpr const char* kEventsChannel = "events";

 private:
  bool authorized(const HttpRequest& req) const;
  std::optional<HttpResponse> deny(const HttpRequest& req) const;  // nullopt: allowed
  Caller caller(const HttpRequest& req) const;
  HttpResponse intents(const HttpRequest& req);
  HttpResponse intent(const HttpRequest& req, const std::string& id);
  HttpResponse policy(const HttpRequest& req);
  HttpResponse history(const HttpRequest& req, const std::string& wan);
  HttpResponse explain(const HttpRequest& req);
  HttpResponse domains(const HttpRequest& req);
  HttpResponse events(const HttpRequest& req, bool stream);
  static HttpResponse ui_asset(const std::string& path);

  ApiOptions options_;
  EventLoop& loop_;
  ControlService& service_;
  std::unique_ptr<HttpServer> http_;
  Subscription events_sub_;  // last: unsubscribes before http_ goes
};

// The token file (--token-file): its first line, trailing blanks removed. An
// error when it is missing, empty, or readable by group or others.
Result<std::string> read_token_file(const std::string& path);

}  // namespace pathsteer
