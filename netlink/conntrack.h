// ConntrackSocket: a small ctnetlink client (NETLINK_NETFILTER, libmnl) that
// deletes the conntrack entries of the flows that were using a dead uplink, so
// NAT'ed clients reconnect over a live uplink at once. Never a global flush.
//
// Which entries are "flows using the uplink" (ConntrackFilter::matches):
//  * reply_dst: the entry's REPLY-direction destination address is one of the
//    uplink's own addresses. That is exactly the NAT'ed flows leaving through
//    it (masquerade/SNAT rewrote their source to the uplink's address, so the
//    answers come back to it), plus the gateway's own connections sourced from
//    that address. Inbound connections to the uplink's address are not hit
//    (their reply goes to the remote peer), nor are NAT'ed flows of any other
//    uplink (their reply_dst is that uplink's address).
//  * mark: (ct mark & mask) == value, for gateways whose firewall copies the
//    uplink choice into the ct mark (e.g. `ct mark set meta mark and 0x0ff00000`).
//    This is the only way to name un-NAT'ed flows: conntrack records neither
//    the output interface nor the route, and nothing in an un-NAT'ed tuple
//    says which uplink carried it. (Un-NAT'ed flows rarely need flushing: their
//    packets are re-routed per packet as soon as routing changes.)
//  An entry matches if ANY criterion holds. An empty filter matches nothing.
//
// Deletion: one IPCTNL_MSG_CT_DELETE per matching entry, naming it by its
// original tuple (copied verbatim from the dump, so ICMP ids, GRE keys and the
// zone are exact), its zone and its CTA_ID: an entry that died and was
// re-created with the same tuple after our dump is not hit (ENOENT). A delete
// request is never sent without a tuple (the kernel would read that as
// "flush the table"). ENOENT means "already gone" and is not a failure.
//
// Consistency: the table is dumped first (IPv4 and IPv6 in one dump, every
// zone), filtered in user space, then deleted; entries created after the
// dump are untouched. Call it after routing no longer uses the dead uplink
// (otherwise new flows may be NAT'ed to it again between dump and delete).
//
// Threading and blocking: not thread-safe; owned by one thread. Every call is
// synchronous and polls with a deadline: Options::timeout bounds each wait for
// the kernel's next reply datagram (a large table dumps in several), so a lost
// reply is ETIMEDOUT, never a hang. Each call walks the whole conntrack table
// once (linear in its size); delete_matching keeps only the matches in memory.
//
// Acks and batching: NETLINK_EXT_ACK and NETLINK_CAP_ACK are on. Deletes are
// packed into one sendmsg (up to Options::batch_messages), each with
// NLM_F_ACK and its own sequence number; every ack is read and checked. One
// failed delete never stops the others. If acks are lost to a receive-buffer
// overrun, those entries count as failed (state unknown).
//
// The socket works in the network namespace it was opened in.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/net.h"
#include "common/result.h"

struct nlmsghdr;

namespace pathsteer {

class EventLoop;

// One direction of a conntrack entry. Ports are host order; for protocols
// without ports (ICMP, GRE...) they are 0.
struct ConntrackTuple {
  IpAddr src;
  IpAddr dst;
  uint8_t protocol = 0;  // IPPROTO_*
  uint16_t src_port = 0;
  uint16_t dst_port = 0;

  std::string to_string() const;  // "udp 192.168.1.2:40000 -> 1.1.1.1:53"
  friend bool operator==(const ConntrackTuple&, const ConntrackTuple&) = default;
};

// A conntrack entry as dumped (read-only view).
struct ConntrackEntry {
  int family = AF_UNSPEC;  // AF_INET / AF_INET6
  ConntrackTuple original;
  ConntrackTuple reply;  // after NAT: reply.dst is the SNAT/masquerade address
  uint32_t mark = 0;     // ct mark (0 if the kernel sent none)
  uint16_t zone = 0;
  uint32_t id = 0;  // the kernel's CTA_ID (opaque)

  std::string to_string() const;
  friend bool operator==(const ConntrackEntry&, const ConntrackEntry&) = default;
};

// One IPCTNL_MSG_CT_NEW message of a dump (as nlio::message_ok() accepted it) as
// an entry; nullopt for another type, another family than IPv4/IPv6, or a
// tuple without addresses or protocol. Reads nothing outside the message:
// nests are bounded by their parents, every value by its attribute's length.
std::optional<ConntrackEntry> parse_conntrack_entry(const nlmsghdr* nlh);

struct ConntrackFilter {
  std::vector<IpAddr> reply_dst;                      // the dead uplink's addresses (v4 and v6)
  std::optional<std::pair<uint32_t, uint32_t>> mark;  // ct mark {value, mask}

  bool empty() const { return reply_dst.empty() && !mark; }
  // Pure: the rule stated at the top of this file.
  bool matches(const ConntrackEntry& e) const;
};

struct ConntrackFlushReport {
  size_t examined = 0;      // entries dumped
  size_t deleted = 0;       // acked deletes
  size_t already_gone = 0;  // ENOENT: expired or replaced since the dump
  size_t failed = 0;        // any other error; first_error says why
  std::optional<Error> first_error;
};

class ConntrackSocket {
 public:
  struct Options {
    std::chrono::milliseconds timeout{2000};  // per wait for a reply datagram
    size_t batch_messages = 128;              // deletes per sendmsg
    int rcvbuf_bytes = 1 << 20;
  };

  // Opens and binds a NETLINK_NETFILTER socket (no multicast groups) in the
  // caller's current network namespace. Needs CAP_NET_ADMIN for deletes.
  static Result<ConntrackSocket> open(Options options);
  static Result<ConntrackSocket> open() { return open(Options{}); }

  ConntrackSocket(ConntrackSocket&&) = default;
  ConntrackSocket& operator=(ConntrackSocket&&) = default;

  // Every entry, IPv4 and IPv6, all zones.
  Result<std::vector<ConntrackEntry>> dump();

  // How many entries this namespace's table holds (IPCTNL_MSG_CT_GET_STATS):
  // one counter read, no table walk.
  Result<uint32_t> entries();

  // Dumps, then deletes every entry f.matches() (see the top of this file).
  // An error is returned only when the dump itself fails (nothing deleted);
  // per-entry failures are counted in the report. An empty filter deletes
  // nothing and does not even dump; neither does an empty table (entries()
  // is 0; if the kernel cannot tell, it dumps).
  Result<ConntrackFlushReport> delete_matching(const ConntrackFilter& f);

  int fd() const { return fd_.get(); }

 private:
  struct Victim;  // an entry to delete, with its raw tuple/zone attributes

  ConntrackSocket(Fd fd, Options options) : fd_(std::move(fd)), options_(options) {}

  // One dump of the whole table (AF_UNSPEC); every entry message to on_msg.
  Result<void> dump_raw(const std::function<void(const nlmsghdr*)>& on_msg);
  // Sends victims[begin..) as one sendmsg, checks their acks into report;
  // returns the index of the first victim not sent.
  size_t delete_chunk(const std::vector<Victim>& victims, size_t begin,
                      ConntrackFlushReport& report);

  Fd fd_;
  Options options_;
  uint32_t seq_ = 1;
  std::vector<char> rx_;
};

// ConntrackWorker: delete_matching() off the event loop. A ctnetlink dump walks
// the kernel's whole conntrack hash, which every network namespace shares
// (nf_conntrack_buckets: 262,144 on the 2-core test VM): 10-30 ms of system
// time even when this namespace has no entries, far too long for the loop
// thread that sends the probes.
//
// Threading: construct, submit() and destroy on the loop thread. The worker
// thread works in the network namespace of the thread that constructed it
// (threads share their creator's), blocks every signal, runs at nice 10 (below
// the loop) and opens a fresh ConntrackSocket for each request. Requests run one at a time, in
// order. A request submitted while an earlier one with the same key is still
// queued (not started) replaces it: the newer filter wins, the older `done` is
// never called. `done` runs on the loop thread (EventLoop::post) with the
// report or the error of open/dump. The destructor drops queued requests,
// waits for the running one (bounded by Options::timeout per reply) and calls
// no `done` after it has begun.
class ConntrackWorker {
 public:
  using Done = std::function<void(const Result<ConntrackFlushReport>&)>;

  ConntrackWorker(EventLoop& loop, ConntrackSocket::Options options);
  explicit ConntrackWorker(EventLoop& loop) : ConntrackWorker(loop, ConntrackSocket::Options{}) {}
  ~ConntrackWorker();
  ConntrackWorker(const ConntrackWorker&) = delete;
  ConntrackWorker& operator=(const ConntrackWorker&) = delete;

  void submit(std::string key, ConntrackFilter filter, Done done);

 private:
  struct Request {
    std::string key;
    ConntrackFilter filter;
    Done done;
  };
  void run();

  EventLoop& loop_;
  ConntrackSocket::Options options_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::thread thread_;         // started last, when everything above exists
};

}  // namespace pathsteer
