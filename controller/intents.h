// Intents (DESIGN §6, §9): time-bounded overrides of a class's paths or SLA,
// persisted in the state directory so that a restart loses none.
//
// Contract:
// * At most one intent per class: a second one for the same class is a
//   conflict (the caller deletes the first). Ids are random ("i-" + 16 hex).
// * Expiry is wall-clock (system_clock), stored as Unix milliseconds, so an
//   intent's deadline holds across a restart; expire(now) removes the ones
//   whose deadline is <= now.
// * Every mutation is followed by save() by the caller; the file is written
//   atomically (temp, fsync, rename), so a crash leaves the old or the new set.
// * load() of a missing file gives an empty store; of a corrupt one (see
//   parse()), an error (the daemon moves it aside and says so, rather than
//   silently dropping it).
// * Validation against a policy (validate()): the class exists; paths are
//   non-empty, without duplicates, each a wan of the policy; an sla sets at
//   least one constraint with loss in 0..100; ttl_s in 1..kMaxTtlS. An intent
//   whose class or wans vanish in a later reload stays stored but does not
//   apply (applies() tells) until it expires or is deleted.
// Not thread-safe; owned by the event-loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/planner.h"
#include "controller/policy.h"

namespace pathsteer {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;

inline constexpr uint32_t kMaxIntentTtlS = 31 * 24 * 3600;

// What a client asks for (POST /v1/intents).
struct IntentRequest {
  std::string klass;
  std::optional<std::vector<std::string>> paths;
  std::optional<SlaSpec> sla;
  uint32_t ttl_s = 0;
  std::string comment;  // free text, shown back (who asked and why)
  friend bool operator==(const IntentRequest&, const IntentRequest&) = default;
};

struct Intent {
  std::string id;
  IntentRequest request;
  int64_t created_ms = 0;  // Unix ms
  int64_t expires_ms = 0;  // Unix ms
  friend bool operator==(const Intent&, const Intent&) = default;

  ClassOverride to_override() const {
    return ClassOverride{.paths = request.paths, .sla = request.sla};
  }
};

int64_t to_unix_ms(WallTime t);
// The inverse, saturating: Unix ms beyond what WallTime holds (int64 ns, about
// years 1677..2262) give WallTime::min() / max().
WallTime from_unix_ms(int64_t ms);

// Parses a POST /v1/intents body: {"class": str, "paths": [str], "sla":
// {"max_rtt_ms": n, "max_jitter_ms": n, "max_loss_pct": x}, "ttl_s": n,
// "comment": str}. Unknown keys are malformed. Needs paths or sla (or both).
// The state file keeps intents in this form too, so the API and the file
// share it. Errors: kMalformed (shape, types), kInvalidPolicy (values).
Result<IntentRequest> parse_intent_request(const std::string& body);

// Checks a request against the policy in force (kInvalidPolicy errors).
Result<void> validate(const IntentRequest& req, const Policy& policy);
// The part of validate() that needs no policy: ttl_s, paths without
// duplicates, the sla's values (what the state file must hold too).
Result<void> validate_values(const IntentRequest& req);
// Whether a stored intent still applies to this policy (class and wans exist).
bool applies(const Intent& intent, const Policy& policy);

class IntentStore {
 public:
  IntentStore() = default;
  explicit IntentStore(std::string path) : path_(std::move(path)) {}

  Result<void> load();  // replaces the contents from path (missing file: empty)
  // load() of a file's text: replaces the contents (emptied on an error).
  // Corrupt (kInvalidPolicy, naming path()): not {"version":1,"intents":[...]},
  // an entry that parse_intent_request() or validate_values() refuses,
  // created_ms / expires_ms not integers in 0..kMaxStateUnixMs
  // (state_json.h) or expires_ms before created_ms, an id or a class twice.
  Result<void> parse(const std::string& text);
  Result<void> save() const;

  // Adds a validated request; kConflict if the class has an intent already.
  Result<Intent> add(IntentRequest req, WallTime now);
  // Replaces the contents (the fleet's set, ids and deadlines given).
  void replace(std::vector<Intent> intents) { intents_ = std::move(intents); }
  bool remove(const std::string& id);
  // Removes every intent whose deadline has passed; returns them.
  std::vector<Intent> expire(WallTime now);
  std::optional<WallTime> next_expiry() const;
  std::optional<int64_t> next_expiry_ms() const;  // Unix ms, exact for any stored value

  const std::vector<Intent>& intents() const { return intents_; }  // by creation time
  const Intent* find(const std::string& id) const;
  // The overrides of the intents that apply to `policy`, by class.
  std::map<std::string, ClassOverride> overrides(const Policy& policy) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<Intent> intents_;
};

// JSON form shared by the API and the state file: id, class, paths, sla,
// ttl_s, comment, created_ms, expires_ms; with a policy also "applies".
nlohmann::json intent_json(const Intent& intent, const Policy* policy = nullptr);

}  // namespace pathsteer
