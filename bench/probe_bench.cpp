// probe_bench: what does probing cost? One Prober on one EventLoop (the daemon's probing
// engine, probes/prober.h) sends ICMP echo requests to N targets at R probes/s each for S
// seconds, all from one uplink. Prints the machine, the inputs, the CPU time of this process
// (% of one core), probes sent/answered, and the send lateness (time a probe was handed to
// the kernel - its nominal send time) p50/p99/max. Issue 5's target: 1,000 targets at
// 10 probes/s: CPU <= 5 % of one core, p99 lateness <= 5 ms.
//
// Network (needs root): the program unshares a private network namespace ("bench": lo and
// veth psb0 10.99.0.1/24, route 10.100.0.0/16 via 10.99.0.2) and forks a child that unshares
// another one ("peer": psb1 10.99.0.2/24 and the N targets 10.100.i/256.i%256/32 on lo) and
// sleeps until the program exits (PR_SET_PDEATHSIG), so nothing outlives the run and the
// host's namespace is never touched. `ip` configures both. Usage: bench/README.md.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/log.h"
#include "probes/prober.h"

namespace pathsteer {
namespace {

struct Args {
  uint32_t targets = 1000;
  uint32_t rate_hz = 10;  // probes per second per target
  uint32_t seconds = 30;
  uint32_t timeout_ms = 500;
};

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "probe_bench: " << msg << "\n";
  std::exit(1);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc)
      die("missing value for " + k);
    uint32_t v = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    if (k == "--targets" && v >= 1 && v <= 65000)
      a.targets = v;
    else if (k == "--rate" && v >= 1 && v <= 100)
      a.rate_hz = v;
    else if (k == "--seconds" && v >= 1)
      a.seconds = v;
    else if (k == "--timeout-ms" && v >= 10)
      a.timeout_ms = v;
    else
      die("bad argument " + k + " " + argv[i] +
          "\nusage: probe_bench [--targets N<=65000] [--rate HZ<=100] [--seconds S] "
          "[--timeout-ms MS]");
  }
  return a;
}

void sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0)
    die("command failed (" + std::to_string(rc) + "): " + cmd);
}

std::string first_line_of(const std::string& cmd) {
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

std::string target_addr(uint32_t i) {
  return "10.100." + std::to_string(i / 256) + "." + std::to_string(i % 256);
}

// A mount namespace of our own with a sysfs that shows our network namespace (for the RPS
// settings under /sys/class/net).
bool private_sysfs() {
  return unshare(CLONE_NEWNS) == 0 &&
         mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0;
}

// A child in a network namespace of its own that lives as long as we do.
pid_t spawn_peer_namespace() {
  int ready[2];
  if (pipe(ready) != 0)
    die("pipe");
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char ok = unshare(CLONE_NEWNET) == 0 && private_sysfs() ? 'y' : 'n';
    if (write(ready[1], &ok, 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char ok = 0;
  if (read(ready[0], &ok, 1) != 1 || ok != 'y')
    die("the peer namespace could not be created");
  close(ready[0]);
  return pid;
}

void build_network(const Args& a, pid_t peer, const std::string& rps_mask) {
  std::string p = std::to_string(peer);
  sh("ip link set lo up");
  sh("ip link add psb0 type veth peer name psb1 netns " + p);
  sh("ip addr add 10.99.0.1/24 dev psb0 && ip link set psb0 up");
  sh("ip route add 10.100.0.0/16 via 10.99.0.2 dev psb0");
  std::string batch = "/tmp/probe_bench-" + std::to_string(getpid()) + ".ip";
  {
    std::ofstream f(batch);
    f << "link set lo up\naddr add 10.99.0.2/24 dev psb1\nlink set psb1 up\n";
    for (uint32_t i = 0; i < a.targets; ++i)
      f << "addr add " << target_addr(i) << "/32 dev lo\n";
  }
  sh("nsenter -t " + p + " -n ip -batch " + batch);
  std::remove(batch.c_str());
  // Receive processing (the peer answering, our replies arriving) goes to the other CPU via
  // RPS, as a NIC's softirq would, instead of running inside our sendto(); see the README.
  sh("echo " + rps_mask + " > /sys/class/net/psb0/queues/rx-0/rps_cpus");
  sh("nsenter -t " + p + " -n -m sh -c 'echo " + rps_mask +
     " > /sys/class/net/psb1/queues/rx-0/rps_cpus'");
}

struct Cpu {
  double user = 0, sys = 0;
};

Cpu cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return {s(ru.ru_utime), s(ru.ru_stime)};
}

struct Window {  // one stats() reading: the lateness of the last kLatenessSamples sends
  double p50, p99, max;
};

int run(const Args& a) {
  if (geteuid() != 0)
    die("must run as root (it creates network namespaces and raw sockets)");
  if (unshare(CLONE_NEWNET) != 0 || !private_sysfs())
    die(std::string("unshare(CLONE_NEWNET|CLONE_NEWNS) or mounting sysfs: ") +
        std::strerror(errno));
  pid_t peer = spawn_peer_namespace();
  // The probing loop on the first CPU, receive softirqs on the others.
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 2)
    die("needs at least 2 CPUs (one for the loop, one for receive processing)");
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0)
    die("sched_setaffinity");
  char mask[32];
  std::snprintf(mask, sizeof(mask), "%lx", ((1UL << std::min(ncpu, 63L)) - 1) & ~1UL);
  build_network(a, peer, mask);

  utsname u{};
  uname(&u);
  uint32_t interval_ms = 1000 / a.rate_hz;
  std::cout
      << "probe_bench: one Prober on one EventLoop, ICMP echo to N targets\n"
      << "machine:\n"
      << "  cpu:     "
      << first_line_of("grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'")
      << "\n  nproc:   " << sysconf(_SC_NPROCESSORS_ONLN) << "\n  kernel:  " << u.sysname << " "
      << u.release << " " << u.machine << "\n  load:    " << first_line_of("cat /proc/loadavg")
      << " (/proc/loadavg at start)\n"
      << "inputs:\n"
      << "  targets: " << a.targets << " IPv4 addresses on lo of a peer namespace behind one "
      << "veth (one uplink, reliability 1)\n"
      << "  rate:    " << a.rate_hz << " probes/s per target (interval_ms " << interval_ms
      << ", timeout_ms " << a.timeout_ms << ") = " << a.targets * a.rate_hz << " probes/s\n"
      << "  cpus:    the loop pinned to CPU 0; receive processing of both veth ends steered to "
      << "CPUs 0x" << mask << " (RPS)\n"
      << "  measured: " << a.seconds << " s after the uplink is up plus 1 s of warm-up\n"
      << std::flush;

  set_log_level(LogLevel::kWarn);
  auto loop_r = EventLoop::create();
  if (!loop_r)
    die(loop_r.error().to_string());
  EventLoop& loop = **loop_r;
  bool up = false;
  Prober prober(
      loop, [&](const std::string&, const UplinkHealth& h) { up = h.state == HealthState::kUp; });
  UplinkProbeConfig cfg{.uplink = "bench", .ifname = "psb0"};
  cfg.health.interval_ms = interval_ms;
  cfg.health.timeout_ms = a.timeout_ms;
  cfg.health.up_after = 1;
  for (uint32_t i = 0; i < a.targets; ++i)
    cfg.probes.push_back(ProbeSpec{.target = *IpAddr::parse(target_addr(i))});
  if (auto r = prober.configure({cfg}); !r)
    die(r.error().to_string());

  // Warm-up: until the uplink is up, then one more second; then the measured run.
  using namespace std::chrono;
  ProberStats base{};
  Cpu cpu0;
  steady_clock::time_point t0;
  std::vector<Window> windows;
  bool measuring = false;
  EventLoop::TimerId sampler = 0;
  auto start_measuring = [&] {
    measuring = true;
    base = prober.stats();
    cpu0 = cpu_seconds();
    t0 = steady_clock::now();
    // The lateness ring holds the last kLatenessSamples sends; reading it at least as often
    // as that many sends happen covers every send (overlapping windows are fine for maxima).
    double sends_per_s = static_cast<double>(a.targets) * a.rate_hz;
    auto period = duration<double>(
        std::min(1.0, 0.5 * static_cast<double>(Prober::kLatenessSamples) / sends_per_s));
    sampler = *loop.add_timer(
        duration_cast<nanoseconds>(period), duration_cast<nanoseconds>(period), [&] {
          ProberStats s = prober.stats();
          windows.push_back({s.lateness_p50_ms, s.lateness_p99_ms, s.lateness_max_ms});
        });
    (void)loop.add_timer(seconds(a.seconds), nanoseconds(0), [&] { loop.stop(); });
  };
  steady_clock::time_point up_at{};
  auto deadline = steady_clock::now() + seconds(10);
  (void)loop.add_timer(milliseconds(10), milliseconds(10), [&] {
    if (measuring)
      return;
    auto now = steady_clock::now();
    if (up && up_at == steady_clock::time_point{})
      up_at = now;
    if (up_at != steady_clock::time_point{} && now - up_at >= seconds(1))
      start_measuring();
    else if (now > deadline)
      die("the uplink did not come up within 10 s");
  });
  if (auto r = loop.run(); !r)
    die(r.error().to_string());
  double wall = duration<double>(steady_clock::now() - t0).count();
  Cpu cpu1 = cpu_seconds();
  double user = cpu1.user - cpu0.user, sys = cpu1.sys - cpu0.sys, cpu = user + sys;
  loop.cancel_timer(sampler);
  ProberStats end = prober.stats();
  windows.push_back({end.lateness_p50_ms, end.lateness_p99_ms, end.lateness_max_ms});

  uint64_t sent = end.sent - base.sent, answered = end.answered - base.answered;
  uint64_t failed = end.failed - base.failed;
  auto by = [&](auto field) {
    std::vector<double> v;
    for (const auto& w : windows)
      v.push_back(w.*field);
    std::sort(v.begin(), v.end());
    return v;
  };
  auto p50s = by(&Window::p50), p99s = by(&Window::p99), maxes = by(&Window::max);
  double cpu_pct = 100.0 * cpu / wall;
  bool met = cpu_pct <= 5.0 && p99s.back() <= 5.0;
  std::printf(
      "results (%.1f s measured):\n"
      "  cpu:       %.2f s = %.2f %% of one core: user %.2f %%, sys %.2f %% (the process, one "
      "thread on CPU 0; receive softirqs on the other CPUs via RPS)\n"
      "  probes:    %lu sent (%.0f/s), %lu answered, %lu failed, %lu in flight at the end\n"
      "  lateness:  p50 %.3f ms, p99 %.3f ms, max %.3f ms (worst of %zu readings of the last "
      "%zu sends each; median reading: p50 %.3f, p99 %.3f)\n"
      "  wakeups:   %lu timer expirations (%.0f/s)\n"
      "target: cpu <= 5 %% of one core and p99 lateness <= 5 ms: %s\n",
      wall, cpu, cpu_pct, 100.0 * user / wall, 100.0 * sys / wall, static_cast<unsigned long>(sent),
      static_cast<double>(sent) / wall, static_cast<unsigned long>(answered),
      static_cast<unsigned long>(failed), static_cast<unsigned long>(sent - answered - failed),
      p50s.back(), p99s.back(), maxes.back(), windows.size(), Prober::kLatenessSamples,
      p50s[p50s.size() / 2], p99s[p99s.size() / 2],
      static_cast<unsigned long>(end.wakeups - base.wakeups),
      static_cast<double>(end.wakeups - base.wakeups) / wall, met ? "MET" : "MISSED");
  kill(peer, SIGKILL);
  waitpid(peer, nullptr, 0);
  return 0;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  return pathsteer::run(pathsteer::parse_args(argc, argv));
}
