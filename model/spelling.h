// An enum's spelling from a table of literals indexed by its value ("?" out of
// range): the policy file's names for the enums of model/ and the policy.
#pragma once

#include <cstddef>
#include <string_view>

namespace pathsteer {

// The names are literals, so .data() is NUL-terminated.
template <typename E, size_t N>
const char* spelling(const std::string_view (&names)[N], E value) {
  auto i = static_cast<size_t>(value);
  return i < N ? names[i].data() : "?";
}

}  // namespace pathsteer
