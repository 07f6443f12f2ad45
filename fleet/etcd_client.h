// EtcdClient: etcd v3 over its HTTP/JSON gateway (DESIGN §13), on Boost.Beast.
// No gRPC: /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/compaction,
// /v3/lease/grant, /v3/lease/keepalive, /v3/lease/timetolive, /v3/watch
// (streaming, one JSON object per line), /v3/auth/authenticate. Keys and values
// travel base64 in the JSON; this API takes and gives raw bytes.
//
// Contract:
// * Endpoints: "http://host:port" or "https://host:port" (TLS verified against
//   Options::ca_file, or the system's store when empty). A call goes to the
//   current endpoint; on a transport failure, an HTTP 5xx or etcd's "no leader"
//   it moves to the next one and retries there, each endpoint once per call.
//   The endpoint that answered stays current for the next call; the first one
//   tried is Options::first.
// * Leader: every request carries `Grpc-Metadata-hasleader: true`, so a member
//   cut off from its quorum refuses it (and cancels a watch) instead of serving
//   stale data (etcd-io/etcd#10819).
// * Auth: with Options::user (from a `user:password` token file), the client
//   authenticates on first use and again when etcd says the token is invalid,
//   and sends the token as `Authorization`.
// * Bounded: connect, TLS and each request are bounded in time
//   (Options::timeout); a response body over kMaxBody, a header over 16 KiB, a
//   watch line over kMaxWatchLine are errors, never buffered further. A hostile
//   endpoint can make a call fail; it cannot make the process grow.
// * Errors: kSystem for transport and etcd errors (context names the endpoint
//   and etcd's message), kMalformed for a response that is not what the
//   gateway sends.
// Threading: one client per thread; calls block. watch() blocks until the
// callback returns false, the stream breaks or cancel() — the one method safe
// from another thread — is called.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace pathsteer::fleet {

inline constexpr size_t kMaxBody = 16 << 20;      // a range of every policy and intent
inline constexpr size_t kMaxWatchLine = 8 << 20;  // one watch response (a batch of events)
inline constexpr size_t kMaxEndpoints = 16;

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the range was read at
  std::vector<KeyValue> kvs;
  bool more = false;  // cut by the limit
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // a delete carries the key and its mod_revision
};

// One line of a watch stream.
struct WatchResponse {
  int64_t header_revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: the start revision was compacted; re-list
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// Parses one line of /v3/watch (pure; exposed for the tests and the fuzzer).
Result<WatchResponse> parse_watch_line(const std::string& line);
std::string base64_encode(const std::string& raw);
std::optional<std::string> base64_decode(const std::string& text);
// The range_end that selects every key starting with `prefix`.
std::string prefix_end(const std::string& prefix);

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string to_string() const;
};
Result<Endpoint> parse_endpoint(const std::string& url);

class EtcdClient {
 public:
  struct Options {
    std::vector<std::string> endpoints;
    std::string ca_file;  // TLS: trust these; empty: the system's store
    std::string user, password;
    std::chrono::milliseconds timeout{5000};
    // The endpoint tried first (modulo their number): nodes that start at
    // different ones spread their connections over the members.
    size_t first = 0;
  };

  // kMalformed: no endpoint, more than kMaxEndpoints, or one that is not a URL.
  static Result<std::unique_ptr<EtcdClient>> create(Options options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // `range_end` empty: the one key; `limit` 0: no limit.
  Result<RangeResult> range(const std::string& key, const std::string& range_end = "",
                            int64_t limit = 0);
  // Returns the store's revision after the put.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  Result<int64_t> remove(const std::string& key, const std::string& range_end = "");
  Result<void> compact(int64_t revision);
  // Returns the lease id.
  Result<int64_t> lease_grant(int64_t ttl_s);
  // The TTL granted again; 0 when the lease is gone (expired or revoked).
  Result<int64_t> lease_keepalive(int64_t id);
  // The seconds left; 0 (or less) when the lease is gone.
  Result<int64_t> lease_ttl(int64_t id);

  // Streams [key, range_end) from start_revision. `on_response` gets every
  // line (created, events, a cancel with compact_revision); returning false
  // ends the watch with ok(). A cancel by the server ends it with ok() after
  // the callback saw it. Errors: the stream broke, timed out before it was
  // created, or was cancelled by cancel().
  Result<void> watch(const std::string& key, const std::string& range_end, int64_t start_revision,
                     const std::function<bool(const WatchResponse&)>& on_response);
  // From any thread: ends a watch() in progress (and the next one at once).
  void cancel();
  void reset_cancel();

  const std::string& current_endpoint() const;
  size_t failovers() const { return failovers_; }

 private:
  struct Impl;
  explicit EtcdClient(Options options, std::vector<Endpoint> endpoints);
  Result<std::string> call(const std::string& path, const std::string& body);

  Options options_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::string> endpoint_names_;
  size_t current_ = 0;
  size_t failovers_ = 0;
  std::string token_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pathsteer::fleet
