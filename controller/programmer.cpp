#include "controller/programmer.h"

#include <chrono>

#include "common/log.h"

namespace pathsteer {

Programmer::Programmer(Runtime& rt, DataplanePort& dataplane, KernelPort& kernel,
                       ConntrackFlush conntrack)
    : rt_(rt), dataplane_(dataplane), kernel_(kernel), conntrack_(std::move(conntrack)) {}

Programmer::~Programmer() {
  if (sync_timer_)
    rt_.cancel(*sync_timer_);
  if (dns_timer_)
    rt_.cancel(*dns_timer_);
  if (mirror_timer_)
    rt_.cancel(*mirror_timer_);
}

Result<void> Programmer::program(const DatapathPlan& plan) {
  auto r = dataplane_.program(plan);
  if (r) {
    // Once things are quiet, the inactive rule half catches up, so that the
    // next rule change (a reload) writes only its own difference.
    if (mirror_timer_)
      rt_.cancel(*mirror_timer_);
    mirror_timer_ = rt_.after(kMirrorDelay, [this] {
      mirror_timer_.reset();
      using Clock = std::chrono::steady_clock;
      const auto t0 = Clock::now();
      auto m = dataplane_.mirror_rules();
      if (!m) {
        PS_LOG(kWarn) << "data plane: bringing the inactive rule generation up to date: "
                      << m.error().to_string() << " (the next change writes it whole)";
      } else if (*m) {
        PS_LOG(kDebug)
            << "data plane: inactive rule generation brought up to date in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
            << " ms";
      }
    });
  }
  if (r && !dns_timer_) {
    // Addresses learned from DNS expire in the data plane on their own; this
    // removes them from the table (unless a flow to them lives).
    dns_timer_ = rt_.at(
        rt_.now() + kDnsExpiryInterval,
        [this] {
          if (auto e = dataplane_.expire_learned(); !e)
            PS_LOG(kWarn) << "expiring DNS-learned addresses: " << e.error().to_string();
        },
        kDnsExpiryInterval);
  }
  return r;
}

std::vector<std::string> Programmer::attach(const std::vector<Lan>& lans) {
  std::vector<std::string> errors;
  for (const auto& [name, ifindex] : lans) {
    if (ifindex == 0) {
      PS_LOG(kDebug) << "LAN interface " << name << " not present yet";
      continue;
    }
    if (attached_.count(ifindex))
      continue;
    if (auto r = dataplane_.attach(ifindex); !r) {
      errors.push_back("attaching classifier to " + name + ": " + r.error().to_string());
      continue;
    }
    PS_LOG(kInfo) << "classifier attached to " << name << " (ifindex " << ifindex << ")";
    attached_.insert(ifindex);
  }
  return errors;
}

void Programmer::sync(DesiredKernel desired, const OwnedSlice& slice) {
  slice_ = slice;
  sync_.set_desired(std::move(desired));
  run_sync();
}

void Programmer::run_sync() {
  if (sync_timer_) {
    rt_.cancel(*sync_timer_);
    sync_timer_.reset();
  }
  auto now = rt_.now();
  if (sync_.needs_run(now)) {
    auto conflicts_before = sync_.conflicts();
    SyncReport report = sync_.run(kernel_, slice_, now);
    if (report.dump_error)
      PS_LOG(kError) << "reading the kernel's rules and routes: " << report.dump_error->to_string();
    for (const auto& f : report.failed)
      PS_LOG(kError) << f.result.error().to_string();
    if (!report.applied.empty()) {
      PS_LOG(kInfo) << "kernel: " << report.applied.size() << " change(s) applied, now "
                    << to_string(report.state);
    }
    if (sync_.conflicts() != conflicts_before) {
      for (const auto& c : sync_.conflicts())
        PS_LOG(kWarn) << "conflict: " << c.what;
    }
  }
  if (auto next = sync_.next_run_at()) {
    sync_timer_ = rt_.at(*next, [this] {
      sync_timer_.reset();  // one-shot: already gone
      run_sync();
    });
  }
}

void Programmer::release_slice(const OwnedSlice& old, const DesiredKernel& keep) {
  DesiredKernel ours;
  for (const auto& r : keep.rules) {
    if (old.owns(r))
      ours.rules.push_back(r);
  }
  for (const auto& r : keep.routes) {
    if (old.owns(r))
      ours.routes.push_back(r);
  }
  auto report = Reconciler().reconcile(kernel_, ours, old);
  if (!report) {
    PS_LOG(kError) << "releasing the old slice: " << report.error().to_string();
    return;
  }
  for (const auto& f : report->failed)
    PS_LOG(kError) << "releasing the old slice: " << f.result.error().to_string();
  PS_LOG(kInfo) << "ownership changed: removed " << report->applied.size()
                << " object(s) from the old slice (rules " << old.rule_priority_lo << "-"
                << old.rule_priority_hi - 1 << ", tables " << old.table_lo << "-"
                << old.table_hi - 1 << ", protocol " << int{old.protocol} << ")";
}

void Programmer::flush(const OwnedSlice& slice) {
  PS_LOG(kInfo) << "flushing owned kernel state (--flush-on-exit)";
  auto report = Reconciler().reconcile(kernel_, DesiredKernel{}, slice);
  if (!report)
    PS_LOG(kError) << report.error().to_string();
  for (int ifindex : attached_) {
    if (auto r = dataplane_.detach(ifindex); !r)
      PS_LOG(kError) << r.error().to_string();
  }
  if (auto r = dataplane_.unpin(); !r)
    PS_LOG(kError) << r.error().to_string();
}

void Programmer::flush_conntrack(const std::string& uplink, ConntrackFilter filter) {
  if (conntrack_)
    conntrack_(uplink, std::move(filter));
}

}  // namespace pathsteer
