// The HTTP client (api/http.h): cpprestsdk for http:// and https:// (the only
// file that includes it), the unix-socket client for unix: URLs.
// _TURN_OFF_PLATFORM_STRING comes from CMake: cpprest's U() macro breaks Boost headers.
#include <cpprest/http_client.h>

#include <chrono>

#include "api/http.h"
#include "api/http_parse.h"

namespace pathsteer {

namespace http = web::http;

Result<HttpReply> http_call(const std::string& method, const std::string& url,
                            const std::string& body, const std::string& bearer_token) {
  if (url.starts_with("unix:"))
    return unix_http_call(method, url, body, bearer_token);
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
