#include "netlink/sync.h"

#include <algorithm>
#include <set>

namespace pathsteer {
namespace {

// Reasons only explain a run in logs and status; a flood of events must not grow them.
constexpr size_t kMaxDirtyReasons = 16;

}  // namespace

const char* to_string(SyncState s) {
  switch (s) {
    case SyncState::kAwaiting:
      return "awaiting";
    case SyncState::kSyncing:
      return "syncing";
    case SyncState::kSynced:
      return "synced";
  }
  return "?";
}

std::string SyncFailure::object() const {
  return std::visit([](const auto& o) { return o.to_string(); }, change.object);
}

void SyncStateMachine::set_desired(DesiredKernel desired) {
  desired_ = std::move(desired);
  mark_dirty("new desired state");
}

void SyncStateMachine::mark_dirty(std::string reason) {
  dirty_ = true;
  if (dirty_reasons_.size() < kMaxDirtyReasons &&
      std::find(dirty_reasons_.begin(), dirty_reasons_.end(), reason) == dirty_reasons_.end()) {
    dirty_reasons_.push_back(std::move(reason));
  }
}

std::optional<SyncTime> SyncStateMachine::next_run_at() const {
  if (!desired_)
    return std::nullopt;
  if (dump_retry_at_)
    return dump_retry_at_;
  if (dirty_)
    return SyncTime{};
  std::optional<SyncTime> earliest;
  for (const auto& [id, f] : failing_) {
    if (!earliest || f.retry_at < *earliest)
      earliest = f.retry_at;
  }
  return earliest;
}

bool SyncStateMachine::needs_run(SyncTime now) const {
  auto at = next_run_at();
  return at && *at <= now;
}

SyncState SyncStateMachine::state() const {
  if (!desired_ || !dumped_once_)
    return SyncState::kAwaiting;
  if (dirty_ || dump_error_ || !failing_.empty())
    return SyncState::kSyncing;
  return SyncState::kSynced;
}

std::vector<SyncFailure> SyncStateMachine::failures() const {
  std::vector<SyncFailure> out;
  out.reserve(failing_.size());
  for (const auto& [id, f] : failing_)
    out.push_back(f);
  return out;
}

std::vector<std::string> SyncStateMachine::errors() const {
  std::vector<std::string> out;
  if (dump_error_)
    out.push_back(dump_error_->to_string());
  for (const auto& [id, f] : failing_)
    out.push_back(f.error.to_string());
  return out;
}

std::chrono::milliseconds SyncStateMachine::backoff(uint32_t attempts) const {
  auto delay = options_.initial_backoff;
  for (uint32_t i = 1; i < attempts && delay < options_.max_backoff; ++i)
    delay *= 2;
  return std::min(delay, options_.max_backoff);
}

SyncReport SyncStateMachine::run(KernelPort& port, const OwnedSlice& slice, SyncTime now) {
  SyncReport report;
  if (!desired_) {
    report.state = state();
    return report;
  }
  const auto started = SyncClock::now();
  ++counters_.runs;
  last_run_at_ = now;
  const bool dirty_run = dirty_;
  report.reasons = dirty_run ? dirty_reasons_ : std::vector<std::string>{"retry"};

  auto finish = [&] {
    report.state = state();
    report.duration = SyncClock::now() - started;
    last_run_duration_ = report.duration;
    return std::move(report);
  };

  auto snap = read_kernel(port);
  if (!snap) {
    ++counters_.dump_failures;
    dump_error_ = snap.error();
    dump_retry_at_ = now + backoff(++dump_attempts_);
    // Nothing was looked at, so whatever made this run necessary still holds.
    mark_dirty("retry after a failed dump");
    report.dump_error = dump_error_;
    return finish();
  }
  dumped_once_ = true;
  dump_error_.reset();
  dump_attempts_ = 0;
  dump_retry_at_.reset();
  dirty_ = false;
  dirty_reasons_.clear();

  KernelDiff diff = diff_kernel(*desired_, snap->rules, snap->routes, slice);
  conflicts_ = diff.conflicts;
  report.conflicts = std::move(diff.conflicts);

  std::set<std::string> wanted;  // identities the diff has changes for
  std::vector<Change> attempt;
  for (Change& c : diff.changes) {
    std::string id = identity_of(c.object);
    auto f = failing_.find(id);
    bool not_due = f != failing_.end() && f->second.retry_at > now;
    if (!dirty_run && not_due) {
      report.deferred.push_back(std::move(c));
    } else {
      attempt.push_back(std::move(c));
    }
    wanted.insert(std::move(id));
  }

  std::set<std::string> succeeded;
  std::set<std::string> failed;
  for (ChangeResult& cr : port.apply(attempt)) {
    std::string id = identity_of(cr.change.object);
    if (cr.result.ok()) {
      ++counters_.changes_applied;
      succeeded.insert(std::move(id));
      report.applied.push_back(std::move(cr.change));
      continue;
    }
    ++counters_.changes_failed;
    // Count a run once per identity, even if several of its changes failed.
    if (failed.insert(id).second) {
      SyncFailure& f = failing_[id];
      f.identity = id;
      f.change = cr.change;
      f.error = cr.result.error();
      f.attempts += 1;
      f.retry_at = now + backoff(f.attempts);
    }
    report.failed.push_back(std::move(cr));
  }
  for (const std::string& id : succeeded) {
    if (!failed.contains(id))
      failing_.erase(id);
  }
  std::erase_if(failing_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  return finish();
}

}  // namespace pathsteer
