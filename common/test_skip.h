// For tests that need something the machine may lack (root, a user): skip
// with a banner on a developer's machine, but FAIL under CI=true, where a
// test never skips (a skipped kernel test would pass CI without testing).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace pathsteer::testing {

inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace pathsteer::testing

// Use in SetUp() or a test body: returns from it either way.
#define PS_SKIP_OR_FAIL(why)                              \
  do {                                                    \
    if (::pathsteer::testing::under_ci())                 \
      FAIL() << (why) << " (CI=true: not skipping)";      \
    GTEST_SKIP() << "\n*** SKIPPED: " << (why) << " ***"; \
  } while (0)
