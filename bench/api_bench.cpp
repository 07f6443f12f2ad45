// api_bench: does REST API load disturb the daemon's probing? Runs the real pathsteerd
// ($PATHSTEERD or --pathsteerd; default ../daemon/pathsteerd next to this binary) with two
// uplinks, each probing one ICMP target at 10 Hz, and flaps them: every 2 s one carrier event
// (wan1 down, wan1 up, wan2 down, wan2 up, ...; the far end of the veth is set admin down/up),
// each of which makes the daemon re-plan and reprogram the kernel (two failover classes, one
// preferring each uplink). Each rep measures two S-second windows on the same daemon: a
// baseline (flaps only) and a loaded one (flaps plus R GET /v1/status per second, open loop, on
// C keep-alive connections), in alternating order. Issue 7's target: 1,000 GET /v1/status per
// second for 30 s: probe send lateness p99 <= 5 ms; API latency p99 printed.
//
// Open loop: request i is due at t0 + i / R and goes to connection i % C; its latency is
// counted from that due time, not from when it could be sent, so a stalled server shows up as
// latency of every request it delayed (no coordinated omission). A connection sends its next
// request only after the previous response (HTTP/1.1 without pipelining), so C bounds the
// requests in flight.
//
// Probe lateness of a window: the difference of the daemon's cumulative lateness histogram
// (GET /metrics pathsteer_probe_lateness_seconds) at its start and end; percentiles are the
// upper edge of their bucket. Re-plans: GET /v1/status reconcile.runs / changes_applied deltas.
//
// Network (needs root, 2 CPUs): as probe_bench, a private network and mount namespace for the
// gw (lan0 192.168.77.1/24; psb0 10.99.0.1/24 = wan1, psc0 10.98.0.1/24 = wan2) and a forked
// peer namespace (psb1 10.99.0.2, psc1 10.98.0.2, the target 10.100.0.1/32 on lo). The daemon
// runs pinned to CPU 0 (all of its threads: the loop and cpprest's pool), this program (load
// generator included) on the other CPUs. Everything dies with the program. Usage:
// bench/README.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

namespace pathsteer {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kApiPort = 9379;

struct Args {
  uint32_t rate = 1000;  // requests per second
  uint32_t conns = 8;
  uint32_t seconds = 30;
  uint32_t reps = 3;
  uint32_t flap_ms = 2000;
  std::string path = "/v1/status";
  std::string pathsteerd;
};

bench::Rig g_rig{.program = "api_bench"};  // the daemon is its child
volatile sig_atomic_t g_stop = 0;

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
    else if (k == "--rate" && v >= 1 && v <= 100000)
      a.rate = v;
    else if (k == "--conns" && v >= 1 && v <= 1000)
      a.conns = v;
    else if (k == "--seconds" && v >= 4)
      a.seconds = v;
    else if (k == "--reps" && v >= 1)
      a.reps = v;
    else if (k == "--flap-ms" && (v == 0 || v >= 200))
      a.flap_ms = v;
    else if (k == "--path" && !val.empty() && val[0] == '/')
      a.path = val;
    else
      die("bad argument " + k + " " + val +
          "\nusage: api_bench [--pathsteerd PATH] [--rate REQ/S] [--conns N] [--seconds S>=4] "
          "[--reps N] [--flap-ms MS, 0: none] [--path /v1/status]");
  }
  if (a.pathsteerd.empty()) {
    char self[4096] = {};
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
    dir = dir.substr(0, dir.rfind('/'));
    a.pathsteerd = dir + "/../daemon/pathsteerd";
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

bool private_mounts(bool bpffs) {
  return unshare(CLONE_NEWNS) == 0 &&
         mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0 &&
         (!bpffs || mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) == 0);
}

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

struct Wan {
  const char* name;
  const char* gw_if;
  const char* peer_if;
  const char* gw_addr;
  const char* peer_addr;
};
constexpr Wan kWans[2] = {{"wan1", "psb0", "psb1", "10.99.0.1", "10.99.0.2"},
                          {"wan2", "psc0", "psc1", "10.98.0.1", "10.98.0.2"}};
constexpr const char* kTarget = "10.100.0.1";
constexpr int kProbeIntervalMs = 100;

void build_network(pid_t peer) {
  std::string p = std::to_string(peer);
  sh("ip link set lo up");
  sh("ip link add lan0 type veth peer name lan0p && ip link set lan0p up && "
     "ip addr add 192.168.77.1/24 dev lan0 && ip link set lan0 up");
  int metric = 10;
  for (const Wan& w : kWans) {
    sh(std::string("ip link add ") + w.gw_if + " type veth peer name " + w.peer_if + " netns " + p);
    sh(std::string("ip addr add ") + w.gw_addr + "/24 dev " + w.gw_if + " && ip link set " +
       w.gw_if + " up");
    sh(std::string("ip route add 10.100.0.0/16 via ") + w.peer_addr + " dev " + w.gw_if +
       " metric " + std::to_string(metric));
    metric += 10;
    sh("nsenter -t " + p + " -n sh -c 'ip addr add " + w.peer_addr + "/24 dev " + w.peer_if +
       " && ip link set " + w.peer_if + " up'");
  }
  sh("nsenter -t " + p + " -n sh -c 'ip link set lo up && ip addr add " + kTarget + "/32 dev lo'");
}

// The far end of `w` admin up/down: the gw's interface gains/loses carrier.
void set_far_end(pid_t peer, const Wan& w, bool up) {
  sh("nsenter -t " + std::to_string(peer) + " -n ip link set " + w.peer_if +
     (up ? " up" : " down"));
}

std::string write_policy() {
  std::string path = g_rig.state_dir + "/bench.yaml";
  std::ofstream f(path);
  f << "version: 1\nlan_interfaces: [lan0]\ndatapath: { mode: mark }\nwans:\n";
  for (const Wan& w : kWans) {
    f << "  " << w.name << ":\n    interface: " << w.gw_if << "\n    gateway: " << w.peer_addr
      << "\n    probes:\n      - { method: icmp, target: " << kTarget << " }\n"
      << "    health: { interval_ms: " << kProbeIntervalMs
      << ", timeout_ms: 300, down_after: 3, up_after: 3 }\n";
  }
  f << "classes:\n  video:\n    match:\n      - { proto: udp, dport: 5001 }\n"
    << "    strategy: failover\n    paths: [wan2, wan1]\n"
    << "  default:\n    strategy: failover\n    paths: [wan1, wan2]\n";
  return path;
}

pid_t start_daemon(const Args& a, const std::string& policy) {
  std::string log = g_rig.state_dir + "/pathsteerd.log";
  std::string pins = "/sys/fs/bpf/api_bench";
  std::string listen = "127.0.0.1:" + std::to_string(kApiPort);
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    cpu_set_t one;  // the daemon (every thread it will start) on CPU 0
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::string state = g_rig.state_dir + "/state";
    execl(a.pathsteerd.c_str(), a.pathsteerd.c_str(), "--policy", policy.c_str(), "--state-dir",
          state.c_str(), "--pin-dir", pins.c_str(), "--listen", listen.c_str(), "--log-level",
          "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int connect_api() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kApiPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One keep-alive HTTP/1.1 exchange on fd. Returns the status code (0 on a transport error or a
// response we cannot frame) and the body. `buf` carries bytes read past a response.
int exchange(int fd, const std::string& req, std::string& buf, std::string* body) {
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return 0;
    off += static_cast<size_t>(n);
  }
  char tmp[65536];
  size_t head_end = std::string::npos;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
      return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, head_end);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto cl = lower.find("\r\ncontent-length:");
  if (head.rfind("HTTP/1.1 ", 0) != 0 || cl == std::string::npos)
    return 0;
  int status = std::atoi(head.c_str() + 9);
  size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
  size_t need = head_end + 4 + len;
  while (buf.size() < need) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
      return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
  if (body != nullptr)
    *body = buf.substr(head_end + 4, len);
  buf.erase(0, need);
  return status;
}

std::string get_or_die(const std::string& path) {
  int fd = connect_api();
  std::string buf, body;
  int status =
      fd < 0 ? 0 : exchange(fd, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n", buf, &body);
  if (fd >= 0)
    close(fd);
  if (status != 200)
    die("GET " + path + " failed (status " + std::to_string(status) + ")");
  return body;
}

std::optional<json> try_status() {
  int fd = connect_api();
  if (fd < 0)
    return std::nullopt;
  std::string buf, body;
  int status = exchange(fd, "GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n", buf, &body);
  close(fd);
  if (status != 200)
    return std::nullopt;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    return std::nullopt;
  return j;
}

// {upper edge in ms (inf for +Inf): cumulative count} of pathsteer_probe_lateness_seconds.
using Histogram = std::map<double, double>;

Histogram lateness_histogram() {
  std::istringstream in(get_or_die("/metrics"));
  Histogram h;
  const std::string prefix = "pathsteer_probe_lateness_seconds_bucket{le=\"";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0)
      continue;
    std::string le = line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size());
    double edge = le == "+Inf" ? INFINITY : std::stod(le) * 1000;
    h[edge] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  if (h.empty() || !h.count(INFINITY))
    die("/metrics has no pathsteer_probe_lateness_seconds histogram (daemon too old?)");
  return h;
}

// A sample without labels from /metrics; NAN if the daemon does not export it.
double metric_value(const std::string& name) {
  std::istringstream in(get_or_die("/metrics"));
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && line.rfind(name, 0) == 0 && line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return NAN;
}

struct CpuTimes {
  double process = 0;  // s, utime+stime of every thread
  double loop = 0;     // s, the main thread (the event loop)
};

double stat_cpu(const std::string& path) {
  std::ifstream st(path);
  std::string line;
  std::getline(st, line);
  auto rp = line.rfind(')');
  if (rp == std::string::npos)
    die("cannot read " + path + " (daemon gone?)");
  std::istringstream in(line.substr(rp + 2));
  std::vector<std::string> f;
  for (std::string w; in >> w;)
    f.push_back(w);
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f.at(11)) + std::stod(f.at(12))) / hz;
}

CpuTimes daemon_cpu(pid_t pid) {
  std::string p = "/proc/" + std::to_string(pid);
  return {stat_cpu(p + "/stat"), stat_cpu(p + "/task/" + std::to_string(pid) + "/stat")};
}

void on_signal(int) {
  g_stop = 1;
}

void check_running() {
  if (g_stop != 0)
    die("interrupted");
  int status = 0;
  if (waitpid(g_rig.child, &status, WNOHANG) != 0) {
    g_rig.child = -1;
    die("pathsteerd exited (wait status " + std::to_string(status) + ")");
  }
}

void sleep_until(Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  timespec ts{.tv_sec = static_cast<time_t>(ns / 1000000000),
              .tv_nsec = static_cast<long>(ns % 1000000000)};
  // steady_clock is CLOCK_MONOTONIC on Linux.
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void wait_all_up(const char* what) {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    check_running();
    usleep(100000);
    auto s = try_status();
    if (s && (*s)["wans"].size() == 2 && (*s)["wans"][0].value("state", "") == "up" &&
        (*s)["wans"][1].value("state", "") == "up" && (*s).value("synced", false))
      return;
    if (Clock::now() > deadline)
      die(std::string("both wans did not come up within 30 s ") + what);
  }
}

struct LoadResult {
  uint64_t sent = 0, ok = 0, errors = 0, reconnects = 0;
  std::map<int, uint64_t> error_statuses;  // 0: transport error (connection reset, timeout)
  std::vector<float> latency_ms;           // of the ok ones
};

// One connection's share of the open-loop schedule: requests first, first + conns, ...
void connection_worker(const Args& a, uint32_t first, Clock::time_point t0, Clock::time_point end,
                       LoadResult& out) {
  std::string req = "GET " + a.path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  auto period = std::chrono::nanoseconds(1000000000LL / a.rate);
  int fd = connect_api();
  std::string buf;
  for (uint64_t i = first;; i += a.conns) {
    Clock::time_point due = t0 + period * static_cast<int64_t>(i);
    if (due >= end)
      break;
    sleep_until(due);
    if (fd < 0) {
      fd = connect_api();
      ++out.reconnects;
    }
    ++out.sent;
    int status = fd < 0 ? 0 : exchange(fd, req, buf, nullptr);
    auto done = Clock::now();
    if (status == 200) {
      ++out.ok;
      out.latency_ms.push_back(std::chrono::duration<float, std::milli>(done - due).count());
    } else {
      ++out.errors;
      ++out.error_statuses[status];
      if (status == 0 && fd >= 0) {
        close(fd);
        fd = -1;
        buf.clear();
      }
    }
  }
  if (fd >= 0)
    close(fd);
}

struct Window {
  bool loaded = false;
  std::string load_at_start;
  double wall_s = 0;
  // API (loaded windows only)
  double rate = 0;
  uint64_t sent = 0, ok = 0, errors = 0;
  std::string error_kinds;  // "status:count ..."
  double api_p50 = 0, api_p99 = 0, api_max = 0;
  // probes
  double probes = 0;
  double late_p50 = 0, late_p99 = 0, late_max = 0;  // bucket upper edges, ms
  double within_5ms_pct = 0;
  // daemon
  double slow_callbacks = 0;  // event-loop callbacks longer than 2 ms
  int flaps = 0;
  uint64_t reconcile_runs = 0, changes_applied = 0;
  double cpu_pct = 0, loop_cpu_pct = 0;
};

double window_quantile(const Histogram& h0, const Histogram& h1, double q) {
  double total = h1.at(INFINITY) - h0.at(INFINITY);
  if (total <= 0)
    return NAN;
  for (const auto& [edge, count] : h1) {
    if (count - h0.at(edge) >= q * total)
      return edge;
  }
  return INFINITY;
}

double pct(std::vector<float>& v, double q) {
  if (v.empty())
    return NAN;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

Window measure(const Args& a, bool loaded, uint32_t window_index) {
  wait_all_up("before a window");
  usleep(500000);
  Window w;
  w.loaded = loaded;
  w.load_at_start = first_line_of("cut -d' ' -f1-3 /proc/loadavg");
  json s0 = *try_status();
  Histogram h0 = lateness_histogram();
  double slow0 = metric_value("pathsteer_event_loop_slow_callbacks_total");
  CpuTimes c0 = daemon_cpu(g_rig.child);
  auto t0 = Clock::now() + std::chrono::milliseconds(50);
  auto end = t0 + std::chrono::seconds(a.seconds);

  std::vector<LoadResult> results(loaded ? a.conns : 0);
  std::vector<std::thread> workers;
  for (uint32_t c = 0; loaded && c < a.conns; ++c)
    workers.emplace_back(connection_worker, std::cref(a), c, t0, end, std::ref(results[c]));

  // Flaps: event k at t0 + k * flap_ms + a shift of 0..interval-1 ms: wan1 down, wan1 up, wan2
  // down, wan2 up, ... flap_ms is a multiple of the probe interval, so without the shift every
  // event of a window would meet the probe schedule at the same phase: a window would catch a
  // probe in every stall the event causes or in none. The shifts are the same in every run.
  std::mt19937 rng(window_index);
  std::uniform_int_distribution<int> shift_ms(0, kProbeIntervalMs - 1);
  for (int k = 0; a.flap_ms > 0; ++k) {
    auto at = t0 + std::chrono::milliseconds(static_cast<int64_t>(k) * a.flap_ms + shift_ms(rng));
    if (at >= end)
      break;
    sleep_until(at);
    check_running();
    set_far_end(g_rig.peer, kWans[(k / 2) % 2], k % 2 == 1);
    ++w.flaps;
  }
  sleep_until(end);
  for (auto& t : workers)
    t.join();
  CpuTimes c1 = daemon_cpu(g_rig.child);
  w.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Histogram h1 = lateness_histogram();
  w.slow_callbacks = metric_value("pathsteer_event_loop_slow_callbacks_total") - slow0;
  json s1 = *try_status();
  for (const Wan& wan : kWans)  // back to both up for the next window
    set_far_end(g_rig.peer, wan, true);

  std::vector<float> lat;
  std::map<int, uint64_t> kinds;
  for (auto& r : results) {
    w.sent += r.sent;
    w.ok += r.ok;
    w.errors += r.errors;
    lat.insert(lat.end(), r.latency_ms.begin(), r.latency_ms.end());
    for (const auto& [st, n] : r.error_statuses)
      kinds[st] += n;
  }
  for (const auto& [st, n] : kinds)
    w.error_kinds +=
        " " + (st == 0 ? std::string("transport") : std::to_string(st)) + ":" + std::to_string(n);
  w.rate = static_cast<double>(w.ok) / static_cast<double>(a.seconds);
  w.api_p50 = pct(lat, 0.5);
  w.api_p99 = pct(lat, 0.99);
  w.api_max = lat.empty() ? NAN : *std::max_element(lat.begin(), lat.end());
  w.probes = h1.at(INFINITY) - h0.at(INFINITY);
  w.late_p50 = window_quantile(h0, h1, 0.5);
  w.late_p99 = window_quantile(h0, h1, 0.99);
  w.late_max = window_quantile(h0, h1, 1.0);
  w.within_5ms_pct = w.probes > 0 ? 100.0 * (h1.at(5.0) - h0.at(5.0)) / w.probes : NAN;
  w.reconcile_runs =
      s1["reconcile"].value("runs", uint64_t{0}) - s0["reconcile"].value("runs", uint64_t{0});
  w.changes_applied = s1["reconcile"].value("changes_applied", uint64_t{0}) -
                      s0["reconcile"].value("changes_applied", uint64_t{0});
  w.cpu_pct = 100.0 * (c1.process - c0.process) / w.wall_s;
  w.loop_cpu_pct = 100.0 * (c1.loop - c0.loop) / w.wall_s;
  return w;
}

std::string ms(double v) {
  if (std::isnan(v))
    return "-";
  if (std::isinf(v))
    return ">50";
  char b[32];
  std::snprintf(b, sizeof(b), "%.2f", v);
  return b;
}

void print_window(const char* label, const Window& w) {
  std::printf(
      "  %-8s load %s | api: %7.1f req/s ok, %lu sent, %lu errors%s, latency p50 %s p99 %s max "
      "%s ms | probes: %.0f, lateness p50 <=%s p99 <=%s max <=%s ms, %.2f %% within 5 ms | "
      "flaps %d, reconcile runs %lu, changes %lu, loop callbacks > 2 ms %.0f | cpu %.1f %% (loop "
      "thread %.1f %%)\n",
      label, w.load_at_start.c_str(), w.rate, static_cast<unsigned long>(w.sent),
      static_cast<unsigned long>(w.errors), w.error_kinds.c_str(), ms(w.api_p50).c_str(),
      ms(w.api_p99).c_str(), ms(w.api_max).c_str(), w.probes, ms(w.late_p50).c_str(),
      ms(w.late_p99).c_str(), ms(w.late_max).c_str(), w.within_5ms_pct, w.flaps,
      static_cast<unsigned long>(w.reconcile_runs), static_cast<unsigned long>(w.changes_applied),
      w.slow_callbacks, w.cpu_pct, w.loop_cpu_pct);
  std::fflush(stdout);
}

// Median, min and max of one figure over the reps.
std::string mmm(const std::vector<Window>& ws, double Window::*f) {
  std::vector<double> v;
  for (const auto& w : ws)
    v.push_back(w.*f);
  std::sort(v.begin(), v.end());
  return ms(v[v.size() / 2]) + " (" + ms(v.front()) + ".." + ms(v.back()) + ")";
}

int run(const Args& a) {
  if (geteuid() != 0)
    die("must run as root (it creates network namespaces and the daemon needs CAP_NET_ADMIN)");
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 2)
    die("needs at least 2 CPUs (one for the daemon, one for the load generator)");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  char tmpl[] = "/tmp/api_bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    die("mkdtemp");
  g_rig.state_dir = tmpl;
  if (unshare(CLONE_NEWNET) != 0 || !private_mounts(true))
    die(std::string("unshare(CLONE_NEWNET|CLONE_NEWNS) or mounting sysfs/bpffs: ") +
        std::strerror(errno));
  g_rig.peer = spawn_peer_namespace();
  cpu_set_t rest;  // this program and its load generator off the daemon's CPU
  CPU_ZERO(&rest);
  for (long c = 1; c < ncpu && c < CPU_SETSIZE; ++c)
    CPU_SET(c, &rest);
  sched_setaffinity(0, sizeof(rest), &rest);
  build_network(g_rig.peer);

  utsname u{};
  uname(&u);
  std::cout
      << "api_bench: REST API load against pathsteerd probing two flapping uplinks\n"
      << "machine:\n"
      << "  cpu:      "
      << first_line_of("grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'")
      << "\n  nproc:    " << ncpu << "\n  kernel:   " << u.sysname << " " << u.release << " "
      << u.machine << "\n  load:     " << first_line_of("cat /proc/loadavg")
      << " (/proc/loadavg at start; other work on the machine shares its CPUs)\n"
      << "inputs:\n"
      << "  daemon:   " << a.pathsteerd << " (all threads pinned to CPU 0; this program on the "
      << "others)\n"
      << "  probes:   wan1 and wan2, one ICMP target each, interval " << kProbeIntervalMs << " ms ("
      << 2000 / kProbeIntervalMs << " probes/s)\n"
      << "  flaps:    one carrier event every " << a.flap_ms << " ms + 0.." << kProbeIntervalMs - 1
      << " ms (seeded per window; wan1 down, wan1 up, wan2 down, wan2 up, ...), classes video "
      << "[wan2, wan1] and "
      << "default [wan1, wan2]: each event moves a class\n"
      << "  load:     GET " << a.path << " at " << a.rate << "/s open loop on " << a.conns
      << " keep-alive connections (latency from each request's due time)\n"
      << "  windows:  " << a.reps << " reps x (baseline: flaps only, loaded: flaps + load), "
      << a.seconds << " s each, alternating order, one daemon\n"
      << std::flush;

  g_rig.child = start_daemon(a, write_policy());
  wait_all_up("after start");
  sleep(2);

  std::vector<Window> base, loaded;
  for (uint32_t rep = 0; rep < a.reps; ++rep) {
    std::printf("rep %u:\n", rep + 1);
    for (int k = 0; k < 2; ++k) {
      bool with_load = (k == 0) == (rep % 2 == 1);
      Window w = measure(a, with_load, 2 * rep + static_cast<uint32_t>(k));
      print_window(with_load ? "loaded" : "baseline", w);
      (with_load ? loaded : base).push_back(w);
    }
  }
  std::printf(
      "medians over %u reps (min..max):\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n"
      "  %-24s %-24s %-24s\n",
      a.reps, "", "baseline (flaps only)", "loaded", "api req/s ok", "-",
      mmm(loaded, &Window::rate).c_str(), "api latency p50 ms", "-",
      mmm(loaded, &Window::api_p50).c_str(), "api latency p99 ms", "-",
      mmm(loaded, &Window::api_p99).c_str(), "api latency max ms", "-",
      mmm(loaded, &Window::api_max).c_str(),
      "probe lateness p50 ms <=", mmm(base, &Window::late_p50).c_str(),
      mmm(loaded, &Window::late_p50).c_str(),
      "probe lateness p99 ms <=", mmm(base, &Window::late_p99).c_str(),
      mmm(loaded, &Window::late_p99).c_str(),
      "probe lateness max ms <=", mmm(base, &Window::late_max).c_str(),
      mmm(loaded, &Window::late_max).c_str(), "probes within 5 ms %",
      mmm(base, &Window::within_5ms_pct).c_str(), mmm(loaded, &Window::within_5ms_pct).c_str(),
      "loop callbacks > 2 ms", mmm(base, &Window::slow_callbacks).c_str(),
      mmm(loaded, &Window::slow_callbacks).c_str(), "daemon cpu %",
      mmm(base, &Window::cpu_pct).c_str(), mmm(loaded, &Window::cpu_pct).c_str(),
      "loop thread cpu %", mmm(base, &Window::loop_cpu_pct).c_str(),
      mmm(loaded, &Window::loop_cpu_pct).c_str(), "reconcile runs",
      std::to_string(base[base.size() / 2].reconcile_runs).c_str(),
      std::to_string(loaded[loaded.size() / 2].reconcile_runs).c_str());
  uint64_t errors = 0;
  bool late_met = true;
  for (const auto& w : loaded) {
    errors += w.errors;
    late_met = late_met && w.late_p99 <= 5.0;
  }
  std::printf("target: probe lateness p99 <= 5 ms in every loaded window: %s; API errors: %lu\n",
              late_met ? "MET" : "MISSED", static_cast<unsigned long>(errors));
  cleanup();
  return late_met ? 0 : 2;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  try {
    return pathsteer::run(pathsteer::parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "api_bench: %s\n", e.what());
    return 1;
  }
}
