// Prober: active probing of every uplink from the daemon's single EventLoop,
// feeding one HealthTracker per uplink (DESIGN §5).
//
// Methods (ProbeSpec::method), each a probe session (probes/session.h, one
// per uplink, family and method in use; the Prober has no per-method code).
// Every probe socket is bound with SO_BINDTODEVICE to the uplink's interface
// and marked with SO_MARK = fwmark (needs CAP_NET_RAW / CAP_NET_ADMIN), so a
// probe leaves through that uplink whatever the policy routing says, with the
// uplink's own source address:
//   icmp  echo request on one raw socket per uplink and family (IPv4 with
//         IP_HDRINCL: our header has DF and TTL 64; the kernel fills in the
//         source from the route, length and checksum). Kernel filters
//         pass echo replies and ICMP errors (unreachable, time exceeded,
//         parameter problem); the random per-socket echo identifier, the
//         sequence number (the low 16 bits of a per-uplink probe counter) and
//         the target address pick the probe. An error quoting one of our
//         requests fails that probe at once. RTT = kernel receive timestamp
//         (SO_TIMESTAMPNS, CLOCK_REALTIME) - CLOCK_REALTIME read once per
//         wakeup right before that wakeup's probes are built and sent (one
//         sendmmsg per socket; the k-th datagram of a batch leaves about
//         k x 4 µs later, so the RTT is overstated by at most that).
//   udp   STAMP Session-Sender (RFC 8762 unauthenticated, probes/stamp.h) on
//         one UDP socket per uplink and family, to target:port (default 862).
//         The sender sequence number is the low 32 bits of the probe counter.
//         RTT = stamp_rtt_ms(reply, kernel receive timestamp): (t4 - t1) minus
//         the reflector's residence time (t3 - t2). ICMP errors for our
//         datagrams (IP_RECVERR / IPV6_RECVERR) fail the probe at once.
//   tcp   one non-blocking connect() per probe to target:port; success =
//         handshake completed, RTT = the kernel's first RTT sample of the
//         connection (TCP_INFO tcpi_rtt right after connect completes: the
//         first sample initialises srtt unsmoothed, so it is the SYN to
//         SYN-ACK time measured in the kernel, µs resolution; the CLOCK_MONOTONIC
//         time from connect() to EPOLLOUT is the fallback). A RST or an ICMP
//         error fails it at once. The socket is closed right after with
//         SO_LINGER 0 (a RST, no TIME_WAIT).
// Late (after timeout_ms), duplicate and foreign replies are ignored.
//
// Scheduling: one timerfd for the whole Prober. Each uplink sends one round
// every interval_ms: one probe to each target, target i of N at the phase
// i * interval / N inside the interval, so sends are spread evenly instead of
// bursting. Each uplink has a slack = min(kMaxSlack, interval / 10): when
// the timer fires, every probe due within the slack is sent, so a probe may
// leave up to one slack early (lateness < 0) and the loop wakes at most about
// once per slack however many targets there are (1,000 targets x 10/s at
// interval 100 ms: ~100 wakeups/s instead of 10,000; in a VM each wakeup
// costs about 30 µs of kernel time, as much as ten probes). If the loop
// stalled for more than one interval, the rounds missed entirely are skipped,
// not sent in a burst.
//
// Replies: icmp and udp sockets are not in epoll; they are drained on every
// timer wakeup, and while datagram probes are in flight the timer fires at
// least once per slack. So a reply (or an ICMP error) is taken at most one
// slack (<= kMaxSlack, and <= interval / 10) after it arrived, one wakeup
// serves many replies, and RTTs are unaffected (kernel receive timestamps);
// round decisions and error fast-fail may lag by up to one slack. tcp probes
// stay in epoll.
//
// Rounds: a probe fails when its reply has not arrived within timeout_ms, on
// an ICMP error / RST, or when sending fails. A round is decided as soon as
// its outcome is certain: good when `reliability` of its targets answered (see
// round_good()), bad when too many failed for that. Rounds are decided in the
// order they were sent even when timeout_ms > interval_ms. After each decided
// round the tracker gets the uplink's quality figures (for degraded_if).
//
// Detection time. A blackhole starting at t is noticed when the down_after-th
// fully failed round is decided: its first probe goes out within one interval
// after t, its last up to one interval (the phase spread) later, and it fails
// timeout_ms after that, so
//     down <= t + interval * down_after + timeout (+ interval with >1 target).
// With the defaults (interval 200, timeout 400, down_after 3, up_after 5):
// 200*3 + 400 = 1.0 s worst case, about 0.9 s typical, for one target.
// Intervals down to 50 ms (BFD-like: 50*3 + 100 = 250 ms) work; the policy
// minimum is 10 ms. Carrier loss (set_carrier(false)) is immediate. Recovery
// takes up_after good rounds: the up_after-th good round after the path heals.
//
// Interfaces that do not exist (yet), or vanish: the uplink is kDown with
// reason "no interface" and sockets are retried at every round start; other
// socket set-up failures give reason "socket error" and are retried likewise.
// An uplink without probes follows carrier.
//
// Threading: everything runs on the loop thread; no threads, no blocking.
// on_report (probes/prober_port.h) is called synchronously after every
// decided round and whenever an uplink's (state, reason, carrier) changes —
// from loop callbacks, and at the end of configure() and set_carrier() — and
// must not call configure() or set_carrier().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"
#include "model/probe.h"
#include "probes/health.h"
#include "probes/prober_port.h"
#include "probes/stats.h"

namespace pathsteer {

struct Probe;          // probes/session.h
struct SessionShared;  // probes/session.h

class Prober final : public ProberPort {
 public:
  static constexpr std::chrono::microseconds kMaxSlack{10000};

  Prober(EventLoop& loop, OnProbeReport on_report);
  ~Prober() override;
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Makes the set of probed uplinks equal `uplinks` (names must be unique).
  // An uplink whose config is unchanged keeps its state, counters and sockets;
  // a changed one restarts from kUnknown with fresh counters but keeps its
  // carrier; a removed one stops at once. A missing interface is not an
  // error. Returns the first socket set-up error other than ENODEV (every
  // uplink is still applied and retried on its ticks) or a policy error for
  // duplicate names (then nothing is applied). The first round of a new
  // uplink goes out from the loop, not from inside configure().
  Result<void> configure(const std::vector<UplinkProbeConfig>& uplinks) override;

  // Carrier from netlink. Down forces kDown now; up lets probes bring the
  // uplink back after up_after good rounds. Unknown uplinks are ignored.
  void set_carrier(const std::string& uplink, bool carrier) override;

  // nullptr for unknown uplinks; valid until the next configure().
  const UplinkHealth* health(const std::string& uplink) const override;
  // In config order; empty for unknown uplinks.
  std::vector<TargetHealth> targets(const std::string& uplink) const override;
  ProberStats stats() const override;
  // Every send's lateness since the Prober was made (see ProberStats).
  const LatencyHistogram& lateness() const override { return lateness_; }

 private:
  struct Uplink;

  std::unique_ptr<Uplink> make_uplink(const UplinkProbeConfig& cfg, bool carrier);
  Result<void> open_sockets(Uplink& u);
  void close_sockets(Uplink& u);
  void on_timer();
  void rearm();
  void service(Uplink& u, std::chrono::steady_clock::time_point now);
  void start_round(Uplink& u, std::chrono::steady_clock::time_point now);
  struct SendTime {
    std::chrono::steady_clock::time_point steady;
    int64_t realtime_ns = 0;  // CLOCK_REALTIME
  };
  // Queues the probe with its target's session (probes/session.h).
  void send_probe(Uplink& u, size_t target, std::chrono::steady_clock::time_point due,
                  const SendTime& at);
  // Accounts the probes the sessions finished; true if there were any.
  bool settle(Uplink& u);
  void account(Uplink& u, const Probe& p);
  // Decides the rounds whose outcome is certain; true if any was.
  bool decide_rounds(Uplink& u);
  void update_figures(Uplink& u);
  // Copies tracker state into health; reports a state change, or a decided round.
  void refresh(Uplink& u, bool round_decided = false);
  void interface_gone(Uplink& u);

  EventLoop& loop_;
  OnProbeReport on_report_;
  Fd timer_;                               // timerfd, CLOCK_MONOTONIC, absolute
  std::unique_ptr<SessionShared> shared_;  // outlives the uplinks' sessions
  std::map<std::string, std::unique_ptr<Uplink>> uplinks_;
  std::mt19937 rng_;
  ProberStats stats_;
  LatencyHistogram lateness_;
};

}  // namespace pathsteer
