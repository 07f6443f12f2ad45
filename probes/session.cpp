#include "probes/session.h"

#include "probes/icmp_session.h"
#include "probes/stamp_session.h"
#include "probes/tcp_session.h"

namespace pathsteer {

void ProbeFlight::fail_expired(ProbeClock::time_point now, ProbeClock::duration timeout) {
  for (Probe& p : probes_) {
    if (p.sent_steady + timeout > now)
      break;
    if (!p.done)
      finish(p, /*answered=*/false, 0);
  }
}

std::unique_ptr<ProbeSession> make_session(ProbeMethod method, int family, SessionUplink& uplink) {
  switch (method) {
    case ProbeMethod::kIcmp:
      return std::make_unique<IcmpSession>(uplink, family);
    case ProbeMethod::kUdp:
      return std::make_unique<StampSession>(uplink, family);
    case ProbeMethod::kTcp:
      return std::make_unique<TcpSession>(uplink, family);
  }
  return nullptr;
}

}  // namespace pathsteer
