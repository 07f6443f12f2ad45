// forward_bench_flood: sends small UDP packets as fast as it can from one raw
// socket until --seconds pass or SIGTERM/SIGINT comes, then prints the number
// sent. A helper of bench/forward_bench.py; the receiving side counts.
//
//   forward_bench_flood --src A --dst B --seconds S [--fresh [--first N]] [--payload N]
//
// Without --fresh every packet is {A:1024 -> B:9}, one flow. With --fresh
// packet i (counting from --first N) has the i-th 5-tuple of a sequence that
// does not repeat for 2^32 packets: the source port walks 1024..65535, then
// the destination port steps on in 20000..65535 (above the ports of the
// benchmark's rules, 1000+i). So every packet is a flow neither conntrack nor
// a flow table has seen, however long the flood runs, as long as the caller
// passes the running count as --first when it starts the next flood.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void request_stop(int /*signo*/) {
  stop_requested = 1;
}

constexpr uint32_t kSportFirst = 1024;
constexpr uint32_t kSports = 65536 - kSportFirst;
constexpr uint32_t kDportFirst = 20000;
constexpr uint32_t kDports = 65536 - kDportFirst;

}  // namespace

int main(int argc, char** argv) {
  std::string src, dst;
  double seconds = 3;
  bool fresh = false;
  uint64_t next = 0;
  size_t payload = 18;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--fresh") {
      fresh = true;
    } else if (i + 1 < argc && flag == "--src") {
      src = argv[++i];
    } else if (i + 1 < argc && flag == "--dst") {
      dst = argv[++i];
    } else if (i + 1 < argc && flag == "--seconds") {
      seconds = std::atof(argv[++i]);
    } else if (i + 1 < argc && flag == "--first") {
      next = std::strtoull(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && flag == "--payload") {
      payload = static_cast<size_t>(std::atoi(argv[++i]));
    }
  }
  // No SA_RESTART: a signal ends a blocked sendmmsg with EINTR, and the loop sees the flag.
  struct sigaction sa {};
  sa.sa_handler = request_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);  // IP_HDRINCL implied
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  inet_pton(AF_INET, dst.c_str(), &to.sin_addr);
  in_addr from{};
  inet_pton(AF_INET, src.c_str(), &from);

  constexpr int kBatch = 64;
  const size_t len = sizeof(iphdr) + sizeof(udphdr) + payload;
  std::vector<std::vector<uint8_t>> bufs(kBatch, std::vector<uint8_t>(len, 0));
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    auto* ip = reinterpret_cast<iphdr*>(bufs[i].data());
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons(static_cast<uint16_t>(len));
    ip->saddr = from.s_addr;
    ip->daddr = to.sin_addr.s_addr;
    auto* udp = reinterpret_cast<udphdr*>(bufs[i].data() + sizeof(iphdr));
    udp->source = htons(kSportFirst);
    udp->dest = htons(9);
    udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload));
    iov[i] = {bufs[i].data(), len};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof(to);
  }
  uint64_t sent = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (stop_requested == 0 && std::chrono::steady_clock::now() < end) {
    if (fresh) {
      for (int i = 0; i < kBatch; ++i) {
        // Tuples for the packets not yet sent: a short send leaves the rest for the next call.
        uint64_t k = next + static_cast<uint64_t>(i);
        auto* udp = reinterpret_cast<udphdr*>(bufs[i].data() + sizeof(iphdr));
        udp->source = htons(static_cast<uint16_t>(kSportFirst + k % kSports));
        udp->dest = htons(static_cast<uint16_t>(kDportFirst + (k / kSports) % kDports));
      }
    }
    int n = sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      next += static_cast<uint64_t>(n);
    }
  }
  std::printf("%llu\n", static_cast<unsigned long long>(sent));
  return 0;
}
