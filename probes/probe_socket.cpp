#include "probes/probe_socket.h"

#include <cerrno>
#include <cstring>

namespace pathsteer {
namespace {

bool is_link_local(const IpAddr& a) {
  return a.is_v6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

// Replies wait in the socket for up to one slack (longer when the loop
// stalls): at 10,000 probes/s the default 208 KiB (about 200 small skbs)
// overflowed under load, and every reply dropped there counted as loss.
constexpr int kReceiveBuffer = 4 << 20;

}  // namespace

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

timespec to_timespec(int64_t ns) {
  return timespec{.tv_sec = static_cast<time_t>(ns / 1000000000),
                  .tv_nsec = static_cast<long>(ns % 1000000000)};
}

int64_t kernel_rx_ns(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
  }
  return 0;
}

msghdr receive_header(sockaddr_storage& from, iovec& iov, std::span<char> control) {
  msghdr m{};
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control.data();
  m.msg_controllen = control.size();
  return m;
}

socklen_t to_sockaddr(const IpAddr& a, uint16_t port, unsigned ifindex, sockaddr_storage& out) {
  out = {};
  if (a.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
  if (is_link_local(a))
    sin6->sin6_scope_id = ifindex;
  return sizeof(sockaddr_in6);
}

std::pair<IpAddr, uint16_t> from_sockaddr(const sockaddr_storage& s) {
  IpAddr a;
  a.family = s.ss_family;
  if (s.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&s);
    std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
    return {a, ntohs(sin->sin_port)};
  }
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&s);
  std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
  return {a, ntohs(sin6->sin6_port)};
}

Result<void> set_int_opt(int fd, int level, int opt, int value, const std::string& what) {
  if (setsockopt(fd, level, opt, &value, sizeof(value)) != 0)
    return system_error(what, errno);
  return ok();
}

Result<void> prepare_socket(int fd, const std::string& ifname, uint32_t fwmark,
                            const std::string& ctx) {
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0) {
    return system_error(ctx + "SO_BINDTODEVICE", errno);
  }
  if (fwmark != 0) {
    if (auto r = set_int_opt(fd, SOL_SOCKET, SO_MARK, static_cast<int>(fwmark), ctx + "SO_MARK");
        !r) {
      return r;
    }
  }
  if (auto r = set_int_opt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, ctx + "SO_TIMESTAMPNS"); !r)
    return r;
  // Probes are small, so DF costs nothing; and for DF packets the kernel does
  // not hash a fresh IP ID per packet (__ip_select_ident was about 5% of the
  // daemon's CPU time at 10,000 probes/s). IPv4 sockets only.
  int family = 0;
  socklen_t len = sizeof(family);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) == 0 && family == AF_INET)
    return set_int_opt(fd, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, ctx + "IP_MTU_DISCOVER");
  return ok();
}

Result<void> grow_receive_buffer(int fd, const std::string& ctx) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof(kReceiveBuffer)) == 0)
    return ok();
  return set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, kReceiveBuffer, ctx + "SO_RCVBUF");
}

}  // namespace pathsteer
