// forward_bench_flood: sends small UDP packets as fast as it can for a given
// time, from one socket-less raw sender, every packet from the next source
// port (so with --fresh every packet starts a new flow) or all from one.
// A helper of bench/forward_bench.py; the receiving side counts.
//
//   forward_bench_flood --src A --dst B --seconds S [--fresh] [--payload N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string src, dst;
  double seconds = 3;
  bool fresh = false;
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
    } else if (i + 1 < argc && flag == "--payload") {
      payload = static_cast<size_t>(std::atoi(argv[++i]));
    }
  }
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
    udp->dest = htons(9);
    udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload));
    iov[i] = {bufs[i].data(), len};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof(to);
  }
  uint32_t port = 1024;
  uint64_t sent = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < kBatch; ++i) {
      auto* udp = reinterpret_cast<udphdr*>(bufs[i].data() + sizeof(iphdr));
      udp->source = htons(static_cast<uint16_t>(port));
      if (fresh && ++port > 65535) {
        port = 1024;
      }
    }
    int n = sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
    }
  }
  std::printf("%llu\n", static_cast<unsigned long long>(sent));
  return 0;
}
