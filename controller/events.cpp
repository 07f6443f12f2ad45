#include "controller/events.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace pathsteer {

const char* to_string(EventKind k) {
  switch (k) {
    case EventKind::kPathState:
      return "path-state";
    case EventKind::kClassMove:
      return "class-move";
    case EventKind::kOverlayMove:
      return "overlay-move";
    case EventKind::kIntentAdded:
      return "intent-added";
    case EventKind::kIntentDeleted:
      return "intent-deleted";
    case EventKind::kIntentExpired:
      return "intent-expired";
    case EventKind::kPolicyApplied:
      return "policy-applied";
    case EventKind::kPolicyRejected:
      return "policy-rejected";
  }
  return "?";
}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    if (log_ != nullptr)
      log_->unsubscribe(id_);
    log_ = std::exchange(other.log_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

Subscription::~Subscription() {
  if (log_ != nullptr)
    log_->unsubscribe(id_);
}

uint64_t EventLog::append(ControlEvent e) {
  e.id = next_id_++;
  events_.push_back(e);
  while (events_.size() > kCapacity)
    events_.pop_front();
  const ControlEvent& added = e;  // a listener may append more
  // A listener may unsubscribe itself or another: walk a snapshot of the ids.
  std::vector<uint64_t> ids;
  for (const auto& [id, l] : listeners_)
    ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = listeners_.find(id);
    if (it != listeners_.end()) {
      Listener l = it->second;  // the listener may erase itself while it runs
      l(added);
    }
  }
  return added.id;
}

std::vector<ControlEvent> EventLog::since(uint64_t id) const {
  auto first = std::upper_bound(events_.begin(), events_.end(), id,
                                [](uint64_t v, const ControlEvent& e) { return v < e.id; });
  return std::vector<ControlEvent>(first, events_.end());
}

Subscription EventLog::subscribe(Listener listener) {
  uint64_t id = next_listener_++;
  listeners_[id] = std::move(listener);
  return Subscription(this, id);
}

}  // namespace pathsteer
