// DatagramSession: what the icmp and udp (STAMP) sessions share: one
// non-blocking socket for the session's family, not in epoll.
//
// flush(): the queued probes become one batch; write_packets() fills in each
// datagram (one virtual call per batch), and the batch goes out with
// sendmmsg, up to kSendBatch datagrams a call, in queue order. A datagram the
// kernel refuses is sent alone once more to learn why: ENODEV/ENXIO = the
// interface is gone, anything else fails that probe.
//
// poll(): drains the socket with recvmmsg, kReceiveBatch datagrams a call,
// and hands each batch to on_replies() (one virtual call per batch) with each
// datagram's source and kernel receive timestamp (SO_TIMESTAMPNS,
// CLOCK_REALTIME; CLOCK_REALTIME at the batch if the kernel gave none).
// answer() then judges an RTT the derived session computed from it: if it is
// negative or more than 1 ms above the CLOCK_MONOTONIC time from the send to
// the batch (CLOCK_REALTIME stepped), that monotonic time is used instead;
// above the uplink's timeout it is late and ignored (the expiry fails the
// probe).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/fd.h"
#include "probes/session.h"

namespace pathsteer {

class DatagramSession : public ProbeSession {
 public:
  static constexpr size_t kSendBatch = 64;
  static constexpr size_t kReceiveBatch = 32;

  ~DatagramSession() override = default;
  void close() override;
  bool flush() override;
  void poll(ProbeClock::time_point now) override;

 protected:
  DatagramSession(SessionUplink& uplink, int family) : uplink_(uplink), family_(family) {}

  // One datagram of a flush(): the base sets `probe` (valid during the
  // flush), write_packets() the rest.
  struct OutDatagram {
    Probe* probe = nullptr;
    sockaddr_storage dst{};
    socklen_t dst_len = 0;
    std::array<uint8_t, 128> pkt{};
    size_t len = 0;
  };
  virtual void write_packets(std::span<OutDatagram> batch) = 0;

  struct Received {
    const uint8_t* data = nullptr;
    size_t len = 0;
    IpAddr from;
    uint16_t from_port = 0;
    int64_t rx_ns = 0;  // CLOCK_REALTIME
  };
  virtual void on_replies(std::span<const Received> batch) = 0;
  // Finishes p as answered after the checks above; for on_replies().
  void answer(Probe& p, double rtt_ms);

  const ProbeSpec& spec(const Probe& p) const { return uplink_.cfg.probes[p.target]; }

  SessionUplink& uplink_;
  const int family_;
  Fd fd_;

 private:
  std::vector<OutDatagram> outbox_;        // reused
  ProbeClock::time_point batch_steady_{};  // after the batch being handled arrived
};

}  // namespace pathsteer
