// probe_floor: the kernel floor for probe_bench. The least a user-space ICMP prober can do for
// N targets at R probes/s each: one raw ICMP socket set up like pathsteerd's (SO_BINDTODEVICE,
// SO_MARK, SO_TIMESTAMPNS, DF, ICMP_FILTER, 4 MiB receive buffer), the same schedule (target i of N
// due at i * interval / N inside each interval, everything due within --slack-us sent per wakeup
// with one sendmmsg per 64 packets), replies drained with recvmmsg at every wakeup (and at least
// every
// --slack-us while probes are in flight), matched by echo identifier and sequence number, RTT from
// the kernel receive timestamp. Nothing else: no health, no rounds, no event loop, no API.
// probe_bench runs it in the same namespaces, on the same CPU, with the same inputs, and
// measures its CPU time the same way as the daemon's.
//
// Usage: probe_floor --ifname IF [--mark M] [--targets N] [--rate HZ] [--slack-us US]
//        [--timeout-ms MS] [--seconds S] [--hdrinc 0|1]
// --hdrinc 1: IP_HDRINCL with our own IPv4 header, as pathsteerd does (probe_bench passes it).
// Targets are 10.100.i/256.i%256 (probe_bench's). Runs S seconds (default: until SIGTERM), then
// prints one line: "seconds T sent A send_errors E answered B late_p99_ms C wakeups D"
// (send_errors: datagrams the kernel refused, also counted in sent).
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "probe_floor: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int64_t now_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint16_t checksum(const uint8_t* d, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2)
    sum += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Packet {
  std::array<uint8_t, 20> ip{};     // IPv4 header, sent only with --hdrinc
  std::array<uint8_t, 24> bytes{};  // ICMP header + 16 bytes payload, like pathsteerd's
  sockaddr_in dst{};
};

}  // namespace

int main(int argc, char** argv) {
  std::string ifname;
  uint32_t mark = 0, targets = 1000, rate = 10, slack_us = 4000, timeout_ms = 500, seconds = 0;
  bool hdrinc = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    uint32_t n = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 0));
    if (k == "--ifname")
      ifname = v;
    else if (k == "--mark")
      mark = n;
    else if (k == "--targets" && n >= 1 && n <= 65000)
      targets = n;
    else if (k == "--rate" && n >= 1 && n <= 100)
      rate = n;
    else if (k == "--slack-us")
      slack_us = n;
    else if (k == "--timeout-ms")
      timeout_ms = n;
    else if (k == "--seconds")
      seconds = n;
    else if (k == "--hdrinc")
      hdrinc = n != 0;
    else {
      std::fprintf(stderr, "probe_floor: bad argument %s (see the header of probe_floor.cpp)\n",
                   k.c_str());
      return 1;
    }
  }
  if (ifname.empty()) {
    std::fprintf(stderr, "probe_floor: --ifname is required\n");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0)
    die("socket");
  int one = 1, df = IP_PMTUDISC_DO, m = static_cast<int>(mark), rcvbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0 ||
      (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m)) != 0) ||
      setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_IP, IP_MTU_DISCOVER, &df, sizeof(df)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    die("setsockopt");
  if (hdrinc && setsockopt(fd, SOL_IP, IP_HDRINCL, &one, sizeof(one)) != 0)
    die("IP_HDRINCL");
  icmp_filter filter{};
  filter.data = ~((1U << ICMP_ECHOREPLY) | (1U << ICMP_DEST_UNREACH) | (1U << ICMP_TIME_EXCEEDED) |
                  (1U << ICMP_PARAMETERPROB));
  if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter)) != 0)
    die("ICMP_FILTER");
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (tfd < 0)
    die("timerfd_create");

  const uint16_t ident = static_cast<uint16_t>(getpid());
  std::vector<Packet> pkts(targets);
  for (uint32_t i = 0; i < targets; ++i) {
    Packet& p = pkts[i];
    p.dst.sin_family = AF_INET;
    p.dst.sin_addr.s_addr = htonl((10U << 24) | (100U << 16) | i);
    p.ip[0] = 0x45;
    p.ip[6] = 0x40;  // DF
    p.ip[8] = 64;    // TTL
    p.ip[9] = 1;     // ICMP; length, id, checksum and source are the kernel's
    std::memcpy(&p.ip[16], &p.dst.sin_addr, 4);
    p.bytes[0] = 8;  // echo request
    p.bytes[4] = static_cast<uint8_t>(ident >> 8);
    p.bytes[5] = static_cast<uint8_t>(ident);
    std::memcpy(&p.bytes[8], "pathsteer probe", 16);
  }
  // Send time (CLOCK_REALTIME ns) of every sequence number; 0 = answered or never sent.
  std::vector<int64_t> sent_at(65536, 0);
  std::vector<uint32_t> late_hist(2000, 0);  // 0.01 ms buckets of lateness >= 0
  const int64_t interval_ns = 1000000000LL / rate;
  const int64_t slack_ns = static_cast<int64_t>(slack_us) * 1000;
  const int64_t timeout_ns = static_cast<int64_t>(timeout_ms) * 1000000;
  const int64_t start = now_ns(CLOCK_MONOTONIC) + 1000000;
  const int64_t end = seconds == 0 ? INT64_MAX : start + int64_t{seconds} * 1000000000;
  uint64_t round = 0, sent = 0, answered = 0, wakeups = 0, send_errors = 0;
  uint32_t next = 0;
  uint16_t seq = 0;
  int64_t last_send = 0;
  auto due = [&] {
    return start + static_cast<int64_t>(round) * interval_ns +
           interval_ns * static_cast<int64_t>(next) / static_cast<int64_t>(targets);
  };

  constexpr unsigned kBatch = 64;
  struct Slot {
    uint8_t buf[1500];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) * 2];
    sockaddr_in from;
    iovec iov;
  };
  static std::array<Slot, kBatch> slots;
  std::array<mmsghdr, kBatch> rmsgs{}, smsgs{};
  std::array<iovec, 2 * kBatch> siovs{};

  while (g_stop == 0) {
    int64_t wake = due();
    if (last_send != 0 && last_send + timeout_ns > now_ns(CLOCK_MONOTONIC))
      wake = std::min(wake, now_ns(CLOCK_MONOTONIC) + slack_ns);  // poll replies
    itimerspec its{};
    its.it_value = timespec{.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, nullptr);
    uint64_t exp = 0;
    if (read(tfd, &exp, sizeof(exp)) < 0 && errno == EINTR)
      continue;
    ++wakeups;
    // Replies.
    for (;;) {
      for (unsigned i = 0; i < kBatch; ++i) {
        slots[i].iov = iovec{.iov_base = slots[i].buf, .iov_len = sizeof(slots[i].buf)};
        msghdr& h = rmsgs[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &slots[i].from;
        h.msg_namelen = sizeof(slots[i].from);
        h.msg_iov = &slots[i].iov;
        h.msg_iovlen = 1;
        h.msg_control = slots[i].control;
        h.msg_controllen = sizeof(slots[i].control);
      }
      int n = recvmmsg(fd, rmsgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      for (int i = 0; i < n; ++i) {
        const uint8_t* b = slots[i].buf;
        size_t len = rmsgs[i].msg_len;
        size_t ihl = static_cast<size_t>(b[0] & 0x0f) * 4;
        if (len < ihl + 8 || b[ihl] != 0 || (b[ihl + 4] << 8 | b[ihl + 5]) != ident)
          continue;
        uint16_t s = static_cast<uint16_t>(b[ihl + 6] << 8 | b[ihl + 7]);
        int64_t rx = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&rmsgs[i].msg_hdr); c != nullptr;
             c = CMSG_NXTHDR(&rmsgs[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            timespec ts{};
            std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            rx = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
          }
        }
        if (sent_at[s] != 0 && rx - sent_at[s] <= timeout_ns) {
          ++answered;
          sent_at[s] = 0;
        }
      }
      if (n < static_cast<int>(kBatch))
        break;
    }
    // Sends.
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= end)
      break;
    unsigned k = 0;
    auto flush = [&] {
      for (unsigned i = 0; i < k;) {
        int n = sendmmsg(fd, smsgs.data() + i, k - i, 0);
        if (n > 0) {
          i += static_cast<unsigned>(n);
        } else {  // the first message failed (e.g. ENOBUFS): count it, go on with the rest
          ++send_errors;
          ++i;
        }
      }
      k = 0;
    };
    while (due() <= now + slack_ns) {
      int64_t late = now_ns(CLOCK_MONOTONIC) - due();
      ++late_hist[static_cast<size_t>(std::clamp<int64_t>(late / 10000, 0, 1999))];
      Packet& p = pkts[next];
      p.bytes[2] = p.bytes[3] = 0;
      p.bytes[6] = static_cast<uint8_t>(seq >> 8);
      p.bytes[7] = static_cast<uint8_t>(seq);
      uint16_t c = checksum(p.bytes.data(), p.bytes.size());
      p.bytes[2] = static_cast<uint8_t>(c >> 8);
      p.bytes[3] = static_cast<uint8_t>(c);
      sent_at[seq++] = now_ns(CLOCK_REALTIME);
      if (hdrinc)
        siovs[2 * k] = iovec{.iov_base = p.ip.data(), .iov_len = p.ip.size()};
      siovs[2 * k + (hdrinc ? 1 : 0)] =
          iovec{.iov_base = p.bytes.data(), .iov_len = p.bytes.size()};
      msghdr& h = smsgs[k].msg_hdr;
      h = msghdr{};
      h.msg_name = &p.dst;
      h.msg_namelen = sizeof(p.dst);
      h.msg_iov = &siovs[2 * k];
      h.msg_iovlen = hdrinc ? 2 : 1;
      ++sent;
      if (++k == kBatch)
        flush();
      if (++next == targets) {
        next = 0;
        ++round;
      }
    }
    flush();
    last_send = now;
  }
  uint64_t total = 0, p99 = 0;
  for (size_t b = 0; b < late_hist.size(); ++b) {
    total += late_hist[b];
    if (total * 100 >= sent * 99) {
      p99 = b + 1;
      break;
    }
  }
  std::printf("seconds %.3f sent %lu send_errors %lu answered %lu late_p99_ms %.2f wakeups %lu\n",
              static_cast<double>(now_ns(CLOCK_MONOTONIC) - start) / 1e9,
              static_cast<unsigned long>(sent), static_cast<unsigned long>(send_errors),
              static_cast<unsigned long>(answered), static_cast<double>(p99) / 100.0,
              static_cast<unsigned long>(wakeups));
  return 0;
}
