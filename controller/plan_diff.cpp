// diff_plans (controller/service.h): what applying a plan would change, for
// PUT /v1/policy's answer and its dry run.
#include <algorithm>
#include <map>

#include "controller/service.h"

namespace pathsteer {

namespace {

// Objects of `to` missing from `from` (add) and of `from` missing from `to` (remove).
template <typename T>
void object_diff(const std::vector<T>& from, const std::vector<T>& to,
                 std::vector<std::string>& add, std::vector<std::string>& remove) {
  for (const auto& o : to) {
    if (std::find(from.begin(), from.end(), o) == from.end())
      add.push_back(o.to_string());
  }
  for (const auto& o : from) {
    if (std::find(to.begin(), to.end(), o) == to.end())
      remove.push_back(o.to_string());
  }
}

}  // namespace

PlanDiff diff_plans(const DesiredState& before, const DesiredState& after) {
  PlanDiff d;
  std::map<std::string, const PlannedClass*> old;
  for (const auto& c : before.classes)
    old[c.name] = &c;
  for (const auto& c : after.classes) {
    auto it = old.find(c.name);
    if (it == old.end()) {
      d.classes.push_back({.klass = c.name, .change = PlanDiff::Change::kAdded, .after = c});
      continue;
    }
    if (it->second->uplink != c.uplink || it->second->reason != c.reason) {
      d.classes.push_back(
          {.klass = c.name, .change = PlanDiff::Change::kMoved, .before = *it->second, .after = c});
    }
    old.erase(it);
  }
  for (const auto& [name, c] : old)
    d.classes.push_back({.klass = name, .change = PlanDiff::Change::kRemoved, .before = *c});
  object_diff(before.rules, after.rules, d.rules_add, d.rules_remove);
  object_diff(before.routes, after.routes, d.routes_add, d.routes_remove);
  d.datapath_changed = !(before.datapath == after.datapath);
  return d;
}

}  // namespace pathsteer
