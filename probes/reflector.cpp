#include "probes/reflector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "common/log.h"

namespace pathsteer {

namespace {

constexpr size_t kMaxDatagram = 65536;
constexpr int kReplyTtl = 255;

Result<void> set_int(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0)
    return system_error(std::string("reflector: setsockopt ") + what, errno);
  return ok();
}

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty() || v > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(v);
}

IpAddr addr_of(const sockaddr_storage& ss, uint16_t* port) {
  IpAddr a;
  if (ss.ss_family == AF_INET) {
    const auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &sin.sin_addr, 4);
    *port = ntohs(sin.sin_port);
  } else {
    const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), &sin6.sin6_addr, 16);
    *port = ntohs(sin6.sin6_port);
  }
  return a;
}

IpAddr ipv4_of(const in_addr& a) {
  IpAddr out;
  out.family = AF_INET;
  std::memcpy(out.bytes.data(), &a, 4);
  return out;
}

double diff_us(const timespec& a, const timespec& b) {
  return static_cast<double>(a.tv_sec - b.tv_sec) * 1e6 +
         static_cast<double>(a.tv_nsec - b.tv_nsec) / 1e3;
}

}  // namespace

std::string ListenAddr::to_string() const {
  std::string a = addr.to_string();
  if (addr.is_v6())
    a = "[" + a + "]";
  return a + ":" + std::to_string(port);
}

std::optional<ListenAddr> parse_listen_addr(std::string_view s) {
  ListenAddr out;
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return std::nullopt;
      auto port = parse_port(rest.substr(1));
      if (!port)
        return std::nullopt;
      out.port = *port;
    }
    auto a = IpAddr::parse(host);
    if (!a || !a->is_v6())
      return std::nullopt;
    out.addr = *a;
    return out;
  }
  size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    host = s.substr(0, colon);  // exactly one colon: IPv4 "ADDR:PORT"
    auto port = parse_port(s.substr(colon + 1));
    if (!port)
      return std::nullopt;
    out.port = *port;
  }
  auto a = IpAddr::parse(host);
  if (!a)
    return std::nullopt;
  out.addr = *a;
  return out;
}

Result<std::unique_ptr<StampReflector>> StampReflector::create(EventLoop& loop,
                                                               ReflectorOptions opts) {
  const IpAddr& addr = opts.listen.addr;
  if (!addr.is_v4() && !addr.is_v6())
    return bug_error("reflector: listen address has no family");
  const std::string where = "reflector " + opts.listen.to_string() + ": ";
  Fd fd(socket(addr.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid())
    return system_error(where + "socket", errno);

  Result<void> r = set_int(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
  if (r && addr.is_v4()) {
    r = set_int(fd.get(), IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
    if (r)
      r = set_int(fd.get(), IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL");
    if (r)
      r = set_int(fd.get(), IPPROTO_IP, IP_TTL, kReplyTtl, "IP_TTL");
  } else if (r) {
    // V6ONLY so that a 0.0.0.0 socket on the same port can coexist (one socket per family).
    r = set_int(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    if (r)
      r = set_int(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    if (r)
      r = set_int(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
    if (r)
      r = set_int(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, kReplyTtl, "IPV6_UNICAST_HOPS");
  }
  if (!r) {
    Error e = r.take_error();
    e.context = where + e.context;
    return e;
  }

  sockaddr_storage ss{};
  socklen_t len = 0;
  if (addr.is_v4()) {
    auto& sin = reinterpret_cast<sockaddr_in&>(ss);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(opts.listen.port);
    std::memcpy(&sin.sin_addr, addr.bytes.data(), 4);
    len = sizeof(sin);
  } else {
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(opts.listen.port);
    std::memcpy(&sin6.sin6_addr, addr.bytes.data(), 16);
    len = sizeof(sin6);
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return system_error(where + "bind", errno);
  len = sizeof(ss);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return system_error(where + "getsockname", errno);
  uint16_t port = 0;
  addr_of(ss, &port);

  std::unique_ptr<StampReflector> self(
      new StampReflector(loop, std::move(opts), std::move(fd), port));
  StampReflector* raw = self.get();
  if (auto added = loop.add_fd(raw->fd_.get(), EPOLLIN, [raw](uint32_t) { raw->on_readable(); });
      !added) {
    return added.take_error();
  }
  return self;
}

StampReflector::StampReflector(EventLoop& loop, ReflectorOptions opts, Fd fd, uint16_t port)
    : loop_(loop),
      opts_(std::move(opts)),
      fd_(std::move(fd)),
      port_(port),
      limiter_(opts_.rate_limit),
      buf_(kMaxDatagram) {}

StampReflector::~StampReflector() {
  loop_.remove_fd(fd_.get());
}

void StampReflector::on_readable() {
  for (int i = 0; i < kBatch; ++i) {
    if (!handle_one())
      return;
  }
}

bool StampReflector::handle_one() {
  sockaddr_storage peer{};
  iovec iov{.iov_base = buf_.data(), .iov_len = buf_.size()};
  alignas(cmsghdr) char control[256];
  msghdr msg{};
  msg.msg_name = &peer;
  msg.msg_namelen = sizeof(peer);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      PS_LOG(kDebug) << "reflector " << opts_.listen.to_string()
                     << ": recvmsg: " << std::strerror(errno);
    }
    return errno == EINTR;
  }
  ++stats_.received;
  const auto size = static_cast<size_t>(n);

  timespec t2{};
  bool kernel_ts = false;
  int ttl = -1;
  std::optional<in_pktinfo> pkt4;
  std::optional<in6_pktinfo> pkt6;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      std::memcpy(&t2, CMSG_DATA(c), sizeof(t2));
      kernel_ts = true;
    } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
               (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
      std::memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      pkt4.emplace();
      std::memcpy(&*pkt4, CMSG_DATA(c), sizeof(in_pktinfo));
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      pkt6.emplace();
      std::memcpy(&*pkt6, CMSG_DATA(c), sizeof(in6_pktinfo));
    }
  }
  if (!kernel_ts)
    clock_gettime(CLOCK_REALTIME, &t2);
  if (ttl < 0 || ttl > 255)
    ttl = 255;

  DatagramAddrs addrs;
  addrs.src = addr_of(peer, &addrs.src_port);
  if (pkt4) {
    addrs.dst = ipv4_of(pkt4->ipi_addr);
    addrs.spec_dst = ipv4_of(pkt4->ipi_spec_dst);
  } else if (pkt6) {
    addrs.dst.family = AF_INET6;
    std::memcpy(addrs.dst.bytes.data(), &pkt6->ipi6_addr, 16);
  }
  if (ReflectorDrop d = drop_by_address(addrs, port_, opts_.allow); d != ReflectorDrop::kNone) {
    count(d);
    return true;
  }
  auto sender = decode_sender_packet(std::span<const uint8_t>(buf_.data(), size));
  if (!sender || (msg.msg_flags & MSG_TRUNC) != 0) {
    ++stats_.too_short;
    return true;
  }
  // Last, so that only datagrams we would answer spend a token.
  if (!limiter_.allow(addrs.src, EventLoop::now().time_since_epoch())) {
    count(ReflectorDrop::kRateLimited);
    return true;
  }

  // Answer from the address the sender used (wildcard sockets on multi-homed hosts); past
  // drop_by_address() that is a local unicast address.
  alignas(cmsghdr) char out_control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  msghdr out{};
  out.msg_name = &peer;
  out.msg_namelen = msg.msg_namelen;
  iovec out_iov{.iov_base = buf_.data(), .iov_len = size};
  out.msg_iov = &out_iov;
  out.msg_iovlen = 1;
  if (pkt4) {
    in_pktinfo pi{};
    pi.ipi_spec_dst = pkt4->ipi_addr;
    out.msg_control = out_control;
    out.msg_controllen = CMSG_SPACE(sizeof(pi));
    cmsghdr* c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  } else if (pkt6) {
    in6_pktinfo pi{};
    pi.ipi6_addr = pkt6->ipi6_addr;
    if (IN6_IS_ADDR_LINKLOCAL(&pkt6->ipi6_addr))
      pi.ipi6_ifindex = pkt6->ipi6_ifindex;
    out.msg_control = out_control;
    out.msg_controllen = CMSG_SPACE(sizeof(pi));
    cmsghdr* c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  }

  StampReflected reply{
      .seq = sender->seq,  // stateless reflector
      .t3 = {},
      .t2 = to_stamp_timestamp(t2),
      .sender_seq = sender->seq,
      .t1 = sender->t1,
      .sender_ttl = static_cast<uint8_t>(ttl),
      .error_estimate = opts_.error_estimate,
      .sender_error_estimate = sender->error_estimate,
  };
  timespec t3{};
  clock_gettime(CLOCK_REALTIME, &t3);
  reply.t3 = to_stamp_timestamp(t3);
  encode_reflected_packet(reply, std::span<uint8_t>(buf_.data(), size));
  if (sendmsg(fd_.get(), &out, MSG_DONTWAIT) < 0) {
    ++stats_.send_errors;
    PS_LOG(kDebug) << "reflector " << opts_.listen.to_string()
                   << ": sendmsg: " << std::strerror(errno);
    return true;
  }
  ++stats_.reflected;

  if (opts_.on_packet) {
    ListenAddr p{.addr = addrs.src, .port = addrs.src_port};
    opts_.on_packet(ReflectedPacketInfo{
        .peer = p.to_string(),
        .seq = sender->seq,
        .size = size,
        .ttl = static_cast<uint8_t>(ttl),
        .residence_us = diff_us(t3, t2),
        .kernel_timestamp = kernel_ts,
    });
  }
  return true;
}

void StampReflector::count(ReflectorDrop d) {
  switch (d) {
    case ReflectorDrop::kNone:
      return;
    case ReflectorDrop::kOwnPort:
      ++stats_.own_port;
      return;
    case ReflectorDrop::kLowPort:
      ++stats_.low_port;
      return;
    case ReflectorDrop::kMulticast:
      ++stats_.multicast;
      return;
    case ReflectorDrop::kBroadcast:
      ++stats_.broadcast;
      return;
    case ReflectorDrop::kNotAllowed:
      ++stats_.not_allowed;
      return;
    case ReflectorDrop::kRateLimited:
      ++stats_.rate_limited;
      return;
  }
}

std::string to_string(const ReflectorStats& s) {
  const std::pair<const char*, uint64_t> counters[] = {
      {"received", s.received},
      {"reflected", s.reflected},
      {"too short", s.too_short},
      {reflector_drop_name(ReflectorDrop::kOwnPort), s.own_port},
      {reflector_drop_name(ReflectorDrop::kLowPort), s.low_port},
      {reflector_drop_name(ReflectorDrop::kMulticast), s.multicast},
      {reflector_drop_name(ReflectorDrop::kBroadcast), s.broadcast},
      {reflector_drop_name(ReflectorDrop::kNotAllowed), s.not_allowed},
      {reflector_drop_name(ReflectorDrop::kRateLimited), s.rate_limited},
      {"send errors", s.send_errors},
  };
  std::string out;
  for (const auto& [name, value] : counters) {
    if (!out.empty())
      out += ", ";
    out += std::string(name) + " " + std::to_string(value);
  }
  return out;
}

}  // namespace pathsteer
