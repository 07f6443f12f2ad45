// fleet_bench: N simulated fleet nodes (the real FleetAgent and etcd client,
// each with its own lease, keepalives, status key and watch; no data plane:
// the sink parses the policy as the daemon does and records when it applied)
// against a 3-member etcd cluster started here on loopback.
//
// Measures, over --rounds group policy puts: the time from the put to the
// moment all N nodes applied it (median, p99, range over the rounds) and every
// node's own put->applied latency (p50/p99 pooled); etcd's CPU (utime+stime of
// the three members over the measured window) and RSS at the end; the status
// write rate (store revisions per second in a quiet window, when only status
// and nothing else is written).
//
// usage: fleet_bench [--nodes N] [--rounds R] [--quiet-s S]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "common/temp_dir.h"
#include "controller/policy.h"
#include "controller/runtime.h"
#include "fleet/agent.h"
#include "fleet/etcd_test_util.h"

using namespace pathsteer;
using namespace std::chrono;
using Clock = steady_clock;

namespace {

constexpr const char* kPolicy = R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1, probes: [ { target: 203.0.113.1 } ] }
  wan2: { interface: eth2, gateway: 198.51.100.1, probes: [ { target: 203.0.113.1 } ] }
classes:
  video: { match: [ { proto: udp, dport: 5001 } ], strategy: failover, paths: [wan2, wan1] }
  default: { strategy: failover, paths: [wan1, wan2] }
)";

struct Round {
  std::atomic<int> id{-1};
  Clock::time_point put_at;
  std::mutex mu;
  std::vector<double> node_ms;  // each node's put->applied
  std::atomic<int> applied{0};
};

// The node side without a data plane: validates like the daemon and records.
class BenchSink final : public fleet::FleetSink {
 public:
  explicit BenchSink(Round& round) : round_(round) {}
  Result<void> apply_fleet_policy(const std::optional<FleetPolicyText>& p) override {
    if (!p)
      return ok();
    auto parsed = parse_policy(p->text, p->origin);
    if (!parsed)
      return parsed.take_error();
    // "# round K" on the first line says which round this is.
    int id = -1;
    if (p->text.rfind("# round ", 0) == 0)
      id = std::atoi(p->text.c_str() + 8);
    if (id >= 0 && id == round_.id.load() && id != last_) {
      last_ = id;
      double ms = duration<double, std::milli>(Clock::now() - round_.put_at).count();
      {
        std::lock_guard lock(round_.mu);
        round_.node_ms.push_back(ms);
      }
      ++round_.applied;
    }
    return ok();
  }
  void set_fleet_intents(std::vector<Intent>) override {}
  // Two uplinks whose figures move on every look: the worst case for status
  // writes (every node rewrites its figures every status_figures_s).
  StatusSnapshot snapshot() const override {
    StatusSnapshot s;
    s.generation = 1;
    ++looks_;
    for (int i = 0; i < 2; ++i) {
      WanStatus w;
      w.planned.name = "wan" + std::to_string(i + 1);
      w.planned.usable = true;
      w.health = UplinkHealth{.state = HealthState::kUp,
                              .rtt_ms = 10.0 + static_cast<double>(looks_ % 7),
                              .received = 1};
      s.wans.push_back(w);
    }
    return s;
  }

 private:
  Round& round_;
  int last_ = -1;
  mutable uint64_t looks_ = 0;
};

double pct(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

// utime + stime of a process, in seconds.
double cpu_s(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14 || i == 15)
      ticks += std::stod(field);
    if (i == 15)
      break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 1000, rounds = 10, quiet_s = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nodes" && i + 1 < argc)
      nodes = std::atoi(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (a == "--quiet-s" && i + 1 < argc)
      quiet_s = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: fleet_bench [--nodes N] [--rounds R] [--quiet-s S]\n");
      return 2;
    }
  }
  if (::access(fleet::testing::kEtcdBinary, X_OK) != 0) {
    std::fprintf(stderr, "fleet_bench: needs %s (apt install etcd-server)\n",
                 fleet::testing::kEtcdBinary);
    return 1;
  }
  // Two threads per node, one connection each at least.
  rlimit nofile{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &nofile);
  set_log_level(LogLevel::kError);

  std::printf(
      "fleet_bench: %d simulated nodes (real FleetAgent + etcd client, no data plane), "
      "%d rounds\n",
      nodes, rounds);
  std::printf("machine: %s, %ld CPUs, kernel %s, load %s\n",
              bench::first_line_of("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), bench::first_line_of("uname -r").c_str(),
              bench::first_line_of("cut -d' ' -f1-3 /proc/loadavg").c_str());
  std::printf("etcd: %s, 3 members on loopback\n",
              bench::first_line_of("/usr/bin/etcd --version | head -1").c_str());

  TempDir dir;
  fleet::testing::EtcdCluster cluster(dir.file("etcd"), 3);
  if (!cluster.wait_ready(seconds(60))) {
    std::fprintf(stderr, "fleet_bench: etcd did not come up (logs in %s)\n", dir.path().c_str());
    return 1;
  }
  auto admin = fleet::EtcdClient::create({.endpoints = cluster.endpoints()});
  if (!admin)
    return 1;
  fleet::KeyLayout keys;
  const std::string group_key = keys.policy_group("branch");

  auto loop = EventLoop::create();
  if (!loop)
    return 1;
  auto rt = LoopRuntime::create(**loop);
  if (!rt)
    return 1;
  Round round;
  std::vector<std::unique_ptr<BenchSink>> sinks;
  std::vector<std::unique_ptr<fleet::FleetAgent>> agents;
  auto t_start = Clock::now();
  for (int i = 0; i < nodes; ++i) {
    FleetSpec spec{.endpoints = cluster.endpoints(),
                   .node = "sim-" + std::to_string(i),
                   .groups = {"branch"},
                   .confirm_s = 0};
    sinks.push_back(std::make_unique<BenchSink>(round));
    agents.push_back(std::make_unique<fleet::FleetAgent>(
        fleet::FleetAgent::Options{.spec = spec}, **rt,
        [l = loop->get()](std::function<void()> fn) { l->post(std::move(fn)); }, *sinks.back()));
    if (auto r = agents.back()->start(); !r) {
      std::fprintf(stderr, "fleet_bench: %s\n", r.error().to_string().c_str());
      return 1;
    }
  }
  std::thread loop_thread([&] { (void)(*loop)->run(); });

  // Every node has written its status key (lease granted, session up).
  auto status_count = [&]() -> size_t {
    auto r = (*admin)->range(keys.status_prefix(), fleet::prefix_end(keys.status_prefix()), 0);
    return r ? r->kvs.size() : 0;
  };
  auto deadline = Clock::now() + seconds(300);
  while (status_count() < static_cast<size_t>(nodes) && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(200));
  size_t up = status_count();
  std::printf("start: %zu/%d nodes with a status key after %.1f s\n", up, nodes,
              duration<double>(Clock::now() - t_start).count());

  double cpu0 = 0;
  for (size_t k = 0; k < 3; ++k)
    cpu0 += cpu_s(cluster.pid(k));
  auto window0 = Clock::now();

  std::vector<double> all_ms, node_ms;
  int complete = 0;
  for (int k = 0; k < rounds; ++k) {
    {
      std::lock_guard lock(round.mu);
      round.node_ms.clear();
    }
    round.applied = 0;
    round.put_at = Clock::now();
    round.id = k;
    std::string text = "# round " + std::to_string(k) + "\n" + kPolicy;
    if (auto r = (*admin)->put(group_key, text); !r) {
      std::fprintf(stderr, "fleet_bench: put: %s\n", r.error().to_string().c_str());
      break;
    }
    auto until = Clock::now() + seconds(60);
    while (round.applied.load() < nodes && Clock::now() < until)
      std::this_thread::sleep_for(milliseconds(2));
    std::lock_guard lock(round.mu);
    if (round.applied.load() == nodes) {
      ++complete;
      all_ms.push_back(*std::max_element(round.node_ms.begin(), round.node_ms.end()));
    } else {
      std::printf("round %d: only %d/%d nodes applied within 60 s\n", k, round.applied.load(),
                  nodes);
    }
    node_ms.insert(node_ms.end(), round.node_ms.begin(), round.node_ms.end());
  }
  double window_s = duration<double>(Clock::now() - window0).count();
  double cpu1 = 0;
  for (size_t k = 0; k < 3; ++k)
    cpu1 += cpu_s(cluster.pid(k));

  // The status write rate: revisions per second while nothing but status is
  // written. The last round's status writes (state changed: within 1 s) land first.
  std::this_thread::sleep_for(seconds(2));
  auto rev = [&]() -> int64_t {
    auto r = (*admin)->range("/nothing");
    return r ? r->revision : 0;
  };
  int64_t r0 = rev();
  auto q0 = Clock::now();
  std::this_thread::sleep_for(seconds(quiet_s));  // the measured window itself, not a wait
  int64_t r1 = rev();
  double quiet = duration<double>(Clock::now() - q0).count();

  std::printf(
      "\nput -> all %d applied, over %d complete rounds: median %.0f ms, p99 %.0f ms, "
      "range %.0f..%.0f ms\n",
      nodes, complete, pct(all_ms, 0.5), pct(all_ms, 0.99),
      all_ms.empty() ? 0 : *std::min_element(all_ms.begin(), all_ms.end()),
      all_ms.empty() ? 0 : *std::max_element(all_ms.begin(), all_ms.end()));
  std::printf("put -> one node applied (%zu samples): p50 %.0f ms, p99 %.0f ms\n", node_ms.size(),
              pct(node_ms, 0.5), pct(node_ms, 0.99));
  std::printf("etcd CPU over the %.1f s of rounds: %.2f CPU-s (%.0f%% of one core), 3 members\n",
              window_s, cpu1 - cpu0, 100 * (cpu1 - cpu0) / window_s);
  long rss_total = 0;
  for (size_t k = 0; k < 3; ++k) {
    long kib = rss_kib(cluster.pid(k));
    rss_total += kib;
    std::printf("etcd member m%zu RSS: %.1f MiB\n", k, static_cast<double>(kib) / 1024);
  }
  std::printf("etcd RSS, 3 members: %.1f MiB\n", static_cast<double>(rss_total) / 1024);
  std::printf(
      "status writes in a %.1f s quiet window: %lld revisions = %.1f writes/s for %d "
      "nodes (figures change on every look: each node rewrites them every "
      "status_figures_s, 10 s)\n",
      quiet, static_cast<long long>(r1 - r0), static_cast<double>(r1 - r0) / quiet, nodes);
  std::printf("bench process RSS: %.1f MiB\n", static_cast<double>(rss_kib(getpid())) / 1024);

  (*loop)->post([&] {
    agents.clear();
    (*loop)->stop();
  });
  loop_thread.join();
  return complete == rounds ? 0 : 1;
}
