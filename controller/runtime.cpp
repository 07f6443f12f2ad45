#include "controller/runtime.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <vector>

namespace pathsteer {

Runtime::TimerId TimerQueue::add(Runtime::SteadyTime when, Runtime::Callback cb,
                                 Runtime::Duration period) {
  Runtime::TimerId id = next_id_++;
  order_[{when, id}] = id;
  timers_[id] = {when, Timer{.cb = std::move(cb), .period = period}};
  return id;
}

void TimerQueue::cancel(Runtime::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end())
    return;
  order_.erase({it->second.first, id});
  timers_.erase(it);
}

std::optional<Runtime::SteadyTime> TimerQueue::next() const {
  if (order_.empty())
    return std::nullopt;
  return order_.begin()->first.first;
}

void TimerQueue::run_due(Runtime::SteadyTime now) {
  while (!order_.empty() && order_.begin()->first.first <= now) {
    auto [when, id] = order_.begin()->first;
    order_.erase(order_.begin());
    auto it = timers_.find(id);
    // The callback may cancel or add timers (itself included): run a copy.
    Runtime::Callback cb = it->second.second.cb;
    Runtime::Duration period = it->second.second.period;
    if (period.count() > 0) {
      auto next = when + period;
      if (next <= now)  // missed periods are skipped
        next = now + period - (now - when) % period;
      it->second.first = next;
      order_[{next, id}] = id;
    } else {
      timers_.erase(it);
    }
    cb();
  }
}

Result<std::unique_ptr<LoopRuntime>> LoopRuntime::create(EventLoop& loop) {
  Fd tfd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!tfd.valid())
    return system_error("timerfd_create", errno);
  std::unique_ptr<LoopRuntime> rt(new LoopRuntime(loop, std::move(tfd)));
  LoopRuntime* self = rt.get();
  if (auto r = loop.add_fd(rt->timer_.get(), EPOLLIN, [self](uint32_t) { self->on_timer(); }); !r)
    return r.take_error();
  return rt;
}

LoopRuntime::LoopRuntime(EventLoop& loop, Fd timer)
    : loop_(loop), timer_(std::move(timer)), alive_(std::make_shared<bool>(true)) {}

LoopRuntime::~LoopRuntime() {
  *alive_ = false;
  loop_.remove_fd(timer_.get());
}

Runtime::TimerId LoopRuntime::at(SteadyTime when, Callback cb, Duration period) {
  TimerId id = queue_.add(when, std::move(cb), period);
  rearm();
  return id;
}

void LoopRuntime::cancel(TimerId id) {
  queue_.cancel(id);
  rearm();
}

void LoopRuntime::defer(Callback cb) {
  loop_.post([alive = alive_, cb = std::move(cb)] {
    if (*alive)
      cb();
  });
}

// steady_clock is CLOCK_MONOTONIC (libstdc++), so its time points are the
// timerfd's absolute times.
void LoopRuntime::rearm() {
  itimerspec its{};
  if (auto next = queue_.next()) {
    auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(next->time_since_epoch()).count();
    if (ns <= 0)
      ns = 1;  // 0 would disarm
    its.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    its.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  }
  timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr);
}

void LoopRuntime::on_timer() {
  // Drains the expiration count. Its value, and a read that finds none (EAGAIN: the timer
  // was re-armed since the wakeup), do not matter: run_due() goes by the clock. The result
  // is still looked at: glibc's read() is warn_unused_result under _FORTIFY_SOURCE.
  uint64_t expirations = 0;
  ssize_t n = 0;
  do {
    n = ::read(timer_.get(), &expirations, sizeof(expirations));
  } while (n < 0 && errno == EINTR);
  queue_.run_due(now());
  rearm();
}

}  // namespace pathsteer
