// StampReflector: a STAMP Session-Reflector (RFC 8762 §4.3), unauthenticated mode, stateless.
//
// One UDP socket on one address (IPv4 or IPv6; the wildcard address listens on every local
// address of that family, and an IPv6 socket is IPV6_V6ONLY so a 0.0.0.0 socket can share the
// port). Runs on an EventLoop: the socket is registered with add_fd() and every readable event
// drains the socket (at most kBatch datagrams per event, so other fds are not starved).
//
// Per datagram, the first rule that applies (each drop counted in stats() by its reason):
// * source port = the bound port, or below 1024: dropped (own_port, low_port): two reflectors
//   must not answer each other, nor a system service be made to talk to us;
// * destination a multicast group or a broadcast address (probes/reflector_filter.h says how
//   a subnet broadcast is recognised from IP_PKTINFO): dropped (multicast, broadcast);
// * an allow list is set and the source is in none of its prefixes: dropped (not_allowed);
// * shorter than kStampPacketSize (44) bytes: dropped (too_short);
// * the source's token bucket is empty (ReflectorOptions::rate_limit, one bucket per source
//   address in a bounded table, SourceRateLimiter): dropped (rate_limited);
// * otherwise a Session-Reflector test packet of the SAME length is sent back to the sender's
//   address and port, from the address the datagram was addressed to (IP_PKTINFO /
//   IPV6_PKTINFO), so a multi-homed reflector answers from the right source. Bytes past 44
//   are zero (RFC 8762 §4.3: symmetric size; the padding is not echoed).
// * Sequence Number = the sender's Sequence Number (stateless reflector, RFC 8762 §4.3), so
//   only round-trip loss is measurable; Session-Sender fields are copied; Ses-Sender TTL = the
//   received IPv4 TTL / IPv6 Hop Limit (IP_RECVTTL / IPV6_RECVHOPLIMIT; 255 if the kernel gave
//   none).
// * Receive Timestamp (t2) = the kernel receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME);
//   Timestamp (t3) = CLOCK_REALTIME read just before sendmsg(). t3 - t2 is the residence time
//   the sender subtracts.
// * Replies leave with TTL / Hop Limit 255 (as TWAMP reflectors do, RFC 5357 §4.2).
//
// Threading: create(), the destructor and stats() on the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/net.h"
#include "common/result.h"
#include "probes/reflector_filter.h"
#include "probes/stamp.h"

namespace pathsteer {

// "ADDR:PORT", "[V6ADDR]:PORT", a bare "ADDR" / "[V6ADDR]" / "V6ADDR" (port kStampDefaultPort).
struct ListenAddr {
  IpAddr addr;
  uint16_t port = kStampDefaultPort;
  std::string to_string() const;  // "1.2.3.4:862" / "[::1]:862"
};
std::optional<ListenAddr> parse_listen_addr(std::string_view s);

struct ReflectorStats {
  uint64_t received = 0;   // datagrams read
  uint64_t reflected = 0;  // replies sent
  // Dropped, by reason (see the rules above):
  uint64_t own_port = 0;
  uint64_t low_port = 0;
  uint64_t multicast = 0;
  uint64_t broadcast = 0;
  uint64_t not_allowed = 0;
  uint64_t too_short = 0;
  uint64_t rate_limited = 0;
  uint64_t send_errors = 0;  // sendmsg() failed
};
// "received 5, reflected 3, too short 0, own port 1, ..., send errors 0": every counter, named
// (the first three in the order the reflector always logged them).
std::string to_string(const ReflectorStats& s);

// What one reflected packet looked like (for logging).
struct ReflectedPacketInfo {
  std::string peer;  // "ADDR:PORT" of the sender
  uint32_t seq = 0;
  size_t size = 0;
  uint8_t ttl = 0;
  double residence_us = 0;  // t3 - t2
  bool kernel_timestamp = false;
};

struct ReflectorOptions {
  ListenAddr listen;  // port 0 = ephemeral (see StampReflector::port())
  uint16_t error_estimate = kStampDefaultErrorEstimate;
  RateLimit rate_limit;       // per source address
  std::vector<Prefix> allow;  // empty: every source; else only sources inside one of them
  std::function<void(const ReflectedPacketInfo&)> on_packet;  // optional, runs on the loop
};

class StampReflector {
 public:
  static constexpr int kBatch = 64;

  static Result<std::unique_ptr<StampReflector>> create(EventLoop& loop, ReflectorOptions opts);
  ~StampReflector();  // unregisters from the loop
  StampReflector(const StampReflector&) = delete;
  StampReflector& operator=(const StampReflector&) = delete;

  uint16_t port() const { return port_; }                    // the bound port (useful with port 0)
  const ListenAddr& listen() const { return opts_.listen; }  // as configured
  const ReflectorStats& stats() const { return stats_; }

 private:
  StampReflector(EventLoop& loop, ReflectorOptions opts, Fd fd, uint16_t port);
  void on_readable();
  // Handles one datagram; false when the socket is drained (EAGAIN) or failed.
  bool handle_one();
  void count(ReflectorDrop d);

  EventLoop& loop_;
  ReflectorOptions opts_;
  Fd fd_;
  uint16_t port_ = 0;
  ReflectorStats stats_;
  SourceRateLimiter limiter_;
  std::vector<uint8_t> buf_;  // one datagram, up to 64 KiB
};

}  // namespace pathsteer
