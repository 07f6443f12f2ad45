// ProbeSession: one probe method on one uplink and address family, as the
// Prober (probes/prober.h) drives it. The Prober owns scheduling, rounds and
// accounting; a session owns its sockets, turns queued probes into packets or
// connections, and matches what comes back to a probe in flight:
//   icmp  IcmpSession  (probes/icmp_session.h)   one raw socket, polled
//   udp   StampSession (probes/stamp_session.h)  one UDP socket, polled
//   tcp   TcpSession   (probes/tcp_session.h)    a socket per probe, in epoll
// Datagram sessions share probes/datagram_session.h (sendmmsg, recvmmsg).
//
// Per timer wakeup of an uplink the Prober calls, for each of its sessions in
// turn, poll(now) (then accounts what was finished); fails the probes past
// their timeout; queue()s the probes due, each with its target's session; and
// calls flush() on each session. So virtual calls are per session and wakeup
// (poll, flush) and per batch (probes/datagram_session.h), never per probe
// or packet: queue() is a plain push.
//
// Outcomes: a session never accounts a probe itself. It calls
// ProbeFlight::finish(), which marks the probe done (so a duplicate reply or
// a late error finds nothing) and queues it; the Prober accounts the
// finished probes in that order after each call into a session, and from
// SessionUplink::on_finished after a session finished probes from its own
// loop callback (tcp). Between calls into the Prober the oldest probe in
// flight is never finished.
//
// Threading: the loop thread only. No allocation per probe or packet once the
// reused buffers have grown (tcp excepted: a socket and a loop registration
// per probe).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "model/probe.h"
#include "probes/prober_port.h"

namespace pathsteer {

using ProbeClock = std::chrono::steady_clock;

// One probe in flight. Its id is the uplink's probe counter: wire sequence
// numbers are its low bits (echo: 16, STAMP: 32).
struct Probe {
  uint64_t id = 0;
  uint32_t target = 0;  // index into the uplink's targets (UplinkProbeConfig::probes)
  uint64_t round = 0;
  ProbeClock::time_point sent_steady;
  int64_t sent_realtime_ns = 0;  // CLOCK_REALTIME
  bool done = false;             // finished: the outcome below is final
  bool answered = false;
  double rtt_ms = 0;
};

// The probes of one uplink in flight, in send order (ids consecutive), and
// those finished since the Prober last settled them. A Probe stays where it
// is until settle() drops it, finished (a deque: pushes and pops move no
// other element), so sessions may hold Probe* until then; clear() ends that.
class ProbeFlight {
 public:
  bool empty() const { return probes_.empty(); }
  const Probe& front() const { return probes_.front(); }
  Probe& push(const Probe& p) { return probes_.emplace_back(p); }  // p.id: the next id

  // nullptr when not in flight or already finished.
  Probe* find(uint64_t id) {
    if (probes_.empty() || id < probes_.front().id || id - probes_.front().id >= probes_.size())
      return nullptr;
    Probe& p = probes_[id - probes_.front().id];
    return p.done ? nullptr : &p;
  }
  // By wire sequence number (the low bits of the id, Seq = uint16_t or
  // uint32_t): the id at or after the oldest in flight that ends in `seq`, so
  // sequence numbers may wrap.
  template <typename Seq>
  Probe* find_seq(Seq seq) {
    uint64_t base = probes_.empty() ? 0 : probes_.front().id;
    return find(base + static_cast<Seq>(seq - static_cast<Seq>(base)));
  }

  // Marks p done with this outcome and queues it for settle().
  void finish(Probe& p, bool answered, double rtt_ms) {
    p.done = true;
    p.answered = answered;
    p.rtt_ms = rtt_ms;
    finished_.push_back(&p);
  }
  // Finishes, as failed, every probe from the oldest on sent at or before
  // now - timeout (it stops at the first one sent later).
  void fail_expired(ProbeClock::time_point now, ProbeClock::duration timeout);
  // Calls account(const Probe&) for each probe finished since the last
  // settle(), in finishing order, then drops the finished probes from the
  // front. True if there were any.
  template <typename F>
  bool settle(F&& account) {
    if (finished_.empty())
      return false;
    for (const Probe* p : finished_)
      account(*p);
    finished_.clear();
    while (!probes_.empty() && probes_.front().done)
      probes_.pop_front();
    return true;
  }
  void clear() {
    probes_.clear();
    finished_.clear();
  }

 private:
  std::deque<Probe> probes_;
  std::vector<Probe*> finished_;  // reused
};

// What the sessions of all uplinks share; one per Prober, outlives them.
struct SessionShared {
  explicit SessionShared(EventLoop& l) : loop(l), rng(std::random_device{}()) {}
  EventLoop& loop;
  std::mt19937 rng;
  // Echo identifiers of the open icmp sessions: unique, so that two uplinks
  // on one interface never take each other's replies.
  std::set<uint16_t> echo_idents;
};

// One uplink as its sessions see it; owned by the Prober's uplink, outlives
// its sessions.
struct SessionUplink {
  SessionShared& shared;
  const UplinkProbeConfig& cfg;    // uplink and interface names, fwmark; cfg.probes[i] = target i
  ProbeClock::duration timeout{};  // health.timeout_ms: later replies are ignored
  unsigned ifindex = 0;            // of cfg.ifname, set once the sessions are open
  ProbeFlight flight;
  std::function<void()> on_finished;  // see "Outcomes" above
};

class ProbeSession {
 public:
  virtual ~ProbeSession() = default;
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  // Opens the session's sockets (bound to cfg.ifname, marked with cfg.fwmark;
  // probes/probe_socket.h). ENODEV: the interface is missing. On error
  // nothing stays open. Called again after close().
  virtual Result<void> open() = 0;
  // Closes everything and forgets queued probes; the Prober drops the flight.
  virtual void close() = 0;

  // Queues p (in the flight, not finished, of one of this session's
  // targets) for flush().
  void queue(Probe& p) { queued_.push_back(&p); }
  // First releases what the session holds for finished probes (tcp: their
  // sockets), then sends the queued probes; one that cannot be sent is
  // finished as failed. False when the interface is gone (ENODEV, ENXIO): the
  // Prober then closes every session of the uplink.
  virtual bool flush() = 0;
  // Takes the replies and errors that arrived by `now` and finishes their
  // probes (tcp: a last look at connections older than the timeout, whose
  // event may still be queued).
  virtual void poll(ProbeClock::time_point now) = 0;

 protected:
  ProbeSession() = default;
  std::vector<Probe*> queued_;  // in send order; reused
};

// The session of `method` for `family` (AF_INET or AF_INET6), not yet open.
std::unique_ptr<ProbeSession> make_session(ProbeMethod method, int family, SessionUplink& uplink);

}  // namespace pathsteer
