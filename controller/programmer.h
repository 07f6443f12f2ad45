// The programmer (Open/R's Fib): makes the kernel hold what the plan says and
// keeps it so — the data plane (through DataplanePort), the classifier on the
// LAN interfaces, and pathsteer's slice of ip rules and routes (through
// KernelPort and the sync state machine, netlink/sync.h).
//
// Contract:
//  * program() writes one data-plane plan (atomic for packets; on error the
//    previous plan stays in force and the error is returned).
//  * attach() puts the classifier on each LAN interface present (ifindex != 0)
//    that does not carry it yet; it returns one line per interface that
//    failed. forget_interface() is for a link that went away, so that it is
//    attached again if it comes back.
//  * sync(desired, slice) hands the rules and routes to the sync state machine
//    (always marking it dirty: the caller syncs because something changed, and
//    a failing object may wait for exactly that) and runs a pass if one is due;
//    failed objects are retried with backoff on a timer of its own.
//  * release_slice() removes what we own in a slice we no longer own (after a
//    reload moved the band, tables or protocol), except what `keep` wants.
//  * flush() (--flush-on-exit) removes every owned rule and route, detaches
//    the classifier and unpins the data plane.
//  * flush_conntrack() hands a cleanup to the conntrack worker (off the loop).
//  * After the first successful program(), expire_learned() runs on the data
//    plane every kDnsExpiryInterval (DNS-learned addresses; failures logged).
//  * kMirrorDelay after the last successful program(), mirror_rules() brings
//    the data plane's inactive rule generation up to the active one (failures
//    logged: the next program() then writes that generation whole).
// Threading: the loop thread only. Logs what it changes and every failure.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/dataplane_port.h"
#include "controller/runtime.h"
#include "netlink/conntrack.h"
#include "netlink/kernel_port.h"
#include "netlink/reconcile.h"
#include "netlink/sync.h"

namespace pathsteer {

inline constexpr Runtime::Duration kDnsExpiryInterval = std::chrono::seconds(1);
inline constexpr Runtime::Duration kMirrorDelay = std::chrono::milliseconds(500);

class Programmer {
 public:
  // Hands a conntrack cleanup (uplink, filter) to a worker; empty: cleanups are dropped.
  using ConntrackFlush = std::function<void(const std::string& uplink, ConntrackFilter filter)>;
  // A LAN interface by name, with its ifindex (0: not present).
  using Lan = std::pair<std::string, int>;

  Programmer(Runtime& rt, DataplanePort& dataplane, KernelPort& kernel,
             ConntrackFlush conntrack = {});
  ~Programmer();
  Programmer(const Programmer&) = delete;
  Programmer& operator=(const Programmer&) = delete;

  Result<void> program(const DatapathPlan& plan);
  std::vector<std::string> attach(const std::vector<Lan>& lans);
  void forget_interface(int ifindex) { attached_.erase(ifindex); }

  void sync(DesiredKernel desired, const OwnedSlice& slice);
  void release_slice(const OwnedSlice& old, const DesiredKernel& keep);
  void flush(const OwnedSlice& slice);
  void flush_conntrack(const std::string& uplink, ConntrackFilter filter);

  const SyncStateMachine& sync_state() const { return sync_; }
  const std::set<int>& attached() const { return attached_; }
  DataplanePort& dataplane() { return dataplane_; }
  const DataplanePort& dataplane() const { return dataplane_; }

 private:
  void run_sync();  // one pass if due; arms the retry timer

  Runtime& rt_;
  DataplanePort& dataplane_;
  KernelPort& kernel_;
  ConntrackFlush conntrack_;
  SyncStateMachine sync_;
  OwnedSlice slice_;
  std::optional<Runtime::TimerId> sync_timer_;
  std::optional<Runtime::TimerId> mirror_timer_;
  std::optional<Runtime::TimerId> dns_timer_;
  std::set<int> attached_;  // LAN ifindexes carrying our classifier
};

}  // namespace pathsteer
