// classifier_bench: ns per packet of the pathsteer classifier, measured with
// BPF_PROG_TEST_RUN against real maps, beside an empty TC program (the floor)
// and the bare flow-table work of a new flow, in the same run. See
// bench/README.md.
//
// For {10, 1024} match entries x {10, 100000} prefixes (in up to 256
// classes), and 16384 entries in 4096 classes x 1000000 prefixes, it times:
//   first, warm    every packet is classified as a flow's first and its entry
//                  written (BenchClassifier::Flows::kForget: the packet's own
//                  5-tuple, a found entry ignored), with caches as warm as for
//                  a repeated packet: the CPU work of a first packet;
//   first, full    every packet is a new flow's first (Flows::kFresh: the
//                  flow key is salted at random, so the lookup misses, the
//                  packet is classified and its entry written) into a full flow
//                  table, so every insert evicts (a long-running gateway's
//                  steady state: entries leave the LRU table only by eviction);
//                  random 5-tuples in a 262,144-entry table: cold memory;
//   first, free    the same into a table with free entries: kChunks runs of
//                  repeat / kChunks packets, the flow table emptied before each;
//   warm, no insert  "first, warm" without writing the entry
//                  (Flows::kForgetNoInsert): a first packet's work but the
//                  kernel's LRU write;
//   after a flip   the packet finds its entry, but as if classified before a
//                  plan change (Flows::kStale): reclassified, uplink kept,
//                  the entry rewritten in place; warm;
//   established    the same packet again and again: a flow-table hit.
// The variants are separate programs built from the classifier's own source
// with compile-time flags (bpf/kern/classifier_bench.bpf.c), sharing its
// pinned maps; "established" runs the product program itself.
// After the timings, the kernel memory (memlock, from /proc/self/fdinfo) of
// every pinned map is printed with each size's plan loaded.
// Beside them (bench/classifier_bench_empty.bpf.c): the empty program, and
// the bare flow-table work in an LRU hash of the same size, key and value:
// one 5-tuple looked up and written again (warm), and a new random 5-tuple
// in a full table (a lookup miss; the miss plus the insert). So the first-
// packet cost splits into the kernel's LRU write, which any LRU flow table
// pays, and our own work.
// Each measurement is one BPF_PROG_TEST_RUN with --repeat runs (the kernel
// reports the mean ns per run); --rounds rounds, the order of the
// configurations rotating per round; the table shows median, min and max.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bpf/bench_classifier.h"
#include "bpf/datapath.h"
#include "bpf/packet_builder.h"
#include "bpf/pathsteer_abi.h"
#include "ps_bench_empty.skel.h"

namespace pathsteer {
namespace {

using testing::build;
using testing::Frame;

struct Options {
  uint32_t repeat = 1000000;
  int rounds = 5;
};

Prefix pfx(const std::string& s) {
  return *Prefix::parse(s);
}

// `entries` match entries in `classes` classes; `prefixes` dst prefixes spread
// over them. Every field the classifier knows is in use somewhere, so a first
// packet pays for every lookup. The benchmark packet (TCP 10.9.9.9:40000 ->
// 100.64.x.y:443, DSCP 0) matches only the LAST entry, through one of its
// prefixes: the bitmap AND has to walk every word before it finds its bit.
DatapathPlan make_plan(int entries, int classes, int prefixes, std::string* target_dst) {
  // One source creates every flow: a quota it never reaches, so the source
  // accounting's cost is in the figures but no flow is refused its entry.
  DatapathPlan plan{.mark_mask = 0x0ff00000, .flow_quota = UINT32_MAX};
  plan.uplinks = {DatapathUplink{.id = 1, .mark = 1u << 20, .table = 201, .live = true},
                  DatapathUplink{.id = 2, .mark = 2u << 20, .table = 202, .live = true}};
  std::vector<std::vector<MatchEntry>> per_class(classes);
  // Prefixes: /32s and /24s under 100.64.0.0/10 (a /24 covers the /32s
  // before it: nested prefixes, as real lists have), in index order; entry e
  // gets the slice [e * prefixes / entries, (e + 1) * prefixes / entries).
  auto prefix_at = [](int i) {
    int a = 64 + (i >> 16) % 64;
    int b = (i >> 8) & 0xff;
    int c = i & 0xff;
    return i % 4 == 3 ? "100." + std::to_string(a) + "." + std::to_string(b) + ".0/24"
                      : "100." + std::to_string(a) + "." + std::to_string(b) + "." +
                            std::to_string(c) + "/32";
  };
  int next_prefix = 0;
  for (int e = 0; e < entries; ++e) {
    MatchEntry m;
    int until = static_cast<int>(static_cast<int64_t>(e + 1) * prefixes / entries);
    for (; next_prefix < until; ++next_prefix) {
      m.dst.push_back(pfx(prefix_at(next_prefix)));
    }
    switch (e % 6) {
      case 0:
        m.proto = IPPROTO_TCP;
        m.dport = {
            {static_cast<uint16_t>(1000 + e % 60000), static_cast<uint16_t>(1000 + e % 60000)}};
        break;
      case 1:
        m.proto = IPPROTO_UDP;
        m.sport = {
            {static_cast<uint16_t>(2000 + e % 60000), static_cast<uint16_t>(2100 + e % 60000)}};
        break;
      case 2:
        m.src = {pfx("172.16." + std::to_string(e % 256) + ".0/24")};
        break;
      case 3:
        m.dscp = static_cast<uint8_t>(1 + e % 63);
        break;
      case 4:
        m.iif = {"lan" + std::to_string(e % 8)};
        break;
      default:
        m.proto = IPPROTO_TCP;
        m.dport = {
            {static_cast<uint16_t>(20000 + e % 40000), static_cast<uint16_t>(20010 + e % 40000)}};
        break;
    }
    if (e == entries - 1) {
      m = MatchEntry{.proto = IPPROTO_TCP, .dport = {{443, 443}}, .dst = m.dst};
    }
    per_class[e * classes / entries].push_back(std::move(m));
  }
  for (int c = 0; c < classes; ++c) {
    plan.classes.push_back(DatapathClass{.name = "c" + std::to_string(c),
                                         .match = std::move(per_class[c]),
                                         .members = {{1, 3}, {2, 1}}});
  }
  for (int i = 0; i < 8; ++i) {
    plan.interfaces["lan" + std::to_string(i)] = 100 + i;
  }
  // The target: a /32 in the last entry's slice (the first /32 of it).
  const auto& last = plan.classes.back().match.back().dst;
  *target_dst = "100.64.0.1";
  for (const Prefix& p : last) {
    if (p.len == 32) {
      *target_dst = p.addr.to_string();
      break;
    }
  }
  return plan;
}

// Set by SIGINT/SIGTERM: the next measurement throws, so the pins are removed.
volatile std::sig_atomic_t g_stop = 0;

// Mean ns per run of one BPF_PROG_TEST_RUN. (No simulation magic in cb[4]:
// the program answers in cb[4], so a magic would hold for the first run only.)
double time_run(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat) {
  if (g_stop) {
    throw std::runtime_error("interrupted");
  }
  auto ns = run_program_repeated(prog_fd, frame, repeat);
  if (!ns) {
    throw std::runtime_error("BPF_PROG_TEST_RUN failed: " + ns.error().to_string());
  }
  return static_cast<double>(*ns);
}

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Stats{.median = v[v.size() / 2], .min = v.front(), .max = v.back()};
}

// Empties a pinned flow table (lookup-and-delete in batches).
void flush_flows(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  std::vector<ps_flow4_key> keys(8192);
  std::vector<ps_flow> values(8192);
  ps_flow4_key batch{};  // the hash map's batch token (a bucket index) fits in it
  bool first = true;
  for (;;) {
    uint32_t count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &batch, &batch, keys.data(),
                                              values.data(), &count, &opts);
    first = false;
    if (err != 0 && errno != ENOENT) {
      int saved = errno;
      close(fd);
      throw std::runtime_error("flush " + path + ": " + std::strerror(saved));
    }
    if (err != 0) {
      break;  // ENOENT: past the last bucket
    }
  }
  close(fd);
}

struct Config {
  int entries;
  int classes;
  int prefixes;
  std::string name() const {
    return std::to_string(entries) +
           (classes != std::min(entries, 256) ? "/" + std::to_string(classes) + "c"
                                              : std::string()) +
           " x " + std::to_string(prefixes);
  }
};

// Kernel memory of every map pinned in dir, by name: the "memlock" line of
// the map fd's /proc/self/fdinfo entry (what bpftool prints as memlock).
std::map<std::string, uint64_t> map_memlock(const std::string& dir) {
  std::map<std::string, uint64_t> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    int fd = bpf_obj_get(entry.path().c_str());
    if (fd < 0) {
      continue;
    }
    FILE* f = std::fopen(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(), "r");
    if (f != nullptr) {
      char line[256];
      unsigned long long v = 0;
      while (std::fgets(line, sizeof(line), f) != nullptr) {
        if (std::sscanf(line, "memlock: %llu", &v) == 1) {
          out[entry.path().filename().string()] = v;
        }
      }
      std::fclose(f);
    }
    close(fd);
  }
  return out;
}

int run(const Options& o) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "classifier_bench must run as root (BPF)\n");
    return 1;
  }
  std::string pin_dir = "/sys/fs/bpf/ps-bench-" + std::to_string(getpid());
  // Every way out removes the pins (a failed open may have pinned maps already).
  struct RemovePins {
    std::string dir;
    ~RemovePins() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_pins{pin_dir};
  auto dp = Datapath::open(pin_dir);
  if (!dp) {
    std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
    return 1;
  }
  ps_bench_empty* empty = ps_bench_empty__open_and_load();
  if (empty == nullptr) {
    std::fprintf(stderr, "load empty program failed\n");
    return 1;
  }
  const int empty_fd = bpf_program__fd(empty->progs.ps_empty);
  const int prog_fd = (*dp)->program_fd();
  auto variants = BenchClassifier::open(pin_dir);
  if (!variants) {
    std::fprintf(stderr, "%s\n", variants.error().to_string().c_str());
    return 1;
  }
  using Flows = BenchClassifier::Flows;
  auto variant = [&](Flows f) { return (*variants)->program_fd(f); };

  std::printf("classifier_bench: ns/packet via BPF_PROG_TEST_RUN\n");
  std::printf("machine: %s, %s, %ld CPUs online\n", bench::first_line_of("uname -sr").c_str(),
              bench::first_line_of("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "repeat %u per measurement, %d rounds, median [min..max]; mark mode; "
      "TCP/IPv4 packet matching the last entry\n\n",
      o.repeat, o.rounds);

  const int ref_miss_fd = bpf_program__fd(empty->progs.ps_ref_miss);
  const int ref_insert_fd = bpf_program__fd(empty->progs.ps_ref_insert);
  const int ref_replace_fd = bpf_program__fd(empty->progs.ps_ref_replace);

  const std::vector<Config> configs = {
      {10, 10, 10}, {10, 10, 100000}, {1024, 256, 10}, {1024, 256, 100000}, {16384, 4096, 1000000}};
  const size_t kBig = configs.size() - 1;  // the largest size
  enum Case { kFirstWarm, kWarmNoInsert, kFirstFull, kFirstFree, kAfterFlip, kEstablished, kCases };
  const char* case_names[kCases] = {"first, warm",       "warm, no insert", "first, full table",
                                    "first, free table", "after a flip",    "established"};
  // samples[case][config]; floor samples twice per round.
  std::map<int, std::vector<double>> samples[kCases];
  std::vector<double> floor, ref_miss, ref_insert, ref_replace;
  struct Prepared {
    DatapathPlan plan;
    std::vector<uint8_t> frame;
  };
  std::vector<Prepared> prepared;
  for (const Config& c : configs) {
    std::string dst;
    DatapathPlan plan = make_plan(c.entries, c.classes, c.prefixes, &dst);
    prepared.push_back(Prepared{
        .plan = std::move(plan),
        .frame = build(Frame{.src = "10.9.9.9", .dst = dst, .sport = 40000, .dport = 443})});
  }
  // Sanity: the packet must be classified into the last class, with a
  // member. And each size's map memory, with its plan alone loaded in fresh
  // maps (one generation full, the other empty).
  std::vector<std::map<std::string, uint64_t>> memlock;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (auto r = (*dp)->program(prepared[i].plan); !r) {
      std::fprintf(stderr, "program: %s\n", r.error().to_string().c_str());
      return 1;
    }
    auto v = (*dp)->simulate(prepared[i].frame, 0, 1);
    if (!v || v->class_id != prepared[i].plan.classes.size() - 1 || v->uplink_id == 0) {
      std::fprintf(stderr, "FAILED: %s: packet not classified into the last class\n",
                   configs[i].name().c_str());
      return 1;
    }
    const std::string mem_dir = pin_dir + "-mem";
    RemovePins remove_mem{mem_dir};
    auto fresh = Datapath::open(mem_dir);
    if (!fresh || !(*fresh)->program(prepared[i].plan)) {
      std::fprintf(stderr, "FAILED: %s: cannot load the plan in fresh maps\n",
                   configs[i].name().c_str());
      return 1;
    }
    memlock.push_back(map_memlock(mem_dir));
  }
  // The reference table, filled once (untimed): from here on every insert evicts.
  (void)time_run(ref_insert_fd, prepared[0].frame, 2 * PS_FLOW_ENTRIES);

  const std::string flow4 = pin_dir + "/ps_flow4_v4";
  // The free-table case inserts at most repeat / kChunks entries into an empty
  // table, well below PS_FLOW_ENTRIES at the default repeat.
  constexpr uint32_t kChunks = 10;
  for (int round = 0; round < o.rounds; ++round) {
    floor.push_back(time_run(empty_fd, prepared[0].frame, o.repeat));
    ref_miss.push_back(time_run(ref_miss_fd, prepared[0].frame, o.repeat));
    ref_insert.push_back(time_run(ref_insert_fd, prepared[0].frame, o.repeat));
    ref_replace.push_back(time_run(ref_replace_fd, prepared[0].frame, o.repeat));
    for (size_t k = 0; k < configs.size(); ++k) {
      const size_t i = (k + static_cast<size_t>(round)) % configs.size();
      const int ci = static_cast<int>(i);
      const auto& frame = prepared[i].frame;
      if (auto r = (*dp)->program(prepared[i].plan); !r) {
        std::fprintf(stderr, "program: %s\n", r.error().to_string().c_str());
        return 1;
      }
      flush_flows(flow4);
      samples[kFirstWarm][ci].push_back(time_run(variant(Flows::kForget), frame, o.repeat));
      samples[kWarmNoInsert][ci].push_back(
          time_run(variant(Flows::kForgetNoInsert), frame, o.repeat));
      // Fill the table first (untimed), so every timed insert evicts.
      (void)time_run(variant(Flows::kFresh), frame, PS_FLOW_ENTRIES);
      samples[kFirstFull][ci].push_back(time_run(variant(Flows::kFresh), frame, o.repeat));
      double sum = 0;
      for (uint32_t c = 0; c < kChunks; ++c) {
        flush_flows(flow4);
        sum += time_run(variant(Flows::kFresh), frame, o.repeat / kChunks);
      }
      samples[kFirstFree][ci].push_back(sum / kChunks);
      (void)(*dp)->simulate(frame, 0, 1);  // the flow exists now
      samples[kAfterFlip][ci].push_back(time_run(variant(Flows::kStale), frame, o.repeat));
      samples[kEstablished][ci].push_back(time_run(prog_fd, frame, o.repeat));
    }
    floor.push_back(time_run(empty_fd, prepared[0].frame, o.repeat));
    std::fprintf(stderr, "round %d/%d done\n", round + 1, o.rounds);
  }
  auto counters = (*dp)->read_counters();

  Stats fl = stats(floor);
  Stats rm = stats(ref_miss);
  Stats ri = stats(ref_insert);
  Stats rr = stats(ref_replace);
  std::printf("empty program (floor): %.0f [%.0f..%.0f] ns\n", fl.median, fl.min, fl.max);
  std::printf("bare %u-entry LRU flow table, nothing else:\n", PS_FLOW_ENTRIES);
  std::printf("  one 5-tuple looked up and written again (warm): %.0f [%.0f..%.0f] (+%.0f) ns\n",
              rr.median, rr.min, rr.max, rr.median - fl.median);
  std::printf(
      "  random new 5-tuple, full table: lookup miss %.0f [%.0f..%.0f] (+%.0f), miss + "
      "insert %.0f [%.0f..%.0f] (+%.0f) ns\n\n",
      rm.median, rm.min, rm.max, rm.median - fl.median, ri.median, ri.min, ri.max,
      ri.median - fl.median);
  std::printf("%-16s", "entries x prefix");
  for (const char* name : case_names) {
    std::printf(" %24s", name);
  }
  std::printf("\n");
  Stats st[kCases][8];
  for (size_t i = 0; i < configs.size(); ++i) {
    std::printf("%-16s", configs[i].name().c_str());
    for (int c = 0; c < kCases; ++c) {
      const Stats& s = st[c][i] = stats(samples[c][static_cast<int>(i)]);
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.0f [%.0f..%.0f] (+%.0f)", s.median, s.min, s.max,
                    s.median - fl.median);
      std::printf(" %24s", buf);
    }
    std::printf("\n");
  }

  // Map memory per size (memlock: what the kernel charges for each map).
  std::printf("\nmap memory (memlock, bytes) with each size's plan loaded:\n%-14s", "map");
  for (const Config& c : configs) {
    std::printf(" %20s", c.name().c_str());
  }
  std::printf("\n");
  for (const auto& [name, bytes] : memlock.back()) {
    std::printf("%-14s", name.c_str());
    for (const auto& m : memlock) {
      auto it = m.find(name);
      std::printf(" %20llu", static_cast<unsigned long long>(it == m.end() ? 0 : it->second));
    }
    std::printf("\n");
  }
  std::printf("%-14s", "total");
  for (const auto& m : memlock) {
    uint64_t total = 0;
    for (const auto& [name, bytes] : m) {
      total += bytes;
    }
    std::printf(" %20llu", static_cast<unsigned long long>(total));
  }
  std::printf("\n");

  // Targets (issue 18).
  std::printf("\ntargets (above-floor cost = median - floor median):\n");
  bool all_met = true;
  auto verdict = [&](bool met) {
    all_met = all_met && met;
    return met ? "MET" : "MISSED";
  };
  for (size_t i = 0; i < configs.size(); ++i) {
    double over = st[kEstablished][i].median - fl.median;
    std::printf("  established <= floor + 30 ns at %s: +%.0f ns  %s\n", configs[i].name().c_str(),
                over, verdict(over <= 30));
  }
  for (Case c : {kFirstWarm, kFirstFull, kFirstFree}) {
    double big = st[c][kBig].median - fl.median;
    double small10 = st[c][0].median - fl.median;
    std::printf("  %s: %s <= 1.5 x 10 x 10 (above floor): +%.0f / +%.0f = %.2f x  %s\n",
                case_names[c], configs[kBig].name().c_str(), big, small10, big / small10,
                verdict(big <= 1.5 * small10));
  }
  std::printf(
      "    first, warm at %s = ours without the entry write +%.0f + the write; the bare LRU's "
      "own warm lookup + write: +%.0f\n",
      configs[kBig].name().c_str(), st[kWarmNoInsert][kBig].median - fl.median,
      rr.median - fl.median);
  std::printf("    first, full table at %s = the bare LRU's miss + insert +%.0f + ours +%.0f\n",
              configs[kBig].name().c_str(), ri.median - fl.median,
              st[kFirstFull][kBig].median - ri.median);
  if (counters) {
    std::printf(
        "\ncheck: flow_new %llu, flow_hit %llu, unclassified %llu, flow_full %llu, over_quota "
        "%llu\n",
        static_cast<unsigned long long>(counters->flow_new),
        static_cast<unsigned long long>(counters->flow_hit),
        static_cast<unsigned long long>(counters->unclassified),
        static_cast<unsigned long long>(counters->flow_full),
        static_cast<unsigned long long>(counters->over_quota));
    if (counters->flow_hit == 0 || counters->unclassified != 0 || counters->over_quota != 0) {
      std::printf("FAILED: the runs did not take the paths they name\n");
      all_met = false;
    }
  }
  (void)(*dp)->unpin();
  ps_bench_empty__destroy(empty);
  std::printf("%s\n", all_met ? "all targets MET" : "some targets MISSED");
  return 0;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  pathsteer::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--repeat") {
      o.repeat = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    } else if (flag == "--rounds") {
      o.rounds = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: classifier_bench [--repeat N] [--rounds R]\n");
      return 2;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { pathsteer::g_stop = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    return pathsteer::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classifier_bench: %s\n", e.what());
    return 1;
  }
}
