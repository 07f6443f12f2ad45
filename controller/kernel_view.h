// The observed kernel (Open/R's LinkMonitor): what pathsteer knows of the
// kernel outside its own slice, kept current from rtnetlink events.
//
// KernelView is a pure value: links by ifindex, every interface's addresses,
// and the main table's default routes (for `gateway: auto`). apply() folds one
// watcher event into it and records in a KernelDelta what that changed, so the
// controller reacts to what moved and never re-reads the kernel for it.
// Kernel rules it follows:
//  * a route's identity is (family, table, dst, metric): a replace (DHCP
//    renew, `ip route replace`) swaps the gateway without a delete event;
//  * the kernel flushes IPv4 routes via a link that goes admin-down or away
//    without sending RTM_DELROUTE, so the learned defaults via it go then;
//  * a deleted link takes its addresses with it.
//
// KernelObserver owns the subscription (netlink/watcher.h) and the dumps: it
// subscribes before it dumps (no change falls between the two), feeds every
// event to its view and calls its listener once per batch with the delta. An
// event-socket overrun (ENOBUFS) is never silent: it schedules a full dump,
// rate-limited to one per kResyncMinInterval (the last overrun is always
// followed by one), and the delta that follows has `resynced` set.
// Threading: the loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "controller/runtime.h"
#include "netlink/socket.h"
#include "netlink/types.h"
#include "netlink/watcher.h"

namespace pathsteer {

// One link's change: its state before and after (nullopt: absent).
struct LinkChange {
  std::optional<Link> before;
  std::optional<Link> after;
};

// What one batch of events changed.
struct KernelDelta {
  std::vector<LinkChange> links;       // in event order
  std::set<int> addresses;             // ifindexes whose addresses changed
  std::set<uint32_t> route_tables;     // tables that route events named (main included)
  std::set<uint32_t> rule_priorities;  // priorities that rule events named
  bool resynced = false;               // a full dump replaced the view
  bool empty() const {
    return links.empty() && addresses.empty() && route_tables.empty() && rule_priorities.empty() &&
           !resynced;
  }
};

class KernelView {
 public:
  // Folds one watcher event in (kOverrun is the observer's business: ignored).
  void apply(const Event& ev, KernelDelta& delta);
  // Replaces everything with a full dump; `routes` may hold any routes (only
  // the main table's default routes are kept).
  void replace(const std::vector<Link>& links, std::vector<Address> addresses,
               const std::vector<Route>& routes);

  const std::map<int, Link>& links() const { return links_; }
  const std::vector<Address>& addresses() const { return addresses_; }
  const std::vector<Route>& main_default_routes() const { return main_default_routes_; }

  // 0 when no link has that name.
  int ifindex_of(const std::string& name) const;
  const Link* link_named(const std::string& name) const;
  // Present, administratively up and with carrier.
  bool usable(const std::string& name) const;
  std::vector<IpAddr> addresses_of(int ifindex) const;

 private:
  void on_link(const Link& link, bool deleted, KernelDelta& delta);
  void on_route(const Route& route, bool deleted, bool replaced);

  std::map<int, Link> links_;
  std::vector<Address> addresses_;
  std::vector<Route> main_default_routes_;
};

class KernelObserver {
 public:
  using Listener = std::function<void(const KernelDelta&)>;
  static constexpr auto kResyncMinInterval = std::chrono::milliseconds(200);

  // Subscribes (rcvbuf_bytes for the event socket), then dumps through `nl`.
  // The listener is set later (set_listener) so that the view exists before
  // its consumers do; events before that only update the view.
  static Result<std::unique_ptr<KernelObserver>> open(EventLoop& loop, Runtime& rt,
                                                      NetlinkSocket& nl, int rcvbuf_bytes);
  ~KernelObserver();
  KernelObserver(const KernelObserver&) = delete;
  KernelObserver& operator=(const KernelObserver&) = delete;

  void set_listener(Listener listener) { listener_ = std::move(listener); }
  const KernelView& view() const { return view_; }
  uint64_t overruns() const { return overruns_; }

 private:
  KernelObserver(EventLoop& loop, Runtime& rt, NetlinkSocket& nl, Watcher watcher);
  Result<void> dump();
  void on_readable();
  void request_resync();

  EventLoop& loop_;
  Runtime& rt_;
  NetlinkSocket& nl_;
  Watcher watcher_;
  KernelView view_;
  Listener listener_;
  uint64_t overruns_ = 0;
  std::optional<Runtime::TimerId> resync_timer_;
  Runtime::SteadyTime last_resync_{};
};

}  // namespace pathsteer
