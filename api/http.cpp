// The only file that includes cpprestsdk.
// _TURN_OFF_PLATFORM_STRING comes from CMake: cpprest's U() macro breaks Boost headers.
#include <cpprest/http_client.h>
#include <cpprest/http_listener.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "api/http.h"
#include "common/log.h"

namespace pathsteer {

namespace http = web::http;

HttpResponse json_error(int status, const std::string& code, const std::string& message) {
  nlohmann::json j;
  j["error"]["code"] = code;
  j["error"]["message"] = message;
  return HttpResponse{.status = status, .content_type = "application/json", .body = j.dump()};
}

struct HttpServer::Impl {
  std::unique_ptr<http::experimental::listener::http_listener> listener;
};

namespace {

Result<std::string> listen_uri(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return policy_error("--listen '" + listen + "': expected ADDR:PORT");
  }
  return "http://" + listen + "/";
}

// Shared between a request's cpprest task and the loop, so a late reply from
// the loop after the 5 s timeout is harmless.
struct PendingReply {
  std::promise<HttpResponse> promise;
  std::atomic<bool> done{false};
  void set(HttpResponse r) {
    if (!done.exchange(true))
      promise.set_value(std::move(r));
  }
};

void answer(const http::http_request& req, const HttpResponse& r) {
  http::http_response resp(static_cast<http::status_code>(r.status));
  resp.set_body(r.body, r.content_type);
  req.reply(resp).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception&) {
      // the client went away; nothing to do
    }
  });
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, EventLoop& loop,
                                                      Handler handler) {
  auto uri = listen_uri(listen);
  if (!uri)
    return uri.take_error();
  auto impl = std::make_unique<Impl>();
  try {
    impl->listener = std::make_unique<http::experimental::listener::http_listener>(*uri);
    auto shared_handler = std::make_shared<Handler>(std::move(handler));
    impl->listener->support([&loop, shared_handler](http::http_request req) {
      HttpRequest r;
      r.method = req.method();
      r.path = web::uri::decode(req.relative_uri().path());
      for (auto& [k, v] : web::uri::split_query(req.relative_uri().query())) {
        r.query[web::uri::decode(k)] = web::uri::decode(v);
      }
      if (req.headers().has(http::header_names::authorization)) {
        r.authorization = req.headers()[http::header_names::authorization];
      }
      auto len = req.headers().content_length();
      if (len > kMaxBodyBytes) {
        answer(req, json_error(413, "body_too_large", "request bodies are limited to 1 MiB"));
        return;
      }
      if (len > 0 || req.headers().has(http::header_names::transfer_encoding)) {
        try {
          auto body = req.extract_vector().get();
          if (body.size() > kMaxBodyBytes) {
            answer(req, json_error(413, "body_too_large", "request bodies are limited to 1 MiB"));
            return;
          }
          r.body.assign(body.begin(), body.end());
        } catch (const std::exception& e) {
          answer(req, json_error(400, "bad_request", std::string("reading body: ") + e.what()));
          return;
        }
      }
      auto pending = std::make_shared<PendingReply>();
      auto future = pending->promise.get_future();
      loop.post([shared_handler, r = std::move(r), pending]() {
        (*shared_handler)(r, [pending](HttpResponse resp) { pending->set(std::move(resp)); });
      });
      if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        pending->set(json_error(503, "busy", "the controller did not answer within 5 s"));
      }
      answer(req, future.get());
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return system_error("listening on " + listen + ": " + e.what(), 0);
  }
  PS_LOG(kInfo) << "REST API listening on " << *uri;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_ && impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception&) {
    }
  }
}

Result<HttpReply> http_call(const std::string& method, const std::string& url,
                            const std::string& body, const std::string& bearer_token) {
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(10));
    web::uri u(url);
    web::uri_builder base;
    base.set_scheme(u.scheme()).set_host(u.host()).set_port(u.port());
    web::http::client::http_client client(base.to_uri(), cfg);
    http::http_request req(method);
    req.set_request_uri(web::uri_builder().set_path(u.path()).set_query(u.query()).to_string());
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
