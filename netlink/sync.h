// SyncStateMachine: the lifecycle of reconciling pathsteer's slice of ip rules
// and routes (DESIGN.md §1 "reconcile, don't replay"). It decides when to run
// and what to retry; diff_kernel() (netlink/reconcile.h) decides what to change.
//
// Driven by explicit calls from the event-loop thread; it owns no thread, timer
// or socket, and reads no clock for scheduling (every decision takes `now`):
//   set_desired(d)        a new plan; marks dirty (always: the daemon re-plans
//                         because something changed, and a failing object may
//                         be waiting for exactly that, e.g. a link coming up)
//   mark_dirty(reason)    a kernel event touched our slice (drift), or the
//                         watcher overran and events were lost
//   next_run_at()         when the daemon should call run() next; arm a timer
//   needs_run(now)        next_run_at() <= now
//   run(port, slice, now) one pass: dump, diff, apply, update state; run()
//                         always runs when called (needs_run() is advisory)
//
// States:
//   kAwaiting  no desired state yet, or no dump has succeeded yet (we do not
//              know the kernel, so we cannot say it differs)
//   kSyncing   dirty (a run is due), or some object is failing and waiting for
//              its retry, or the last dump failed
//   kSynced    the last run applied every change cleanly and nothing is due.
//              Conflicts (foreign objects in our slice, see reconcile.h) do not
//              prevent it; they are reported by conflicts().
//
// Retries: a change the kernel refuses is retried with exponential backoff per
// object identity (identity_of(): rule family+priority, route family+table+
// dst+metric): initial_backoff after the first failure, doubling up to
// max_backoff; forgotten (backoff reset) as soon as a run applies every change
// of that identity or the diff no longer has one for it (the kernel matches,
// or the plan stopped wanting it). While any identity is failing the state is
// kSyncing and next_run_at() is the earliest retry time.
//   * A dirty run (new plan, kernel event) attempts every change of the diff,
//     failing identities included; a failure there still doubles the backoff.
//   * A retry run (not dirty) attempts the changes of identities that are due
//     and of identities not failing; changes of identities whose retry is not
//     due yet are deferred (SyncReport::deferred).
//   * A failed dump applies nothing, keeps the run dirty, and backs off like an
//     object (key: the dump): no run is due before its retry time, even when
//     dirty, since asking again sooner does not help a failing dump.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/kernel_port.h"
#include "netlink/reconcile.h"

namespace pathsteer {

enum class SyncState { kAwaiting, kSyncing, kSynced };

const char* to_string(SyncState s);  // "awaiting" | "syncing" | "synced"

struct SyncOptions {
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
};

using SyncClock = std::chrono::steady_clock;
using SyncTime = SyncClock::time_point;

// An object identity the kernel keeps refusing; kept until it applies cleanly.
struct SyncFailure {
  std::string identity;   // identity_of(change.object)
  Change change;          // the last failed attempt
  Error error;            // errno, context (= change.to_string()), extack in kernel_message
  uint32_t attempts = 0;  // consecutive failed runs
  SyncTime retry_at;

  std::string object() const;  // the object's to_string()
};

struct SyncCounters {
  uint64_t runs = 0;
  uint64_t changes_applied = 0;
  uint64_t changes_failed = 0;
  uint64_t dump_failures = 0;
};

// What one run() did.
struct SyncReport {
  SyncState state = SyncState::kAwaiting;  // after the run
  std::vector<std::string> reasons;        // why it ran: the dirty reasons, or "retry"
  std::vector<Change> applied;
  std::vector<ChangeResult> failed;  // each with errno, extack and the object
  std::vector<Change> deferred;      // not attempted: their identity's retry is not due
  std::vector<Conflict> conflicts;
  std::optional<Error> dump_error;  // set if the run read nothing and applied nothing
  std::chrono::nanoseconds duration{0};
};

class SyncStateMachine {
 public:
  explicit SyncStateMachine(SyncOptions options = {}) : options_(options) {}

  void set_desired(DesiredKernel desired);
  void mark_dirty(std::string reason);

  // nullopt: nothing to do until an input arrives (no desired state, or synced).
  // A time not after any `now` (the clock's epoch) when dirty and no dump
  // retry is pending.
  std::optional<SyncTime> next_run_at() const;
  bool needs_run(SyncTime now) const;

  // One pass against `port`. Without a desired state it does nothing (and is
  // not counted). Measures its own duration with SyncClock.
  SyncReport run(KernelPort& port, const OwnedSlice& slice, SyncTime now);

  // Status.
  SyncState state() const;
  bool has_desired() const { return desired_.has_value(); }
  bool dirty() const { return dirty_; }
  const std::vector<std::string>& dirty_reasons() const { return dirty_reasons_; }
  std::vector<SyncFailure> failures() const;  // by identity
  const std::optional<Error>& dump_error() const { return dump_error_; }
  std::vector<std::string> errors() const;  // dump error, then each failure's
  const std::vector<Conflict>& conflicts() const { return conflicts_; }  // of the last dump
  const SyncCounters& counters() const { return counters_; }
  std::optional<SyncTime> last_run_at() const { return last_run_at_; }
  std::chrono::nanoseconds last_run_duration() const { return last_run_duration_; }

 private:
  std::chrono::milliseconds backoff(uint32_t attempts) const;

  SyncOptions options_;
  std::optional<DesiredKernel> desired_;
  bool dirty_ = false;
  std::vector<std::string> dirty_reasons_;  // distinct, bounded
  bool dumped_once_ = false;

  std::map<std::string, SyncFailure> failing_;  // by identity
  std::optional<Error> dump_error_;
  uint32_t dump_attempts_ = 0;
  std::optional<SyncTime> dump_retry_at_;

  std::vector<Conflict> conflicts_;
  SyncCounters counters_;
  std::optional<SyncTime> last_run_at_;
  std::chrono::nanoseconds last_run_duration_{0};
};

}  // namespace pathsteer
