// StampSession: udp probes of one uplink and family as a STAMP Session-Sender
// (RFC 8762 unauthenticated, probes/stamp.h) on one UDP socket, polled on
// timer wakeups (probes/datagram_session.h), with a 4 MiB receive buffer and
// IP_RECVERR / IPV6_RECVERR.
//
// Each probe is a 44-byte test packet to target:port whose sender sequence
// number is the low 32 bits of the probe id and whose timestamp t1 is the
// probe's CLOCK_REALTIME send time. A reflected packet counts when its
// sender sequence number names a probe in flight whose target and port are
// the packet's source; RTT = stamp_rtt_ms(reply, kernel receive timestamp):
// (t4 - t1) minus the reflector's residence time (t3 - t2).
//
// poll() reads the error queue before the replies: an ICMP error for one of
// our datagrams (the queue returns the datagram: its sequence number, and the
// address it was sent to) fails that probe at once.
#pragma once

#include <span>

#include "probes/datagram_session.h"

namespace pathsteer {

class StampSession final : public DatagramSession {
 public:
  StampSession(SessionUplink& uplink, int family) : DatagramSession(uplink, family) {}

  Result<void> open() override;
  void poll(ProbeClock::time_point now) override;

 private:
  void write_packets(std::span<OutDatagram> batch) override;
  void on_replies(std::span<const Received> batch) override;
  void take_errors();
};

}  // namespace pathsteer
