#include "controller/intents.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "controller/state_json.h"

namespace pathsteer {

namespace {

using nlohmann::json;

Error malformed(std::string message) {
  return malformed_error(std::move(message));
}
Error invalid(std::string message) {
  return policy_error(std::move(message));
}

std::string new_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  char buf[24];
  std::snprintf(buf, sizeof(buf), "i-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// Reads a non-negative integer field that must fit `max`.
Result<void> read_uint(const json& j, const char* key, uint64_t max, uint64_t* out) {
  const json& v = j.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    return malformed(std::string("'") + key + "' must be a non-negative integer");
  uint64_t n = v.get<uint64_t>();
  if (n > max)
    return invalid(std::string("'") + key + "' must be at most " + std::to_string(max));
  *out = n;
  return ok();
}

Result<SlaSpec> parse_sla(const json& j) {
  if (!j.is_object())
    return malformed("'sla' must be an object");
  SlaSpec sla;
  for (const auto& [key, v] : j.items()) {
    if (key == "max_rtt_ms" || key == "max_jitter_ms") {
      uint64_t n = 0;
      if (auto r = read_uint(j, key.c_str(), 3'600'000, &n); !r)
        return r.take_error();
      (key == "max_rtt_ms" ? sla.max_rtt_ms : sla.max_jitter_ms) = static_cast<uint32_t>(n);
    } else if (key == "max_loss_pct") {
      if (!v.is_number())
        return malformed("'sla.max_loss_pct' must be a number");
      sla.max_loss_pct = v.get<double>();
    } else {
      return malformed("unknown key 'sla." + key + "'");
    }
  }
  return sla;
}

json sla_json(const SlaSpec& s) {
  json j = json::object();
  if (s.max_rtt_ms)
    j["max_rtt_ms"] = *s.max_rtt_ms;
  if (s.max_jitter_ms)
    j["max_jitter_ms"] = *s.max_jitter_ms;
  if (s.max_loss_pct)
    j["max_loss_pct"] = *s.max_loss_pct;
  return j;
}

}  // namespace

int64_t to_unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_ms(int64_t ms) {
  constexpr int64_t kMax =
      std::chrono::duration_cast<std::chrono::milliseconds>(WallTime::duration::max()).count();
  constexpr int64_t kMin =
      std::chrono::duration_cast<std::chrono::milliseconds>(WallTime::duration::min()).count();
  if (ms >= kMax)
    return WallTime::max();
  if (ms <= kMin)
    return WallTime::min();
  return WallTime(std::chrono::milliseconds(ms));
}

Result<IntentRequest> parse_intent_request(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return malformed("the body is not valid JSON");
  if (!j.is_object())
    return malformed("the body must be a JSON object");
  IntentRequest req;
  bool have_ttl = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "class") {
      if (!v.is_string())
        return malformed("'class' must be a string");
      req.klass = v.get<std::string>();
    } else if (key == "paths") {
      if (!v.is_array())
        return malformed("'paths' must be an array of wan names");
      std::vector<std::string> paths;
      for (const auto& p : v) {
        if (!p.is_string())
          return malformed("'paths' must be an array of wan names");
        paths.push_back(p.get<std::string>());
      }
      req.paths = std::move(paths);
    } else if (key == "sla") {
      auto sla = parse_sla(v);
      if (!sla)
        return sla.take_error();
      req.sla = *sla;
    } else if (key == "ttl_s") {
      uint64_t n = 0;
      if (auto r = read_uint(j, "ttl_s", kMaxIntentTtlS, &n); !r)
        return r.take_error();
      req.ttl_s = static_cast<uint32_t>(n);
      have_ttl = true;
    } else if (key == "comment") {
      if (!v.is_string())
        return malformed("'comment' must be a string");
      req.comment = v.get<std::string>();
      if (req.comment.size() > 256)
        return invalid("'comment' is longer than 256 bytes");
    } else {
      return malformed("unknown key '" + key + "'");
    }
  }
  if (req.klass.empty())
    return malformed("'class' is required");
  if (!have_ttl)
    return malformed("'ttl_s' is required");
  if (!req.paths && !req.sla)
    return malformed("an intent needs 'paths' or 'sla' (or both)");
  return req;
}

Result<void> validate_values(const IntentRequest& req) {
  if (req.ttl_s == 0 || req.ttl_s > kMaxIntentTtlS)
    return invalid("'ttl_s' must be 1.." + std::to_string(kMaxIntentTtlS));
  if (req.paths) {
    if (req.paths->empty())
      return invalid("'paths' is empty");
    std::set<std::string> seen;
    for (const auto& p : *req.paths) {
      if (!seen.insert(p).second)
        return invalid("'paths' names '" + p + "' twice");
    }
  }
  if (req.sla) {
    const SlaSpec& s = *req.sla;
    if (!s.max_rtt_ms && !s.max_jitter_ms && !s.max_loss_pct)
      return invalid("'sla' sets no constraint");
    if (s.max_loss_pct && (*s.max_loss_pct < 0 || *s.max_loss_pct > 100))
      return invalid("'sla.max_loss_pct' must be 0..100");
  }
  return ok();
}

Result<void> validate(const IntentRequest& req, const Policy& policy) {
  if (policy.find_class(req.klass) == nullptr)
    return invalid("no class '" + req.klass + "' in the policy");
  if (auto r = validate_values(req); !r)
    return r;
  if (req.paths) {
    for (const auto& p : *req.paths) {
      if (policy.find_wan(p) == nullptr)
        return invalid("'paths' names '" + p + "', which is not a wan of the policy");
    }
  }
  return ok();
}

bool applies(const Intent& intent, const Policy& policy) {
  if (policy.find_class(intent.request.klass) == nullptr)
    return false;
  if (intent.request.paths) {
    for (const auto& p : *intent.request.paths) {
      if (policy.find_wan(p) == nullptr)
        return false;
    }
  }
  return true;
}

json intent_json(const Intent& intent, const Policy* policy) {
  json j;
  j["id"] = intent.id;
  j["class"] = intent.request.klass;
  j["paths"] = intent.request.paths ? json(*intent.request.paths) : json(nullptr);
  j["sla"] = intent.request.sla ? sla_json(*intent.request.sla) : json(nullptr);
  j["ttl_s"] = intent.request.ttl_s;
  j["comment"] = intent.request.comment;
  j["created_ms"] = intent.created_ms;
  j["expires_ms"] = intent.expires_ms;
  if (policy != nullptr)
    j["applies"] = applies(intent, *policy);
  return j;
}

Result<void> IntentStore::load() {
  intents_.clear();
  auto text = read_file(path_);
  if (!text) {
    if (text.error().err_no == ENOENT)
      return ok();
    return system_error("reading intents from " + path_, text.error().err_no);
  }
  return parse(*text);
}

Result<void> IntentStore::parse(const std::string& text) {
  intents_.clear();
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto corrupt = [&](const std::string& why) {
    return policy_error("intents file " + path_ + " is corrupt: " + why);
  };
  if (j.is_discarded() || !j.is_object())
    return corrupt("not a JSON object");
  if (!j.contains("version") || j["version"] != 1)
    return corrupt("unknown version");
  if (!j.contains("intents") || !j["intents"].is_array())
    return corrupt("no 'intents' array");
  std::vector<Intent> loaded;
  std::set<std::string> ids;
  std::set<std::string> classes;
  for (const auto& e : j["intents"]) {
    if (!e.is_object() || !e.contains("id") || !e.contains("created_ms") ||
        !e.contains("expires_ms") || !e["id"].is_string()) {
      return corrupt("an entry lacks id, created_ms or expires_ms");
    }
    Intent it;
    it.id = e["id"].get<std::string>();
    auto created = json_unix_ms(e["created_ms"]);
    auto expires = json_unix_ms(e["expires_ms"]);
    if (!created || !expires || *expires < *created) {
      return corrupt("intent " + it.id + ": created_ms and expires_ms must be Unix ms in 0.." +
                     std::to_string(kMaxStateUnixMs) + ", expires_ms not before created_ms");
    }
    it.created_ms = *created;
    it.expires_ms = *expires;
    json req = e;
    for (const char* k : {"id", "created_ms", "expires_ms", "applies"})
      req.erase(k);
    if (req.contains("paths") && req["paths"].is_null())
      req.erase("paths");
    if (req.contains("sla") && req["sla"].is_null())
      req.erase("sla");
    auto parsed = parse_intent_request(req.dump());
    if (!parsed)
      return corrupt("intent " + it.id + ": " + parsed.error().context);
    if (auto r = validate_values(*parsed); !r)
      return corrupt("intent " + it.id + ": " + r.error().context);
    it.request = std::move(*parsed);
    // What add() guarantees: unique ids, one intent per class.
    if (!ids.insert(it.id).second)
      return corrupt("intent id " + it.id + " appears twice");
    if (!classes.insert(it.request.klass).second)
      return corrupt("class '" + it.request.klass + "' has two intents");
    loaded.push_back(std::move(it));
  }
  intents_ = std::move(loaded);
  return ok();
}

Result<void> IntentStore::save() const {
  json j;
  j["version"] = 1;
  j["intents"] = json::array();
  for (const auto& it : intents_)
    j["intents"].push_back(intent_json(it));
  return write_file_atomic(path_, j.dump(2) + "\n");
}

Result<Intent> IntentStore::add(IntentRequest req, WallTime now) {
  for (const auto& it : intents_) {
    if (it.request.klass == req.klass) {
      return conflict_error("class '" + req.klass + "' already has intent " + it.id +
                            "; delete it first");
    }
  }
  Intent it;
  do {
    it.id = new_id();
  } while (find(it.id) != nullptr);
  it.created_ms = to_unix_ms(now);
  it.expires_ms = it.created_ms + int64_t{req.ttl_s} * 1000;
  it.request = std::move(req);
  intents_.push_back(it);
  return it;
}

bool IntentStore::remove(const std::string& id) {
  return std::erase_if(intents_, [&](const Intent& it) { return it.id == id; }) > 0;
}

std::vector<Intent> IntentStore::expire(WallTime now) {
  int64_t now_ms = to_unix_ms(now);
  std::vector<Intent> gone;
  std::erase_if(intents_, [&](const Intent& it) {
    if (it.expires_ms > now_ms)
      return false;
    gone.push_back(it);
    return true;
  });
  return gone;
}

std::optional<int64_t> IntentStore::next_expiry_ms() const {
  std::optional<int64_t> ms;
  for (const auto& it : intents_) {
    if (!ms || it.expires_ms < *ms)
      ms = it.expires_ms;
  }
  return ms;
}

std::optional<WallTime> IntentStore::next_expiry() const {
  auto ms = next_expiry_ms();
  if (!ms)
    return std::nullopt;
  return from_unix_ms(*ms);
}

const Intent* IntentStore::find(const std::string& id) const {
  for (const auto& it : intents_) {
    if (it.id == id)
      return &it;
  }
  return nullptr;
}

std::map<std::string, ClassOverride> IntentStore::overrides(const Policy& policy) const {
  std::map<std::string, ClassOverride> out;
  for (const auto& it : intents_) {
    if (applies(it, policy))
      out[it.request.klass] = it.to_override();
  }
  return out;
}

}  // namespace pathsteer
