#include "probes/datagram_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "common/log.h"
#include "probes/probe_socket.h"

namespace pathsteer {
namespace {
using MsD = std::chrono::duration<double, std::milli>;
}  // namespace

void DatagramSession::close() {
  fd_.reset();
  queued_.clear();
  outbox_.clear();
}

bool DatagramSession::flush() {
  if (queued_.empty())
    return true;
  std::vector<OutDatagram>& out = outbox_;  // cleared, not freed: it is reused
  out.clear();
  for (Probe* p : queued_)
    out.emplace_back().probe = p;
  queued_.clear();
  write_packets(out);
  size_t i = 0;
  while (i < out.size()) {
    const size_t end = std::min(out.size(), i + kSendBatch);
    std::array<mmsghdr, kSendBatch> msgs{};
    std::array<iovec, kSendBatch> iovs{};
    for (size_t k = i; k < end; ++k) {
      iovs[k - i] = iovec{.iov_base = out[k].pkt.data(), .iov_len = out[k].len};
      msghdr& m = msgs[k - i].msg_hdr;
      m.msg_name = &out[k].dst;
      m.msg_namelen = out[k].dst_len;
      m.msg_iov = &iovs[k - i];
      m.msg_iovlen = 1;
    }
    int n = sendmmsg(fd_.get(), msgs.data(), static_cast<unsigned>(end - i), 0);
    i += n > 0 ? static_cast<size_t>(n) : 0;
    if (i == end)
      continue;
    // sendmmsg stops at the first failure; send that one alone to learn why.
    OutDatagram& d = out[i++];
    if (sendto(fd_.get(), d.pkt.data(), d.len, 0, reinterpret_cast<sockaddr*>(&d.dst), d.dst_len) >=
        0) {
      continue;
    }
    int err = errno;
    if (err == ENODEV || err == ENXIO) {
      out.clear();
      return false;
    }
    PS_LOG(kDebug) << "uplink " << uplink_.cfg.uplink << ": probe to "
                   << spec(*d.probe).target.to_string() << ": " << std::strerror(err);
    uplink_.flight.finish(*d.probe, /*answered=*/false, 0);
  }
  out.clear();
  return true;
}

void DatagramSession::poll(ProbeClock::time_point /*now*/) {
  if (!fd_.valid())
    return;
  // Replies are drained in batches with recvmmsg: at 1,000 targets x 10/s a
  // syscall per reply was most of the prober's CPU time.
  struct Slot {
    uint8_t buf[1500];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) * 2];
    sockaddr_storage from;
    iovec iov;
  };
  std::array<Slot, kReceiveBatch> slots;
  std::array<mmsghdr, kReceiveBatch> msgs{};
  std::array<Received, kReceiveBatch> got;
  while (true) {
    for (size_t i = 0; i < kReceiveBatch; ++i) {
      Slot& sl = slots[i];
      sl.iov = iovec{.iov_base = sl.buf, .iov_len = sizeof(sl.buf)};
      msgs[i].msg_hdr = receive_header(sl.from, sl.iov, sl.control);
    }
    int n = recvmmsg(fd_.get(), msgs.data(), kReceiveBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        PS_LOG(kDebug) << "uplink " << uplink_.cfg.uplink << ": recvmmsg: " << std::strerror(errno);
      }
      return;
    }
    batch_steady_ = ProbeClock::now();  // after every datagram of the batch arrived
    for (int i = 0; i < n; ++i) {
      Received& r = got[i];
      std::tie(r.from, r.from_port) = from_sockaddr(slots[i].from);
      r.data = slots[i].buf;
      r.len = msgs[i].msg_len;
      r.rx_ns = kernel_rx_ns(msgs[i].msg_hdr);
      if (r.rx_ns == 0)
        r.rx_ns = realtime_ns();
    }
    on_replies(std::span<const Received>(got.data(), static_cast<size_t>(n)));
    if (static_cast<size_t>(n) < kReceiveBatch)
      return;  // drained: no need for a call that only says EAGAIN
  }
}

void DatagramSession::answer(Probe& p, double rtt_ms) {
  // CLOCK_REALTIME may step between send and receive; then trust the
  // monotonic clock (which includes our own wake-up latency).
  double steady_ms = MsD(batch_steady_ - p.sent_steady).count();
  if (rtt_ms < 0 || rtt_ms > steady_ms + 1.0)
    rtt_ms = steady_ms;
  // Queued before we looked, but after the deadline: late; the expiry fails it.
  if (rtt_ms > MsD(uplink_.timeout).count())
    return;
  uplink_.flight.finish(p, /*answered=*/true, rtt_ms);
}

}  // namespace pathsteer
