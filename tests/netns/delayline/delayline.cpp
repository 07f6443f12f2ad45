// ps_delayline: a TUN delay line for the netns tests (this kernel has no netem).
//
//   ps_delayline --dev NAME --delay-ms D [--jitter-ms J] [--seed S] [--log FILE] [--no-rt]
//
// Creates (or attaches to) TUN device NAME (IFF_TUN | IFF_NO_PI) in the network namespace it
// runs in and sets it up. Every packet read from the device is held for a delay drawn
// uniformly from [D - J, D + J] (clamped at 0), then written back into the same device, so
// the kernel receives it as arriving on NAME and forwards or delivers it. The caller routes
// traffic into the device (see tests/netns/delayline/harness.py).
//
// Ordering: packets are released in order of their release time (a min-heap), so jitter
// larger than the packet spacing reorders them, as netem does. RFC 3550 jitter is defined on
// transit-time differences either way.
//
// Accuracy: all threads run SCHED_FIFO (root; --no-rt skips it) with memory locked, so a
// busy CPU delays a release by microseconds, not by a scheduler slice. The reader blocks in
// read() and stamps the arrival with CLOCK_MONOTONIC; the writer sleeps to the release time
// on CLOCK_MONOTONIC with an absolute deadline (pthread_cond_clockwait: the same hrtimer
// sleep as clock_nanosleep(TIMER_ABSTIME), but the reader can cut it short without a race
// when a packet with an earlier release time arrives).
//
// Protocol on stdin/stdout: prints "ready NAME" once the device is up. A line
// "set D J" (milliseconds, decimals allowed) changes delay and jitter for packets read from
// then on and answers "ok". End of stdin or SIGTERM ends the program; the device goes away
// with it unless it was created persistent beforehand (ip tuntap add).
//
// --log FILE: one line per packet written back, flushed at once:
//   <arrival_ns> <written_ns> <applied_us> <nominal_us> <late_us> <family> <proto>
//   <icmp_type> <icmp_id> <icmp_seq> <len>
// (CLOCK_MONOTONIC ns; applied = written - arrival, where written is taken after write()
// returned, so it includes the kernel's processing of the packet; nominal = the drawn delay;
// late = how long after its release time the writer started write(); the icmp_* fields are
// -1 unless the packet is ICMP/ICMPv6 without IPv6 extension headers).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string dev;
  double delay_ms = -1;
  double jitter_ms = 0;
  std::optional<uint64_t> seed;
  std::string log_path;
  bool realtime = true;
};

struct Packet {
  int64_t arrival_ns;
  int64_t release_ns;
  int64_t nominal_ns;
  uint64_t order;  // arrival order, breaks ties so equal release times stay FIFO
  std::vector<uint8_t> data;
};

struct Later {
  bool operator()(const Packet& a, const Packet& b) const {
    return a.release_ns != b.release_ns ? a.release_ns > b.release_ns : a.order > b.order;
  }
};

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

timespec to_timespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

[[noreturn]] void die(const std::string& what, int err = errno) {
  std::fprintf(stderr, "ps_delayline: %s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "ps_delayline: %s\nusage: ps_delayline --dev NAME --delay-ms D [--jitter-ms J] "
               "[--seed S] [--log FILE] [--no-rt]\n",
               msg);
  std::exit(2);
}

double parse_ms(const char* s, const char* what) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !std::isfinite(v) || v < 0)
    usage(what);
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc)
        usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--dev")
      o.dev = value();
    else if (a == "--delay-ms")
      o.delay_ms = parse_ms(value(), "bad --delay-ms");
    else if (a == "--jitter-ms")
      o.jitter_ms = parse_ms(value(), "bad --jitter-ms");
    else if (a == "--seed")
      o.seed = std::strtoull(value(), nullptr, 0);
    else if (a == "--log")
      o.log_path = value();
    else if (a == "--no-rt")
      o.realtime = false;
    else
      usage(("unknown argument " + a).c_str());
  }
  if (o.dev.empty() || o.dev.size() >= IFNAMSIZ)
    usage("--dev NAME is required (at most 15 characters)");
  if (o.delay_ms < 0)
    usage("--delay-ms is required");
  return o;
}

int open_tun(const std::string& dev) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    die("open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    die("TUNSETIFF " + dev);
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    die("socket");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
    die("SIOCGIFFLAGS " + dev);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
    die("SIOCSIFFLAGS " + dev);
  close(sock);
  return fd;
}

// ICMP echo fields of an IPv4/IPv6 packet, for the log: family, proto, type, id, seq.
struct Summary {
  int family = 0, proto = -1, type = -1, id = -1, seq = -1;
};

Summary summarize(const std::vector<uint8_t>& p) {
  Summary s;
  if (p.empty())
    return s;
  size_t l4 = 0;
  if ((p[0] >> 4) == 4 && p.size() >= 20) {
    s.family = 4;
    s.proto = p[9];
    l4 = size_t{p[0] & 0x0fu} * 4;
  } else if ((p[0] >> 4) == 6 && p.size() >= 40) {
    s.family = 6;
    s.proto = p[6];
    l4 = 40;
  }
  if ((s.proto == 1 || s.proto == 58) && p.size() >= l4 + 8) {
    s.type = p[l4];
    s.id = (p[l4 + 4] << 8) | p[l4 + 5];
    s.seq = (p[l4 + 6] << 8) | p[l4 + 7];
  }
  return s;
}

class DelayLine {
 public:
  DelayLine(int tun, const Options& o, FILE* log)
      : tun_(tun), log_(log), rng_(o.seed ? *o.seed : std::random_device{}()) {
    set(o.delay_ms, o.jitter_ms);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv_, &attr);
    pthread_condattr_destroy(&attr);
  }

  void set(double delay_ms, double jitter_ms) {
    delay_ns_.store(std::llround(delay_ms * 1e6));
    jitter_ns_.store(std::llround(jitter_ms * 1e6));
  }

  void read_loop() {
    std::vector<uint8_t> buf(65536);
    for (uint64_t order = 0;; ++order) {
      ssize_t n = read(tun_, buf.data(), buf.size());
      int64_t arrival = now_ns();
      if (n < 0) {
        if (errno == EINTR)
          continue;
        die("read tun");
      }
      int64_t delay = delay_ns_.load(), jitter = jitter_ns_.load();
      if (jitter > 0)
        delay += std::uniform_int_distribution<int64_t>(-jitter, jitter)(rng_);
      delay = std::max<int64_t>(delay, 0);
      Packet p{arrival, arrival + delay, delay, order, {buf.begin(), buf.begin() + n}};
      std::lock_guard lock(mu_);
      bool new_head = heap_.empty() || Later{}(heap_.top(), p);
      heap_.push(std::move(p));
      if (new_head)
        pthread_cond_signal(&cv_);
    }
  }

  void write_loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (heap_.empty()) {
        pthread_cond_wait(&cv_, lock.mutex()->native_handle());
        continue;
      }
      int64_t release = heap_.top().release_ns;
      if (now_ns() < release) {
        timespec deadline = to_timespec(release);
        pthread_cond_clockwait(&cv_, lock.mutex()->native_handle(), CLOCK_MONOTONIC, &deadline);
        continue;  // the head may have changed while we slept
      }
      Packet p = std::move(const_cast<Packet&>(heap_.top()));
      heap_.pop();
      lock.unlock();
      int64_t woke = now_ns();
      if (write(tun_, p.data.data(), p.data.size()) < 0)
        std::fprintf(stderr, "ps_delayline: write tun: %s\n", std::strerror(errno));
      int64_t written = now_ns();
      if (log_) {
        Summary s = summarize(p.data);
        std::fprintf(
            log_,
            "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %d %d %d %d %d %zu\n",
            p.arrival_ns, written, (written - p.arrival_ns) / 1000, p.nominal_ns / 1000,
            (woke - p.release_ns) / 1000, s.family, s.proto, s.type, s.id, s.seq, p.data.size());
        std::fflush(log_);
      }
      lock.lock();
    }
  }

 private:
  int tun_;
  FILE* log_;
  std::mt19937_64 rng_;  // used by the reader thread only
  std::atomic<int64_t> delay_ns_{0}, jitter_ns_{0};
  std::mutex mu_;
  pthread_cond_t cv_;
  std::priority_queue<Packet, std::vector<Packet>, Later> heap_;
};

}  // namespace

int main(int argc, char** argv) {
  Options opts = parse_args(argc, argv);
  FILE* log = nullptr;
  if (!opts.log_path.empty() && !(log = std::fopen(opts.log_path.c_str(), "w")))
    die("open " + opts.log_path);
  if (opts.realtime) {
    // Threads created below inherit the policy.
    sched_param sp{};
    sp.sched_priority = sched_get_priority_max(SCHED_FIFO) - 1;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
      die("sched_setscheduler(SCHED_FIFO) (needs root; --no-rt to run without)");
    if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
      die("mlockall");
  }
  int tun = open_tun(opts.dev);
  DelayLine line(tun, opts, log);
  std::thread writer([&] { line.write_loop(); });
  std::thread reader([&] { line.read_loop(); });
  writer.detach();
  reader.detach();

  std::printf("ready %s\n", opts.dev.c_str());
  std::fflush(stdout);
  std::string cmd;
  while (std::getline(std::cin, cmd)) {
    double d = 0, j = 0;
    if (std::sscanf(cmd.c_str(), "set %lf %lf", &d, &j) == 2 && d >= 0 && j >= 0) {
      line.set(d, j);
      std::printf("ok\n");
    } else {
      std::printf("error: expected \"set DELAY_MS JITTER_MS\"\n");
    }
    std::fflush(stdout);
  }
  if (log)
    std::fflush(log);
  std::_Exit(0);  // the detached threads are blocked in read() and a wait
}
