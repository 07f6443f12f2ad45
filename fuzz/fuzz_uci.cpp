// Fuzz target: the UCI reader (import/uci.h). Any input must yield either sections whose
// options have values and lines, or one error with a line and a message; a crash, hang,
// leak or UB is a bug.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "import/uci.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = pathsteer::uci::parse(text, "fuzz");
  if (!result) {
    const auto& errors = result.error().details;
    if (errors.size() != 1 || errors[0].message.empty() || errors[0].line < 1)
      std::abort();  // rejected without a reason or a place
    (void)errors[0].to_string();
    return 0;
  }
  for (const auto& s : result->sections) {
    if (s.type.empty() || s.name.empty() || s.line < 1)
      std::abort();
    if (result->find(s.name) == nullptr)
      std::abort();  // every section can be found by the name it reports
    for (const auto& o : s.options) {
      if (o.name.empty() || o.values.empty() || (!o.is_list && o.values.size() != 1))
        std::abort();
      for (const auto& v : o.values) {
        if (v.line < s.line)
          std::abort();  // a value never comes before its section
      }
    }
  }
  return 0;
}
