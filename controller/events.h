// The controller's event log (DESIGN §11 reads it): every state change of a
// path, every class or overlay move and every change someone asked for, with
// its reason and who asked, in order.
//
// Contract: ids start at 1 and increase by one per event for the life of the
// process; the log keeps the last kCapacity events (memory stays bounded
// whatever the uptime); since(id) returns the kept events with a larger id,
// oldest first. Subscribers are called synchronously, in subscription order,
// after the event is appended; a Subscription unsubscribes when destroyed,
// also from inside a callback. Threading: the loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pathsteer {

enum class EventKind {
  kPathState,       // an uplink or overlay changed health state (from, to: states)
  kClassMove,       // a class changed uplink or reason (from, to: uplinks; "" = last_resort)
  kOverlayMove,     // an overlay changed underlay (from, to: uplinks; "" = none)
  kIntentAdded,     // subject: the intent id; to: the class
  kIntentDeleted,   // subject: the intent id; to: the class
  kIntentExpired,   // subject: the intent id; to: the class
  kPolicyApplied,   // subject: the policy path; to: the generation
  kPolicyRejected,  // subject: the policy path; reason: the first error
};
const char* to_string(EventKind k);  // "path-state", "class-move", ...

struct ControlEvent {
  uint64_t id = 0;
  int64_t t_ms = 0;  // Unix ms
  EventKind kind = EventKind::kPathState;
  std::string subject;  // the path, class, overlay, intent id or policy path
  std::string from;
  std::string to;
  std::string reason;  // why (a reason code or text)
  std::string by;      // who asked (Caller::to_string()); "" for what was observed
};

class EventLog;

// Unsubscribes on destruction. Move-only; must not outlive its log.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept : log_(other.log_), id_(other.id_) {
    other.log_ = nullptr;
  }
  Subscription& operator=(Subscription&& other) noexcept;
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  friend class EventLog;
  Subscription(EventLog* log, uint64_t id) : log_(log), id_(id) {}
  EventLog* log_ = nullptr;
  uint64_t id_ = 0;
};

class EventLog {
 public:
  using Listener = std::function<void(const ControlEvent&)>;
  static constexpr size_t kCapacity = 4096;

  // Stamps the id, appends, tells the subscribers; returns the id.
  uint64_t append(ControlEvent e);
  std::vector<ControlEvent> since(uint64_t id) const;
  uint64_t last_id() const { return next_id_ - 1; }

  Subscription subscribe(Listener listener);

 private:
  friend class Subscription;
  void unsubscribe(uint64_t id) { listeners_.erase(id); }

  std::deque<ControlEvent> events_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
};

}  // namespace pathsteer
