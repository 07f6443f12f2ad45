#include "controller/uplink_ids.h"

#include "common/file.h"
#include "controller/policy.h"

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

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
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) {
      ids_.clear();
      return ok();
    }
    return system_error("reading " + path, errno);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("uplinks") || !j["uplinks"].is_object()) {
    return unrealizable_error(path + ": not a pathsteer uplink-ids file");
  }
  std::map<std::string, uint32_t> ids;
  for (auto& [name, v] : j["uplinks"].items()) {
    if (!v.is_number_unsigned() || !usable(v.get<uint32_t>())) {
      return unrealizable_error(path + ": bad number for uplink '" + name + "'");
    }
    ids[name] = v.get<uint32_t>();
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
