// The REST API's routes (DESIGN §9). Runs on the loop thread: HttpServer
// posts each request here, so handlers read and change controller state
// without locks.
#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "controller/daemon.h"
#include "controller/explain.h"

namespace pathsteer {

namespace {

using nlohmann::json;

HttpResponse json_ok(int status, const json& j) {
  return HttpResponse{.status = status, .body = j.dump()};
}

HttpResponse request_error(const RequestError& e) {
  switch (e.fault) {
    case RequestFault::kMalformed:
      return json_error(400, "bad_request", e.message);
    case RequestFault::kInvalid:
      return json_error(422, "invalid", e.message);
    case RequestFault::kConflict:
      return json_error(409, "conflict", e.message);
    case RequestFault::kNotFound:
      return json_error(404, "not_found", e.message);
  }
  return json_error(500, "internal", e.message);
}

HttpResponse method_not_allowed(const char* allowed) {
  return json_error(405, "method_not_allowed", std::string("use ") + allowed);
}

}  // namespace

bool Daemon::authorized(const HttpRequest& req) const {
  static constexpr std::string_view kPrefix = "Bearer ";
  if (token_.empty() || !req.authorization.starts_with(kPrefix))
    return false;
  std::string_view given = std::string_view(req.authorization).substr(kPrefix.size());
  if (given.size() != token_.size())
    return false;
  // Constant time in the token's contents (its length is not a secret worth hiding).
  return CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
}

void Daemon::handle_http(const HttpRequest& req, HttpServer::Reply reply) {
  const std::string& p = req.path;
  const bool get = req.method == "GET";
  auto need_auth = [&]() -> std::optional<HttpResponse> {
    if (authorized(req))
      return std::nullopt;
    if (token_.empty()) {
      return json_error(401, "unauthorized",
                        "this daemon has no --token-file: changes through the API are disabled");
    }
    return json_error(401, "unauthorized",
                      req.authorization.empty() ? "missing 'Authorization: Bearer <token>'"
                                                : "wrong bearer token");
  };

  if (p == "/healthz") {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(HttpResponse{.status = 200, .body = R"({"status":"ok"})"});
  }
  if (p == "/v1/status") {
    if (!get)
      return reply(method_not_allowed("GET"));
    return reply(HttpResponse{.status = 200, .body = status_json()});
  }
  if (p == "/v1/intents") {
    if (get)
      return reply(list_intents());
    if (req.method != "POST")
      return reply(method_not_allowed("GET or POST"));
    if (auto denied = need_auth())
      return reply(*denied);
    return reply(post_intent(req));
  }
  static constexpr std::string_view kIntentPrefix = "/v1/intents/";
  if (p.starts_with(kIntentPrefix)) {
    std::string id = p.substr(kIntentPrefix.size());
    if (req.method == "GET") {
      const Intent* it = intents_.find(id);
      if (it == nullptr)
        return reply(json_error(404, "not_found", "no intent '" + id + "'"));
      return reply(json_ok(200, intent_json(*it, &policy_)));
    }
    if (req.method != "DELETE")
      return reply(method_not_allowed("GET or DELETE"));
    if (auto denied = need_auth())
      return reply(*denied);
    return reply(delete_intent(id));
  }
  if (p == "/v1/explain") {
    if (req.method != "POST")
      return reply(method_not_allowed("POST"));
    return reply(post_explain(req));
  }
  reply(json_error(404, "not_found", "no such endpoint: " + p));
}

HttpResponse Daemon::list_intents() const {
  json j = json::array();
  for (const auto& it : intents_.intents())
    j.push_back(intent_json(it, &policy_));
  return json_ok(200, json{{"intents", j}});
}

HttpResponse Daemon::post_intent(const HttpRequest& req) {
  auto parsed = parse_intent_request(req.body);
  if (auto* e = std::get_if<RequestError>(&parsed))
    return request_error(*e);
  auto& r = std::get<IntentRequest>(parsed);
  if (auto e = validate(r, policy_))
    return request_error(*e);
  auto added = intents_.add(std::move(r), WallClock::now());
  if (auto* e = std::get_if<RequestError>(&added))
    return request_error(*e);
  const Intent& it = std::get<Intent>(added);
  PS_LOG(kInfo) << "intent " << it.id << " for class " << it.request.klass << " added for "
                << it.request.ttl_s << " s" << (it.request.comment.empty() ? "" : " (")
                << it.request.comment << (it.request.comment.empty() ? "" : ")");
  json body = intent_json(it, &policy_);
  intents_changed();
  return json_ok(201, body);
}

HttpResponse Daemon::delete_intent(const std::string& id) {
  if (!intents_.remove(id))
    return json_error(404, "not_found", "no intent '" + id + "'");
  PS_LOG(kInfo) << "intent " << id << " deleted";
  intents_changed();
  return HttpResponse{.status = 204, .body = ""};
}

HttpResponse Daemon::post_explain(const HttpRequest& req) {
  auto parsed = parse_explain_request(req.body);
  if (auto* e = std::get_if<RequestError>(&parsed))
    return request_error(*e);
  const FrameSpec& f = std::get<FrameSpec>(parsed);
  auto sim = datapath_->simulate(build_frame(f));
  if (!sim) {
    return json_error(500, "dataplane",
                      "running the classifier on the crafted packet: " + sim.error().to_string());
  }
  return json_ok(200, explain_result(f, *sim, desired_, policy_.ownership.mark_mask));
}

}  // namespace pathsteer
