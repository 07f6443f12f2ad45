// ProberPort: what the controller may know of and ask from the probes
// (DESIGN §5). Prober (probes/prober.h) is the real one; the controller's unit
// tests use a fake that reports rounds by hand.
//
// Reports (the one road from a measurement to the planner): the prober calls
// its OnReport on the loop thread, synchronously,
//   * after every decided round of an uplink (its figures may have moved:
//     state_changed false unless the round also changed the state), and
//   * whenever an uplink's (state, reason, carrier) changes, from a round, a
//     carrier change or configure() (state_changed true).
// The callback must not call configure() or set_carrier().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "model/probe.h"
#include "probes/health.h"
#include "probes/stats.h"

namespace pathsteer {

struct UplinkProbeConfig {
  std::string uplink;  // wan name
  std::string ifname;
  uint32_t fwmark = 0;  // 0 = no SO_MARK
  HealthSpec health;
  std::vector<ProbeSpec> probes;
  friend bool operator==(const UplinkProbeConfig&, const UplinkProbeConfig&) = default;
};

// Per uplink. The figures are updated whenever a round is decided.
struct UplinkHealth {
  HealthState state = HealthState::kUnknown;
  std::string reason = "probes";  // see HealthTracker::reason()
  bool carrier = true;
  double last_rtt_ms = 0;  // latest reply from any target
  double rtt_ms = 0;       // mean over answering targets of their mean RTT (last 10 replies)
  double jitter_ms = 0;    // mean over answering targets of their RFC 3550 jitter
  double loss_pct = 0;     // failed / decided over every target's last 100 decided probes
  uint64_t sent = 0, received = 0, failed = 0;
};

// Per target, current as of the latest reply or failure.
struct TargetHealth {
  IpAddr target;
  ProbeMethod method = ProbeMethod::kIcmp;
  uint16_t port = 0;       // udp/tcp
  double last_rtt_ms = 0;  // latest reply
  double rtt_ms = 0;       // mean of the last 10 replies
  double jitter_ms = 0;    // RFC 3550 §6.4.1 over consecutive replies of this target
  double loss_pct = 0;     // over the last 100 decided probes
  uint64_t sent = 0, received = 0, failed = 0;
};

// Scheduling figures over all uplinks since the Prober was made, for
// benchmarks. Lateness = time the probe was handed to the kernel - its
// nominal send time (negative: sent early, within the uplink's slack), over every
// send, from a LatencyHistogram (probes/stats.h: 0.05 ms buckets from -10 to
// 50 ms; p50/p99 are bucket upper edges, max is exact).
struct ProberStats {
  uint64_t sent = 0, answered = 0, failed = 0;
  uint64_t wakeups = 0;  // scheduler timer expirations handled
  size_t lateness_samples = 0;
  double lateness_p50_ms = 0;
  double lateness_p99_ms = 0;
  double lateness_max_ms = 0;
};

using OnProbeReport =
    std::function<void(const std::string& uplink, const UplinkHealth& health, bool state_changed)>;

class ProberPort {
 public:
  virtual ~ProberPort() = default;

  // Makes the set of probed uplinks equal `uplinks` (prober.h has the rules).
  virtual Result<void> configure(const std::vector<UplinkProbeConfig>& uplinks) = 0;
  // Carrier from netlink; unknown uplinks are ignored.
  virtual void set_carrier(const std::string& uplink, bool carrier) = 0;
  // nullptr for unknown uplinks; valid until the next configure().
  virtual const UplinkHealth* health(const std::string& uplink) const = 0;
  // In config order; empty for unknown uplinks.
  virtual std::vector<TargetHealth> targets(const std::string& uplink) const = 0;
  virtual ProberStats stats() const = 0;
  // Every send's lateness since the prober was made.
  virtual const LatencyHistogram& lateness() const = 0;

 protected:
  ProberPort() = default;
  ProberPort(const ProberPort&) = default;
  ProberPort& operator=(const ProberPort&) = default;
};

}  // namespace pathsteer
