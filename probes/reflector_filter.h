// What the STAMP reflector (probes/reflector.h) refuses to answer (DESIGN §8), as pure,
// clock-free code: the caller passes the datagram's addressing and the current time.
//
// A reflector answers whoever sends to it, so without these rules it is a tool against others:
// two reflectors answering each other's port bounce one spoofed datagram forever; a service on
// a privileged port (echo, chargen, DNS, NTP, ...) can be made to talk to it; a datagram to a
// broadcast or multicast address would be answered by every reflector on the segment; and an
// unbounded answer rate makes it a traffic generator aimed at a spoofed source.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <span>

#include "common/net.h"

namespace pathsteer {

enum class ReflectorDrop : uint8_t {
  kNone,         // answer it
  kOwnPort,      // source port = the reflector's own port (reflector ping-pong)
  kLowPort,      // source port below 1024 (a system service, or port 0)
  kMulticast,    // destination 224.0.0.0/4 or ff00::/8
  kBroadcast,    // destination 255.255.255.255 or a subnet broadcast (see DatagramAddrs)
  kNotAllowed,   // an allow-list is set and the source is in none of its prefixes
  kRateLimited,  // the source's token bucket is empty (SourceRateLimiter)
};
const char* reflector_drop_name(ReflectorDrop d);  // "own port", "low port", ...

inline constexpr uint16_t kLowestUnprivilegedPort = 1024;

// The addressing of one received datagram, as recvmsg() reported it.
struct DatagramAddrs {
  IpAddr src;
  uint16_t src_port = 0;
  // The IP header's destination (IP_PKTINFO ipi_addr / IPV6_PKTINFO ipi6_addr); family
  // AF_UNSPEC when the kernel gave no packet info.
  IpAddr dst;
  // IPv4 only: IP_PKTINFO ipi_spec_dst, the local address the kernel would answer from. The
  // kernel sets it to the header destination exactly when the route it received the datagram
  // on is local unicast (fib_compute_spec_dst()); for a datagram to a broadcast address
  // (limited, subnet or directed) or a multicast group it is another, unicast, address.
  IpAddr spec_dst;
};

// The decision that needs no state, checked in this order: kOwnPort, kLowPort, kMulticast,
// kBroadcast (also when an IPv4 datagram came without packet info, or its dst and spec_dst
// differ; an IPv6 one without packet info is not multicast-checked, IPv6 having no broadcast),
// kNotAllowed (only with a non-empty allow list; a prefix of the other family matches nothing),
// else kNone.
ReflectorDrop drop_by_address(const DatagramAddrs& d, uint16_t own_port,
                              std::span<const Prefix> allow);

// A token bucket in integer arithmetic: `rate` tokens per second, at most `burst` stored,
// starting full. take() refills for the time since the last call (a clock going backwards
// refills nothing) and spends one token if there is one.
class TokenBucket {
 public:
  using Time = std::chrono::nanoseconds;  // any monotonic clock's time since its epoch
  TokenBucket(uint32_t rate, uint32_t burst, Time now);
  bool take(Time now);

 private:
  static constexpr uint64_t kScale = 1'000'000'000;  // one token, in rate x nanoseconds
  uint64_t rate_;
  uint64_t capacity_;  // burst * kScale
  uint64_t level_;     // tokens * kScale
  Time last_;
};

// One token bucket per source, at most `max_sources` of them: a new source beyond that
// evicts the least recently seen one (every allow() call, answered or not, counts as seen), so
// a flood from spoofed random sources cannot grow the table, and a source that keeps sending
// keeps its bucket. An evicted source that comes back starts with a full bucket again.
// A source is an IPv4 address or an IPv6 /64 (one host holds a whole /64: per address, it
// would have 2^64 buckets). Every answer also takes a token from one bucket shared by all
// sources (`total_pps`, bursts of as many): spoofed random sources each start with a full
// bucket, so without it a flood of them would be answered at its own rate.
// Memory: about 150 bytes per source. Values out of range are clamped into it.
struct RateLimit {
  uint32_t rate_pps = 100;    // 1 .. kMaxRate
  uint32_t burst = 100;       // 1 .. kMaxRate
  uint32_t total_pps = 1000;  // rate_pps .. kMaxRate, all sources together
  size_t max_sources = 4096;  // >= 1
  static constexpr uint32_t kMaxRate = 1'000'000;
};

// The limiter's key of a source address: IPv4 (and IPv4-mapped IPv6) whole, IPv6 its /64.
IpAddr rate_limit_key(const IpAddr& src);

class SourceRateLimiter {
 public:
  explicit SourceRateLimiter(RateLimit limit);
  bool allow(const IpAddr& src, TokenBucket::Time now);
  size_t sources() const { return lru_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  bool allow_source(const IpAddr& key, TokenBucket::Time now);

  struct Entry {
    IpAddr src;
    TokenBucket bucket;
  };
  RateLimit limit_;
  TokenBucket total_;
  std::list<Entry> lru_;  // most recently seen first
  std::map<IpAddr, std::list<Entry>::iterator> index_;
  uint64_t evictions_ = 0;
};

}  // namespace pathsteer
