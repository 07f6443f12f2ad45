// Fuzz target: the policy parser (controller/policy.h). Any input must yield either a Policy
// or a non-empty list of errors, each with a message; a crash, hang, leak or UB is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto result = pathsteer::parse_policy(text, "fuzz.yaml");
  if (!result) {
    const auto& errors = result.error().details;
    if (errors.empty())
      std::abort();  // rejected without a reason
    for (const auto& e : errors) {
      if (e.message.empty())
        std::abort();
      (void)e.to_string();
    }
  }
  return 0;
}
