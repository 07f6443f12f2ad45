#include "api/http_parse.h"

#include <arpa/inet.h>

#include <utility>  // before Boost: asio 1.74 uses std::exchange without it

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/net.h"

namespace pathsteer {

namespace http = boost::beast::http;

HttpResponse json_error(int status, const std::string& code, const std::string& message) {
  nlohmann::json j;
  j["error"]["code"] = code;
  j["error"]["message"] = message;
  return HttpResponse{.status = status,
                      .content_type = "application/json",
                      .body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

bool ListenAddress::loopback() const {
  if (kind == Kind::kUnix)
    return true;
  auto a = IpAddr::parse(host);
  if (!a)
    return false;
  if (a->is_v4())
    return a->bytes[0] == 127;
  return *a == *IpAddr::parse("::1");
}

std::string ListenAddress::to_string() const {
  if (kind == Kind::kUnix)
    return "unix:" + path;
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

Result<ListenAddress> parse_listen(const std::string& s) {
  ListenAddress l;
  if (s.starts_with("unix:")) {
    l.kind = ListenAddress::Kind::kUnix;
    l.path = s.substr(5);
    if (l.path.empty() || l.path.front() != '/' || l.path.size() > 107)
      return policy_error("--listen '" + s +
                          "': unix: needs an absolute path of at most 107 bytes");
    return l;
  }
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size())
    return policy_error("--listen '" + s + "': expected ADDR:PORT, [V6ADDR]:PORT or unix:PATH");
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto addr = IpAddr::parse(host);
  if (!addr || (addr->is_v6() && s.front() != '['))
    return policy_error("--listen '" + s + "': '" + host + "' is not a numeric address" +
                        (addr ? " (an IPv6 address goes in brackets)" : ""));
  char* end = nullptr;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535)
    return policy_error("--listen '" + s + "': the port must be 1..65535");
  l.host = host;
  l.port = static_cast<uint16_t>(port);
  return l;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size())
        return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points beyond Unicode are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size())
      return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::variant<HttpRequest, HttpResponse> make_request(std::string_view method,
                                                     std::string_view target,
                                                     std::string_view authorization,
                                                     std::string_view user_agent) {
  HttpRequest r;
  r.method = std::string(method);
  r.authorization = std::string(authorization);
  r.user_agent = std::string(user_agent);
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  if (!percent_decode(path, r.path) || !valid_utf8(r.path))
    return json_error(400, "bad_request",
                      "the request path is not valid UTF-8 or percent-encoding");
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    std::string key, value;
    if (!percent_decode(part.substr(0, eq), key) ||
        !percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1),
                        value) ||
        !valid_utf8(key) || !valid_utf8(value)) {
      return json_error(400, "bad_request",
                        "the request query is not valid UTF-8 or percent-encoding");
    }
    r.query[std::move(key)] = std::move(value);
  }
  return r;
}

std::variant<HttpRequest, HttpResponse> parse_http_request(std::string_view raw, size_t max_body) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_body);
  boost::beast::error_code ec;
  size_t used = 0;
  while (!parser.is_done() && used < raw.size()) {
    size_t n = parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec)
      break;
    if (n == 0)
      break;
  }
  if (ec == http::error::header_limit)
    return json_error(431, "header_too_large", "request headers are limited to 16 KiB");
  if (ec == http::error::body_limit)
    return json_error(413, "body_too_large", "this request's body is limited to 1 MiB");
  if (ec || !parser.is_done())
    return json_error(400, "bad_request", "not a complete HTTP/1.1 request");
  const auto& req = parser.get();
  auto made =
      make_request(as_view(req.method_string()), as_view(req.target()),
                   as_view(req[http::field::authorization]), as_view(req[http::field::user_agent]));
  if (auto* r = std::get_if<HttpRequest>(&made))
    r->body = req.body();
  return made;
}

}  // namespace pathsteer
