// probe_bench: what does probing cost the daemon? Runs the real pathsteerd ($PATHSTEERD or
// --pathsteerd; default: ../controller/pathsteerd next to this binary) with one wan and N
// ICMP targets at R probes/s each, measures S seconds, and prints the machine, the inputs, the
// daemon's CPU time (% of one core), probes sent/answered and the send lateness (time a probe
// was handed to the kernel - its nominal send time) p50/p99/max from GET /v1/status "prober".
// Issue 5's target: 1,000 targets at 10 probes/s: CPU <= 5 % of one core, p99 lateness <= 5 ms.
//
// Network (needs root): this program unshares a private network and mount namespace (the
// "gw": lo, veth lan0 192.168.77.1/24 (peer lan0p unused), veth psb0 10.99.0.1/24,
// route 10.100.0.0/16 via 10.99.0.2; a fresh sysfs and a fresh bpffs at /sys/fs/bpf, so pins vanish
// with it) and forks a child that unshares another one ("peer": psb1 10.99.0.2/24 and the N targets
// 10.100.i/256.i%256/32 on lo; the kernel answers the echoes). pathsteerd is forked into the
// gw namespace. Everything dies with the program (PR_SET_PDEATHSIG, namespaces without
// names); SIGINT/SIGTERM/errors stop the daemon and remove the temporary state dir. The host's
// namespaces are never touched. Usage: bench/README.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

namespace pathsteer {
namespace {

using nlohmann::json;

constexpr int kApiPort = 9379;

struct Args {
  uint32_t targets = 1000;
  uint32_t rate_hz = 10;  // probes per second per target
  uint32_t seconds = 30;
  uint32_t timeout_ms = 500;
  std::string pathsteerd;
};

// Cleanup state, also used from die() and the signal path.
pid_t g_peer = -1;
pid_t g_daemon = -1;
std::string g_state_dir;
volatile sig_atomic_t g_stop = 0;

void cleanup() {
  if (g_daemon > 0) {
    kill(g_daemon, SIGTERM);
    for (int i = 0; i < 100 && waitpid(g_daemon, nullptr, WNOHANG) == 0; ++i)
      usleep(50000);
    if (waitpid(g_daemon, nullptr, WNOHANG) == 0) {
      kill(g_daemon, SIGKILL);
      waitpid(g_daemon, nullptr, 0);
    }
    g_daemon = -1;
  }
  if (g_peer > 0) {
    kill(g_peer, SIGKILL);
    waitpid(g_peer, nullptr, 0);
    g_peer = -1;
  }
  if (!g_state_dir.empty()) {
    std::string cmd = "rm -rf '" + g_state_dir + "'";
    if (std::system(cmd.c_str()) != 0)
      std::cerr << "probe_bench: could not remove " << g_state_dir << "\n";
    g_state_dir.clear();
  }
}

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "probe_bench: " << msg << "\n";
  if (!g_state_dir.empty()) {
    std::string cmd = "tail -20 '" + g_state_dir + "/pathsteerd.log' >&2";
    (void)std::system(cmd.c_str());
  }
  cleanup();
  std::exit(1);
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (const char* e = std::getenv("PATHSTEERD"))
    a.pathsteerd = e;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc)
      die("missing value for " + k);
    std::string val = argv[++i];
    uint32_t v = static_cast<uint32_t>(std::strtoul(val.c_str(), nullptr, 10));
    if (k == "--pathsteerd")
      a.pathsteerd = val;
    else if (k == "--targets" && v >= 1 && v <= 65000)
      a.targets = v;
    else if (k == "--rate" && v >= 1 && v <= 100)
      a.rate_hz = v;
    else if (k == "--seconds" && v >= 1)
      a.seconds = v;
    else if (k == "--timeout-ms" && v >= 10)
      a.timeout_ms = v;
    else
      die("bad argument " + k + " " + val +
          "\nusage: probe_bench [--pathsteerd PATH] [--targets N<=65000] [--rate HZ<=100] "
          "[--seconds S] [--timeout-ms MS]");
  }
  if (a.pathsteerd.empty()) {
    char self[4096] = {};
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
    dir = dir.substr(0, dir.rfind('/'));
    a.pathsteerd = dir + "/../controller/pathsteerd";
  }
  if (access(a.pathsteerd.c_str(), X_OK) != 0)
    die("pathsteerd not found at " + a.pathsteerd + " (set PATHSTEERD or --pathsteerd)");
  return a;
}

void sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0)
    die("command failed (" + std::to_string(rc) + "): " + cmd);
}

using bench::first_line_of;

std::string target_addr(uint32_t i) {
  return "10.100." + std::to_string(i / 256) + "." + std::to_string(i % 256);
}

// A mount namespace of our own with a sysfs that shows our network namespace (for the RPS
// settings under /sys/class/net) and, if asked, a fresh bpffs for the daemon's pins.
bool private_mounts(bool bpffs) {
  return unshare(CLONE_NEWNS) == 0 &&
         mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0 &&
         (!bpffs || mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) == 0);
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
    char ok = unshare(CLONE_NEWNET) == 0 && private_mounts(false) ? 'y' : 'n';
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
  sh("ip link add lan0 type veth peer name lan0p && ip link set lan0p up && ip addr add "
     "192.168.77.1/24 dev lan0 && "
     "ip link set lan0 up");
  sh("ip link add psb0 type veth peer name psb1 netns " + p);
  sh("ip addr add 10.99.0.1/24 dev psb0 && ip link set psb0 up");
  sh("ip route add 10.100.0.0/16 via 10.99.0.2 dev psb0");
  std::string batch = g_state_dir + "/peer.ip";
  {
    std::ofstream f(batch);
    f << "link set lo up\naddr add 10.99.0.2/24 dev psb1\nlink set psb1 up\n";
    for (uint32_t i = 0; i < a.targets; ++i)
      f << "addr add " << target_addr(i) << "/32 dev lo\n";
  }
  sh("nsenter -t " + p + " -n ip -batch " + batch);
  // Receive processing (the peer answering, our replies arriving) goes to the other CPUs via
  // RPS, as a NIC's softirq would, instead of running inside the daemon's sendto(); see the
  // README.
  sh("echo " + rps_mask + " > /sys/class/net/psb0/queues/rx-0/rps_cpus");
  sh("nsenter -t " + p + " -n -m sh -c 'echo " + rps_mask +
     " > /sys/class/net/psb1/queues/rx-0/rps_cpus'");
}

std::string write_policy(const Args& a) {
  std::string path = g_state_dir + "/bench.yaml";
  std::ofstream f(path);
  f << "version: 1\nlan_interfaces: [lan0]\ndatapath: { mode: mark }\nwans:\n  wan1:\n"
    << "    interface: psb0\n    gateway: 10.99.0.2\n    probes:\n";
  for (uint32_t i = 0; i < a.targets; ++i)
    f << "      - { method: icmp, target: " << target_addr(i) << " }\n";
  f << "    health:\n      interval_ms: " << 1000 / a.rate_hz
    << "\n      timeout_ms: " << a.timeout_ms << "\n      reliability: 1\n      up_after: 1\n"
    << "classes:\n  default:\n    strategy: failover\n    paths: [wan1]\n";
  return path;
}

pid_t start_daemon(const Args& a, const std::string& policy) {
  std::string log = g_state_dir + "/pathsteerd.log";
  std::string pins = "/sys/fs/bpf/probe_bench";
  std::string listen = "127.0.0.1:" + std::to_string(kApiPort);
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    cpu_set_t one;  // the daemon on CPU 0, receive softirqs elsewhere (RPS)
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::string state = g_state_dir + "/state";
    execl(a.pathsteerd.c_str(), a.pathsteerd.c_str(), "--policy", policy.c_str(), "--state-dir",
          state.c_str(), "--pin-dir", pins.c_str(), "--listen", listen.c_str(), "--log-level",
          "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// GET /v1/status from the daemon; nullopt while it does not answer.
std::optional<json> get_status() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::nullopt;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kApiPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    std::string req = "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n = 0;
      while ((n = read(fd, buf, sizeof(buf))) > 0)
        resp.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  auto body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos)
    return std::nullopt;
  json j = json::parse(resp.substr(body + 4), nullptr, false);
  if (j.is_discarded())
    return std::nullopt;
  return j;
}

struct Cpu {
  double user = 0, sys = 0;  // s, /proc/PID/stat utime/stime (clock ticks)
  double run = 0;            // s, /proc/PID/schedstat on-CPU time (ns resolution)
};

Cpu daemon_cpu(pid_t pid) {
  Cpu c;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(st, line);
  auto rp = line.rfind(')');
  if (rp == std::string::npos)
    die("cannot read /proc/" + std::to_string(pid) + "/stat (daemon gone?)");
  std::istringstream in(line.substr(rp + 2));
  std::vector<std::string> f;
  for (std::string w; in >> w;)
    f.push_back(w);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (proc(5)).
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  c.user = std::stod(f.at(11)) / hz;
  c.sys = std::stod(f.at(12)) / hz;
  std::ifstream ss("/proc/" + std::to_string(pid) + "/schedstat");
  double ns = 0;
  ss >> ns;
  c.run = ns / 1e9;
  return c;
}

void on_signal(int) {
  g_stop = 1;
}

// Sleeps `s` seconds unless a signal asks us to stop; dies if the daemon exited.
void nap(double s) {
  usleep(static_cast<useconds_t>(s * 1e6));
  if (g_stop != 0)
    die("interrupted");
  int status = 0;
  if (waitpid(g_daemon, &status, WNOHANG) != 0) {
    g_daemon = -1;
    die("pathsteerd exited (wait status " + std::to_string(status) + ")");
  }
}

int run(const Args& a) {
  if (geteuid() != 0)
    die("must run as root (it creates network namespaces and the daemon needs CAP_NET_ADMIN)");
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 2)
    die("needs at least 2 CPUs (one for the daemon, one for receive processing)");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  char tmpl[] = "/tmp/probe_bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    die("mkdtemp");
  g_state_dir = tmpl;
  if (unshare(CLONE_NEWNET) != 0 || !private_mounts(true))
    die(std::string("unshare(CLONE_NEWNET|CLONE_NEWNS) or mounting sysfs/bpffs: ") +
        std::strerror(errno));
  g_peer = spawn_peer_namespace();
  // This program off CPU 0 (it only polls), the daemon on CPU 0, softirqs on the others.
  cpu_set_t rest;
  CPU_ZERO(&rest);
  for (long c = 1; c < ncpu && c < CPU_SETSIZE; ++c)
    CPU_SET(c, &rest);
  sched_setaffinity(0, sizeof(rest), &rest);
  char mask[32];
  std::snprintf(mask, sizeof(mask), "%lx", ((1UL << std::min(ncpu, 63L)) - 1) & ~1UL);
  build_network(a, g_peer, mask);

  utsname u{};
  uname(&u);
  uint32_t interval_ms = 1000 / a.rate_hz;
  std::cout
      << "probe_bench: pathsteerd probing N ICMP targets through one wan\n"
      << "machine:\n"
      << "  cpu:      "
      << first_line_of("grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'")
      << "\n  nproc:    " << ncpu << "\n  kernel:   " << u.sysname << " " << u.release << " "
      << u.machine << "\n  load:     " << first_line_of("cat /proc/loadavg")
      << " (/proc/loadavg at start)\n"
      << "inputs:\n"
      << "  daemon:   " << a.pathsteerd << "\n"
      << "  targets:  " << a.targets << " IPv4 addresses on lo of a peer namespace behind one "
      << "veth (wan1, reliability 1)\n"
      << "  rate:     " << a.rate_hz << " probes/s per target (interval_ms " << interval_ms
      << ", timeout_ms " << a.timeout_ms << ") = " << a.targets * a.rate_hz << " probes/s\n"
      << "  cpus:     pathsteerd pinned to CPU 0; receive processing of both veth ends steered "
      << "to CPUs 0x" << mask << " (RPS)\n"
      << "  measured: " << a.seconds << " s after wan1 is up plus 2 s of warm-up\n"
      << std::flush;

  g_daemon = start_daemon(a, write_policy(a));
  // Warm-up: until wan1 is up, then two more seconds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    nap(0.1);
    auto s = get_status();
    if (s && !(*s)["wans"].empty() && (*s)["wans"][0].value("state", "") == "up")
      break;
    if (std::chrono::steady_clock::now() > deadline)
      die("wan1 did not come up within 30 s");
  }
  nap(2.0);

  auto s0 = get_status();
  Cpu c0 = daemon_cpu(g_daemon);
  auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < a.seconds * 10; ++i)
    nap(0.1);
  Cpu c1 = daemon_cpu(g_daemon);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto s1 = get_status();
  if (!s0 || !s1)
    die("GET /v1/status failed");
  const json& p0 = (*s0)["prober"];
  const json& p1 = (*s1)["prober"];
  auto d = [&](const char* k) { return p1.value(k, uint64_t{0}) - p0.value(k, uint64_t{0}); };
  uint64_t sent = d("sent"), answered = d("answered"), failed = d("failed");
  double user = c1.user - c0.user, sys = c1.sys - c0.sys;
  double cpu_pct = 100.0 * (user + sys) / wall;
  double run_pct = 100.0 * (c1.run - c0.run) / wall;
  double p99 = p1.value("lateness_p99_ms", 0.0);
  bool cpu_met = cpu_pct <= 5.0 && run_pct <= 5.0;
  bool late_met = p99 <= 5.0;
  std::printf(
      "results (%.1f s measured):\n"
      "  cpu:       %.2f %% of one core (utime+stime from /proc/PID/stat: user %.2f %%, sys "
      "%.2f %%); on-CPU time from /proc/PID/schedstat: %.2f %%\n"
      "  probes:    %lu sent (%.0f/s), %lu answered, %lu failed\n"
      "  lateness:  p50 %.3f ms, p99 %.3f ms, max %.3f ms over all %lu sends since the daemon "
      "started (0.05 ms buckets)\n"
      "  wakeups:   %lu prober timer expirations (%.0f/s)\n"
      "target: cpu <= 5 %% of one core: %s; p99 lateness <= 5 ms: %s\n",
      wall, cpu_pct, 100.0 * user / wall, 100.0 * sys / wall, run_pct,
      static_cast<unsigned long>(sent), static_cast<double>(sent) / wall,
      static_cast<unsigned long>(answered), static_cast<unsigned long>(failed),
      p1.value("lateness_p50_ms", 0.0), p99, p1.value("lateness_max_ms", 0.0),
      static_cast<unsigned long>(p1.value("lateness_samples", uint64_t{0})),
      static_cast<unsigned long>(d("wakeups")), static_cast<double>(d("wakeups")) / wall,
      cpu_met ? "MET" : "MISSED", late_met ? "MET" : "MISSED");
  cleanup();
  return cpu_met && late_met ? 0 : 2;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  try {
    return pathsteer::run(pathsteer::parse_args(argc, argv));
  } catch (const std::exception& e) {  // e.g. a malformed status reply from the daemon
    std::fprintf(stderr, "probe_bench: %s\n", e.what());
    return 1;
  }
}
