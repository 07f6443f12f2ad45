// FakeKernel: an in-memory KernelPort for unit tests of the reconcilers. No
// root, no sockets, no namespaces; deterministic.
//
// It keeps ip rules and routes of both families and answers like rtnetlink:
//  * objects are stored in the form the kernel reports (normalized(), see
//    netlink/reconcile.h: IPv6 metric 0 is 1024, fwmark without mask gets
//    0xffffffff, ...); rules dump in priority order, equal priorities in
//    insertion order, as the kernel's rule list does;
//  * add route: EEXIST if a route with the same (family, table, dst, metric)
//    exists. add rule: EEXIST only if an identical rule exists (the kernel
//    allows several different rules at one priority);
//  * replace route: overwrites the route with that identity, or creates it;
//    replace rule: EOPNOTSUPP (fib rules have no replace), as NetlinkSocket;
//  * delete route: ESRCH unless a route with that identity and type exists
//    whose protocol, gateway and oif match the request's (each only if the
//    request sets it, as the kernel does); delete rule: ENOENT unless an
//    identical rule exists (stricter than the kernel, which treats attributes
//    left out of the request as wildcards; our deletes name every attribute).
//
// Faults: fail() makes every change whose object has a given identity
// (identity_of(): rule family+priority, route family+table+dst+metric) fail
// with an errno and an extack text, `times` times or until clear_faults().
// A failed change leaves the state untouched. fail_dumps() does the same for
// dump calls (each dump_rules/dump_routes call counts once).
//
// Journal: every change passed to apply(), with its result, in order; tests
// assert on it ("adoption made no change", "retried exactly once"). put() and
// erase() edit the state behind the reconciler's back (someone running `ip`)
// and are not journaled.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netlink/kernel_port.h"
#include "netlink/types.h"

namespace pathsteer {

class FakeKernel : public KernelPort {
 public:
  static constexpr int kUntilCleared = -1;

  // State, edited directly (not journaled). put() stores the object as given
  // (normalised), even if an equal one exists; erase() removes one object
  // that equals it after normalisation and says whether there was one.
  void put(const Rule& r);
  void put(const Route& r);
  bool erase(const Rule& r);
  bool erase(const Route& r);
  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<Route>& routes() const { return routes_; }

  // Faults.
  void fail(const std::variant<Rule, Route>& object, int err_no, std::string extack = {},
            int times = kUntilCleared);
  void fail_dumps(int err_no, std::string extack = {}, int times = kUntilCleared);
  void clear_faults();

  // Journal.
  const std::vector<ChangeResult>& journal() const { return journal_; }
  std::vector<Change> applied() const;  // the journal's successful changes
  void clear_journal() { journal_.clear(); }
  int dump_calls() const { return dump_calls_; }

  // KernelPort.
  Result<std::vector<Rule>> dump_rules(int family) override;
  Result<std::vector<Route>> dump_routes(int family) override;
  std::vector<ChangeResult> apply(const std::vector<Change>& changes) override;

 private:
  struct Fault {
    int err_no = 0;
    std::string extack;
    int times = kUntilCleared;  // left; kUntilCleared = forever
  };

  Result<void> apply_one(const Change& c);
  Result<void> apply_rule(Change::Op op, const Rule& r, const std::string& context);
  Result<void> apply_route(Change::Op op, const Route& r, const std::string& context);
  Result<void> dump_fault(const std::string& context);

  std::vector<Rule> rules_;
  std::vector<Route> routes_;
  std::map<std::string, Fault> faults_;  // by identity_of()
  std::optional<Fault> dump_fault_;
  std::vector<ChangeResult> journal_;
  int dump_calls_ = 0;
};

}  // namespace pathsteer
