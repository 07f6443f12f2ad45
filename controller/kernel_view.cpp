#include "controller/kernel_view.h"

#include <sys/epoll.h>

#include <algorithm>

#include "common/log.h"

namespace pathsteer {

void KernelView::apply(const Event& ev, KernelDelta& delta) {
  switch (ev.kind) {
    case Event::Kind::kNewLink:
    case Event::Kind::kDelLink:
      on_link(std::get<Link>(ev.object), ev.kind == Event::Kind::kDelLink, delta);
      break;
    case Event::Kind::kNewAddr:
    case Event::Kind::kDelAddr: {
      const auto& addr = std::get<Address>(ev.object);
      std::erase(addresses_, addr);
      if (ev.kind == Event::Kind::kNewAddr)
        addresses_.push_back(addr);
      delta.addresses.insert(addr.ifindex);
      break;
    }
    case Event::Kind::kNewRoute:
    case Event::Kind::kDelRoute: {
      const auto& route = std::get<Route>(ev.object);
      on_route(route, ev.kind == Event::Kind::kDelRoute, (ev.nlmsg_flags & NLM_F_REPLACE) != 0);
      delta.route_tables.insert(route.table);
      break;
    }
    case Event::Kind::kNewRule:
    case Event::Kind::kDelRule:
      delta.rule_priorities.insert(std::get<Rule>(ev.object).priority);
      break;
    case Event::Kind::kOverrun:
      break;
  }
}

void KernelView::replace(const std::vector<Link>& links, std::vector<Address> addresses,
                         const std::vector<Route>& routes) {
  links_.clear();
  for (const auto& l : links)
    links_[l.ifindex] = l;
  addresses_ = std::move(addresses);
  main_default_routes_.clear();
  for (const auto& r : routes) {
    if (r.table == RT_TABLE_MAIN && r.dst.len == 0)
      main_default_routes_.push_back(r);
  }
}

void KernelView::on_link(const Link& link, bool deleted, KernelDelta& delta) {
  LinkChange change;
  if (auto old = links_.find(link.ifindex); old != links_.end())
    change.before = old->second;
  if (deleted || !link.admin_up) {
    std::erase_if(main_default_routes_, [&](const Route& r) { return r.oif == link.ifindex; });
  }
  if (deleted) {
    links_.erase(link.ifindex);
    std::erase_if(addresses_, [&](const Address& a) { return a.ifindex == link.ifindex; });
  } else {
    links_[link.ifindex] = link;
    change.after = link;
  }
  delta.links.push_back(std::move(change));
}

void KernelView::on_route(const Route& route, bool deleted, bool replaced) {
  if (route.table != RT_TABLE_MAIN || route.dst.len != 0)
    return;
  auto same_slot = [&](const Route& r) {
    return r.family == route.family && r.priority == route.priority;
  };
  auto same_route = [&](const Route& r) {
    return same_slot(r) && r.oif == route.oif && r.gateway == route.gateway;
  };
  if (replaced)
    std::erase_if(main_default_routes_, same_slot);
  else
    std::erase_if(main_default_routes_, same_route);
  if (!deleted)
    main_default_routes_.push_back(route);
}

int KernelView::ifindex_of(const std::string& name) const {
  const Link* l = link_named(name);
  return l == nullptr ? 0 : l->ifindex;
}

const Link* KernelView::link_named(const std::string& name) const {
  for (const auto& [ifindex, link] : links_) {
    if (link.name == name)
      return &link;
  }
  return nullptr;
}

bool KernelView::usable(const std::string& name) const {
  const Link* l = link_named(name);
  return l != nullptr && l->carrier && l->admin_up;
}

std::vector<IpAddr> KernelView::addresses_of(int ifindex) const {
  std::vector<IpAddr> out;
  for (const auto& a : addresses_) {
    if (a.ifindex == ifindex)
      out.push_back(a.addr);
  }
  return out;
}

Result<std::unique_ptr<KernelObserver>> KernelObserver::open(EventLoop& loop, Runtime& rt,
                                                             NetlinkSocket& nl, int rcvbuf_bytes) {
  auto watcher = Watcher::open(rcvbuf_bytes);
  if (!watcher)
    return watcher.take_error();
  std::unique_ptr<KernelObserver> o(new KernelObserver(loop, rt, nl, std::move(*watcher)));
  if (auto r = o->dump(); !r)
    return r.take_error();
  KernelObserver* self = o.get();
  if (auto r = loop.add_fd(o->watcher_.fd(), EPOLLIN, [self](uint32_t) { self->on_readable(); });
      !r) {
    return r.take_error();
  }
  return o;
}

KernelObserver::KernelObserver(EventLoop& loop, Runtime& rt, NetlinkSocket& nl, Watcher watcher)
    : loop_(loop), rt_(rt), nl_(nl), watcher_(std::move(watcher)) {}

KernelObserver::~KernelObserver() {
  loop_.remove_fd(watcher_.fd());
  if (resync_timer_)
    rt_.cancel(*resync_timer_);
}

Result<void> KernelObserver::dump() {
  auto links = nl_.dump_links();
  if (!links)
    return links.take_error();
  auto addrs = nl_.dump_addresses(AF_UNSPEC);
  if (!addrs)
    return addrs.take_error();
  std::vector<Route> routes;
  for (int family : {AF_INET, AF_INET6}) {
    auto r = nl_.dump_routes(family);
    if (!r)
      return r.take_error();
    routes.insert(routes.end(), r->begin(), r->end());
  }
  view_.replace(*links, std::move(*addrs), routes);
  return ok();
}

void KernelObserver::on_readable() {
  auto events = watcher_.read_events();
  if (!events) {
    PS_LOG(kError) << "netlink watcher: " << events.error().to_string();
    return;
  }
  KernelDelta delta;
  for (const auto& ev : *events) {
    if (ev.kind == Event::Kind::kOverrun)
      request_resync();
    else
      view_.apply(ev, delta);
  }
  if (!delta.empty() && listener_)
    listener_(delta);
}

void KernelObserver::request_resync() {
  ++overruns_;
  if (resync_timer_)
    return;  // one is already due; it will see these changes too
  PS_LOG(kWarn) << "netlink event socket overrun: events were lost; full resync (" << overruns_
                << " overruns so far)";
  auto since = rt_.now() - last_resync_;
  auto delay = since >= kResyncMinInterval
                   ? Runtime::Duration(0)
                   : std::chrono::duration_cast<Runtime::Duration>(kResyncMinInterval - since);
  resync_timer_ = rt_.after(delay, [this] {
    resync_timer_.reset();
    last_resync_ = rt_.now();
    if (auto r = dump(); !r) {
      PS_LOG(kError) << "resync after overrun: " << r.error().to_string() << "; retrying";
      request_resync();
      return;
    }
    PS_LOG(kInfo) << "resync after overrun done: " << view_.links().size() << " links, "
                  << view_.main_default_routes().size() << " default routes";
    if (listener_)
      listener_(KernelDelta{.resynced = true});
  });
}

}  // namespace pathsteer
