// NetlinkSocket: the request/ack rtnetlink socket (dumps and batched writes);
// the real KernelPort (netlink/kernel_port.h: Change, ChangeResult).
//
// Threading: not thread-safe; owned and used by the event-loop thread only.
// Every call is synchronous: it sends, then waits (poll) for the kernel's
// answer with a deadline of Options::timeout, so a lost reply is an error
// (ETIMEDOUT), never a hang. Nothing is left pending between calls; replies to
// an earlier, timed-out request are recognised by sequence number and dropped.
//
// Acks: the socket runs with NETLINK_EXT_ACK (the kernel's error text lands in
// Error::kernel_message) and NETLINK_CAP_ACK (error acks do not echo our
// request back).
//
// Batching: apply() packs many requests into one sendmsg (up to
// Options::batch_bytes and Options::batch_messages per send), every request
// with NLM_F_ACK and its own sequence number, then reads acks until every
// sequence number of that send is answered. The kernel processes each message
// on its own, so one failure never stops the batch: each Change gets its own
// result, in order. A batch is not a transaction.
//
// Dumps: all tables (routes are read with RTA_TABLE, so ids >= 256 are exact).
// A dump the kernel marks as interrupted (NLM_F_DUMP_INTR: state changed under
// it) is retried a few times, then reported as EAGAIN.
#pragma once

#include <linux/netlink.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netlink/kernel_port.h"
#include "netlink/types.h"

namespace pathsteer {

class NetlinkSocket : public KernelPort {
 public:
  struct Options {
    std::chrono::milliseconds timeout{2000};  // per request / per batch chunk
    size_t batch_bytes = 64 * 1024;
    // Each ack is its own skb in our receive buffer; bounding the messages per
    // send keeps the acks of one send well inside it.
    size_t batch_messages = 256;
    int rcvbuf_bytes = 1 << 20;
  };

  // Opens and binds a NETLINK_ROUTE socket (no multicast groups).
  static Result<NetlinkSocket> open(Options options);
  static Result<NetlinkSocket> open() { return open(Options{}); }

  NetlinkSocket(NetlinkSocket&&) = default;
  NetlinkSocket& operator=(NetlinkSocket&&) = default;

  Result<std::vector<Link>> dump_links();
  // family: AF_INET, AF_INET6 or AF_UNSPEC (both).
  Result<std::vector<Address>> dump_addresses(int family);
  Result<std::vector<Route>> dump_routes(int family) override;
  Result<std::vector<Rule>> dump_rules(int family) override;

  // One result per change, same order. Never stops at the first error.
  std::vector<ChangeResult> apply(const std::vector<Change>& changes) override;

  int fd() const { return fd_.get(); }

 private:
  NetlinkSocket(Fd fd, Options options) : fd_(std::move(fd)), options_(options) {}

  template <typename T, typename Parse>
  Result<std::vector<T>> dump(uint16_t type, int family, Parse parse, const char* what);
  // One dump attempt: every reply message goes to on_msg; *interrupted is set
  // when the kernel flagged the dump NLM_F_DUMP_INTR.
  Result<void> dump_once(uint16_t type, int family,
                         const std::function<void(const nlmsghdr*)>& on_msg, bool* interrupted,
                         const std::string& what);
  // Sends changes[begin..) as one sendmsg (as many as fit) and collects their
  // acks into out; returns the index of the first change not sent.
  size_t apply_chunk(const std::vector<Change>& changes, size_t begin,
                     std::vector<ChangeResult>& out);

  Fd fd_;
  Options options_;
  uint32_t seq_ = 1;
  std::vector<char> rx_;  // receive buffer, reused
};

}  // namespace pathsteer
