// Reconciling pathsteer's slice of ip rules and routes with the kernel.
//
// diff_kernel() is pure: desired state + what the kernel has now -> the
// changes to make and the conflicts to report. Reconciler runs it once against
// a KernelPort (dump both families, diff, apply) and reports what happened;
// SyncStateMachine (netlink/sync.h) adds the lifecycle: dirty tracking,
// per-object retries with backoff, and the awaiting/syncing/synced state.
//
// Ownership (DESIGN.md §2): a rule is ours iff its priority is in
// [rule_priority_lo, rule_priority_hi) AND its protocol is ours; a route is
// ours iff its table is in [table_lo, table_hi) (minus the kernel tables 253-255)
// AND its protocol is ours.
//  * ours, not desired               -> delete
//  * desired, missing                -> add
//  * desired, ours with the same identity but different -> routes: replace;
//    rules: delete + add (fib rules have no replace)
//  * desired, ours and equal         -> nothing (adoption after a restart)
//  * foreign (in our band/tables, other protocol) -> never changed; always
//    reported as a Conflict. A desired object whose identity a foreign object
//    holds is NOT installed (it could only displace or shadow the foreign one).
//  * objects outside the band/tables are invisible to the diff.
// Identity: route (family, table, dst, metric); rule (family, priority).
// Desired objects get the slice's protocol stamped on; a desired object outside
// the slice, or a second desired object with the same identity, is not
// applied and is reported as a Conflict (a planner bug).
//
// Comparison uses only what we write, normalised the way the kernel reports
// it: IPv6 metric 0 is 1024; a fwmark without mask has mask 0xffffffff; a /0
// rule selector is no selector; non-unicast routes have no gateway/oif (IPv6
// reports them on "lo"); read-only fields (linkdown) are ignored.
//
// Change order: route adds/replaces, rule deletes, rule adds, route deletes, so
// a rule never points at a table we have not filled yet.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "netlink/kernel_port.h"
#include "netlink/types.h"

namespace pathsteer {

struct OwnedSlice {
  uint32_t rule_priority_lo = 10000;
  uint32_t rule_priority_hi = 11000;  // exclusive
  uint32_t table_lo = 200;
  uint32_t table_hi = 456;  // exclusive
  uint8_t protocol = 201;

  bool rule_in_band(const Rule& r) const {
    return r.priority >= rule_priority_lo && r.priority < rule_priority_hi;
  }
  // The kernel's own tables (0, default 253, main 254, local 255) are never
  // ours, even when the configured range spans them.
  bool table_in_range(uint32_t t) const {
    return t >= table_lo && t < table_hi && t != RT_TABLE_UNSPEC && t != RT_TABLE_DEFAULT &&
           t != RT_TABLE_MAIN && t != RT_TABLE_LOCAL;
  }
  bool owns(const Rule& r) const { return rule_in_band(r) && r.protocol == protocol; }
  bool owns(const Route& r) const { return table_in_range(r.table) && r.protocol == protocol; }
};

struct DesiredKernel {
  std::vector<Rule> rules;    // both families
  std::vector<Route> routes;  // both families
};

struct Conflict {
  std::string what;
  friend bool operator==(const Conflict&, const Conflict&) = default;
};

struct KernelDiff {
  std::vector<Change> changes;
  std::vector<Conflict> conflicts;
};

// Pure. Normalised forms (see above) are what the diff compares; exposed for tests.
Rule normalized(Rule r);
Route normalized(Route r);

// The identity the diff keys objects by, as text ("rule inet pref 10000",
// "route inet6 table 300 ::/0 metric 1024"; the route is normalised first, so
// an IPv6 metric 0 is 1024). Retries and fault injection are keyed by it.
std::string identity_of(const Rule& r);
std::string identity_of(const Route& r);
std::string identity_of(const std::variant<Rule, Route>& object);

KernelDiff diff_kernel(const DesiredKernel& desired, const std::vector<Rule>& actual_rules,
                       const std::vector<Route>& actual_routes, const OwnedSlice& slice);

// What the kernel has now: rules and routes of both families.
struct KernelSnapshot {
  std::vector<Rule> rules;
  std::vector<Route> routes;
};

// Dumps rules and routes, inet then inet6. An error if any dump fails.
Result<KernelSnapshot> read_kernel(KernelPort& port);

struct ReconcileReport {
  std::vector<Change> applied;
  std::vector<ChangeResult> failed;  // each with errno, extack and the object
  std::vector<Conflict> conflicts;
  bool clean() const { return failed.empty() && conflicts.empty(); }
};

class Reconciler {
 public:
  // Dumps rules and routes (inet and inet6), diffs, applies. An error only if
  // a dump fails (nothing is applied then); per-change failures are in the report.
  Result<ReconcileReport> reconcile(KernelPort& port, const DesiredKernel& desired,
                                    const OwnedSlice& slice);
};

}  // namespace pathsteer
