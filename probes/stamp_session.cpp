#include "probes/stamp_session.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/errqueue.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "probes/probe_socket.h"
#include "probes/stamp.h"

namespace pathsteer {

Result<void> StampSession::open() {
  const std::string& ifname = uplink_.cfg.ifname;
  const std::string ctx = "udp probe socket " + family_name(family_) + " on " + ifname + ": ";
  Fd fd(socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd.valid())
    return system_error(ctx + "socket", errno);
  if (auto r = prepare_socket(fd.get(), ifname, uplink_.cfg.fwmark, ctx); !r)
    return r;
  if (auto r = grow_receive_buffer(fd.get(), ctx); !r)
    return r;
  auto r = family_ == AF_INET
               ? set_int_opt(fd.get(), SOL_IP, IP_RECVERR, 1, ctx + "IP_RECVERR")
               : set_int_opt(fd.get(), SOL_IPV6, IPV6_RECVERR, 1, ctx + "IPV6_RECVERR");
  if (!r)
    return r;
  fd_ = std::move(fd);
  return ok();
}

void StampSession::poll(ProbeClock::time_point now) {
  if (!fd_.valid())
    return;
  take_errors();
  DatagramSession::poll(now);
}

void StampSession::write_packets(std::span<OutDatagram> batch) {
  for (OutDatagram& d : batch) {
    const ProbeSpec& s = spec(*d.probe);
    d.dst_len = to_sockaddr(s.target, s.port, uplink_.ifindex, d.dst);
    auto pkt = encode_sender_packet(static_cast<uint32_t>(d.probe->id),
                                    to_stamp_timestamp(to_timespec(d.probe->sent_realtime_ns)));
    d.len = pkt.size();
    std::copy_n(pkt.begin(), d.len, d.pkt.begin());
  }
}

void StampSession::on_replies(std::span<const Received> batch) {
  for (const Received& r : batch) {
    auto reply = decode_reflected_packet(std::span<const uint8_t>(r.data, r.len));
    if (!reply)
      continue;
    Probe* p = uplink_.flight.find_seq<uint32_t>(reply->sender_seq);
    if (p == nullptr)
      continue;  // late, duplicate or foreign
    const ProbeSpec& s = spec(*p);
    if (s.method != ProbeMethod::kUdp || s.target != r.from || s.port != r.from_port)
      continue;
    answer(*p, stamp_rtt_ms(*reply, to_timespec(r.rx_ns)));
  }
}

void StampSession::take_errors() {
  uint8_t buf[256];
  alignas(cmsghdr) char control[512];
  while (true) {
    sockaddr_storage dst{};
    iovec iov{.iov_base = buf, .iov_len = sizeof(buf)};
    msghdr msg = receive_header(dst, iov, control);
    ssize_t n = recvmsg(fd_.get(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    bool icmp = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        sock_extended_err ee{};
        std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
        icmp = ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6;
      }
    }
    // The error queue returns our own datagram: its first 4 bytes are the
    // STAMP sequence number.
    auto sent = decode_sender_packet(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    if (!icmp || !sent)
      continue;
    Probe* p = uplink_.flight.find_seq<uint32_t>(sent->seq);
    if (p == nullptr)
      continue;
    auto [addr, port] = from_sockaddr(dst);
    const ProbeSpec& s = spec(*p);
    if (s.method != ProbeMethod::kUdp || s.target != addr || s.port != port)
      continue;
    uplink_.flight.finish(*p, /*answered=*/false, 0);
  }
}

}  // namespace pathsteer
