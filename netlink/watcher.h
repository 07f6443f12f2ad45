// Watcher: one rtnetlink socket subscribed to links, IPv4/IPv6 addresses,
// routes and rules, read by the event loop.
//
// Threading: owned by the event-loop thread. Register fd() for EPOLLIN (it is
// non-blocking, level-triggered use is fine) and call read_events() when it is
// readable.
//
// Overruns are never silent: if the kernel dropped notifications because our
// receive buffer was full (ENOBUFS), read_events() returns exactly one event,
// kOverrun, and discards whatever else it drained in that call. The caller
// must then dump everything (NetlinkSocket) and resync; the dump supersedes
// the discarded events.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netlink/types.h"

namespace pathsteer {

struct Event {
  enum class Kind {
    kNewLink,  // also any change of a link (flags, carrier, name)
    kDelLink,
    kNewAddr,
    kDelAddr,
    kNewRoute,
    kDelRoute,
    kNewRule,
    kDelRule,
    kOverrun,  // notifications were lost: dump and resync
  };
  Kind kind = Kind::kOverrun;
  std::variant<std::monostate, Link, Address, Route, Rule> object;  // monostate for kOverrun
  // The notification's nlmsg_flags. NLM_F_REPLACE on kNewRoute means it took
  // the place of a route with the same identity (family, table, dst, metric,
  // and tos for IPv4) and no kDelRoute is sent for the old one.
  uint16_t nlmsg_flags = 0;

  std::string to_string() const;
};

class Watcher {
 public:
  static constexpr int kDefaultRcvbuf = 4 << 20;

  // Subscribes to RTNLGRP_LINK, IPV4/IPV6_IFADDR, IPV4/IPV6_ROUTE,
  // IPV4/IPV6_RULE. rcvbuf_bytes is set with SO_RCVBUFFORCE (falls back to
  // SO_RCVBUF without CAP_NET_ADMIN; the kernel doubles it and clamps tiny
  // values to its minimum).
  static Result<Watcher> open(int rcvbuf_bytes = kDefaultRcvbuf);

  int fd() const { return fd_.get(); }

  // Drains what is queued now (bounded per call so a flood cannot starve the
  // loop; the fd stays readable if more remains). Never blocks. Messages we do
  // not model (e.g. families other than inet/inet6) are skipped.
  Result<std::vector<Event>> read_events();

 private:
  explicit Watcher(Fd fd) : fd_(std::move(fd)) {}

  Fd fd_;
  std::vector<char> rx_;
};

}  // namespace pathsteer
