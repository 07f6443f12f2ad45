#include "netlink/watcher.h"

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <cerrno>

#include "netlink/codec.h"
#include "netlink/nl_io.h"

namespace pathsteer {
namespace {

constexpr size_t kRxBufferSize = 64 * 1024;
constexpr int kMaxReadsPerCall = 256;

const char* kind_name(Event::Kind k) {
  switch (k) {
    case Event::Kind::kNewLink:
      return "new-link";
    case Event::Kind::kDelLink:
      return "del-link";
    case Event::Kind::kNewAddr:
      return "new-addr";
    case Event::Kind::kDelAddr:
      return "del-addr";
    case Event::Kind::kNewRoute:
      return "new-route";
    case Event::Kind::kDelRoute:
      return "del-route";
    case Event::Kind::kNewRule:
      return "new-rule";
    case Event::Kind::kDelRule:
      return "del-rule";
    case Event::Kind::kOverrun:
      return "overrun";
  }
  return "?";
}

std::optional<Event> decode(const nlmsghdr* m) {
  switch (m->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (auto v = nlcodec::parse_link(m)) {
        return Event{m->nlmsg_type == RTM_NEWLINK ? Event::Kind::kNewLink : Event::Kind::kDelLink,
                     std::move(*v)};
      }
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (auto v = nlcodec::parse_address(m)) {
        return Event{m->nlmsg_type == RTM_NEWADDR ? Event::Kind::kNewAddr : Event::Kind::kDelAddr,
                     *v};
      }
      break;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      if (auto v = nlcodec::parse_route(m)) {
        return Event{
            m->nlmsg_type == RTM_NEWROUTE ? Event::Kind::kNewRoute : Event::Kind::kDelRoute, *v};
      }
      break;
    case RTM_NEWRULE:
    case RTM_DELRULE:
      if (auto v = nlcodec::parse_rule(m)) {
        return Event{m->nlmsg_type == RTM_NEWRULE ? Event::Kind::kNewRule : Event::Kind::kDelRule,
                     std::move(*v)};
      }
      break;
  }
  return std::nullopt;
}

}  // namespace

std::string Event::to_string() const {
  std::string s = kind_name(kind);
  std::visit(
      [&](const auto& o) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) {
          s += " " + o.to_string();
        }
      },
      object);
  return s;
}

Result<Watcher> Watcher::open(int rcvbuf_bytes) {
  Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!fd.valid())
    return system_error("netlink watcher: socket(NETLINK_ROUTE)", errno);
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes, sizeof(rcvbuf_bytes)) < 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(rcvbuf_bytes)) < 0) {
    return system_error("netlink watcher: SO_RCVBUF", errno);
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    return system_error("netlink watcher: bind", errno);
  }
  for (int group : {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                    RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE}) {
    if (setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
      return system_error("netlink watcher: join group " + std::to_string(group), errno);
    }
  }
  Watcher w(std::move(fd));
  w.rx_.resize(kRxBufferSize);
  return w;
}

Result<std::vector<Event>> Watcher::read_events() {
  std::vector<Event> events;
  bool overrun = false;
  for (int reads = 0; reads < kMaxReadsPerCall; ++reads) {
    ssize_t n = recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (errno == ENOBUFS) {
        overrun = true;
        continue;
      }
      return system_error("netlink watcher: recv", errno);
    }
    if (static_cast<size_t>(n) > rx_.size()) {
      overrun = true;  // a truncated notification is a lost one
      continue;
    }
    if (overrun)
      continue;  // the caller's dump supersedes the rest
    int len = static_cast<int>(n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx_.data()); nlio::message_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (auto e = decode(m)) {
        e->nlmsg_flags = m->nlmsg_flags;
        events.push_back(std::move(*e));
      }
    }
  }
  if (overrun) {
    events.clear();
    events.push_back(Event{Event::Kind::kOverrun, std::monostate{}});
  }
  return events;
}

}  // namespace pathsteer
