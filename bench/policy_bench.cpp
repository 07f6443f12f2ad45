// policy_bench: how long a policy takes to read, in process (no exec, no file
// I/O): the YAML tree alone (yaml::load, controller/yaml_doc.h) and the whole
// parse_policy() (tree, schema, checks). A reload must stay under 100 ms at
// 4,096 classes.
//
// The input is FILE, or else the policy tests/netns/test_many_classes.py
// writes: two wans and N one-line classes (a udp port each) plus a default.
//
// usage: policy_bench [--reps R] [--classes N] [FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "controller/policy.h"
#include "controller/yaml_doc.h"

using namespace pathsteer;

namespace {

std::string many_classes(unsigned n) {
  std::string s = "version: 1\nlan_interfaces: [lan0]\ndatapath: { mode: mark }\nwans:\n";
  for (const char* w : {"wan1", "wan2"}) {
    s += std::string("  ") + w + ":\n    interface: " + w +
         "\n    gateway: auto\n    probes: [ { method: icmp, target: 203.0.113.10 } ]\n"
         "    health: { interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }\n";
  }
  s += "classes:\n";
  for (unsigned i = 0; i < n; ++i) {
    unsigned port = i == 0 ? 5001 : 10000 + i;
    s += "  c" + std::to_string(i) + ": { match: [ { proto: udp, dport: " + std::to_string(port) +
         " } ], strategy: failover, paths: [wan1, wan2] }\n";
  }
  s += "  default: { strategy: failover, paths: [wan1, wan2] }\n";
  return s;
}

struct Stats {
  double median, min, max;
};

template <typename F>
Stats measure(unsigned reps, F&& f) {
  std::vector<double> ms;
  for (unsigned i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - t0;
    ms.push_back(d.count());
  }
  std::sort(ms.begin(), ms.end());
  return Stats{.median = ms[ms.size() / 2], .min = ms.front(), .max = ms.back()};
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: policy_bench [--reps R] [--classes N] [FILE]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned reps = 9, classes = 4096;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--reps" || a == "--classes") && i + 1 < argc) {
      unsigned v = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
      (a == "--reps" ? reps : classes) = v;
    } else if (!a.empty() && a[0] != '-' && file.empty()) {
      file = a;
    } else {
      usage();
    }
  }
  if (reps == 0)
    usage();
  std::string text;
  if (file.empty()) {
    text = many_classes(classes);
    file = "(generated: 2 wans, " + std::to_string(classes) + " classes + default)";
  } else {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto check = parse_policy(text, "bench.yaml");
  if (!check) {
    std::fprintf(stderr, "policy_bench: the input is not a valid policy: %s\n",
                 check.error().to_string().c_str());
    return 1;
  }

  Stats tree = measure(reps, [&] {
    if (!yaml::load(text))
      std::abort();
  });
  Stats whole = measure(reps, [&] {
    if (!parse_policy(text, "bench.yaml"))
      std::abort();
  });
  std::printf("machine: %s, %s, %ld CPUs online\n", bench::first_line_of("uname -sr").c_str(),
              bench::first_line_of("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("input: %s, %zu bytes, %zu classes\n", file.c_str(), text.size(),
              check->classes.size());
  std::printf("median [min..max] over %u reps:\n", reps);
  std::printf("  yaml::load      %8.2f ms [%.2f..%.2f]\n", tree.median, tree.min, tree.max);
  std::printf("  parse_policy()  %8.2f ms [%.2f..%.2f]\n", whole.median, whole.min, whole.max);
  return 0;
}
