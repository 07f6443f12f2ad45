#include "api/server.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "api/json_map.h"
#include "api/metrics.h"
#include "api/ui_assets.h"
#include "common/log.h"

namespace pathsteer {

namespace {

using nlohmann::json;

// Text from files and requests may hold invalid UTF-8: replaced, never thrown.
HttpResponse json_ok(int status, const json& j) {
  return HttpResponse{.status = status,
                      .body = j.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// The routes that change something (and need the token).
bool is_change(const HttpRequest& req) {
  if (req.method == "GET" || req.method == "HEAD")
    return false;
  return req.path == "/v1/intents" || req.path.starts_with("/v1/intents/") ||
         req.path == "/v1/policy";
}

HttpResponse method_not_allowed(const char* allowed) {
  return json_error(405, "method_not_allowed", std::string("use ") + allowed);
}

// A service error as a response; `invalid_code` names a 422 on this route.
HttpResponse error_response(const Error& e, const char* invalid_code = "invalid",
                            const char* system_code = "internal") {
  switch (e.kind) {
    case ErrorKind::kMalformed:
      return json_error(400, "bad_request", e.context);
    case ErrorKind::kInvalidPolicy:
      break;
    case ErrorKind::kConflict:
      return json_error(409, "conflict", e.context);
    case ErrorKind::kNotFound:
      return json_error(404, "not_found", e.context);
    default:
      return json_error(500, system_code, e.to_string());
  }
  if (e.details.empty())
    return json_error(422, invalid_code, e.context);
  json details = json::array();
  for (const auto& d : e.details)
    details.push_back({{"line", d.line}, {"column", d.column}, {"message", d.to_string()}});
  json body{{"error", {{"code", invalid_code}, {"message", e.context}, {"details", details}}}};
  return json_ok(422, body);
}

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::start(ApiOptions options, EventLoop& loop,
                                                    ControlService& service) {
  HttpServerOptions http = options.limits;
  http.tls_cert = options.tls_cert;
  http.tls_key = options.tls_key;
  http.listen.clear();
  bool tls = !options.tls_cert.empty();
  for (const auto& text : options.listen) {
    auto l = parse_listen(text);
    if (!l)
      return l.take_error();
    if (!l->loopback()) {
      if (options.token.empty()) {
        return policy_error("--listen " + text +
                            " is off loopback: it needs --token-file (changes would be open)");
      }
      if (!tls && !options.insecure_http) {
        return policy_error("--listen " + text +
                            " is off loopback: it needs --tls-cert and --tls-key, or "
                            "--insecure-http to send the token in clear text");
      }
      if (!tls)
        PS_LOG(kWarn) << "--insecure-http: the API on " << text
                      << " is plain HTTP; the bearer token crosses the network in clear text";
      l->tls = tls;
    }
    http.listen.push_back(*l);
  }
  auto server = std::make_unique<ApiServer>(std::move(options), loop, service);
  ApiServer* self = server.get();
  auto started = HttpServer::start(
      http, loop, [self](const HttpRequest& req) { return self->handle(req); },
      [self](const HttpRequest& head, size_t* max_body) { return self->precheck(head, max_body); });
  if (!started)
    return started.take_error();
  server->http_ = std::move(*started);
  // One event, one JSON text and one post to the I/O thread, however many
  // pages listen (the fan-out is the server's).
  server->events_sub_ = service.subscribe(
      [self](const ControlEvent& e) { self->http_->publish(kEventsChannel, sse_frame(e)); });
  return server;
}

ApiServer::~ApiServer() = default;

bool ApiServer::authorized(const HttpRequest& req) const {
  static constexpr std::string_view kPrefix = "Bearer ";
  const std::string& token = options_.token;
  if (token.empty() || !req.authorization.starts_with(kPrefix))
    return false;
  std::string_view given = std::string_view(req.authorization).substr(kPrefix.size());
  if (given.size() != token.size())
    return false;
  // Constant time in the token's contents (its length is not a secret worth hiding).
  return CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

std::optional<HttpResponse> ApiServer::precheck(const HttpRequest& head, size_t* max_body) const {
  if (max_body != nullptr && !(head.path == "/v1/policy" && head.method == "PUT"))
    *max_body = std::min(*max_body, kSmallBodyBytes);
  if (!is_change(head))
    return std::nullopt;
  return deny(head);
}

std::optional<HttpResponse> ApiServer::deny(const HttpRequest& req) const {
  if (authorized(req))
    return std::nullopt;
  if (options_.token.empty()) {
    return json_error(401, "unauthorized",
                      "this daemon has no --token-file: changes through the API are disabled");
  }
  return json_error(
      401, "unauthorized",
      req.authorization.empty() ? "missing 'Authorization: Bearer <token>'" : "wrong bearer token");
}

Caller ApiServer::caller(const HttpRequest& req) const {
  if (req.user_agent.starts_with(kCliUserAgent))
    return Caller{.kind = Caller::Kind::kCli};
  return Caller{.kind = Caller::Kind::kApi};
}

HttpResponse ApiServer::handle(const HttpRequest& req) {
  const std::string& p = req.path;
  const bool get = req.method == "GET";
  if (p == "/healthz") {
    if (!get)
      return method_not_allowed("GET");
    return HttpResponse{.status = 200, .body = R"({"status":"ok"})"};
  }
  if (p == "/v1/status") {
    if (!get)
      return method_not_allowed("GET");
    return json_ok(200, status_json(service_.status()));
  }
  if (p == "/v1/intents")
    return intents(req);
  static constexpr std::string_view kIntentPrefix = "/v1/intents/";
  if (p.starts_with(kIntentPrefix))
    return intent(req, p.substr(kIntentPrefix.size()));
  if (p == "/v1/policy")
    return policy(req);
  static constexpr std::string_view kWanPrefix = "/v1/wans/";
  static constexpr std::string_view kHistory = "/history";
  if (p.starts_with(kWanPrefix) && p.ends_with(kHistory) &&
      p.size() > kWanPrefix.size() + kHistory.size()) {
    if (!get)
      return method_not_allowed("GET");
    return history(req,
                   p.substr(kWanPrefix.size(), p.size() - kWanPrefix.size() - kHistory.size()));
  }
  if (p == "/metrics") {
    if (!get)
      return method_not_allowed("GET");
    return HttpResponse{.status = 200,
                        .content_type = "text/plain; version=0.0.4; charset=utf-8",
                        .body = metrics_text(service_.status(), loop_.stats())};
  }
  if (p == "/v1/domains") {
    if (!get)
      return method_not_allowed("GET");
    return domains(req);
  }
  if (p == "/v1/explain") {
    if (req.method != "POST")
      return method_not_allowed("POST");
    return explain(req);
  }
  if (p == "/v1/events" || p == "/v1/events/stream") {
    if (!get)
      return method_not_allowed("GET");
    return events(req, p.ends_with("/stream"));
  }
  if (p == "/ui" || p.starts_with("/ui/")) {
    if (!get)
      return method_not_allowed("GET");
    return ui_asset(p == "/ui" ? "/ui/" : p);
  }
  return json_error(404, "not_found", "no such endpoint: " + p);
}

HttpResponse ApiServer::intents(const HttpRequest& req) {
  if (req.method == "GET")
    return json_ok(200, json{{"intents", intents_json(service_.intents())}});
  if (req.method != "POST")
    return method_not_allowed("GET or POST");
  if (auto denied = deny(req))
    return *denied;
  auto parsed = parse_intent_request(req.body);
  if (!parsed)
    return error_response(parsed.error());
  auto added = service_.add_intent(std::move(*parsed), caller(req));
  if (!added)
    return error_response(added.error());
  return json_ok(201, intent_json(*added));
}

HttpResponse ApiServer::intent(const HttpRequest& req, const std::string& id) {
  if (req.method == "GET") {
    auto it = service_.intent(id);
    if (!it)
      return error_response(it.error());
    return json_ok(200, intent_json(*it));
  }
  if (req.method != "DELETE")
    return method_not_allowed("GET or DELETE");
  if (auto denied = deny(req))
    return *denied;
  if (auto r = service_.delete_intent(id, caller(req)); !r)
    return error_response(r.error());
  return HttpResponse{.status = 204, .body = ""};
}

HttpResponse ApiServer::policy(const HttpRequest& req) {
  if (req.method == "GET")
    return json_ok(200, policy_json(service_.policy()));
  if (req.method != "PUT")
    return method_not_allowed("GET or PUT");
  if (auto denied = deny(req))
    return *denied;
  auto text = parse_policy_body(req.body);
  if (!text)
    return error_response(text.error());
  auto dry = req.query.find("dry_run");
  bool dry_run = dry != req.query.end() && (dry->second == "true" || dry->second == "1");
  if (dry != req.query.end() && !dry_run && dry->second != "false" && dry->second != "0")
    return json_error(400, "bad_request", "dry_run must be true or false");
  auto change = service_.apply_policy(*text, dry_run, caller(req));
  if (!change)
    return error_response(change.error(), "invalid_policy", "policy_write");
  return json_ok(200, policy_change_json(*change));
}

HttpResponse ApiServer::history(const HttpRequest& req, const std::string& wan) {
  HistoryResolution resolution = HistoryResolution::kSecond;
  if (auto it = req.query.find("resolution"); it != req.query.end()) {
    if (it->second == "1m")
      resolution = HistoryResolution::kMinute;
    else if (it->second != "1s")
      return json_error(400, "bad_request", "resolution must be 1s or 1m");
  }
  int64_t since = 0;
  if (auto it = req.query.find("since_ms"); it != req.query.end()) {
    char* end = nullptr;
    since = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0')
      return json_error(400, "bad_request", "since_ms must be an integer (Unix ms)");
  }
  auto h = service_.history(wan, since, resolution);
  if (!h)
    return error_response(h.error());
  return json_ok(200, history_json(*h));
}

// GET /v1/domains[?class=C]
HttpResponse ApiServer::domains(const HttpRequest& req) {
  std::string klass;
  if (auto it = req.query.find("class"); it != req.query.end())
    klass = it->second;
  auto d = service_.domains(klass);
  if (!d)
    return error_response(d.error());
  return json_ok(200, domains_json(*d));
}

// GET /v1/events[?since=ID] and /v1/events/stream[?since=ID] (Last-Event-ID
// wins over since: an EventSource resuming).
HttpResponse ApiServer::events(const HttpRequest& req, bool stream) {
  std::string since_text = req.last_event_id;
  if (since_text.empty()) {
    if (auto it = req.query.find("since"); it != req.query.end())
      since_text = it->second;
  }
  uint64_t since = 0;
  if (!since_text.empty()) {
    char* end = nullptr;
    errno = 0;
    since = std::strtoull(since_text.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || since_text.front() == '-')
      return json_error(400, "bad_request", "since must be an event id (a non-negative integer)");
  }
  auto events = service_.events(since);
  if (!stream) {
    json list = json::array();
    for (const auto& e : events)
      list.push_back(event_json(e));
    uint64_t last = events.empty() ? since : events.back().id;
    return json_ok(200, json{{"events", list}, {"last_id", last}});
  }
  // The backlog first (bounded by the log's capacity), then the live events.
  std::string backlog;
  for (const auto& e : events)
    backlog += sse_frame(e);
  return HttpResponse{.status = 200,
                      .content_type = "text/event-stream",
                      .body = std::move(backlog),
                      .stream = kEventsChannel};
}

HttpResponse ApiServer::explain(const HttpRequest& req) {
  auto query = parse_explain_body(req.body);
  if (!query)
    return error_response(query.error());
  auto answer = service_.explain(*query);
  if (!answer)
    return error_response(answer.error(), "invalid", "dataplane");
  return json_ok(200, explain_json(*answer));
}

// The dashboard's files: nothing it loads comes from elsewhere (the policy
// below tells the browser so).
HttpResponse ApiServer::ui_asset(const std::string& path) {
  const UiAsset* a = find_ui_asset(path);
  if (a == nullptr)
    return json_error(404, "not_found", "no such file: " + path);
  return HttpResponse{
      .status = 200,
      .content_type = std::string(a->content_type),
      .body = std::string(a->body),
      .headers = {{"Content-Security-Policy",
                   "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
                   "data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                   "frame-ancestors 'none'"},
                  {"X-Content-Type-Options", "nosniff"},
                  {"Cache-Control", "no-cache"}}};
}

Result<std::string> read_token_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return system_error("--token-file " + path, errno);
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return policy_error("--token-file " + path +
                        " is accessible by group or others; chmod 600 it first");
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty())
    return policy_error("--token-file " + path + " is empty");
  return token;
}

}  // namespace pathsteer
