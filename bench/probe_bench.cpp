// probe_bench: what does probing cost the daemon, against the kernel floor? Runs the real
// pathsteerd ($PATHSTEERD or --pathsteerd; default: ../daemon/pathsteerd next to this binary)
// with one wan and N ICMP targets at R probes/s each, measures S seconds, stops it, then runs
// probe_floor (a minimal raw-socket prober of the same probes, probe_floor.cpp) on the same CPU
// and measures it the same way; --reps times. Prints the machine, the inputs, per rep the load
// average, both CPU times (% of one core), probes sent/answered and the daemon's send lateness
// (time a probe was handed to the kernel - its nominal send time) p50/p99/max from GET
// /v1/status "prober", then medians (min-max) over the reps.
// Issue 5's target: 1,000 targets at 10 probes/s: CPU <= 5 % of one core, p99 lateness <= 5 ms.
//
// Network (needs root): this program unshares a private network and mount namespace (the
// "gw": lo, veth lan0 192.168.77.1/24 (peer lan0p unused), veth psb0 10.99.0.1/24,
// route 10.100.0.0/16 via 10.99.0.2; a fresh sysfs and a fresh bpffs at /sys/fs/bpf, so pins vanish
// with it) and forks a child that unshares another one ("peer": psb1 10.99.0.2/24 and the N targets
// 10.100.i/256.i%256/32 on lo; the kernel answers the echoes). pathsteerd is forked into the
// gw namespace, and so is probe_floor. Everything dies with the program (PR_SET_PDEATHSIG,
// namespaces without names); SIGINT/SIGTERM/errors stop the measured process and remove the
// temporary state dir. The host's namespaces are never touched. Usage: bench/README.md.
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
#include "probes/prober.h"

namespace pathsteer {
namespace {

using nlohmann::json;

constexpr int kApiPort = 9379;

struct Args {
  uint32_t targets = 1000;
  uint32_t rate_hz = 10;  // probes per second per target
  uint32_t seconds = 30;
  uint32_t timeout_ms = 500;
  uint32_t reps = 3;
  uint32_t floor_slack_us = 0;  // 0: the daemon's slack for this interval (probes/prober.h)
  std::string pathsteerd;
  std::string floor;  // probe_floor
};

// Cleanup state, also used from die() and the signal path. The rig's child is
// the process being measured: pathsteerd or probe_floor.
bench::Rig g_rig{.program = "probe_bench"};
std::string g_child_name = "pathsteerd";
std::string g_child_out;  // its stdout and stderr
volatile sig_atomic_t g_stop = 0;

int stop_child() {
  return g_rig.stop_child();
}

void cleanup() {
  g_rig.cleanup();
}

[[noreturn]] void die(const std::string& msg) {
  g_rig.die(msg);
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
    else if (k == "--reps" && v >= 1)
      a.reps = v;
    else if (k == "--floor")
      a.floor = val;
    else if (k == "--floor-slack-us")
      a.floor_slack_us = v;
    else
      die("bad argument " + k + " " + val +
          "\nusage: probe_bench [--pathsteerd PATH] [--floor PATH] [--targets N<=65000] "
          "[--rate HZ<=100] [--seconds S] [--timeout-ms MS] [--reps R] [--floor-slack-us US]");
  }
  char self[4096] = {};
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
  dir = dir.substr(0, dir.rfind('/'));
  if (a.floor_slack_us == 0) {
    a.floor_slack_us =
        std::min(static_cast<uint32_t>(Prober::kMaxSlack.count()), 1000 / a.rate_hz * 1000 / 10);
  }
  if (a.pathsteerd.empty())
    a.pathsteerd = dir + "/../daemon/pathsteerd";
  if (a.floor.empty())
    a.floor = dir + "/probe_floor";
  if (access(a.pathsteerd.c_str(), X_OK) != 0)
    die("pathsteerd not found at " + a.pathsteerd + " (set PATHSTEERD or --pathsteerd)");
  if (access(a.floor.c_str(), X_OK) != 0)
    die("probe_floor not found at " + a.floor + " (--floor)");
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
  std::string batch = g_rig.state_dir + "/peer.ip";
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
  std::string path = g_rig.state_dir + "/bench.yaml";
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

// Forks and execs argv[0] on CPU 0 with stdout and stderr to `out`; it dies with us.
pid_t spawn_on_cpu0(const std::vector<std::string>& argv, const std::string& out) {
  std::vector<char*> args;
  for (const auto& x : argv)
    args.push_back(const_cast<char*>(x.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    cpu_set_t one;  // the prober on CPU 0, receive softirqs elsewhere (RPS)
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one);
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Each rep starts a fresh daemon with its own state dir and pin dir; the rules and routes the
// previous one left (it does not flush on exit) are adopted as they are.
pid_t start_daemon(const Args& a, const std::string& policy, uint32_t rep) {
  std::string r = std::to_string(rep);
  return spawn_on_cpu0({a.pathsteerd, "--policy", policy, "--state-dir",
                        g_rig.state_dir + "/state" + r, "--pin-dir", "/sys/fs/bpf/probe_bench" + r,
                        "--listen", "127.0.0.1:" + std::to_string(kApiPort), "--log-level", "warn"},
                       g_rig.state_dir + "/pathsteerd.log");
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

// Sleeps `s` seconds unless a signal asks us to stop; dies if the measured process exited.
void nap(double s) {
  usleep(static_cast<useconds_t>(s * 1e6));
  if (g_stop != 0)
    die("interrupted");
  int status = 0;
  if (waitpid(g_rig.child, &status, WNOHANG) != 0) {
    g_rig.child = -1;
    die(g_child_name + " exited (wait status " + std::to_string(status) +
        "): " + first_line_of("tail -1 '" + g_child_out + "'"));
  }
}

// CPU time of g_rig.child over `seconds`, as % of one core.
struct CpuPct {
  double total = 0, user = 0, sys = 0, run = 0, wall = 0;
};
CpuPct measure_cpu(uint32_t seconds) {
  Cpu c0 = daemon_cpu(g_rig.child);
  auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < seconds * 10; ++i)
    nap(0.1);
  Cpu c1 = daemon_cpu(g_rig.child);
  CpuPct p;
  p.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  p.user = 100.0 * (c1.user - c0.user) / p.wall;
  p.sys = 100.0 * (c1.sys - c0.sys) / p.wall;
  p.total = p.user + p.sys;
  p.run = 100.0 * (c1.run - c0.run) / p.wall;
  return p;
}

struct DaemonRun {
  CpuPct cpu;
  uint64_t sent = 0, answered = 0, failed = 0, wakeups = 0;
  double p50 = 0, p99 = 0, max = 0;
  uint32_t mark = 0;
};

DaemonRun run_daemon(const Args& a, const std::string& policy, uint32_t rep) {
  g_child_name = "pathsteerd";
  g_child_out = g_rig.state_dir + "/pathsteerd.log";
  g_rig.child = start_daemon(a, policy, rep);
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
  DaemonRun r;
  r.cpu = measure_cpu(a.seconds);
  auto s1 = get_status();
  if (!s0 || !s1)
    die("GET /v1/status failed");
  const json& p0 = (*s0)["prober"];
  const json& p1 = (*s1)["prober"];
  auto d = [&](const char* k) { return p1.value(k, uint64_t{0}) - p0.value(k, uint64_t{0}); };
  r.sent = d("sent");
  r.answered = d("answered");
  r.failed = d("failed");
  r.wakeups = d("wakeups");
  r.p50 = p1.value("lateness_p50_ms", 0.0);
  r.p99 = p1.value("lateness_p99_ms", 0.0);
  r.max = p1.value("lateness_max_ms", 0.0);
  r.mark = (*s1)["wans"][0].value("mark", uint32_t{0});
  stop_child();
  return r;
}

struct FloorRun {
  CpuPct cpu;
  std::string line;  // probe_floor's own report over its whole run
};

FloorRun run_floor(const Args& a, uint32_t mark) {
  g_child_name = "probe_floor";
  std::string out = g_child_out = g_rig.state_dir + "/floor.out";
  g_rig.child =
      spawn_on_cpu0({a.floor, "--ifname", "psb0", "--mark", std::to_string(mark), "--targets",
                     std::to_string(a.targets), "--rate", std::to_string(a.rate_hz), "--timeout-ms",
                     std::to_string(a.timeout_ms), "--slack-us", std::to_string(a.floor_slack_us),
                     "--hdrinc", "1"},
                    out);
  nap(2.0);
  FloorRun r;
  r.cpu = measure_cpu(a.seconds);
  int status = stop_child();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("probe_floor failed: " + first_line_of("cat '" + out + "'"));
  r.line = first_line_of("cat '" + out + "'");
  return r;
}

// Median, min and max of `v` as "median (min-max)".
std::string spread(std::vector<double> v, int decimals) {
  std::sort(v.begin(), v.end());
  double med = v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.*f (%.*f-%.*f)", decimals, med, decimals, v.front(), decimals,
                v.back());
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
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
  g_rig.state_dir = tmpl;
  if (unshare(CLONE_NEWNET) != 0 || !private_mounts(true))
    die(std::string("unshare(CLONE_NEWNET|CLONE_NEWNS) or mounting sysfs/bpffs: ") +
        std::strerror(errno));
  g_rig.peer = spawn_peer_namespace();
  // This program off CPU 0 (it only polls), the daemon on CPU 0, softirqs on the others.
  cpu_set_t rest;
  CPU_ZERO(&rest);
  for (long c = 1; c < ncpu && c < CPU_SETSIZE; ++c)
    CPU_SET(c, &rest);
  sched_setaffinity(0, sizeof(rest), &rest);
  char mask[32];
  std::snprintf(mask, sizeof(mask), "%lx", ((1UL << std::min(ncpu, 63L)) - 1) & ~1UL);
  build_network(a, g_rig.peer, mask);

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
      << "  slack:    " << a.floor_slack_us / 1000.0
      << " ms (min(10 ms, interval / 10): each wakeup sends every probe due within it, so probes "
      << "leave up to that early; replies are read at least that often; probe_floor uses the "
      << "same)\n"
      << "  cpus:     pathsteerd pinned to CPU 0; receive processing of both veth ends steered "
      << "to CPUs 0x" << mask << " (RPS)\n"
      << "  reps:     " << a.reps << " x (pathsteerd: " << a.seconds
      << " s measured after wan1 is up plus 2 s of warm-up; then probe_floor, the same probes "
      << "from a minimal raw-socket prober (bench/probe_floor.cpp): " << a.seconds
      << " s measured after 2 s)\n"
      << std::flush;

  std::string policy = write_policy(a);
  std::vector<DaemonRun> ds;
  std::vector<FloorRun> fs;
  for (uint32_t rep = 1; rep <= a.reps; ++rep) {
    std::string load = first_line_of("cut -d' ' -f1-3 /proc/loadavg");
    ds.push_back(run_daemon(a, policy, rep));
    fs.push_back(run_floor(a, ds.back().mark));
    const DaemonRun& d = ds.back();
    const FloorRun& f = fs.back();
    std::printf(
        "rep %u (load %s at start, %.1f s each):\n"
        "  pathsteerd:  cpu %.2f %% (user %.2f, sys %.2f; schedstat %.2f); %lu sent (%.0f/s), "
        "%lu answered, %lu failed; %lu wakeups (%.0f/s); lateness since start p50 %.2f, "
        "p99 %.2f, max %.2f ms\n"
        "  probe_floor: cpu %.2f %% (user %.2f, sys %.2f; schedstat %.2f); %s\n",
        rep, load.c_str(), d.cpu.wall, d.cpu.total, d.cpu.user, d.cpu.sys, d.cpu.run,
        static_cast<unsigned long>(d.sent), static_cast<double>(d.sent) / d.cpu.wall,
        static_cast<unsigned long>(d.answered), static_cast<unsigned long>(d.failed),
        static_cast<unsigned long>(d.wakeups), static_cast<double>(d.wakeups) / d.cpu.wall, d.p50,
        d.p99, d.max, f.cpu.total, f.cpu.user, f.cpu.sys, f.cpu.run, f.line.c_str());
    std::fflush(stdout);
  }
  auto col = [](const auto& runs, auto get) {
    std::vector<double> v;
    for (const auto& r : runs)
      v.push_back(get(r));
    return v;
  };
  auto d_cpu = col(ds, [](const DaemonRun& r) { return r.cpu.total; });
  auto d_run = col(ds, [](const DaemonRun& r) { return r.cpu.run; });
  auto f_cpu = col(fs, [](const FloorRun& r) { return r.cpu.total; });
  auto d_p99 = col(ds, [](const DaemonRun& r) { return r.p99; });
  std::vector<double> excess;
  for (size_t i = 0; i < ds.size(); ++i)
    excess.push_back(ds[i].cpu.total - fs[i].cpu.total);
  std::printf(
      "summary over %u reps, median (min-max):\n"
      "  pathsteerd cpu:   %s %% of one core (user %s, sys %s; schedstat %s)\n"
      "  probe_floor cpu:  %s %% of one core (user %s, sys %s)\n"
      "  pathsteerd - floor (same rep): %s points\n"
      "  pathsteerd p99 lateness: %s ms (max %s ms)\n",
      a.reps, spread(d_cpu, 2).c_str(),
      spread(col(ds, [](const DaemonRun& r) { return r.cpu.user; }), 2).c_str(),
      spread(col(ds, [](const DaemonRun& r) { return r.cpu.sys; }), 2).c_str(),
      spread(d_run, 2).c_str(), spread(f_cpu, 2).c_str(),
      spread(col(fs, [](const FloorRun& r) { return r.cpu.user; }), 2).c_str(),
      spread(col(fs, [](const FloorRun& r) { return r.cpu.sys; }), 2).c_str(),
      spread(excess, 2).c_str(), spread(d_p99, 2).c_str(),
      spread(col(ds, [](const DaemonRun& r) { return r.max; }), 2).c_str());
  bool cpu_met = median(d_cpu) <= 5.0 && median(d_run) <= 5.0;
  bool late_met = median(d_p99) <= 5.0;
  std::printf("target (medians): cpu <= 5 %% of one core: %s; p99 lateness <= 5 ms: %s\n",
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
