// Internal to netlink/: the request/ack plumbing shared by NetlinkSocket
// (rtnetlink) and ConntrackSocket (nfnetlink). Free functions over a socket fd
// and the caller's receive buffer; no state of their own.
//
// `label` names the socket in error contexts ("netlink socket",
// "conntrack socket"). Every wait polls with a deadline: a lost reply is
// ETIMEDOUT, never a hang. Replies whose sequence number we are not waiting
// for (answers to an earlier, timed-out request) are dropped.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace pathsteer::nlio {

using Clock = std::chrono::steady_clock;

// Size for the callers' receive buffers (one datagram at a time).
inline constexpr size_t kRxBufferSize = 64 * 1024;

// A non-blocking, bound AF_NETLINK socket of `protocol` (no multicast groups)
// with NETLINK_EXT_ACK and NETLINK_CAP_ACK on and a receive buffer of
// rcvbuf_bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF, best effort).
Result<Fd> open_socket(int protocol, const char* protocol_name, int rcvbuf_bytes,
                       const std::string& label);

// An NLMSG_ERROR (or the int of an NLMSG_DONE): the positive errno (0 = ok)
// and the kernel's extack message, if it sent one. Reads nothing outside
// nlmsg_len: an echoed request longer than the ack or a message without its
// NUL gives no message.
struct Ack {
  int err_no = 0;
  std::string message;
};
Ack parse_ack(const nlmsghdr* nlh);

// mnl_nlmsg_ok() as it should be: a message header within len bytes whose
// nlmsg_len is at least a header and, aligned, at most len. (mnl_nlmsg_ok
// compares nlmsg_len as an int, so a length of 2^31 or more passes and the
// walk jumps out of the buffer. libmnl walks attributes and steps to the next
// message by MNL_ALIGN(nlmsg_len), so an unaligned length at the datagram's
// end let it read past the data: found by fuzz_netlink. The kernel's messages
// are aligned.) Walk with mnl_nlmsg_next().
inline bool message_ok(const nlmsghdr* m, int len) {
  // Both: MNL_ALIGN of a length near 2^32 wraps to 0 (then the walk never moves).
  return len >= static_cast<int>(sizeof(nlmsghdr)) && m->nlmsg_len >= sizeof(nlmsghdr) &&
         m->nlmsg_len <= static_cast<unsigned>(len) &&
         MNL_ALIGN(m->nlmsg_len) <= static_cast<unsigned>(len);
}

// Sends len bytes (one or more messages) to the kernel in one sendmsg,
// retrying on EINTR. Returns the errno of a failed send, 0 on success.
int send_to_kernel(int fd, const void* buf, size_t len);

// Waits (poll, until deadline) and reads one datagram into rx.
Result<size_t> recv_until(int fd, std::vector<char>& rx, Clock::time_point deadline,
                          const std::string& label);

// How a dump's timeout applies.
enum class DumpTimeout {
  kWholeDump,    // one deadline for the whole dump
  kPerDatagram,  // a fresh deadline for each reply datagram
};

// Sends the dump request and reads its replies until NLMSG_DONE: every reply
// message of that sequence number goes to on_msg. A non-zero NLMSG_DONE
// status or an NLMSG_ERROR is an error with context `what`. If interrupted is
// given, it is set when the kernel flagged the dump NLM_F_DUMP_INTR.
Result<void> dump(int fd, std::vector<char>& rx, const nlmsghdr* request,
                  std::chrono::milliseconds timeout, DumpTimeout scope, const std::string& label,
                  const std::string& what, const std::function<void(const nlmsghdr*)>& on_msg,
                  bool* interrupted = nullptr);

// Sends tx[0..len) (requests with NLM_F_ACK; pending maps each sequence
// number to the caller's index) as one sendmsg, then reads acks until every
// pending request is answered or timeout passes: on_ack(index, ack) for each
// answer, on_lost(index, errno, why) in sequence order for each request whose
// ack never came (send failed, timeout, or receive-buffer overrun: state
// unknown). The kernel handles the whole send before sendmsg returns, so after
// an overrun the surviving acks are drained without waiting.
void send_batch(int fd, std::vector<char>& rx, const char* tx, size_t len,
                std::map<uint32_t, size_t> pending, std::chrono::milliseconds timeout,
                const std::string& label, const std::function<void(size_t, const Ack&)>& on_ack,
                const std::function<void(size_t, int, const std::string&)>& on_lost);

}  // namespace pathsteer::nlio
