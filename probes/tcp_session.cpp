#include "probes/tcp_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/log.h"
#include "probes/probe_socket.h"

namespace pathsteer {
namespace {
using MsD = std::chrono::duration<double, std::milli>;
}  // namespace

void TcpSession::close() {
  for (Conn& c : conns_) {
    if (c.fd.valid())
      release(c);
  }
  conns_.clear();
  queued_.clear();
}

bool TcpSession::flush() {
  // Probes the Prober expired since the last look keep their socket until here.
  for (Conn& c : conns_) {
    if (c.fd.valid() && uplink_.flight.find(c.probe_id) == nullptr)
      release(c);
  }
  while (!conns_.empty() && !conns_.front().fd.valid())
    conns_.pop_front();
  for (Probe* p : queued_) {
    Start s = start(*p);
    if (s == Start::kInterfaceGone) {
      queued_.clear();
      return false;
    }
    if (s == Start::kFailed)
      uplink_.flight.finish(*p, /*answered=*/false, 0);
  }
  queued_.clear();
  return true;
}

TcpSession::Start TcpSession::start(Probe& p) {
  const ProbeSpec& spec = uplink_.cfg.probes[p.target];
  const std::string ctx =
      "tcp probe to " + spec.target.to_string() + " on " + uplink_.cfg.ifname + ": ";
  Fd fd(socket(family_, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd.valid()) {
    PS_LOG(kDebug) << ctx << "socket: " << std::strerror(errno);
    return Start::kFailed;
  }
  if (auto r = prepare_socket(fd.get(), uplink_.cfg.ifname, uplink_.cfg.fwmark, ctx); !r) {
    if (r.error().err_no == ENODEV)
      return Start::kInterfaceGone;
    PS_LOG(kDebug) << r.error().to_string();
    return Start::kFailed;
  }
  linger lg{.l_onoff = 1, .l_linger = 0};  // close() resets: no TIME_WAIT pile-up
  if (setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
    PS_LOG(kDebug) << ctx << "SO_LINGER: " << std::strerror(errno);
    return Start::kFailed;
  }
  sockaddr_storage dst{};
  socklen_t dst_len = to_sockaddr(spec.target, spec.port, uplink_.ifindex, dst);
  p.sent_steady = ProbeClock::now();
  p.sent_realtime_ns = realtime_ns();
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), dst_len) != 0 && errno != EINPROGRESS) {
    PS_LOG(kDebug) << ctx << "connect: " << std::strerror(errno);
    return Start::kFailed;
  }
  uint64_t id = p.id;
  if (auto r =
          uplink_.shared.loop.add_fd(fd.get(), EPOLLOUT, [this, id](uint32_t) { on_event(id); });
      !r) {
    PS_LOG(kDebug) << ctx << r.error().to_string();
    return Start::kFailed;
  }
  conns_.push_back(Conn{.probe_id = id, .fd = std::move(fd)});
  return Start::kConnecting;
}

void TcpSession::poll(ProbeClock::time_point now) {
  for (Conn& c : conns_) {
    if (!c.fd.valid())
      continue;
    Probe* p = uplink_.flight.find(c.probe_id);
    if (p == nullptr) {
      release(c);
      continue;
    }
    if (p->sent_steady + uplink_.timeout > now)
      break;      // this one and the later ones are not due yet
    look(c, *p);  // connected in time, with the event still queued?
  }
}

void TcpSession::on_event(uint64_t probe_id) {
  auto it = std::lower_bound(conns_.begin(), conns_.end(), probe_id,
                             [](const Conn& c, uint64_t id) { return c.probe_id < id; });
  if (it == conns_.end() || it->probe_id != probe_id || !it->fd.valid())
    return;
  Probe* p = uplink_.flight.find(probe_id);
  if (p == nullptr) {
    release(*it);
    return;
  }
  if (look(*it, *p))
    uplink_.on_finished();
}

bool TcpSession::look(Conn& c, Probe& p) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  double rtt_ms = MsD(ProbeClock::now() - p.sent_steady).count();
  if (err == 0) {
    tcp_info info{};
    socklen_t info_len = sizeof(info);
    if (getsockopt(c.fd.get(), IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0)
      return false;
    if (info.tcpi_state == TCP_SYN_SENT)
      return false;  // still connecting (SO_ERROR is 0 then too); a server may already have closed
    if (info.tcpi_rtt > 0)
      rtt_ms = static_cast<double>(info.tcpi_rtt) / 1000.0;
  }
  bool answered = err == 0 && rtt_ms <= MsD(uplink_.timeout).count();
  uplink_.flight.finish(p, answered, rtt_ms);
  release(c);
  return true;
}

void TcpSession::release(Conn& c) {
  uplink_.shared.loop.remove_fd(c.fd.get());
  c.fd.reset();
}

}  // namespace pathsteer
