#include "controller/uplink_ids.h"

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file.h"
#include "controller/policy.h"
#include "controller/state_json.h"

namespace pathsteer {

bool UplinkIds::usable(uint32_t n) const {
  return n >= 1 && n <= max_id_ && !Ownership::is_reserved_table(table_base_ + n);
}

Result<void> UplinkIds::assign(const std::vector<std::string>& names) {
  std::map<std::string, uint32_t> next;
  std::set<uint32_t> used;
  for (const auto& n : names) {
    auto it = ids_.find(n);
    if (it != ids_.end() && usable(it->second)) {
      next[n] = it->second;
      used.insert(it->second);
    }
  }
  uint32_t candidate = 1;
  for (const auto& n : names) {
    if (next.count(n))
      continue;
    while (candidate <= max_id_ && (used.count(candidate) || !usable(candidate))) {
      ++candidate;
    }
    if (candidate > max_id_) {
      return policy_error("too many wans: the mark mask leaves room for " +
                          std::to_string(max_id_) + " uplinks");
    }
    next[n] = candidate;
    used.insert(candidate);
  }
  ids_ = std::move(next);
  return ok();
}

Result<void> UplinkIds::load(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().err_no == ENOENT) {
      ids_.clear();
      return ok();
    }
    return text.take_error();
  }
  return parse(*text, path);
}

Result<void> UplinkIds::parse(const std::string& text, const std::string& origin) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("uplinks") || !j["uplinks"].is_object()) {
    return unrealizable_error(origin + ": not a pathsteer uplink-ids file");
  }
  std::map<std::string, uint32_t> ids;
  std::set<int64_t> seen;
  for (auto& [name, v] : j["uplinks"].items()) {
    auto n = json_int_in(v, 1, max_id_);
    if (!n || !usable(static_cast<uint32_t>(*n)))
      return unrealizable_error(origin + ": bad number for uplink '" + name + "'");
    // Two uplinks on one number would share a mark and a table.
    if (!seen.insert(*n).second)
      return unrealizable_error(origin + ": number " + std::to_string(*n) + " given twice");
    ids[name] = static_cast<uint32_t>(*n);
  }
  ids_ = std::move(ids);
  return ok();
}

Result<void> UplinkIds::save(const std::string& path) const {
  nlohmann::json j;
  j["version"] = 1;
  j["uplinks"] = nlohmann::json::object();
  for (const auto& [name, id] : ids_)
    j["uplinks"][name] = id;
  return write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace pathsteer
