// Fuzz target: the HTTP request path (DESIGN §9, issue 14): raw request bytes
// -> the transport's parsing and limits (parse_http_request, the same Beast
// parser and checks a connection uses) -> the bearer-token precheck ->
// routing -> every handler, over a fake control service. Any input must end
// in a response with a status and a JSON (or Prometheus text) body; a crash,
// a throw, a hang or UB is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "api/fake_service.h"
#include "api/server.h"

namespace {

using namespace pathsteer;

void check(const HttpResponse& r) {
  if (r.status < 200 || r.status > 599)
    std::abort();
  if (r.content_type == "application/json" && !r.body.empty() && !nlohmann::json::accept(r.body))
    std::abort();  // every JSON body parses (invalid UTF-8 replaced, never thrown)
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static testing::FakeService service;
  static auto loop = EventLoop::create();
  static ApiServer api(ApiOptions{.token = "t0ken"}, **loop, service);
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_http_request(raw);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) {
    check(*refused);
    return 0;
  }
  const HttpRequest& req = std::get<HttpRequest>(parsed);
  size_t max_body = kMaxBodyBytes;
  if (auto early = api.precheck(req, &max_body)) {
    check(*early);
    return 0;
  }
  if (req.body.size() > max_body)
    return 0;  // a connection refuses it with 413 before reading it
  check(api.handle(req));
  return 0;
}
