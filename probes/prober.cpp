#include "probes/prober.h"

#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/icmp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include "common/fd.h"
#include "common/log.h"
#include "probes/icmp.h"
#include "probes/stats.h"

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct InFlight {
  uint64_t round_id = 0;
  int64_t sent_realtime_ns = 0;
  Clock::time_point sent_steady;
};

struct FamilySocket {
  Fd fd;
  uint16_t ident = 0;
};

bool is_link_local(const IpAddr& a) {
  return a.is_v6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

Result<void> set_int_opt(int fd, int level, int opt, int value, const char* what) {
  if (setsockopt(fd, level, opt, &value, sizeof(value)) != 0)
    return system_error(what, errno);
  return ok();
}

// One raw ICMP socket bound to `ifname`, marked, timestamping, filtered to
// echo replies. ENODEV from SO_BINDTODEVICE means the interface is missing.
Result<Fd> open_raw_socket(int family, const std::string& ifname, uint32_t fwmark) {
  const std::string ctx = "probe socket " + family_name(family) + " on " + ifname + ": ";
  int proto = family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
  Fd fd(socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto));
  if (!fd.valid())
    return system_error(ctx + "socket", errno);
  if (setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0) {
    return system_error(ctx + "SO_BINDTODEVICE", errno);
  }
  if (fwmark != 0) {
    auto r = set_int_opt(fd.get(), SOL_SOCKET, SO_MARK, static_cast<int>(fwmark),
                         (ctx + "SO_MARK").c_str());
    if (!r)
      return r.take_error();
  }
  if (auto r =
          set_int_opt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, (ctx + "SO_TIMESTAMPNS").c_str());
      !r) {
    return r.take_error();
  }
  if (family == AF_INET) {
    icmp_filter filter{};
    filter.data = ~(1U << ICMP_ECHOREPLY);  // a set bit drops that type
    if (setsockopt(fd.get(), SOL_RAW, ICMP_FILTER, &filter, sizeof(filter)) != 0) {
      return system_error(ctx + "ICMP_FILTER", errno);
    }
  } else {
    icmp6_filter filter{};
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    if (setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) != 0) {
      return system_error(ctx + "ICMP6_FILTER", errno);
    }
  }
  return fd;
}

}  // namespace

struct Prober::Round {
  uint64_t id = 0;
  uint32_t targets = 0;
  uint32_t pending = 0;
  uint32_t answered = 0;
  EventLoop::TimerId timer = 0;
};

struct Prober::Uplink {
  Uplink(const UplinkProbeConfig& c, bool has_probes) : cfg(c), tracker(c.health, has_probes) {}

  UplinkProbeConfig cfg;  // as given, for the "unchanged" comparison
  std::chrono::milliseconds interval{1};
  std::chrono::milliseconds timeout{1};
  std::vector<IpAddr> targets;  // ICMP targets, config order
  bool need_v4 = false;
  bool need_v6 = false;
  HealthTracker tracker;
  ProbeStats stats;
  UplinkHealth health;  // what was last reported through on_change

  FamilySocket v4;
  FamilySocket v6;
  bool sockets_open = false;
  unsigned ifindex = 0;
  std::string socket_error;  // last set-up error text, to log each distinct one once

  EventLoop::TimerId tick_timer = 0;
  uint16_t next_seq = 0;
  uint64_t next_round = 1;
  std::map<std::pair<IpAddr, uint16_t>, InFlight> in_flight;  // (target, seq)
  std::deque<Round> rounds;                                   // oldest first
};

Prober::Prober(EventLoop& loop, OnChange on_change)
    : loop_(loop), on_change_(std::move(on_change)), rng_(std::random_device{}()) {}

Prober::~Prober() {
  for (auto& [name, u] : uplinks_)
    stop_uplink(*u);
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
  std::vector<IpAddr> targets;
  bool ignored = false;
  for (const ProbeSpec& p : cfg.probes) {
    if (p.method == ProbeMethod::kIcmp) {
      targets.push_back(p.target);
    } else {
      ignored = true;
    }
  }
  if (ignored) {
    PS_LOG(kWarn) << "uplink " << cfg.uplink
                  << ": udp/tcp probes are not implemented yet; only icmp probes are used";
  }
  auto u = std::make_unique<Uplink>(cfg, !targets.empty());
  u->interval = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.interval_ms, 1));
  u->timeout = std::chrono::milliseconds(std::max<uint32_t>(cfg.health.timeout_ms, 1));
  for (const IpAddr& t : targets) {
    u->need_v4 |= t.is_v4();
    u->need_v6 |= t.is_v6();
  }
  u->targets = std::move(targets);
  u->tracker.set_carrier(carrier);
  u->next_seq = static_cast<uint16_t>(std::uniform_int_distribution<int>(0, 0xffff)(rng_));
  return u;
}

Result<void> Prober::configure(const std::vector<UplinkProbeConfig>& uplinks) {
  std::set<std::string> names;
  for (const auto& c : uplinks) {
    if (!names.insert(c.uplink).second) {
      return policy_error("probes: uplink " + c.uplink + " configured twice");
    }
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
      stop_uplink(*old);
      carrier = old->tracker.carrier();
    }
    auto u = make_uplink(c, carrier);
    // Compare the replacement against what was reported for the old config,
    // so a restart from kUnknown is reported.
    if (old)
      u->health = old->health;
    fresh.push_back(u.get());
    next[c.uplink] = std::move(u);
  }
  for (auto& [name, u] : uplinks_)
    stop_uplink(*u);
  uplinks_ = std::move(next);

  Result<void> first_error = ok();
  for (Uplink* u : fresh) {
    if (!u->targets.empty()) {
      auto r = open_sockets(*u);
      if (!r && r.error().err_no != ENODEV && first_error.ok())
        first_error = r.take_error();
      auto timer = loop_.add_timer(EventLoop::Duration(0), u->interval, [this, u] { on_tick(*u); });
      if (!timer) {
        if (first_error.ok())
          first_error = timer.take_error();
      } else {
        u->tick_timer = *timer;
      }
    }
    refresh(*u);
  }
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
    if (!(family == AF_INET ? u.need_v4 : u.need_v6))
      continue;
    auto fd = open_raw_socket(family, u.cfg.ifname, u.cfg.fwmark);
    if (!fd)
      return fail(fd.take_error());
    FamilySocket& s = family == AF_INET ? u.v4 : u.v6;
    s.fd = std::move(*fd);
    s.ident = new_ident();
    Uplink* up = &u;
    auto r = loop_.add_fd(s.fd.get(), EPOLLIN,
                          [this, up, family](uint32_t) { on_readable(*up, family); });
    if (!r)
      return fail(r.take_error());
  }
  u.ifindex = if_nametoindex(u.cfg.ifname.c_str());
  u.sockets_open = true;
  if (!u.socket_error.empty()) {
    PS_LOG(kInfo) << "uplink " << u.cfg.uplink << ": probe sockets open on " << u.cfg.ifname;
    u.socket_error.clear();
  }
  u.tracker.set_blocker("");
  return ok();
}

void Prober::close_sockets(Uplink& u) {
  for (FamilySocket* s : {&u.v4, &u.v6}) {
    if (s->fd.valid()) {
      loop_.remove_fd(s->fd.get());
      s->fd.reset();
      idents_in_use_.erase(s->ident);
    }
    s->ident = 0;
  }
  for (const Round& r : u.rounds) {
    if (r.timer != 0)
      loop_.cancel_timer(r.timer);
  }
  u.rounds.clear();
  u.in_flight.clear();
  u.sockets_open = false;
}

void Prober::stop_uplink(Uplink& u) {
  if (u.tick_timer != 0)
    loop_.cancel_timer(u.tick_timer);
  u.tick_timer = 0;
  close_sockets(u);
}

void Prober::on_tick(Uplink& u) {
  if (!u.sockets_open) {
    (void)open_sockets(u);  // logged inside; the state says why
    if (!u.sockets_open) {
      refresh(u);
      return;
    }
  }
  send_round(u);
  refresh(u);
}

void Prober::send_round(Uplink& u) {
  uint64_t round_id = u.next_round++;
  u.rounds.push_back(Round{.id = round_id, .targets = static_cast<uint32_t>(u.targets.size())});
  uint32_t pending = 0;
  for (const IpAddr& target : u.targets) {
    FamilySocket& s = target.is_v4() ? u.v4 : u.v6;
    EchoId id{.ident = s.ident, .seq = u.next_seq++};
    std::vector<uint8_t> pkt = build_echo_request(target.family, id);

    sockaddr_storage dst{};
    socklen_t dst_len = 0;
    if (target.is_v4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&dst);
      sin->sin_family = AF_INET;
      std::memcpy(&sin->sin_addr, target.bytes.data(), 4);
      dst_len = sizeof(sockaddr_in);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&dst);
      sin6->sin6_family = AF_INET6;
      std::memcpy(&sin6->sin6_addr, target.bytes.data(), 16);
      if (is_link_local(target))
        sin6->sin6_scope_id = u.ifindex;
      dst_len = sizeof(sockaddr_in6);
    }

    u.stats.on_sent();
    InFlight f{
        .round_id = round_id, .sent_realtime_ns = realtime_ns(), .sent_steady = Clock::now()};
    ssize_t n =
        sendto(s.fd.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst), dst_len);
    if (n < 0) {
      int err = errno;
      if (err == ENODEV || err == ENXIO) {
        // The bound interface went away; a new one with the same name needs new sockets.
        PS_LOG(kWarn) << "uplink " << u.cfg.uplink << ": " << u.cfg.ifname << " disappeared";
        close_sockets(u);
        u.tracker.set_blocker("no interface");
        u.socket_error = "interface gone";
        return;
      }
      PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": echo to " << target.to_string() << ": "
                     << std::strerror(err);
      u.stats.on_failed();
      continue;
    }
    // A (target, seq) still in flight after 65536 probes is overwritten; its
    // round is then decided by its timeout.
    u.in_flight[{target, id.seq}] = f;
    ++pending;
  }

  Round& round = u.rounds.back();
  round.pending = pending;
  if (pending > 0) {
    auto timer = loop_.add_timer(u.timeout, EventLoop::Duration(0),
                                 [this, up = &u, round_id] { on_round_timeout(*up, round_id); });
    if (timer) {
      round.timer = *timer;
    } else {
      PS_LOG(kError) << "uplink " << u.cfg.uplink << ": " << timer.error().to_string();
      on_round_timeout(u, round_id);  // fail the round now rather than never deciding it
      return;
    }
  }
  decide_rounds(u);
}

void Prober::on_readable(Uplink& u, int family) {
  FamilySocket& s = family == AF_INET ? u.v4 : u.v6;
  uint8_t buf[1500];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) * 2];
  bool any = false;
  while (s.fd.valid()) {
    sockaddr_storage from{};
    iovec iov{.iov_base = buf, .iov_len = sizeof(buf)};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(s.fd.get(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        PS_LOG(kDebug) << "uplink " << u.cfg.uplink << ": recvmsg: " << std::strerror(errno);
      }
      if (errno == EINTR)
        continue;
      break;
    }
    auto echo = parse_echo_reply(family, buf, static_cast<size_t>(n));
    if (!echo || echo->ident != s.ident)
      continue;

    IpAddr src;
    src.family = family;
    if (family == AF_INET) {
      std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
    } else {
      std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, 16);
    }
    auto it = u.in_flight.find({src, echo->seq});
    if (it == u.in_flight.end())
      continue;  // late, duplicate or foreign

    int64_t rx_ns = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        rx_ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
      }
    }
    if (rx_ns == 0)
      rx_ns = realtime_ns();
    double rtt_ms = static_cast<double>(rx_ns - it->second.sent_realtime_ns) / 1e6;
    // CLOCK_REALTIME may step between send and receive; then trust the
    // monotonic clock (which includes our own wake-up latency).
    double steady_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - it->second.sent_steady).count();
    if (rtt_ms < 0 || rtt_ms > steady_ms + 1.0)
      rtt_ms = steady_ms;
    // Queued before we looked, but after the deadline: late. The round
    // timeout fails it.
    if (rtt_ms > static_cast<double>(u.timeout.count()))
      continue;

    uint64_t round_id = it->second.round_id;
    u.in_flight.erase(it);
    u.stats.on_reply(rtt_ms);
    auto r = std::find_if(u.rounds.begin(), u.rounds.end(),
                          [&](const Round& x) { return x.id == round_id; });
    if (r != u.rounds.end() && r->pending > 0) {
      --r->pending;
      ++r->answered;
    }
    any = true;
  }
  if (any) {
    decide_rounds(u);
    refresh(u);
  }
}

void Prober::on_round_timeout(Uplink& u, uint64_t round_id) {
  // Replies already queued lost the race against this timer only inside
  // epoll; they arrived in time, so take them first.
  if (u.v4.fd.valid())
    on_readable(u, AF_INET);
  if (u.v6.fd.valid())
    on_readable(u, AF_INET6);
  auto r = std::find_if(u.rounds.begin(), u.rounds.end(),
                        [&](const Round& x) { return x.id == round_id; });
  if (r == u.rounds.end())
    return;  // decided meanwhile
  r->timer = 0;
  for (auto it = u.in_flight.begin(); it != u.in_flight.end();) {
    if (it->second.round_id == round_id) {
      u.stats.on_failed();
      it = u.in_flight.erase(it);
    } else {
      ++it;
    }
  }
  r->pending = 0;
  decide_rounds(u);
  refresh(u);
}

void Prober::decide_rounds(Uplink& u) {
  while (!u.rounds.empty() && u.rounds.front().pending == 0) {
    Round r = u.rounds.front();
    u.rounds.pop_front();
    if (r.timer != 0)
      loop_.cancel_timer(r.timer);
    u.tracker.on_round(round_good(r.answered, r.targets, u.cfg.health.reliability));
  }
}

void Prober::refresh(Uplink& u) {
  UplinkHealth& h = u.health;
  bool changed = h.state != u.tracker.state() || h.reason != u.tracker.reason() ||
                 h.carrier != u.tracker.carrier();
  h.state = u.tracker.state();
  h.reason = u.tracker.reason();
  h.carrier = u.tracker.carrier();
  h.last_rtt_ms = u.stats.last_rtt_ms();
  h.rtt_ms = u.stats.rtt_ms();
  h.jitter_ms = u.stats.jitter_ms();
  h.loss_pct = u.stats.loss_pct();
  h.sent = u.stats.sent();
  h.received = u.stats.received();
  h.failed = u.stats.failed();
  if (!changed)
    return;
  PS_LOG(kInfo) << "uplink " << u.cfg.uplink << " " << to_string(h.state) << " (" << h.reason
                << ", carrier " << (h.carrier ? "up" : "down") << ", rtt " << h.rtt_ms
                << " ms, loss " << h.loss_pct << "%)";
  if (on_change_)
    on_change_(u.cfg.uplink, h);
}

}  // namespace pathsteer
