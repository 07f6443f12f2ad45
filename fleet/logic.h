// The fleet's pure logic (DESIGN §13), clock- and network-free so that the
// unit tests drive it with fakes: the key layout, which key is the policy,
// the local mirror of the watched keys with its resume cursor, fleet intents
// and their selectors, reconnect backoff, the status write throttle and the
// rollback verdict. fleet/agent.h does the I/O around it.
//
// Key layout under the prefix (default /pathsteer/v1):
//   policy/default  policy/groups/<group>  policy/nodes/<node>   YAML (§7, no fleet: block)
//   intents/<id>    JSON as POST /v1/intents + optional "nodes", "groups", "created_ms"
//   status/<node>   JSON, under the node's lease
// A node watches [intents/, policy0) — intents and policy, never the other
// nodes' status — with one stream.
// Not thread-safe; each owner keeps its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/intents.h"
#include "fleet/etcd_client.h"

namespace pathsteer::fleet {

inline constexpr size_t kMaxFleetKeys = 10000;       // policy and intent keys mirrored
inline constexpr size_t kMaxFleetValue = 1 << 20;    // one policy or intent value
inline constexpr size_t kMaxIntentSelectors = 1000;  // names in "nodes" / "groups"

struct KeyLayout {
  std::string prefix = "/pathsteer/v1";

  std::string policy_default() const { return prefix + "/policy/default"; }
  std::string policy_group(const std::string& g) const { return prefix + "/policy/groups/" + g; }
  std::string policy_node(const std::string& n) const { return prefix + "/policy/nodes/" + n; }
  std::string intents() const { return prefix + "/intents/"; }
  std::string intent(const std::string& id) const { return intents() + id; }
  std::string status(const std::string& n) const { return prefix + "/status/" + n; }
  std::string status_prefix() const { return prefix + "/status/"; }
  // What a node mirrors: [watch_begin, watch_end).
  std::string watch_begin() const { return intents(); }
  std::string watch_end() const { return prefix_end(prefix + "/policy/"); }
};

// The most specific policy key that exists: the node's, else the node's
// groups' with the later group winning, else the default; nullopt: none.
const KeyValue* select_policy(const std::map<std::string, KeyValue>& kvs, const KeyLayout& keys,
                              const std::string& node, const std::vector<std::string>& groups);

// The resume state of one watch (etcd-io/etcd#8231, #10650): after a list at
// revision R the watch starts at R+1; every event moves the start past it;
// a compaction of the start revision means the events in between are gone,
// so the node re-lists.
class WatchCursor {
 public:
  bool need_list() const { return need_list_; }
  int64_t start_revision() const { return next_; }
  void listed(int64_t revision) {
    next_ = revision + 1;
    need_list_ = false;
  }
  void seen(int64_t mod_revision) {
    if (mod_revision + 1 > next_)
      next_ = mod_revision + 1;
  }
  void progress(int64_t header_revision) { seen(header_revision); }
  void compacted() { need_list_ = true; }
  // A stream that broke resumes from start_revision(); nothing to do.

 private:
  int64_t next_ = 0;
  bool need_list_ = true;
};

// The mirror of [watch_begin, watch_end): replaced by a list, patched by
// events. Bounded: keys beyond kMaxFleetKeys and values over kMaxFleetValue
// are dropped (and counted).
class Mirror {
 public:
  void replace(const std::vector<KeyValue>& kvs);
  void apply(const WatchEvent& ev);
  const std::map<std::string, KeyValue>& kvs() const { return kvs_; }
  size_t dropped() const { return dropped_; }

 private:
  bool admit(const KeyValue& kv);
  std::map<std::string, KeyValue> kvs_;
  size_t dropped_ = 0;
};

// Exponential backoff with equal jitter: attempt n waits uniformly in
// [d/2, d] with d = min(cap, base * 2^n). `unit` is a uniform draw in [0, 1).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) : base_(base), cap_(cap) {}
  std::chrono::milliseconds next(double unit);
  void reset() { attempt_ = 0; }
  uint32_t attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, cap_;
  uint32_t attempt_ = 0;
};

struct FleetIntent {
  Intent intent;  // id: the key's last segment; expires_ms from ttl_s or the lease
  std::vector<std::string> nodes, groups;  // empty both: every node
  int64_t lease = 0;
};

// intents/<id>'s value: POST /v1/intents's JSON plus "nodes", "groups"
// (lists of names) and "created_ms" (when the CLI wrote it). Without
// created_ms the deadline counts from `first_seen_ms`. kMalformed /
// kInvalidPolicy naming the key.
Result<FleetIntent> parse_fleet_intent(const KeyValue& kv, const KeyLayout& keys,
                                       int64_t first_seen_ms);
// Selectors: a node in `nodes`, or one of its groups in `groups`; neither
// given: every node.
bool selects(const FleetIntent& fi, const std::string& node,
             const std::vector<std::string>& groups);

// When to write status/<node>: a change of its state (generation, policy,
// uplink states, class uplinks, rollback) within kMinInterval; figures alone
// (rtt, loss) at most every `figures_interval`; nothing new: never (the lease
// keeps the key).
class StatusThrottle {
 public:
  static constexpr auto kMinInterval = std::chrono::seconds(1);
  using Time = std::chrono::steady_clock::time_point;
  explicit StatusThrottle(std::chrono::seconds figures_interval)
      : figures_interval_(figures_interval) {}
  // True when `state` / `figures` should be written now.
  bool due(const std::string& state, const std::string& figures, Time now) const;
  void written(const std::string& state, const std::string& figures, Time now);
  void forget() { written_once_ = false; }  // the key is gone (a new lease): write again

 private:
  std::chrono::seconds figures_interval_;
  bool written_once_ = false;
  std::string state_, figures_;
  Time at_{};
};

// Transactional apply (flexiWAN): after a fleet policy is applied the node
// watches itself for confirm_s. It rolls back when, while the previous policy
// had a usable uplink (or etcd), every uplink of the new one is down, or etcd
// cannot be reached. Unknown states (probes not yet decided) roll back only
// when confirm_s runs out with no uplink up.
struct ConfirmInput {
  bool previous_had_uplink = false;
  bool previous_had_etcd = false;
  size_t uplinks = 0, up = 0, down = 0;  // of the new policy
  bool etcd_reachable = true;
  bool deadline_passed = false;
};
// Empty: keep waiting (or confirmed, when the deadline passed); else why to roll back.
std::optional<std::string> rollback_reason(const ConfirmInput& in);

}  // namespace pathsteer::fleet
