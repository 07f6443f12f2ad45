// IcmpSession: icmp probes (ICMP / ICMPv6 echo) of one uplink and family on
// one raw socket (SOCK_RAW, IPPROTO_ICMP or IPPROTO_ICMPV6), polled on timer
// wakeups (probes/datagram_session.h), with a 4 MiB receive buffer.
//
// IPv4 uses IP_HDRINCL: we write the IPv4 header (DF, TTL 64; probes/icmp.h)
// and the kernel fills in the source from the route, the length and the
// checksums. A kernel filter (ICMP_FILTER / ICMP6_FILTER) passes only echo
// replies, destination unreachable, time exceeded and parameter problem.
//
// Matching: the echo identifier is random per open socket and unique among
// the Prober's icmp sessions (SessionShared::echo_idents); the sequence number
// is the low 16 bits of the probe id. A reply counts when identifier,
// sequence and source address (the probe's target) all match; an ICMP error
// quoting one of our requests (same identifier and sequence, quoted
// destination = the target) fails that probe at once. RTT = kernel receive
// timestamp - the probe's CLOCK_REALTIME send time.
#pragma once

#include <cstdint>
#include <span>

#include "probes/datagram_session.h"

namespace pathsteer {

class IcmpSession final : public DatagramSession {
 public:
  IcmpSession(SessionUplink& uplink, int family) : DatagramSession(uplink, family) {}
  ~IcmpSession() override { close(); }

  Result<void> open() override;
  void close() override;  // also gives back the echo identifier

 private:
  void write_packets(std::span<OutDatagram> batch) override;
  void on_replies(std::span<const Received> batch) override;

  uint16_t ident_ = 0;  // 0 while closed
};

}  // namespace pathsteer
