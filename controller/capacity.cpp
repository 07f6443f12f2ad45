#include "controller/capacity.h"

#include "bpf/compile.h"

namespace pathsteer {

Result<void> check_capacity(const Policy& policy, const std::string& origin) {
  DatapathPlan plan;
  for (const ClassSpec& cls : policy.classes) {
    plan.classes.push_back(DatapathClass{.name = cls.name, .match = cls.match});
    for (const MatchEntry& e : cls.match) {
      for (const std::string& name : e.iif)
        plan.interfaces.emplace(name, static_cast<int>(plan.interfaces.size()) + 1);
    }
  }
  auto compiled = compile_rules(plan);
  if (!compiled) {
    std::string why = compiled.error().to_string();
    if (why.starts_with("datapath: "))
      why.erase(0, 10);
    return invalid_input(
        {Diagnostic{.file = origin, .message = "the data plane cannot hold this policy: " + why}});
  }
  return ok();
}

}  // namespace pathsteer
