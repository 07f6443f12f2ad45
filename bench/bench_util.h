// Small helpers shared by the benchmark programs (bench/*.cpp).
#pragma once

#include <cstdio>
#include <string>

namespace pathsteer::bench {

// The first line a shell command prints, for describing the machine in a
// benchmark's header ("unknown" if it printed nothing).
inline std::string first_line_of(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof(buf), p))
      out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out.empty() ? "unknown" : out;
}

}  // namespace pathsteer::bench
