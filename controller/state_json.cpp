#include "controller/state_json.h"

namespace pathsteer {

std::optional<int64_t> json_int_in(const nlohmann::json& v, int64_t lo, int64_t hi) {
  // Unsigned first: get<int64_t>() of a value above INT64_MAX would wrap.
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo)
      return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer())
    return std::nullopt;
  int64_t n = v.get<int64_t>();
  if (n < lo || n > hi)
    return std::nullopt;
  return n;
}

}  // namespace pathsteer
