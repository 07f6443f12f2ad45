#include "netlink/fake_kernel.h"

#include <algorithm>
#include <cerrno>

#include "netlink/reconcile.h"

namespace pathsteer {
namespace {

bool same_identity(const Route& a, const Route& b) {
  return a.family == b.family && a.table == b.table && a.dst == b.dst && a.priority == b.priority;
}

// Both arguments normalised. Attributes the request leaves unset match anything.
bool delete_matches(const Route& req, const Route& have) {
  return same_identity(req, have) && req.type == have.type &&
         (req.protocol == RTPROT_UNSPEC || req.protocol == have.protocol) &&
         (!req.gateway || req.gateway == have.gateway) && (req.oif == 0 || req.oif == have.oif);
}

bool family_matches(int want, int have) {
  return want == AF_UNSPEC || want == have;
}

}  // namespace

void FakeKernel::put(const Rule& r) {
  Rule n = normalized(r);
  // After every rule of the same or lower priority, as the kernel links it.
  auto pos = std::find_if(rules_.begin(), rules_.end(),
                          [&](const Rule& have) { return have.priority > n.priority; });
  rules_.insert(pos, std::move(n));
}

void FakeKernel::put(const Route& r) {
  routes_.push_back(normalized(r));
}

bool FakeKernel::erase(const Rule& r) {
  auto it = std::find(rules_.begin(), rules_.end(), normalized(r));
  if (it == rules_.end())
    return false;
  rules_.erase(it);
  return true;
}

bool FakeKernel::erase(const Route& r) {
  auto it = std::find(routes_.begin(), routes_.end(), normalized(r));
  if (it == routes_.end())
    return false;
  routes_.erase(it);
  return true;
}

void FakeKernel::fail(const std::variant<Rule, Route>& object, int err_no, std::string extack,
                      int times) {
  faults_[identity_of(object)] =
      Fault{.err_no = err_no, .extack = std::move(extack), .times = times};
}

void FakeKernel::fail_dumps(int err_no, std::string extack, int times) {
  dump_fault_ = Fault{.err_no = err_no, .extack = std::move(extack), .times = times};
}

void FakeKernel::clear_faults() {
  faults_.clear();
  dump_fault_.reset();
}

std::vector<Change> FakeKernel::applied() const {
  std::vector<Change> out;
  for (const auto& cr : journal_) {
    if (cr.result.ok())
      out.push_back(cr.change);
  }
  return out;
}

Result<void> FakeKernel::dump_fault(const std::string& context) {
  ++dump_calls_;
  if (!dump_fault_)
    return ok();
  Error e = system_error(context, dump_fault_->err_no, dump_fault_->extack);
  if (dump_fault_->times != kUntilCleared && --dump_fault_->times <= 0)
    dump_fault_.reset();
  return e;
}

Result<std::vector<Rule>> FakeKernel::dump_rules(int family) {
  if (auto f = dump_fault("dump rules " + family_name(family)); !f)
    return f.take_error();
  std::vector<Rule> out;
  for (const Rule& r : rules_) {
    if (family_matches(family, r.family))
      out.push_back(r);
  }
  return out;
}

Result<std::vector<Route>> FakeKernel::dump_routes(int family) {
  if (auto f = dump_fault("dump routes " + family_name(family)); !f)
    return f.take_error();
  std::vector<Route> out;
  for (const Route& r : routes_) {
    if (family_matches(family, r.family))
      out.push_back(r);
  }
  return out;
}

std::vector<ChangeResult> FakeKernel::apply(const std::vector<Change>& changes) {
  std::vector<ChangeResult> out;
  out.reserve(changes.size());
  for (const Change& c : changes) {
    out.push_back(ChangeResult{.change = c, .result = apply_one(c)});
    journal_.push_back(out.back());
  }
  return out;
}

Result<void> FakeKernel::apply_one(const Change& c) {
  std::string context = c.to_string();
  if (auto it = faults_.find(identity_of(c.object)); it != faults_.end()) {
    Fault& f = it->second;
    Error e = system_error(context, f.err_no, f.extack);
    if (f.times != kUntilCleared && --f.times <= 0)
      faults_.erase(it);
    return e;
  }
  if (const auto* rule = std::get_if<Rule>(&c.object))
    return apply_rule(c.op, normalized(*rule), context);
  return apply_route(c.op, normalized(std::get<Route>(c.object)), context);
}

Result<void> FakeKernel::apply_rule(Change::Op op, const Rule& r, const std::string& context) {
  switch (op) {
    case Change::Op::kAdd:
      if (std::find(rules_.begin(), rules_.end(), r) != rules_.end())
        return system_error(context, EEXIST);
      put(r);
      return ok();
    case Change::Op::kInsert:  // no duplicate check, as the kernel without NLM_F_EXCL
      put(r);
      return ok();
    case Change::Op::kReplace:
      return system_error(context + ": fib rules cannot be replaced; delete and add", EOPNOTSUPP);
    case Change::Op::kDelete:
      if (!erase(r))
        return system_error(context, ENOENT);
      return ok();
  }
  return system_error(context, EINVAL);
}

Result<void> FakeKernel::apply_route(Change::Op op, const Route& r, const std::string& context) {
  auto same = std::find_if(routes_.begin(), routes_.end(),
                           [&](const Route& have) { return same_identity(r, have); });
  switch (op) {
    case Change::Op::kAdd:
    case Change::Op::kInsert:
      if (same != routes_.end())
        return system_error(context, EEXIST);
      routes_.push_back(r);
      return ok();
    case Change::Op::kReplace:
      if (same != routes_.end()) {
        *same = r;
      } else {
        routes_.push_back(r);
      }
      return ok();
    case Change::Op::kDelete: {
      auto it = std::find_if(routes_.begin(), routes_.end(),
                             [&](const Route& have) { return delete_matches(r, have); });
      if (it == routes_.end())
        return system_error(context, ESRCH);
      routes_.erase(it);
      return ok();
    }
  }
  return system_error(context, EINVAL);
}

}  // namespace pathsteer
