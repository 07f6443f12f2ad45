#include "fleet/logic.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace pathsteer::fleet {

using json = nlohmann::json;

const KeyValue* select_policy(const std::map<std::string, KeyValue>& kvs, const KeyLayout& keys,
                              const std::string& node, const std::vector<std::string>& groups) {
  if (auto it = kvs.find(keys.policy_node(node)); it != kvs.end())
    return &it->second;
  for (auto g = groups.rbegin(); g != groups.rend(); ++g) {
    if (auto it = kvs.find(keys.policy_group(*g)); it != kvs.end())
      return &it->second;
  }
  if (auto it = kvs.find(keys.policy_default()); it != kvs.end())
    return &it->second;
  return nullptr;
}

bool Mirror::admit(const KeyValue& kv) {
  if (kv.value.size() > kMaxFleetValue) {
    ++dropped_;
    return false;
  }
  if (kvs_.size() >= kMaxFleetKeys && !kvs_.contains(kv.key)) {
    ++dropped_;
    return false;
  }
  return true;
}

void Mirror::replace(const std::vector<KeyValue>& kvs) {
  kvs_.clear();
  for (const auto& kv : kvs) {
    if (admit(kv))
      kvs_[kv.key] = kv;
  }
}

void Mirror::apply(const WatchEvent& ev) {
  if (ev.type == WatchEvent::Type::kDelete) {
    kvs_.erase(ev.kv.key);
    return;
  }
  if (admit(ev.kv))
    kvs_[ev.kv.key] = ev.kv;
  else
    kvs_.erase(ev.kv.key);  // an oversized new value must not leave the old one in force
}

std::chrono::milliseconds Backoff::next(double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  int64_t d = base_.count();
  for (uint32_t i = 0; i < attempt_ && d < cap_.count(); ++i)
    d *= 2;
  d = std::min<int64_t>(d, cap_.count());
  if (attempt_ < 63)
    ++attempt_;
  const int64_t half = d / 2;  // whole milliseconds: [half, 2 * half]
  return std::chrono::milliseconds(half + static_cast<int64_t>(unit * static_cast<double>(half)));
}

namespace {

Result<std::vector<std::string>> names_of(const json& j, const char* key,
                                          const std::string& where) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end())
    return out;
  if (!it->is_array() || it->size() > kMaxIntentSelectors)
    return malformed_error(where + ": \"" + key + "\" must be a list of at most " +
                           std::to_string(kMaxIntentSelectors) + " names");
  for (const auto& n : *it) {
    if (!n.is_string() || n.get<std::string>().empty())
      return malformed_error(where + ": \"" + key + "\" must hold non-empty names");
    out.push_back(n.get<std::string>());
  }
  return out;
}

}  // namespace

Result<FleetIntent> parse_fleet_intent(const KeyValue& kv, const KeyLayout& keys,
                                       int64_t first_seen_ms) {
  const std::string where = "fleet intent " + kv.key;
  if (kv.key.rfind(keys.intents(), 0) != 0 || kv.key.size() == keys.intents().size() ||
      kv.key.find('/', keys.intents().size()) != std::string::npos)
    return malformed_error(where + ": not intents/<id>");
  std::string id = kv.key.substr(keys.intents().size());
  if (id.size() > 64 || !std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
      }))
    return malformed_error(where + ": the id must be 1-64 of A-Z a-z 0-9 _ - .");
  auto j = json::parse(kv.value, nullptr, false);
  if (!j.is_object())
    return malformed_error(where + ": not a JSON object");
  FleetIntent fi;
  auto nodes = names_of(j, "nodes", where);
  if (!nodes)
    return nodes.take_error();
  auto groups = names_of(j, "groups", where);
  if (!groups)
    return groups.take_error();
  fi.nodes = std::move(*nodes);
  fi.groups = std::move(*groups);
  int64_t created_ms = first_seen_ms;
  if (auto c = j.find("created_ms"); c != j.end()) {
    if (!c->is_number_integer() || c->get<int64_t>() < 0)
      return malformed_error(where + ": \"created_ms\" must be Unix milliseconds");
    created_ms = c->get<int64_t>();
  }
  j.erase("nodes");
  j.erase("groups");
  j.erase("created_ms");
  // A leased key may leave ttl_s out: the lease is its lifetime.
  bool leased_without_ttl = kv.lease != 0 && !j.contains("ttl_s");
  if (leased_without_ttl)
    j["ttl_s"] = kMaxIntentTtlS;
  auto req = parse_intent_request(j.dump());
  if (!req) {
    Error e = req.take_error();
    e.context = where + ": " + e.context;
    return e;
  }
  fi.intent.id = id;
  fi.intent.request = std::move(*req);
  fi.intent.created_ms = created_ms;
  fi.intent.expires_ms = created_ms + int64_t(fi.intent.request.ttl_s) * 1000;
  fi.lease = kv.lease;
  return fi;
}

bool selects(const FleetIntent& fi, const std::string& node,
             const std::vector<std::string>& groups) {
  if (fi.nodes.empty() && fi.groups.empty())
    return true;
  if (std::find(fi.nodes.begin(), fi.nodes.end(), node) != fi.nodes.end())
    return true;
  return std::any_of(groups.begin(), groups.end(), [&](const std::string& g) {
    return std::find(fi.groups.begin(), fi.groups.end(), g) != fi.groups.end();
  });
}

bool StatusThrottle::due(const std::string& state, const std::string& figures, Time now) const {
  if (!written_once_)
    return true;
  auto since = now - at_;
  if (state != state_)
    return since >= kMinInterval;
  if (figures != figures_)
    return since >= figures_interval_ && since >= kMinInterval;
  return false;
}

void StatusThrottle::written(const std::string& state, const std::string& figures, Time now) {
  written_once_ = true;
  state_ = state;
  figures_ = figures;
  at_ = now;
}

std::optional<std::string> rollback_reason(const ConfirmInput& in) {
  if (in.previous_had_etcd && !in.etcd_reachable)
    return std::string("etcd unreachable after the change");
  if (!in.previous_had_uplink)
    return std::nullopt;  // nothing to lose: keep the new policy
  if (in.uplinks > 0 && in.down == in.uplinks)
    return std::string("every uplink down after the change");
  if (in.deadline_passed && in.up == 0)
    return std::string("no uplink up within confirm_s");
  return std::nullopt;
}

}  // namespace pathsteer::fleet
