// Prober: active ICMP echo probing of every uplink from the daemon's single
// EventLoop, feeding one HealthTracker per uplink (DESIGN §5).
//
// Sockets: per uplink and address family in use, one non-blocking raw socket
// (IPPROTO_ICMP / IPPROTO_ICMPV6; needs CAP_NET_RAW, and CAP_NET_ADMIN for
// SO_MARK), bound with SO_BINDTODEVICE to the uplink's interface and marked
// with SO_MARK = fwmark so a probe leaves through that uplink whatever the
// policy routing says. Kernel filters pass only echo replies (ICMP_FILTER,
// ICMP6_FILTER); the per-socket random echo identifier, the source address and
// the in-flight table keyed by (target, seq) reject everything else. RTT =
// kernel receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) - CLOCK_REALTIME
// read right before sendto().
//
// Rounds: every interval_ms one echo to each ICMP target. A probe fails when
// its reply has not arrived within timeout_ms (late replies, duplicates and
// foreign replies are ignored) or when sendto() fails. A round is decided when
// all of its probes are answered or failed; rounds are decided in the order
// they were sent even when timeout_ms > interval_ms. Good round: at least
// `reliability` targets answered (see round_good()).
//
// Interfaces that do not exist (yet), or vanish: the uplink is kDown with
// reason "no interface" and sockets are retried on every interval tick; other
// socket set-up failures give reason "socket error" and are retried likewise.
//
// Probe methods: only kIcmp is implemented; udp/tcp probes are logged once
// per configure() and ignored. An uplink without ICMP probes follows carrier.
//
// Threading: everything runs on the loop thread; no threads, no blocking.
// on_change is called synchronously whenever an uplink's (state, reason,
// carrier) changes — from loop callbacks, and at the end of configure() and
// set_carrier() — and must not call configure() or set_carrier().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "controller/policy.h"
#include "probes/health.h"

namespace pathsteer {

struct UplinkProbeConfig {
  std::string uplink;  // wan name
  std::string ifname;
  uint32_t fwmark = 0;  // 0 = no SO_MARK
  HealthSpec health;
  std::vector<ProbeSpec> probes;
  friend bool operator==(const UplinkProbeConfig&, const UplinkProbeConfig&) = default;
};

struct UplinkHealth {
  HealthState state = HealthState::kUnknown;
  std::string reason =
      "probes";  // "probes", "carrier", "no probes", "no interface", "socket error"
  bool carrier = true;
  double last_rtt_ms = 0;  // latest reply
  double rtt_ms = 0;       // mean of the last 10 replies
  double jitter_ms = 0;    // RFC 3550 style
  double loss_pct = 0;     // over the last 100 decided probes
  uint64_t sent = 0, received = 0, failed = 0;
};

class Prober {
 public:
  using OnChange = std::function<void(const std::string& uplink, const UplinkHealth&)>;

  Prober(EventLoop& loop, OnChange on_change);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Makes the set of probed uplinks equal `uplinks` (names must be unique).
  // An uplink whose config is unchanged keeps its state, counters and sockets;
  // a changed one restarts from kUnknown with fresh counters but keeps its
  // carrier; a removed one stops at once. A missing interface is not an
  // error. Returns the first socket set-up error other than ENODEV (every
  // uplink is still applied and retried on its ticks) or a policy error for
  // duplicate names (then nothing is applied).
  Result<void> configure(const std::vector<UplinkProbeConfig>& uplinks);

  // Carrier from netlink. Down forces kDown now; up lets probes bring the
  // uplink back after up_after good rounds. Unknown uplinks are ignored.
  void set_carrier(const std::string& uplink, bool carrier);

  // nullptr for unknown uplinks; valid until the next configure().
  const UplinkHealth* health(const std::string& uplink) const;

 private:
  struct Uplink;
  struct Round;

  std::unique_ptr<Uplink> make_uplink(const UplinkProbeConfig& cfg, bool carrier);
  Result<void> open_sockets(Uplink& u);
  void close_sockets(Uplink& u);
  void stop_uplink(Uplink& u);
  void on_tick(Uplink& u);
  void send_round(Uplink& u);
  void on_readable(Uplink& u, int family);
  void on_round_timeout(Uplink& u, uint64_t round_id);
  void finish_probe(Uplink& u, uint64_t round_id, bool answered);
  void decide_rounds(Uplink& u);
  void refresh(Uplink& u);  // copies tracker+stats into health; notifies on change
  uint16_t new_ident();

  EventLoop& loop_;
  OnChange on_change_;
  std::map<std::string, std::unique_ptr<Uplink>> uplinks_;
  std::set<uint16_t> idents_in_use_;
  std::mt19937 rng_;
};

}  // namespace pathsteer
