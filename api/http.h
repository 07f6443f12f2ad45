// pathsteer's own HTTP interface, so that nothing outside api/ includes
// cpprestsdk (in maintenance mode; keep it replaceable).
//
// Server threading: cpprestsdk's worker threads receive requests and call
// nothing of ours but EventLoop::post(); the Handler runs on the loop thread
// and must call `reply` exactly once (it may do so later, still on the loop
// thread). A request whose reply does not come within 5 s is answered 503 so
// a stuck loop cannot pin the client forever. Bodies over 1 MiB are refused
// with 413 before the handler sees them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/event_loop.h"
#include "common/result.h"

namespace pathsteer {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // decoded, without the query
  std::map<std::string, std::string> query;
  std::string authorization;  // the Authorization header, verbatim
  std::string user_agent;     // the User-Agent header, verbatim
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

HttpResponse json_error(int status, const std::string& code, const std::string& message);

inline constexpr size_t kMaxBodyBytes = 1 << 20;

// The User-Agent http_call() sends (the CLI), by which the API names its caller.
inline constexpr const char* kCliUserAgent = "pathsteer-cli";

class HttpServer {
 public:
  using Reply = std::function<void(HttpResponse)>;
  using Handler = std::function<void(const HttpRequest&, Reply)>;

  // listen: "ADDR:PORT" or "[V6ADDR]:PORT".
  static Result<std::unique_ptr<HttpServer>> start(const std::string& listen, EventLoop& loop,
                                                   Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A blocking client for the CLI. url: "http://127.0.0.1:9370/v1/status".
struct HttpReply {
  int status = 0;
  std::string body;
};
Result<HttpReply> http_call(const std::string& method, const std::string& url,
                            const std::string& body = {}, const std::string& bearer_token = {});

}  // namespace pathsteer
