#include "model/match.h"
#include "model/probe.h"

namespace pathsteer {

namespace {

// The spellings are literals, so .data() is NUL-terminated.
template <typename E, size_t N>
const char* spelling(const std::string_view (&names)[N], E value) {
  auto i = static_cast<size_t>(value);
  return i < N ? names[i].data() : "?";
}

}  // namespace

const char* to_string(DatapathMode m) {
  return spelling(kDatapathModeNames, m);
}

const char* to_string(ProbeMethod m) {
  return spelling(kProbeMethodNames, m);
}

}  // namespace pathsteer
