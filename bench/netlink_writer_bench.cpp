// netlink_writer_bench: how fast do three writers install, then remove, N IPv4
// fib rules plus N IPv4 routes?
//   ours           NetlinkSocket::apply() (batched sends, every message acked)
//   ip -batch      one `ip -batch FILE` process per direction
//   ip per object  one `ip rule|route add|del ...` process per object
// Everything runs in a private network namespace the program unshares at
// start (needs root), so the host's rules and routes are never touched. After
// every install the kernel is dumped and must hold exactly the N rules and N
// routes; after every remove it must hold none of them. Usage and the output
// format: bench/README.md.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "common/net.h"
#include "netlink/reconcile.h"
#include "netlink/socket.h"
#include "netlink/types.h"

extern char** environ;

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint8_t kProto = 201;
constexpr uint32_t kMarkMask = 0x0ff00000;
constexpr uint32_t kMarkCount = 255;  // distinct non-zero marks under kMarkMask
constexpr uint32_t kTableBase = 1000;
constexpr uint32_t kPriorityBase = 10000;
constexpr const char* kDev = "psb0";
constexpr const char* kPeer = "psb1";
constexpr const char* kDevAddr = "192.0.2.1/24";
constexpr const char* kGateway = "192.0.2.2";
constexpr double kTarget = 0.5;  // issue 4: ours <= 0.5 x ip -batch

struct Args {
  int reps = 5;
  std::vector<size_t> sizes{1000, 5000};
  size_t per_process_max_n = 1000;
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "netlink_writer_bench: " << why << "\n";
  std::exit(1);
}

void usage() {
  std::cout << "usage: netlink_writer_bench [--reps N] [--sizes N,N,...] [--per-process-max-n N]\n"
               "  --reps               repetitions of every (writer, N), round-robin (default 5)\n"
               "  --sizes              object counts N (default 1000,5000)\n"
               "  --per-process-max-n  largest N the one-process-per-object writer runs for\n"
               "                       (default 1000; it spawns 2N processes per direction)\n"
               "Must run as root: it unshares a private network namespace.\n";
}

size_t parse_count(const std::string& s, const char* what) {
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v == 0)
    die(std::string("bad ") + what + ": " + s);
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--reps") {
      a.reps = static_cast<int>(parse_count(value(), "--reps"));
    } else if (arg == "--sizes") {
      a.sizes.clear();
      std::stringstream ss(value());
      for (std::string item; std::getline(ss, item, ',');)
        a.sizes.push_back(parse_count(item, "--sizes"));
    } else if (arg == "--per-process-max-n") {
      a.per_process_max_n = parse_count(value(), "--per-process-max-n");
    } else if (arg == "-h" || arg == "--help") {
      usage();
      std::exit(0);
    } else {
      usage();
      die("unknown argument " + arg);
    }
  }
  for (size_t n : a.sizes) {
    if (n > 65536)
      die("N must be <= 65536 (routes are 10.X.Y.0/24)");
  }
  return a;
}

// ---- the objects -------------------------------------------------------------

uint32_t table_of(size_t i) {
  return kTableBase + static_cast<uint32_t>(i % kMarkCount);
}
uint32_t mark_of(size_t i) {
  return static_cast<uint32_t>(i % kMarkCount + 1) << 20;
}
uint32_t priority_of(size_t i) {
  return kPriorityBase + static_cast<uint32_t>(i);
}
std::string dst_of(size_t i) {
  return "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24";
}

Rule rule_of(size_t i) {
  return Rule{.family = AF_INET,
              .priority = priority_of(i),
              .fwmark = mark_of(i),
              .fwmask = kMarkMask,
              .table = table_of(i),
              .action = FR_ACT_TO_TBL,
              .protocol = kProto};
}

Route route_of(size_t i, int ifindex) {
  return Route{.family = AF_INET,
               .table = table_of(i),
               .dst = *Prefix::parse(dst_of(i)),
               .gateway = *IpAddr::parse(kGateway),
               .oif = ifindex,
               .protocol = kProto};
}

// ip(8) arguments after "rule" / "route" and the verb.
std::string rule_args(size_t i) {
  char mark[16];
  std::snprintf(mark, sizeof(mark), "0x%x", mark_of(i));
  return std::string("fwmark ") + mark + "/0x0ff00000 lookup " + std::to_string(table_of(i)) +
         " pref " + std::to_string(priority_of(i)) + " proto " + std::to_string(kProto);
}
std::string route_args(size_t i) {
  return dst_of(i) + " via " + kGateway + " dev " + kDev + " table " + std::to_string(table_of(i)) +
         " proto " + std::to_string(kProto);
}

// One step of a direction: object i, a route or a rule.
struct Step {
  bool is_rule = false;
  size_t i = 0;
};

// The order every writer uses is the reconciler's own: diff_kernel() of all
// N rules and routes against an empty kernel (install) or of nothing against
// them (remove), so the benchmark measures what pathsteerd actually sends.
std::vector<Step> steps(size_t n, bool install, int ifindex) {
  DesiredKernel all;
  for (size_t i = 0; i < n; ++i) {
    all.rules.push_back(rule_of(i));
    all.routes.push_back(route_of(i, ifindex));
  }
  OwnedSlice slice;
  slice.rule_priority_lo = kPriorityBase;
  slice.rule_priority_hi = kPriorityBase + static_cast<uint32_t>(n);
  slice.table_lo = kTableBase;
  slice.table_hi = kTableBase + kMarkCount;
  slice.protocol = 201;  // as rule_of() and route_of()
  KernelDiff d = install ? diff_kernel(all, {}, {}, slice)
                         : diff_kernel(DesiredKernel{}, all.rules, all.routes, slice);
  if (d.changes.size() != 2 * n || !d.conflicts.empty())
    die("diff_kernel gave " + std::to_string(d.changes.size()) + " changes for " +
        std::to_string(2 * n) + " objects");
  std::vector<Step> out;
  out.reserve(2 * n);
  for (const Change& c : d.changes) {
    if (const auto* r = std::get_if<Rule>(&c.object)) {
      out.push_back(Step{.is_rule = true, .i = r->priority - kPriorityBase});
    } else {
      const Route& rt = std::get<Route>(c.object);  // 10.(i/256).(i%256).0/24
      out.push_back(
          Step{.is_rule = false, .i = size_t{rt.dst.addr.bytes[1]} * 256 + rt.dst.addr.bytes[2]});
    }
  }
  return out;
}

std::string ip_line(const Step& s, bool install) {
  const char* verb = install ? " add " : " del ";
  return s.is_rule ? std::string("rule") + verb + rule_args(s.i)
                   : std::string("route") + verb + route_args(s.i);
}

Change change_of(const Step& s, bool install, int ifindex) {
  Change::Op op = install ? Change::Op::kAdd : Change::Op::kDelete;
  if (s.is_rule)
    return Change{.op = op, .object = rule_of(s.i)};
  return Change{.op = op, .object = route_of(s.i, ifindex)};
}

// ---- processes ---------------------------------------------------------------

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::stringstream ss(s);
  for (std::string w; ss >> w;)
    words.push_back(w);
  return words;
}

// Runs argv (PATH lookup) with stdout on /dev/null and stderr inherited, and
// waits for it. Returns false (after saying why) unless it exits 0.
bool run_command(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    std::cerr << "spawn " << argv[0] << ": " << std::strerror(rc) << "\n";
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      std::cerr << "waitpid: " << std::strerror(errno) << "\n";
      return false;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv)
      cmd += a + " ";
    std::cerr << "command failed (status " << status << "): " << cmd << "\n";
    return false;
  }
  return true;
}

bool sh(const std::string& cmd) {
  return run_command({"sh", "-c", cmd});
}

using bench::first_line_of;

// ---- writers -----------------------------------------------------------------

enum class Writer { kOurs, kIpBatch, kIpPerObject };
constexpr Writer kWriters[] = {Writer::kOurs, Writer::kIpBatch, Writer::kIpPerObject};

const char* writer_name(Writer w) {
  switch (w) {
    case Writer::kOurs:
      return "ours (apply)";
    case Writer::kIpBatch:
      return "ip -batch";
    case Writer::kIpPerObject:
      return "ip per object";
  }
  return "?";
}

// Everything a writer needs for one direction, built before the clock starts.
struct Prepared {
  std::vector<Change> changes;                // ours
  std::string batch_file;                     // ip -batch
  std::vector<std::vector<std::string>> cmd;  // ip per object
};

Prepared prepare(Writer w, size_t n, int ifindex, bool install, const std::string& dir) {
  Prepared p;
  const std::vector<Step> order = steps(n, install, ifindex);
  switch (w) {
    case Writer::kOurs:
      for (const Step& s : order)
        p.changes.push_back(change_of(s, install, ifindex));
      break;
    case Writer::kIpBatch: {
      p.batch_file = dir + "/" + (install ? "install" : "remove") + "-" + std::to_string(n);
      std::ofstream f(p.batch_file);
      for (const Step& s : order)
        f << ip_line(s, install) << "\n";
      if (!f)
        die("cannot write " + p.batch_file);
      break;
    }
    case Writer::kIpPerObject:
      for (const Step& s : order) {
        std::vector<std::string> argv{"ip"};
        for (auto& word : split_words(ip_line(s, install)))
          argv.push_back(std::move(word));
        p.cmd.push_back(std::move(argv));
      }
      break;
  }
  return p;
}

// Runs one direction; returns false after printing the first failure.
bool execute(Writer w, const Prepared& p, NetlinkSocket& sock) {
  switch (w) {
    case Writer::kOurs: {
      bool good = true;
      for (const auto& r : sock.apply(p.changes)) {
        if (!r.result) {
          std::cerr << "apply: " << r.result.error().to_string() << "\n";
          good = false;
        }
      }
      return good;
    }
    case Writer::kIpBatch:
      return run_command({"ip", "-batch", p.batch_file});
    case Writer::kIpPerObject:
      for (const auto& argv : p.cmd) {
        if (!run_command(argv))
          return false;
      }
      return true;
  }
  return false;
}

// ---- verification ------------------------------------------------------------

using RuleKey = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint8_t>;
using RouteKey = std::tuple<uint32_t, std::string, std::string, int, uint8_t>;

RuleKey key(const Rule& r) {
  return {r.priority, r.fwmark, r.fwmask, r.table, r.action};
}
RouteKey key(const Route& r) {
  return {r.table, r.dst.to_string(), r.gateway ? r.gateway->to_string() : "", r.oif, r.type};
}

// The kernel must hold exactly objects 0..n-1 of ours (n = 0: none at all).
bool verify(NetlinkSocket& sock, size_t n, int ifindex, const std::string& when) {
  auto rules = sock.dump_rules(AF_INET);
  auto routes = sock.dump_routes(AF_INET);
  if (!rules || !routes) {
    std::cerr << "verify " << when << ": dump failed: "
              << (!rules ? rules.error().to_string() : routes.error().to_string()) << "\n";
    return false;
  }
  std::vector<RuleKey> have_rules, want_rules;
  std::vector<RouteKey> have_routes, want_routes;
  for (const auto& r : *rules) {
    if (r.protocol == kProto)
      have_rules.push_back(key(r));
  }
  for (const auto& r : *routes) {
    if (r.protocol == kProto)
      have_routes.push_back(key(r));
  }
  for (size_t i = 0; i < n; ++i) {
    want_rules.push_back(key(rule_of(i)));
    want_routes.push_back(key(route_of(i, ifindex)));
  }
  std::sort(have_rules.begin(), have_rules.end());
  std::sort(want_rules.begin(), want_rules.end());
  std::sort(have_routes.begin(), have_routes.end());
  std::sort(want_routes.begin(), want_routes.end());
  if (have_rules == want_rules && have_routes == want_routes)
    return true;
  std::cerr << "verify " << when << ": kernel holds " << have_rules.size() << " rules and "
            << have_routes.size() << " routes of proto " << int{kProto} << ", expected exactly "
            << n << " of each (and the same ones)\n";
  return false;
}

// ---- statistics and output ---------------------------------------------------

struct Sample {
  double install_ms = 0;
  double remove_ms = 0;
  double cpu_ms = 0;  // user + sys of the writer (this process, or its ip children)
  double total_ms() const { return install_ms + remove_ms; }
};

struct Stat {
  double median = 0, min = 0, max = 0;
};

Stat stat_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t k = v.size();
  double median = k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
  return Stat{.median = median, .min = v.front(), .max = v.back()};
}

template <typename F>
Stat stat_of(const std::vector<Sample>& samples, F field) {
  std::vector<double> v;
  for (const auto& s : samples)
    v.push_back(field(s));
  return stat_of(std::move(v));
}

// CPU time (user + sys) of this process plus its waited-for children. The
// kernel's netlink work runs in the sender's sendmsg, so it is included.
double cpu_ms_now() {
  auto ms = [](const rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
  };
  rusage self{}, children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  return ms(self) + ms(children);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 100 ? "%.2f" : "%.0f", v);
  return buf;
}

std::string cell(const Stat& s) {
  return fmt(s.median) + " [" + fmt(s.min) + ".." + fmt(s.max) + "]";
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

void print_machine(const Args& a) {
  std::string cpu =
      first_line_of("grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
  utsname u{};
  uname(&u);
  std::cout << "netlink_writer_bench: install then remove N IPv4 rules + N IPv4 routes\n"
            << "machine:\n"
            << "  cpu:     " << cpu << "\n"
            << "  nproc:   " << sysconf(_SC_NPROCESSORS_ONLN) << "\n"
            << "  kernel:  " << u.sysname << " " << u.release << " " << u.version << " "
            << u.machine << "\n"
            << "  ip:      " << first_line_of("ip -V") << "\n"
            << "  load:    " << first_line_of("cat /proc/loadavg") << " (/proc/loadavg at start)\n"
            << "inputs:\n"
            << "  N:       ";
  for (size_t i = 0; i < a.sizes.size(); ++i)
    std::cout << (i ? ", " : "") << a.sizes[i];
  std::cout << "; reps " << a.reps
            << " per (writer, N), round-robin over writers (order rotated each rep)\n"
            << "  rule i:  fwmark ((i%255)+1)<<20/0x0ff00000 lookup 1000+(i%255) pref 10000+i "
               "proto 201 (IPv4)\n"
            << "  route i: 10.(i/256).(i%256).0/24 via " << kGateway << " dev " << kDev
            << " table 1000+(i%255) proto 201 (unicast; " << kDev << " is a veth with " << kDevAddr
            << ")\n"
            << "  order:   the reconciler's (diff_kernel): install = N route adds, then N rule "
               "adds in descending priority; remove = N rule dels, then N route dels\n"
            << "  ours:    one NetlinkSocket::apply() of 2N changes per direction (default "
               "Options: <=64 KiB and <=256 messages per send, every message acked)\n"
            << "  ip -batch: one `ip -batch FILE` per direction (FILE of 2N lines)\n"
            << "  ip per object: 2N sequential `ip rule|route add|del ...` processes per "
               "direction (only N <= "
            << a.per_process_max_n << ")\n"
            << "  timed:   the writer only (changes, batch files and argv built before; the "
               "kernel dump that checks the result after)\n"
            << "  network: a private namespace unshared at start; the host is not touched\n";
}

void print_results(const Args& a,
                   const std::map<std::pair<Writer, size_t>, std::vector<Sample>>& samples,
                   bool* all_met) {
  std::cout << "results: milliseconds, median [min..max] over " << a.reps
            << " reps; every run checked against a kernel dump\n"
            << "  wall = elapsed time; cpu = user+sys of the writer incl. the kernel's netlink "
               "work (less sensitive to a busy machine)\n";
  *all_met = true;
  for (size_t n : a.sizes) {
    std::cout << "N=" << n << " (" << n << " rules + " << n << " routes)\n"
              << "  " << pad("writer", 15) << pad("wall install", 24) << pad("wall remove", 24)
              << pad("wall total", 24) << pad("cpu total", 24) << "us/object\n";
    for (Writer w : kWriters) {
      auto it = samples.find({w, n});
      if (it == samples.end()) {
        std::cout << "  " << pad(writer_name(w), 15) << "skipped: N > --per-process-max-n "
                  << a.per_process_max_n << " (" << 4 * n
                  << " ip processes per rep); not measured\n";
        continue;
      }
      const auto& v = it->second;
      Stat total = stat_of(v, [](const Sample& s) { return s.total_ms(); });
      std::cout << "  " << pad(writer_name(w), 15)
                << pad(cell(stat_of(v, [](const Sample& s) { return s.install_ms; })), 24)
                << pad(cell(stat_of(v, [](const Sample& s) { return s.remove_ms; })), 24)
                << pad(cell(total), 24)
                << pad(cell(stat_of(v, [](const Sample& s) { return s.cpu_ms; })), 24)
                << fmt(total.median * 1000 / (4.0 * n)) << "\n";
    }
    const auto& ours = samples.at({Writer::kOurs, n});
    const auto& batch = samples.at({Writer::kIpBatch, n});
    auto ratio = [&](auto field) {
      return stat_of(ours, field).median / stat_of(batch, field).median;
    };
    // Runs of the same rep ran back to back, so their ratio cancels slow drifts.
    std::vector<double> paired;
    for (size_t r = 0; r < ours.size() && r < batch.size(); ++r)
      paired.push_back(ours[r].total_ms() / batch[r].total_ms());
    double wall_total = ratio([](const Sample& s) { return s.total_ms(); });
    bool met = wall_total <= kTarget;
    *all_met = *all_met && met;
    char line[320];
    std::snprintf(line, sizeof(line),
                  "  ours / ip -batch: wall install %.2f, remove %.2f, total %.2f (median of "
                  "per-rep ratios %.2f); cpu total %.2f\n"
                  "  target wall total <= %.2f x ip -batch: %s\n",
                  ratio([](const Sample& s) { return s.install_ms; }),
                  ratio([](const Sample& s) { return s.remove_ms; }), wall_total,
                  stat_of(paired).median, ratio([](const Sample& s) { return s.cpu_ms; }), kTarget,
                  met ? "MET" : "MISSED");
    std::cout << line;
  }
}

int run(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  if (geteuid() != 0)
    die("must run as root (it unshares a private network namespace)");
  if (unshare(CLONE_NEWNET) != 0)
    die(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno));
  if (!sh(std::string("ip link set lo up && ip link add ") + kDev + " type veth peer name " +
          kPeer + " && ip link set " + kPeer + " up && ip link set " + kDev +
          " up && ip addr add " + kDevAddr + " dev " + kDev)) {
    die("namespace setup failed");
  }
  int ifindex = static_cast<int>(if_nametoindex(kDev));
  if (ifindex <= 0)
    die(std::string("no ") + kDev);

  auto writer_sock = NetlinkSocket::open();
  auto check_sock = NetlinkSocket::open();
  if (!writer_sock || !check_sock)
    die("netlink socket: " +
        (!writer_sock ? writer_sock.error().to_string() : check_sock.error().to_string()));
  if (!verify(*check_sock, 0, ifindex, "before the first run"))
    return 1;

  char dir_template[] = "/tmp/ps-netlink-bench-XXXXXX";
  if (!mkdtemp(dir_template))
    die(std::string("mkdtemp: ") + std::strerror(errno));
  const std::string dir = dir_template;

  print_machine(args);
  std::cout << std::flush;

  std::map<std::pair<Writer, size_t>, std::vector<Sample>> samples;
  bool failed = false;
  for (int rep = 0; rep < args.reps && !failed; ++rep) {
    for (size_t n : args.sizes) {
      for (size_t k = 0; k < std::size(kWriters) && !failed; ++k) {
        Writer w = kWriters[(k + static_cast<size_t>(rep)) % std::size(kWriters)];
        if (w == Writer::kIpPerObject && n > args.per_process_max_n)
          continue;
        Prepared install = prepare(w, n, ifindex, true, dir);
        Prepared remove = prepare(w, n, ifindex, false, dir);
        std::string what = std::string(writer_name(w)) + " N=" + std::to_string(n) + " rep " +
                           std::to_string(rep + 1);
        double cpu0 = cpu_ms_now();
        auto t0 = Clock::now();
        bool good = execute(w, install, *writer_sock);
        auto t1 = Clock::now();
        double cpu1 = cpu_ms_now();
        if (!good || !verify(*check_sock, n, ifindex, "after install, " + what)) {
          failed = true;
          break;
        }
        double cpu2 = cpu_ms_now();
        auto t2 = Clock::now();
        good = execute(w, remove, *writer_sock);
        auto t3 = Clock::now();
        double cpu3 = cpu_ms_now();
        if (!good || !verify(*check_sock, 0, ifindex, "after remove, " + what)) {
          failed = true;
          break;
        }
        using Ms = std::chrono::duration<double, std::milli>;
        Sample s{.install_ms = Ms(t1 - t0).count(),
                 .remove_ms = Ms(t3 - t2).count(),
                 .cpu_ms = (cpu1 - cpu0) + (cpu3 - cpu2)};
        samples[{w, n}].push_back(s);
        std::cerr << "  done: " << what << ": wall " << fmt(s.total_ms()) << " ms, cpu "
                  << fmt(s.cpu_ms) << " ms\n";
      }
    }
  }
  std::filesystem::remove_all(dir);
  if (failed) {
    std::cout << "FAILED: a writer did not leave the kernel in the expected state (see stderr)\n";
    return 1;
  }
  bool all_met = false;
  print_results(args, samples, &all_met);
  std::cout << "target (issue 4: ours <= " << kTarget << " x ip -batch, wall total): "
            << (all_met ? "MET for every N" : "MISSED for at least one N") << "\n";
  return 0;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  try {
    return pathsteer::run(argc, argv);
  } catch (const std::exception& e) {  // allocation or filesystem failures
    std::cerr << "netlink_writer_bench: " << e.what() << "\n";
    return 1;
  }
}
