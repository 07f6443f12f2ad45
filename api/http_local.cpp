// The client side of the unix-socket listener (api/http.h http_call with a
// "unix:" URL): one blocking request over Boost.Beast, bounded in time.
#include <utility>  // before Boost: asio 1.74 uses std::exchange without it

#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/http_parse.h"

namespace pathsteer {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<HttpReply> unix_http_call(const std::string& method, const std::string& url,
                                 const std::string& body, const std::string& bearer_token) {
  // unix:/run/pathsteer/api.sock/v1/status: the socket is what comes before /v1/ or /healthz.
  std::string rest = url.substr(5);
  size_t cut = std::string::npos;
  for (const char* api_root : {"/v1/", "/healthz", "/metrics", "/ui/"}) {
    auto p = rest.find(api_root);
    if (p != std::string::npos && p < cut)
      cut = p;
  }
  if (cut == std::string::npos || cut == 0)
    return policy_error(url + ": expected unix:SOCKET/v1/...");
  std::string socket_path = rest.substr(0, cut);
  std::string target = rest.substr(cut);
  try {
    net::io_context io;
    beast::basic_stream<net::local::stream_protocol> stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(net::local::stream_protocol::endpoint(socket_path));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::user_agent, kCliUserAgent);
    if (!bearer_token.empty())
      req.set(http::field::authorization, "Bearer " + bearer_token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(net::socket_base::shutdown_both, ignored);
    return HttpReply{.status = static_cast<int>(parser.get().result_int()),
                     .body = std::move(parser.get().body())};
  } catch (const std::exception& e) {
    return system_error(method + " " + url + ": " + e.what(), 0);
  }
}

}  // namespace pathsteer
