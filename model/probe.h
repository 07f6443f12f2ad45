// How an uplink is probed and judged, as values shared by the policy
// (controller/policy.h) and the prober (probes/). Depends on common/ only.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/net.h"

namespace pathsteer {

enum class ProbeMethod { kIcmp, kUdp, kTcp };

// The policy file's spellings, indexed by the enum's value.
inline constexpr std::string_view kProbeMethodNames[] = {"icmp", "udp", "tcp"};
const char* to_string(ProbeMethod m);

struct ProbeSpec {
  ProbeMethod method = ProbeMethod::kIcmp;
  IpAddr target{};
  uint16_t port = 0;  // udp/tcp only
  friend bool operator==(const ProbeSpec&, const ProbeSpec&) = default;
};

// Quality thresholds (mean RTT, RFC 3550 jitter, loss over the probe windows).
// As `degraded_if`: an uplink whose measurement exceeds any set one is
// degraded. As `recover_if`: a degraded uplink recovers only when every
// measurement is at or below these; an unset key defaults to 80% of the
// corresponding degraded_if key (probes/health.h has the exact rules).
struct DegradedIf {
  std::optional<uint32_t> rtt_ms{};
  std::optional<uint32_t> jitter_ms{};
  std::optional<double> loss_pct{};  // 0..100
  friend bool operator==(const DegradedIf&, const DegradedIf&) = default;
};

struct HealthSpec {
  uint32_t interval_ms = 200;
  uint32_t timeout_ms = 400;
  uint32_t down_after = 3;
  uint32_t up_after = 5;
  uint32_t reliability = 1;  // how many targets must answer in a round (<= probes)
  DegradedIf degraded_if{};  // all unset = never degraded
  DegradedIf recover_if{};   // each key <= degraded_if's; needs that key set there
  friend bool operator==(const HealthSpec&, const HealthSpec&) = default;
};

}  // namespace pathsteer
