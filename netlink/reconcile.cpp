#include "netlink/reconcile.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>

namespace pathsteer {
namespace {

using RuleKey = std::tuple<int, uint32_t>;                     // family, priority
using RouteKey = std::tuple<int, uint32_t, Prefix, uint32_t>;  // family, table, dst, metric

RuleKey key_of(const Rule& r) {
  return {r.family, r.priority};
}
RouteKey key_of(const Route& r) {
  return {r.family, r.table, r.dst, r.priority};
}

bool in_slice(const Rule& r, const OwnedSlice& s) {
  return s.rule_in_band(r);
}
bool in_slice(const Route& r, const OwnedSlice& s) {
  return s.table_in_range(r.table);
}

const char* noun(const Rule&) {
  return "rule";
}
const char* noun(const Route&) {
  return "route";
}

// The per-kind half of the diff. T is Rule or Route; both share the same
// ownership logic and differ only in how a changed object is rewritten.
template <typename T>
struct KindDiff {
  std::vector<Change> pre_deletes;  // ours to remove before re-adding at the same identity
  std::vector<Change> upserts;      // adds and replaces
  std::vector<Change> deletes;      // ours that nothing wants
};

template <typename T>
KindDiff<T> diff_kind(const std::vector<T>& desired_in, const std::vector<T>& actual,
                      const OwnedSlice& slice, bool can_replace, std::vector<Conflict>& conflicts) {
  using Key = decltype(key_of(std::declval<T>()));
  KindDiff<T> out;

  std::map<Key, T> desired;  // normalised, protocol stamped
  for (T d : desired_in) {
    d.protocol = slice.protocol;
    d = normalized(std::move(d));
    if (!in_slice(d, slice)) {
      conflicts.push_back(
          {"desired " + d.to_string() + " is outside the owned slice; not applied"});
      continue;
    }
    auto [it, inserted] = desired.emplace(key_of(d), d);
    if (!inserted) {
      conflicts.push_back({"desired " + d.to_string() + " has the identity of desired " +
                           it->second.to_string() + "; only the first is applied"});
    }
  }

  std::map<Key, std::vector<T>> ours;  // as dumped (a delete must name the exact object)
  std::set<Key> blocked;               // identities held by foreign objects
  for (const T& a : actual) {
    if (!in_slice(a, slice))
      continue;
    if (a.protocol == slice.protocol) {
      ours[key_of(a)].push_back(a);
      continue;
    }
    auto it = desired.find(key_of(normalized(a)));
    if (it != desired.end()) {
      blocked.insert(it->first);
      conflicts.push_back({"desired " + it->second.to_string() + " not applied: foreign " +
                           a.to_string() + " holds its place"});
    } else {
      conflicts.push_back({std::string("foreign ") + noun(a) + " in our slice: " + a.to_string()});
    }
  }

  for (const auto& entry : desired) {
    const Key& key = entry.first;
    const T& want = entry.second;
    std::vector<T> present;
    if (auto it = ours.find(key); it != ours.end())
      present = std::move(it->second);
    ours.erase(key);
    auto equal = std::find_if(present.begin(), present.end(),
                              [&](const T& p) { return normalized(p) == want; });
    if (equal != present.end()) {
      // Adopt it; drop only duplicates beside it.
      for (auto p = present.begin(); p != present.end(); ++p) {
        if (p != equal)
          out.pre_deletes.push_back({Change::Op::kDelete, *p});
      }
      continue;
    }
    if (blocked.contains(key)) {
      for (const T& p : present)
        out.pre_deletes.push_back({Change::Op::kDelete, p});
      continue;
    }
    if (present.size() == 1 && can_replace) {
      out.upserts.push_back({Change::Op::kReplace, want});
      continue;
    }
    for (const T& p : present)
      out.pre_deletes.push_back({Change::Op::kDelete, p});
    // The caller applies this right after the dump that showed `want` absent.
    constexpr bool kIsRule = std::is_same_v<T, Rule>;
    out.upserts.push_back({kIsRule ? Change::Op::kInsert : Change::Op::kAdd, want});
  }
  for (const auto& [key, stale] : ours) {
    for (const T& s : stale)
      out.deletes.push_back({Change::Op::kDelete, s});
  }
  return out;
}

void append(std::vector<Change>& to, std::vector<Change>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

Rule normalized(Rule r) {
  if (r.fwmark != 0 && r.fwmask == 0)
    r.fwmask = 0xffffffffU;
  if (r.src && r.src->len == 0)
    r.src.reset();
  if (r.dst && r.dst->len == 0)
    r.dst.reset();
  return r;
}

Route normalized(Route r) {
  r.linkdown = false;
  if (r.family == AF_INET6) {
    if (r.priority == 0)
      r.priority = 1024;          // IP6_RT_PRIO_USER
    r.scope = RT_SCOPE_UNIVERSE;  // IPv6 has no route scopes
  }
  if (r.type != RTN_UNICAST) {
    r.gateway.reset();
    r.oif = 0;
  }
  return r;
}

KernelDiff diff_kernel(const DesiredKernel& desired, const std::vector<Rule>& actual_rules,
                       const std::vector<Route>& actual_routes, const OwnedSlice& slice) {
  KernelDiff diff;
  auto routes =
      diff_kind(desired.routes, actual_routes, slice, /*can_replace=*/true, diff.conflicts);
  auto rules = diff_kind(desired.rules, actual_rules, slice, /*can_replace=*/false, diff.conflicts);
  // The kernel inserts a fib rule by walking its list from the front, so rule
  // adds in descending priority each stop at the front of our band; with
  // kInsert (no duplicate scan) a full install costs linear instead of
  // quadratic time (bench/netlink_writer_bench). Within one batch a packet may
  // for microseconds see a pair's lookup rule before its suppress rule.
  std::reverse(rules.upserts.begin(), rules.upserts.end());
  // Fill tables before rules point at them; empty them after rules stop.
  append(diff.changes, routes.pre_deletes);
  append(diff.changes, routes.upserts);
  append(diff.changes, rules.pre_deletes);
  append(diff.changes, rules.deletes);
  append(diff.changes, rules.upserts);
  append(diff.changes, routes.deletes);
  return diff;
}

std::string identity_of(const Rule& r) {
  return "rule " + family_name(r.family) + " pref " + std::to_string(r.priority);
}

std::string identity_of(const Route& r) {
  Route n = normalized(r);
  return "route " + family_name(n.family) + " table " + std::to_string(n.table) + " " +
         n.dst.to_string() + " metric " + std::to_string(n.priority);
}

std::string identity_of(const std::variant<Rule, Route>& object) {
  return std::visit([](const auto& o) { return identity_of(o); }, object);
}

Result<KernelSnapshot> read_kernel(KernelPort& port) {
  KernelSnapshot snap;
  for (int family : {AF_INET, AF_INET6}) {
    auto r = port.dump_rules(family);
    if (!r)
      return r.take_error();
    snap.rules.insert(snap.rules.end(), r->begin(), r->end());
    auto rt = port.dump_routes(family);
    if (!rt)
      return rt.take_error();
    snap.routes.insert(snap.routes.end(), rt->begin(), rt->end());
  }
  return snap;
}

Result<ReconcileReport> Reconciler::reconcile(KernelPort& port, const DesiredKernel& desired,
                                              const OwnedSlice& slice) {
  auto snap = read_kernel(port);
  if (!snap)
    return snap.take_error();
  KernelDiff diff = diff_kernel(desired, snap->rules, snap->routes, slice);
  ReconcileReport report;
  report.conflicts = std::move(diff.conflicts);
  for (ChangeResult& cr : port.apply(diff.changes)) {
    if (cr.result.ok()) {
      report.applied.push_back(std::move(cr.change));
    } else {
      report.failed.push_back(std::move(cr));
    }
  }
  return report;
}

}  // namespace pathsteer
