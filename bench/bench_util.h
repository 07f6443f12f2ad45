// Small helpers shared by the benchmark programs (bench/*.cpp).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
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

// What a daemon benchmark starts and must take down on every way out (the
// end, die(), a signal): a peer process killed outright, the measured child
// stopped politely, a temporary state directory removed.
struct Rig {
  const char* program = "bench";  // prefixes messages
  pid_t peer = -1;
  pid_t child = -1;
  std::string state_dir;  // die() prints the tail of its pathsteerd.log

  // SIGTERM, then SIGKILL after 5 s; returns the wait status.
  int stop_child() {
    int status = 0;
    if (child <= 0)
      return status;
    kill(child, SIGTERM);
    pid_t r = 0;
    for (int i = 0; i < 100 && (r = waitpid(child, &status, WNOHANG)) == 0; ++i)
      usleep(50000);
    if (r == 0) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
    }
    child = -1;
    return status;
  }

  void cleanup() {
    stop_child();
    if (peer > 0) {
      kill(peer, SIGKILL);
      waitpid(peer, nullptr, 0);
      peer = -1;
    }
    if (!state_dir.empty()) {
      std::string cmd = "rm -rf '" + state_dir + "'";
      if (std::system(cmd.c_str()) != 0)
        std::cerr << program << ": could not remove " << state_dir << "\n";
      state_dir.clear();
    }
  }

  [[noreturn]] void die(const std::string& msg) {
    std::cerr << program << ": " << msg << "\n";
    if (!state_dir.empty()) {
      std::string cmd = "tail -20 '" + state_dir + "/pathsteerd.log' >&2";
      if (std::system(cmd.c_str()) != 0)
        std::cerr << program << ": no daemon log in " << state_dir << "\n";
    }
    cleanup();
    std::exit(1);
  }
};

}  // namespace pathsteer::bench
