// Numbers in the state files (state_dir.h): every one a loader takes is
// checked against a range before it is narrowed or turned into a time, so a
// corrupt or hand-edited file is the loader's error, never a wrapped value or
// an overflow.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

namespace pathsteer {

// The latest wall-clock time a state file may hold, in Unix ms:
// 9999-12-31T23:59:59.999Z. Past year 2262 it no longer fits a
// std::chrono::system_clock::time_point (int64 ns): convert with care.
inline constexpr int64_t kMaxStateUnixMs = 253'402'300'799'999;

// v as an integer in [lo, hi]; nullopt for anything else (a float, a string,
// an integer out of range, however large).
std::optional<int64_t> json_int_in(const nlohmann::json& v, int64_t lo, int64_t hi);

// v as a wall-clock time a state file may hold: Unix ms in 0..kMaxStateUnixMs.
inline std::optional<int64_t> json_unix_ms(const nlohmann::json& v) {
  return json_int_in(v, 0, kMaxStateUnixMs);
}

}  // namespace pathsteer
