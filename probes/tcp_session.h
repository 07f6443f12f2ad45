// TcpSession: tcp probes of one uplink and family: one non-blocking connect()
// per probe to target:port, from a socket of its own (bound and marked like
// every probe socket, probes/probe_socket.h; SO_LINGER 0) registered with
// the EventLoop for EPOLLOUT. tcp probes are not polled: their events come
// from epoll, and the session calls SessionUplink::on_finished after one
// finished a probe.
//
// Success = the handshake completed (SO_ERROR 0 and the state past SYN_SENT)
// within the timeout. RTT = the kernel's first RTT sample of the connection
// (TCP_INFO tcpi_rtt right after connect completes: the first sample
// initialises srtt unsmoothed, so it is the SYN to SYN-ACK time measured in
// the kernel, µs resolution); the CLOCK_MONOTONIC time from connect() to the
// event is the fallback. A RST or an ICMP error (SO_ERROR) fails the probe at
// once, as does a failing socket() or connect(). The send time is read right
// before connect(), per probe.
//
// A probe's socket is closed (SO_LINGER 0: a RST, no TIME_WAIT) and leaves
// the loop as soon as the probe finishes: on its event, in poll() (the last
// look at connections past the timeout), or, when the Prober expired it, in
// the next flush() of the same wakeup.
#pragma once

#include <cstdint>
#include <deque>

#include "common/fd.h"
#include "probes/session.h"

namespace pathsteer {

class TcpSession final : public ProbeSession {
 public:
  TcpSession(SessionUplink& uplink, int family) : uplink_(uplink), family_(family) {}
  ~TcpSession() override { close(); }

  Result<void> open() override { return ok(); }  // a socket per probe, opened by flush()
  void close() override;
  bool flush() override;
  void poll(ProbeClock::time_point now) override;

 private:
  struct Conn {
    uint64_t probe_id = 0;
    Fd fd;  // invalid once released
  };
  enum class Start { kConnecting, kFailed, kInterfaceGone };

  Start start(Probe& p);
  // Finishes p if its connection has an outcome; true if it did.
  bool look(Conn& c, Probe& p);
  void on_event(uint64_t probe_id);
  void release(Conn& c);

  SessionUplink& uplink_;
  const int family_;
  std::deque<Conn> conns_;  // in probe id order; released ones leave from the front
};

}  // namespace pathsteer
