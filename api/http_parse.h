// The request side of the HTTP transport that needs no socket: the target's
// percent-decoding and UTF-8 check, and one request from raw bytes (through
// the same Beast parser and limits a connection uses). Internal to api/.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "api/http.h"

namespace pathsteer {

inline constexpr size_t kMaxHeaderBytes = 16 << 10;

bool valid_utf8(std::string_view s);

// Any string view (Boost's included) as a std::string_view.
template <typename View>
std::string_view as_view(const View& v) {
  return std::string_view(v.data(), v.size());
}

// Decodes %XX escapes (a '+' stays a '+'); false on a bad escape.
bool percent_decode(std::string_view in, std::string& out);

// The request for a method, target and headers; a 400 when the target's path
// or query is not valid percent-encoding or not valid UTF-8 once decoded.
std::variant<HttpRequest, HttpResponse> make_request(std::string_view method,
                                                     std::string_view target,
                                                     std::string_view authorization,
                                                     std::string_view user_agent);

// http_call() for "unix:PATH/v1/..." URLs (api/http_local.cpp).
Result<HttpReply> unix_http_call(const std::string& method, const std::string& url,
                                 const std::string& body, const std::string& bearer_token);

}  // namespace pathsteer
