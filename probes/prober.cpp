#include "probes/prober.h"

#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>
#include <linux/icmp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "common/log.h"
#include "probes/icmp.h"
#include "probes/probe_socket.h"
#include "probes/stamp.h"
#include "probes/stats.h"

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;
using MsD = std::chrono::duration<double, std::milli>;

struct FamilySocket {
  Fd fd;
  uint16_t ident = 0;  // icmp only
};

Result<Fd> open_icmp_socket(int family, const std::string& ifname, uint32_t fwmark) {
  const std::string ctx = "icmp probe socket " + family_name(family) + " on " + ifname + ": ";
  int proto = family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
  Fd fd(socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto));
  if (!fd.valid())
    return system_error(ctx + "socket", errno);
  if (auto r = prepare_socket(fd.get(), ifname, fwmark, ctx); !r)
    return r.take_error();
  if (auto r = grow_receive_buffer(fd.get(), ctx); !r)
    return r.take_error();
  if (family == AF_INET) {
    // We write the IPv4 header: the kernel then skips the corking path of
    // ip_append_data (probe_floor: about 0.3 points of a core less at
    // 10,000 probes/s). It still routes, fills the source and checksums.
    if (auto r = set_int_opt(fd.get(), SOL_IP, IP_HDRINCL, 1, ctx + "IP_HDRINCL"); !r)
      return r.take_error();
    icmp_filter filter{};
    filter.data = ~((1U << ICMP_ECHOREPLY) | (1U << ICMP_DEST_UNREACH) |
                    (1U << ICMP_TIME_EXCEEDED) | (1U << ICMP_PARAMETERPROB));  // set = drop
    if (setsockopt(fd.get(), SOL_RAW, ICMP_FILTER, &filter, sizeof(filter)) != 0)
      return system_error(ctx + "ICMP_FILTER", errno);
  } else {
    icmp6_filter filter{};
    ICMP6_FILTER_SETBLOCKALL(&filter);
    for (int type : {ICMP6_ECHO_REPLY, ICMP6_DST_UNREACH, ICMP6_TIME_EXCEEDED, ICMP6_PARAM_PROB})
      ICMP6_FILTER_SETPASS(type, &filter);
    if (setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) != 0)
      return system_error(ctx + "ICMP6_FILTER", errno);
  }
  return fd;
}

Result<Fd> open_udp_socket(int family, const std::string& ifname, uint32_t fwmark) {
  const std::string ctx = "udp probe socket " + family_name(family) + " on " + ifname + ": ";
  Fd fd(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd.valid())
    return system_error(ctx + "socket", errno);
  if (auto r = prepare_socket(fd.get(), ifname, fwmark, ctx); !r)
    return r.take_error();
  if (auto r = grow_receive_buffer(fd.get(), ctx); !r)
    return r.take_error();
  auto r = family == AF_INET
               ? set_int_opt(fd.get(), SOL_IP, IP_RECVERR, 1, ctx + "IP_RECVERR")
               : set_int_opt(fd.get(), SOL_IPV6, IPV6_RECVERR, 1, ctx + "IPV6_RECVERR");
  if (!r)
    return r.take_error();
  return fd;
}

}  // namespace

struct Prober::Probe {
  uint64_t id = 0;
  uint32_t target = 0;
  uint64_t round = 0;
  Clock::time_point sent_steady;
  int64_t sent_realtime_ns = 0;
  Fd tcp;  // tcp only: the connecting socket, registered with the loop
  bool done = false;
};

struct Prober::Uplink {
  struct Target {
    ProbeSpec spec;
    ProbeStats stats;
  };
  struct Round {
    uint64_t id = 0;
    uint32_t answered = 0;
    uint32_t failed = 0;
  };

  Uplink(const UplinkProbeConfig& c, bool has_probes) : cfg(c), tracker(c.health, has_probes) {}

  UplinkProbeConfig cfg;  // as given, for the "unchanged" comparison
  Clock::duration interval{};
  Clock::duration slack{};  // see prober.h: early sends, reply polling
  Clock::duration timeout{};
  std::vector<Target> targets;         // config order
  bool need_icmp[2] = {false, false};  // [v4, v6]
  bool need_udp[2] = {false, false};
  HealthTracker tracker;
  UplinkHealth health;  // what was last reported through on_report, plus figures

  FamilySocket icmp[2];
  FamilySocket udp[2];
  bool sockets_open = false;
  unsigned ifindex = 0;
  std::string socket_error;  // last set-up error text, to log each distinct one once

  // Round k's probe to target i is due at start + k * interval + i * interval / N.
  Clock::time_point start;
  uint64_t round_k = 0;
  size_t next_target = 0;
  bool round_open = false;  // round_k's round exists (sockets were up at its start)

  uint64_t next_probe_id = 1;
  std::deque<Probe> flight;  // in send order; the front is never done

  // Datagrams of this wakeup, sent together by flush_sends() with sendmmsg.
  struct OutDatagram {
    int fd = -1;
    uint64_t probe_id = 0;
    sockaddr_storage dst{};
    socklen_t dst_len = 0;
    std::array<uint8_t, 128> pkt{};
    size_t len = 0;
  };
  std::vector<OutDatagram> outbox;
  uint64_t next_round_id = 1;
  std::deque<Round> rounds;  // undecided, oldest first

  Clock::time_point due(size_t target) const {
    return start + interval * static_cast<int64_t>(round_k) +
           interval * static_cast<int64_t>(target) / static_cast<int64_t>(targets.size());
  }
};

namespace {
int fam_index(const IpAddr& a) {
  return a.is_v4() ? 0 : 1;
}
int fam_index(int family) {
  return family == AF_INET ? 0 : 1;
}
}  // namespace

Prober::Prober(EventLoop& loop, OnProbeReport on_report)
    : loop_(loop), on_report_(std::move(on_report)), rng_(std::random_device{}()) {
  timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_.valid()) {
    PS_LOG(kError) << "probes: timerfd_create: " << std::strerror(errno);
    return;
  }
  if (auto r = loop_.add_fd(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); }); !r) {
    PS_LOG(kError) << "probes: " << r.error().to_string();
    timer_.reset();
  }
}

Prober::~Prober() {
  for (auto& [name, u] : uplinks_)
    close_sockets(*u);
  if (timer_.valid())
    loop_.remove_fd(timer_.get());
}

uint16_t Prober::new_ident() {
  std::uniform_int_distribution<int> dist(1, 0xffff);
  uint16_t id = 0;
  do {
    id = static_cast<uint16_t>(dist(rng_));
  } while (idents_in_use_.count(id) != 0);
  idents_in_use_.insert(id);
  return id;
}

std::unique_ptr<Prober::Uplink> Prober::make_uplink(const UplinkProbeConfig& cfg, bool carrier) {
  auto u = std::make_unique<Uplink>(cfg, !cfg.probes.empty());
  u->interval = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.interval_ms, 1));
  u->slack = std::min<Clock::duration>(kMaxSlack, u->interval / 10);
  u->timeout = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.timeout_ms, 1));
  for (const ProbeSpec& p : cfg.probes) {
    u->targets.push_back({.spec = p});
    if (p.method == ProbeMethod::kIcmp)
      u->need_icmp[fam_index(p.target)] = true;
    if (p.method == ProbeMethod::kUdp)
      u->need_udp[fam_index(p.target)] = true;
  }
  u->tracker.set_carrier(carrier);
  // Random start for the probe counter, hence for echo and STAMP sequence numbers.
  u->next_probe_id = std::uniform_int_distribution<uint64_t>(1, 1ULL << 40)(rng_);
  return u;
}

Result<void> Prober::configure(const std::vector<UplinkProbeConfig>& uplinks) {
  std::set<std::string> names;
  for (const auto& c : uplinks) {
    if (!names.insert(c.uplink).second)
      return policy_error("probes: uplink " + c.uplink + " configured twice");
  }

  std::map<std::string, std::unique_ptr<Uplink>> next;
  std::vector<Uplink*> fresh;
  for (const auto& c : uplinks) {
    auto it = uplinks_.find(c.uplink);
    if (it != uplinks_.end() && it->second->cfg == c) {
      next[c.uplink] = std::move(it->second);
      uplinks_.erase(it);
      continue;
    }
    bool carrier = true;
    std::unique_ptr<Uplink> old;
    if (it != uplinks_.end()) {
      old = std::move(it->second);
      uplinks_.erase(it);
      close_sockets(*old);
      carrier = old->tracker.carrier();
    }
    auto u = make_uplink(c, carrier);
    // Compare the replacement against what was reported for the old config,
    // so a restart from kUnknown is reported.
    if (old)
      u->health = old->health;
    u->health.last_rtt_ms = u->health.rtt_ms = u->health.jitter_ms = u->health.loss_pct = 0;
    u->health.sent = u->health.received = u->health.failed = 0;
    fresh.push_back(u.get());
    next[c.uplink] = std::move(u);
  }
  for (auto& [name, u] : uplinks_)
    close_sockets(*u);
  uplinks_ = std::move(next);

  Result<void> first_error = ok();
  if (!timer_.valid())
    first_error = system_error("probes: no scheduler timer", EBADF);
  for (Uplink* u : fresh) {
    if (!u->targets.empty()) {
      auto r = open_sockets(*u);
      if (!r && r.error().err_no != ENODEV && first_error.ok())
        first_error = r.take_error();
      u->start = Clock::now();
    }
    refresh(*u);
  }
  rearm();
  return first_error;
}

void Prober::set_carrier(const std::string& uplink, bool carrier) {
  auto it = uplinks_.find(uplink);
  if (it == uplinks_.end())
    return;
  it->second->tracker.set_carrier(carrier);
  refresh(*it->second);
}

const UplinkHealth* Prober::health(const std::string& uplink) const {
  auto it = uplinks_.find(uplink);
  return it == uplinks_.end() ? nullptr : &it->second->health;
}

std::vector<TargetHealth> Prober::targets(const std::string& uplink) const {
  std::vector<TargetHealth> out;
  auto it = uplinks_.find(uplink);
  if (it == uplinks_.end())
    return out;
  for (const auto& t : it->second->targets) {
    out.push_back(TargetHealth{.target = t.spec.target,
                               .method = t.spec.method,
                               .port = t.spec.port,
                               .last_rtt_ms = t.stats.last_rtt_ms(),
                               .rtt_ms = t.stats.rtt_ms(),
                               .jitter_ms = t.stats.jitter_ms(),
                               .loss_pct = t.stats.loss_pct(),
                               .sent = t.stats.sent(),
                               .received = t.stats.received(),
                               .failed = t.stats.failed()});
  }
  return out;
}

ProberStats Prober::stats() const {
  ProberStats s = stats_;
  s.lateness_samples = lateness_.count();
  s.lateness_p50_ms = lateness_.percentile(0.5);
  s.lateness_p99_ms = lateness_.percentile(0.99);
  s.lateness_max_ms = lateness_.max_ms();
  return s;
}

Result<void> Prober::open_sockets(Uplink& u) {
  auto fail = [&](Error e) -> Result<void> {
    close_sockets(u);
    bool missing = e.err_no == ENODEV;
    u.tracker.set_blocker(missing ? "no interface" : "socket error");
    std::string text = e.to_string();
    if (text != u.socket_error) {
      PS_LOG(kWarn) << "uplink " << u.cfg.uplink << ": " << text
                    << (missing ? " (retrying every interval)" : "");
      u.socket_error = text;
    }
    return e;
  };
  for (int family : {AF_INET, AF_INET6}) {
    int fi = fam_index(family);
    if (u.need_icmp[fi]) {
      auto fd = open_icmp_socket(family, u.cfg.ifname, u.cfg.fwmark);
      if (!fd)
        return fail(fd.take_error());
      FamilySocket& s = u.icmp[fi];
      s.fd = std::move(*fd);
      s.ident = new_ident();
    }
    if (u.need_udp[fi]) {
      auto fd = open_udp_socket(family, u.cfg.ifname, u.cfg.fwmark);
      if (!fd)
        return fail(fd.take_error());
      u.udp[fi].fd = std::move(*fd);
    }
  }
  u.ifindex = if_nametoindex(u.cfg.ifname.c_str());
  if (u.ifindex == 0)  // tcp-only uplinks have no socket to tell us
    return fail(system_error("probes on " + u.cfg.ifname, ENODEV));
  u.sockets_open = true;
  if (!u.socket_error.empty()) {
    PS_LOG(kInfo) << "uplink " << u.cfg.uplink << ": probe sockets open on " << u.cfg.ifname;
    u.socket_error.clear();
  }
  u.tracker.set_blocker("");
  return ok();
}

void Prober::close_sockets(Uplink& u) {
  for (int fi : {0, 1}) {
    if (u.icmp[fi].fd.valid()) {
      u.icmp[fi].fd.reset();
      idents_in_use_.erase(u.icmp[fi].ident);
    }
    u.icmp[fi].ident = 0;
    u.udp[fi].fd.reset();
  }
  for (Probe& p : u.flight) {
    if (p.tcp.valid())
      loop_.remove_fd(p.tcp.get());
  }
  u.flight.clear();
  u.rounds.clear();
  u.round_open = false;
  u.sockets_open = false;
}

void Prober::interface_gone(Uplink& u) {
  // A new interface with the same name needs new sockets.
  PS_LOG(kWarn) << "uplink " << u.cfg.uplink << ": " << u.cfg.ifname << " disappeared";
  close_sockets(u);
  u.tracker.set_blocker("no interface");
  u.socket_error = "interface gone";
}

void Prober::rearm() {
  if (!timer_.valid())
    return;
  const Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [name, u] : uplinks_) {
    if (u->targets.empty())
      continue;
    next = std::min(next, u->due(u->next_target));
    if (!u->flight.empty()) {
      next = std::min(next, u->flight.front().sent_steady + u->timeout);
      next = std::min(next, now + u->slack);
    }
  }
  itimerspec its{};
  if (next != Clock::time_point::max()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch()).count();
    ns = std::max<int64_t>(ns, 1);  // 0 would disarm
    its.it_value = to_timespec(ns);
  }
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0)
    PS_LOG(kError) << "probes: timerfd_settime: " << std::strerror(errno);
}

void Prober::on_timer() {
  uint64_t expirations = 0;
  if (read(timer_.get(), &expirations, sizeof(expirations)) > 0)
    ++stats_.wakeups;
  Clock::time_point now = Clock::now();
  // service() may report through on_report_, which must not reconfigure us,
  // so the map is stable during the walk.
  for (auto& [name, u] : uplinks_) {
    if (!u->targets.empty())
      service(*u, now);
  }
  rearm();
}

void Prober::poll_replies(Uplink& u) {
  for (int fi : {0, 1}) {
    int family = fi == 0 ? AF_INET : AF_INET6;
    if (u.icmp[fi].fd.valid())
      on_readable(u, u.icmp[fi].fd.get(), false, family);
    if (u.udp[fi].fd.valid()) {
      on_udp_error(u, u.udp[fi].fd.get());
      on_readable(u, u.udp[fi].fd.get(), true, family);
    }
  }
}

void Prober::service(Uplink& u, Clock::time_point now) {
  // Replies already queued arrived before now, so they go before the expiry.
  poll_replies(u);
  expire(u, now);
  // One clock reading for every probe of this wakeup: they are all handed to
  // the kernel within microseconds of it (two vDSO calls per probe were a
  // visible share of the user time at 10,000 probes/s).
  std::optional<SendTime> at;
  while (u.due(u.next_target) <= now + u.slack) {
    if (u.next_target == 0)
      start_round(u, now);
    if (!u.round_open) {  // no sockets (or they just went): the rest of this round is skipped
      u.next_target = 0;
      ++u.round_k;
      continue;
    }
    if (!at)
      at = SendTime{.steady = Clock::now(), .realtime_ns = realtime_ns()};
    send_probe(u, u.next_target, u.due(u.next_target), *at);
    if (++u.next_target == u.targets.size()) {
      u.next_target = 0;
      ++u.round_k;
      u.round_open = false;
    }
  }
  flush_sends(u);
  refresh(u, decide_rounds(u));
}

void Prober::start_round(Uplink& u, Clock::time_point now) {
  // After a stall longer than an interval, skip the rounds that are wholly
  // in the past instead of sending them in a burst.
  if (u.due(0) + u.interval < now) {
    auto behind = (now - u.due(0)) / u.interval;
    u.round_k += static_cast<uint64_t>(behind);
    PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": skipped " << behind << " late rounds";
  }
  if (!u.sockets_open) {
    (void)open_sockets(u);  // logged inside; the state says why
    if (!u.sockets_open) {
      u.round_open = false;
      return;
    }
  }
  u.rounds.push_back({.id = u.next_round_id++});
  u.round_open = true;
}

void Prober::send_probe(Uplink& u, size_t target, Clock::time_point due, const SendTime& at) {
  u.flight.push_back(Probe{.id = u.next_probe_id++,
                           .target = static_cast<uint32_t>(target),
                           .round = u.rounds.back().id});
  Probe& p = u.flight.back();
  Uplink::Target& t = u.targets[target];
  t.stats.on_sent();
  ++u.health.sent;
  ++stats_.sent;
  p.sent_steady = at.steady;
  p.sent_realtime_ns = at.realtime_ns;
  lateness_.add(MsD(p.sent_steady - due).count());
  bool sent =
      t.spec.method == ProbeMethod::kTcp ? start_tcp(u, target, p) : send_datagram(u, target, p);
  if (!u.sockets_open)
    return;  // interface gone: everything in flight was dropped
  if (!sent)
    complete(u, u.flight.back(), /*answered=*/false, 0);
}

bool Prober::send_datagram(Uplink& u, size_t target, Probe& p) {
  const ProbeSpec& spec = u.targets[target].spec;
  int fi = fam_index(spec.target);
  Uplink::OutDatagram& d = u.outbox.emplace_back();
  d.probe_id = p.id;
  if (spec.method == ProbeMethod::kIcmp) {
    FamilySocket& s = u.icmp[fi];
    d.fd = s.fd.get();
    d.dst_len = to_sockaddr(spec.target, 0, u.ifindex, d.dst);
    EchoId id{.ident = s.ident, .seq = static_cast<uint16_t>(p.id)};
    d.len = spec.target.is_v4() ? write_ipv4_echo_request(spec.target, id, d.pkt)
                                : write_echo_request(AF_INET6, id, d.pkt);
  } else {
    d.fd = u.udp[fi].fd.get();
    d.dst_len = to_sockaddr(spec.target, spec.port, u.ifindex, d.dst);
    auto pkt = encode_sender_packet(static_cast<uint32_t>(p.id),
                                    to_stamp_timestamp(to_timespec(p.sent_realtime_ns)));
    d.len = pkt.size();
    std::copy_n(pkt.begin(), d.len, d.pkt.begin());
  }
  return true;
}

void Prober::flush_sends(Uplink& u) {
  constexpr size_t kBatch = 64;
  std::vector<Uplink::OutDatagram>& out = u.outbox;  // cleared, not freed: it is reused
  size_t i = 0;
  while (i < out.size() && u.sockets_open) {
    size_t end = i;  // a run of datagrams for the same socket
    while (end < out.size() && out[end].fd == out[i].fd && end - i < kBatch)
      ++end;
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iovs{};
    for (size_t k = i; k < end; ++k) {
      iovs[k - i] = iovec{.iov_base = out[k].pkt.data(), .iov_len = out[k].len};
      msghdr& m = msgs[k - i].msg_hdr;
      m.msg_name = &out[k].dst;
      m.msg_namelen = out[k].dst_len;
      m.msg_iov = &iovs[k - i];
      m.msg_iovlen = 1;
    }
    int n = sendmmsg(out[i].fd, msgs.data(), static_cast<unsigned>(end - i), 0);
    i += n > 0 ? static_cast<size_t>(n) : 0;
    if (i == end)
      continue;
    // sendmmsg stops at the first failure; send that one alone to learn why.
    Uplink::OutDatagram& d = out[i++];
    if (sendto(d.fd, d.pkt.data(), d.len, 0, reinterpret_cast<sockaddr*>(&d.dst), d.dst_len) >= 0)
      continue;
    int err = errno;
    if (err == ENODEV || err == ENXIO) {
      out.clear();
      interface_gone(u);  // drops everything in flight
      return;
    }
    if (Probe* p = find_probe(u, d.probe_id)) {
      PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": probe to "
                     << u.targets[p->target].spec.target.to_string() << ": " << std::strerror(err);
      complete(u, *p, /*answered=*/false, 0);
    }
  }
  out.clear();
}

bool Prober::start_tcp(Uplink& u, size_t target, Probe& p) {
  const ProbeSpec& spec = u.targets[target].spec;
  const std::string ctx = "tcp probe to " + spec.target.to_string() + " on " + u.cfg.ifname + ": ";
  Fd fd(socket(spec.target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd.valid()) {
    PS_LOG(kDebug) << ctx << "socket: " << std::strerror(errno);
    return false;
  }
  linger lg{.l_onoff = 1, .l_linger = 0};  // close() resets: no TIME_WAIT pile-up
  if (auto r = prepare_socket(fd.get(), u.cfg.ifname, u.cfg.fwmark, ctx); !r) {
    if (r.error().err_no == ENODEV)
      interface_gone(u);
    else
      PS_LOG(kDebug) << r.error().to_string();
    return false;
  }
  if (setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
    PS_LOG(kDebug) << ctx << "SO_LINGER: " << std::strerror(errno);
    return false;
  }
  sockaddr_storage dst{};
  socklen_t dst_len = to_sockaddr(spec.target, spec.port, u.ifindex, dst);
  p.sent_steady = Clock::now();
  p.sent_realtime_ns = realtime_ns();
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), dst_len) != 0 && errno != EINPROGRESS) {
    PS_LOG(kDebug) << ctx << "connect: " << std::strerror(errno);
    return false;
  }
  uint64_t id = p.id;
  Uplink* up = &u;
  if (auto r =
          loop_.add_fd(fd.get(), EPOLLOUT, [this, up, id](uint32_t) { on_tcp_event(*up, id); });
      !r) {
    PS_LOG(kDebug) << ctx << r.error().to_string();
    return false;
  }
  p.tcp = std::move(fd);
  return true;
}

Prober::Probe* Prober::find_probe(Uplink& u, uint64_t id) {
  if (u.flight.empty() || id < u.flight.front().id)
    return nullptr;
  uint64_t i = id - u.flight.front().id;
  if (i >= u.flight.size())
    return nullptr;
  Probe& p = u.flight[i];
  return p.done ? nullptr : &p;
}

void Prober::on_tcp_event(Uplink& u, uint64_t probe_id) {
  Probe* p = find_probe(u, probe_id);
  if (p == nullptr || !p->tcp.valid())
    return;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(p->tcp.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  double rtt_ms = MsD(Clock::now() - p->sent_steady).count();
  if (err == 0) {
    tcp_info info{};
    socklen_t info_len = sizeof(info);
    if (getsockopt(p->tcp.get(), IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0)
      return;
    if (info.tcpi_state == TCP_SYN_SENT)
      return;  // still connecting (SO_ERROR is 0 then too); a server may already have closed

    if (info.tcpi_rtt > 0)
      rtt_ms = static_cast<double>(info.tcpi_rtt) / 1000.0;
  }
  bool answered = err == 0 && rtt_ms <= MsD(u.timeout).count();
  complete(u, *p, answered, rtt_ms);
  refresh(u, decide_rounds(u));
}

void Prober::on_readable(Uplink& u, int fd, bool udp, int family) {
  // Replies are drained in batches with recvmmsg: at 1,000 targets x 10/s a
  // syscall per reply was most of the prober's CPU time.
  constexpr unsigned kBatch = 32;
  struct Slot {
    uint8_t buf[1500];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) * 2];
    sockaddr_storage from;
    iovec iov;
  };
  std::array<Slot, kBatch> slots;
  std::array<mmsghdr, kBatch> msgs{};
  const int fi = fam_index(family);
  const double timeout_ms = MsD(u.timeout).count();
  bool any = false;
  Clock::time_point batch_steady;

  auto handle = [&](const uint8_t* buf, size_t len, const sockaddr_storage& from, msghdr& msg) {
    auto [src, src_port] = from_sockaddr(from);
    int64_t rx_ns = kernel_rx_ns(msg);
    if (rx_ns == 0)
      rx_ns = realtime_ns();

    Probe* p = nullptr;
    double rtt_ms = 0;
    if (udp) {
      auto r = decode_reflected_packet(std::span<const uint8_t>(buf, len));
      if (!r)
        return;
      // Sequence numbers are the low 32 bits of the probe id; rebuild it
      // relative to the oldest probe in flight (wraps correctly).
      uint64_t base = u.flight.empty() ? 0 : u.flight.front().id;
      p = find_probe(u, base + static_cast<uint32_t>(r->sender_seq - static_cast<uint32_t>(base)));
      if (p == nullptr)
        return;
      const ProbeSpec& spec = u.targets[p->target].spec;
      if (spec.method != ProbeMethod::kUdp || spec.target != src || spec.port != src_port)
        return;  // foreign
      rtt_ms = stamp_rtt_ms(*r, to_timespec(rx_ns));
    } else {
      std::optional<EchoId> echo = parse_echo_reply(family, buf, len);
      std::optional<EchoError> error;
      if (!echo) {
        error = parse_echo_error(family, buf, len);
        if (!error)
          return;
        echo = error->id;
        src = error->dst;
      }
      if (echo->ident != u.icmp[fi].ident)
        return;
      uint64_t base = u.flight.empty() ? 0 : u.flight.front().id;
      p = find_probe(u, base + static_cast<uint16_t>(echo->seq - static_cast<uint16_t>(base)));
      if (p == nullptr)
        return;  // late, duplicate or foreign
      const ProbeSpec& spec = u.targets[p->target].spec;
      if (spec.method != ProbeMethod::kIcmp || spec.target != src)
        return;
      if (error) {
        PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": icmp error type " << int{error->type}
                       << " code " << int{error->code} << " for " << spec.target.to_string();
        complete(u, *p, /*answered=*/false, 0);
        any = true;
        return;
      }
      rtt_ms = static_cast<double>(rx_ns - p->sent_realtime_ns) / 1e6;
    }
    // CLOCK_REALTIME may step between send and receive; then trust the
    // monotonic clock (which includes our own wake-up latency).
    double steady_ms = MsD(batch_steady - p->sent_steady).count();
    if (rtt_ms < 0 || rtt_ms > steady_ms + 1.0)
      rtt_ms = steady_ms;
    // Queued before we looked, but after the deadline: late; the expiry fails it.
    if (rtt_ms > timeout_ms)
      return;
    complete(u, *p, /*answered=*/true, rtt_ms);
    any = true;
  };

  while (u.sockets_open) {
    for (unsigned i = 0; i < kBatch; ++i) {
      Slot& sl = slots[i];
      sl.iov = iovec{.iov_base = sl.buf, .iov_len = sizeof(sl.buf)};
      msghdr& m = msgs[i].msg_hdr;
      m = msghdr{};
      m.msg_name = &sl.from;
      m.msg_namelen = sizeof(sl.from);
      m.msg_iov = &sl.iov;
      m.msg_iovlen = 1;
      m.msg_control = sl.control;
      m.msg_controllen = sizeof(sl.control);
    }
    int n = recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": recvmmsg: " << std::strerror(errno);
      }
      break;
    }
    batch_steady = Clock::now();  // after every datagram of the batch arrived
    for (int i = 0; i < n && u.sockets_open; ++i) {
      handle(slots[i].buf, msgs[i].msg_len, slots[i].from, msgs[i].msg_hdr);
    }
    if (static_cast<unsigned>(n) < kBatch)
      break;  // drained: no need for a call that only says EAGAIN
  }
  if (any) {
    refresh(u, decide_rounds(u));
  }
}

void Prober::on_udp_error(Uplink& u, int fd) {
  uint8_t buf[256];
  alignas(cmsghdr) char control[512];
  bool any = false;
  while (u.sockets_open) {
    sockaddr_storage dst{};
    iovec iov{.iov_base = buf, .iov_len = sizeof(buf)};
    msghdr msg{};
    msg.msg_name = &dst;
    msg.msg_namelen = sizeof(dst);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    bool icmp = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        sock_extended_err ee{};
        std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
        icmp = ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6;
      }
    }
    // The error queue returns our own datagram: its first 4 bytes are the
    // STAMP sequence number.
    auto sent = decode_sender_packet(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    if (!icmp || !sent)
      continue;
    uint64_t base = u.flight.empty() ? 0 : u.flight.front().id;
    Probe* p = find_probe(u, base + static_cast<uint32_t>(sent->seq - static_cast<uint32_t>(base)));
    if (p == nullptr)
      continue;
    auto [addr, port] = from_sockaddr(dst);
    const ProbeSpec& spec = u.targets[p->target].spec;
    if (spec.method != ProbeMethod::kUdp || spec.target != addr || spec.port != port)
      continue;
    complete(u, *p, /*answered=*/false, 0);
    any = true;
  }
  if (any) {
    refresh(u, decide_rounds(u));
  }
}

void Prober::expire(Uplink& u, Clock::time_point now) {
  if (u.flight.empty() || u.flight.front().sent_steady + u.timeout > now)
    return;
  while (!u.flight.empty() && u.flight.front().sent_steady + u.timeout <= now) {
    Probe& p = u.flight.front();
    if (p.tcp.valid()) {
      uint64_t id = p.id;
      on_tcp_event(u, id);  // connected in time, with the event still queued?
      if (u.flight.empty() || u.flight.front().id != id)
        continue;
    }
    complete(u, p, /*answered=*/false, 0);
  }
}

void Prober::complete(Uplink& u, Probe& p, bool answered, double rtt_ms) {
  p.done = true;
  if (p.tcp.valid()) {
    loop_.remove_fd(p.tcp.get());
    p.tcp.reset();
  }
  ProbeStats& ts = u.targets[p.target].stats;
  if (answered) {
    ts.on_reply(rtt_ms);
    ++u.health.received;
    ++stats_.answered;
    u.health.last_rtt_ms = rtt_ms;
  } else {
    ts.on_failed();
    ++u.health.failed;
    ++stats_.failed;
  }
  if (!u.rounds.empty() && p.round >= u.rounds.front().id) {
    uint64_t i = p.round - u.rounds.front().id;
    if (i < u.rounds.size())
      ++(answered ? u.rounds[i].answered : u.rounds[i].failed);
  }
  while (!u.flight.empty() && u.flight.front().done)
    u.flight.pop_front();
}

bool Prober::decide_rounds(Uplink& u) {
  const auto targets = static_cast<uint32_t>(u.targets.size());
  const uint32_t need = std::clamp<uint32_t>(u.cfg.health.reliability, 1, targets);
  bool decided = false;
  while (!u.rounds.empty()) {
    const Uplink::Round& r = u.rounds.front();
    bool good = r.answered >= need;
    bool bad = targets - r.failed < need;
    if (!good && !bad)
      break;
    if (!decided)
      update_figures(u);
    decided = true;
    u.tracker.on_round(good, Quality{.rtt_ms = u.health.rtt_ms,
                                     .jitter_ms = u.health.jitter_ms,
                                     .loss_pct = u.health.loss_pct});
    u.rounds.pop_front();
  }
  return decided;
}

void Prober::update_figures(Uplink& u) {
  double rtt = 0;
  double jitter = 0;
  size_t with_rtt = 0;
  size_t window = 0;
  size_t failures = 0;
  for (const auto& t : u.targets) {
    if (t.stats.has_rtt()) {
      rtt += t.stats.rtt_ms();
      jitter += t.stats.jitter_ms();
      ++with_rtt;
    }
    window += t.stats.loss_window_size();
    failures += t.stats.loss_window_failures();
  }
  UplinkHealth& h = u.health;
  h.rtt_ms = with_rtt == 0 ? 0 : rtt / static_cast<double>(with_rtt);
  h.jitter_ms = with_rtt == 0 ? 0 : jitter / static_cast<double>(with_rtt);
  h.loss_pct =
      window == 0 ? 0 : 100.0 * static_cast<double>(failures) / static_cast<double>(window);
}

void Prober::refresh(Uplink& u, bool round_decided) {
  UplinkHealth& h = u.health;
  bool changed = h.state != u.tracker.state() || h.reason != u.tracker.reason() ||
                 h.carrier != u.tracker.carrier();
  if (!changed && !round_decided)
    return;
  if (changed) {
    h.state = u.tracker.state();
    h.reason = u.tracker.reason();
    h.carrier = u.tracker.carrier();
    PS_LOG(kInfo) << "uplink " << u.cfg.uplink << " " << to_string(h.state) << " (" << h.reason
                  << ", carrier " << (h.carrier ? "up" : "down") << ", rtt " << h.rtt_ms
                  << " ms, jitter " << h.jitter_ms << " ms, loss " << h.loss_pct << "%)";
  }
  if (on_report_)
    on_report_(u.cfg.uplink, h, changed);
}

}  // namespace pathsteer
