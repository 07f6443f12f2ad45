#include "probes/reflector_filter.h"

#include <algorithm>
#include <array>

namespace pathsteer {

namespace {

bool is_multicast(const IpAddr& a) {
  if (a.is_v4())
    return (a.bytes[0] & 0xf0) == 0xe0;  // 224.0.0.0/4
  return a.is_v6() && a.bytes[0] == 0xff;
}

bool is_limited_broadcast(const IpAddr& a) {
  return a.is_v4() && a.bytes[0] == 0xff && a.bytes[1] == 0xff && a.bytes[2] == 0xff &&
         a.bytes[3] == 0xff;
}

}  // namespace

const char* reflector_drop_name(ReflectorDrop d) {
  switch (d) {
    case ReflectorDrop::kNone:
      return "none";
    case ReflectorDrop::kOwnPort:
      return "own port";
    case ReflectorDrop::kLowPort:
      return "low port";
    case ReflectorDrop::kMulticast:
      return "multicast";
    case ReflectorDrop::kBroadcast:
      return "broadcast";
    case ReflectorDrop::kNotAllowed:
      return "not allowed";
    case ReflectorDrop::kRateLimited:
      return "rate limited";
  }
  return "?";
}

ReflectorDrop drop_by_address(const DatagramAddrs& d, uint16_t own_port,
                              std::span<const Prefix> allow) {
  if (d.src_port == own_port)
    return ReflectorDrop::kOwnPort;
  if (d.src_port < kLowestUnprivilegedPort)
    return ReflectorDrop::kLowPort;
  if (is_multicast(d.dst))
    return ReflectorDrop::kMulticast;
  // Without packet info an IPv4 datagram cannot be told from a broadcast one; the reflector
  // always asks for it, so this only fails closed should a kernel not give it.
  if (d.src.is_v4() && (!d.dst.is_v4() || is_limited_broadcast(d.dst) || d.dst != d.spec_dst)) {
    return ReflectorDrop::kBroadcast;
  }
  if (!allow.empty() &&
      std::none_of(allow.begin(), allow.end(), [&](const Prefix& p) { return p.contains(d.src); }))
    return ReflectorDrop::kNotAllowed;
  return ReflectorDrop::kNone;
}

TokenBucket::TokenBucket(uint32_t rate, uint32_t burst, Time now)
    : rate_(rate), capacity_(uint64_t{burst} * kScale), level_(capacity_), last_(now) {}

bool TokenBucket::take(Time now) {
  if (now > last_) {
    // Full after `to_full` ns; clamping there first keeps elapsed * rate_ from overflowing
    // after a long silence.
    const auto elapsed = static_cast<uint64_t>((now - last_).count());
    const uint64_t to_full = (capacity_ - level_ + rate_ - 1) / rate_;
    level_ = elapsed >= to_full ? capacity_ : level_ + elapsed * rate_;
    last_ = now;
  }
  if (level_ < kScale)
    return false;
  level_ -= kScale;
  return true;
}

namespace {
RateLimit clamped(RateLimit l) {
  l.rate_pps = std::clamp<uint32_t>(l.rate_pps, 1, RateLimit::kMaxRate);
  l.burst = std::clamp<uint32_t>(l.burst, 1, RateLimit::kMaxRate);
  l.total_pps = std::clamp<uint32_t>(l.total_pps, l.rate_pps, RateLimit::kMaxRate);
  l.max_sources = std::max<size_t>(l.max_sources, 1);
  return l;
}
}  // namespace

IpAddr rate_limit_key(const IpAddr& src) {
  if (!src.is_v6()) {
    return src;
  }
  static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), src.bytes.begin())) {
    return src;  // an IPv4 host on a dual-stack socket
  }
  IpAddr key = src;
  std::fill(key.bytes.begin() + 8, key.bytes.end(), uint8_t{0});
  return key;
}

SourceRateLimiter::SourceRateLimiter(RateLimit limit)
    : limit_(clamped(limit)), total_(limit_.total_pps, limit_.total_pps, TokenBucket::Time{0}) {}

// The source's bucket first: a source over its own rate does not spend the shared one.
bool SourceRateLimiter::allow(const IpAddr& src, TokenBucket::Time now) {
  return allow_source(rate_limit_key(src), now) && total_.take(now);
}

bool SourceRateLimiter::allow_source(const IpAddr& src, TokenBucket::Time now) {
  auto it = index_.find(src);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
    return it->second->bucket.take(now);
  }
  if (lru_.size() >= limit_.max_sources) {
    index_.erase(lru_.back().src);
    lru_.pop_back();
    ++evictions_;
  }
  lru_.push_front(Entry{.src = src, .bucket = TokenBucket(limit_.rate_pps, limit_.burst, now)});
  index_.emplace(src, lru_.begin());
  return lru_.front().bucket.take(now);
}

}  // namespace pathsteer
