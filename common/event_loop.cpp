#include "common/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>

#include "common/log.h"

namespace pathsteer {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  Fd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid())
    return system_error("epoll_create1", errno);
  Fd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid())
    return system_error("eventfd", errno);
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(ep), std::move(wake)));
  EventLoop* self = loop.get();
  auto r = loop->add_fd(loop->wake_.get(), EPOLLIN, [self](uint32_t) { self->drain_posted(); });
  if (!r)
    return r.take_error();
  return loop;
}

EventLoop::EventLoop(Fd epoll, Fd wake) : epoll_(std::move(epoll)), wake_(std::move(wake)) {}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::add_fd(int fd, uint32_t events, FdCallback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  bool exists = fds_.count(fd) != 0;
  if (epoll_ctl(epoll_.get(), exists ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    return system_error("epoll_ctl add fd " + std::to_string(fd), errno);
  }
  fds_[fd] = std::make_shared<FdCallback>(std::move(cb));
  return ok();
}

void EventLoop::remove_fd(int fd) {
  if (fds_.erase(fd) != 0) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
}

Result<EventLoop::TimerId> EventLoop::add_timer(Duration first, Duration period, TimerCallback cb) {
  Fd tfd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!tfd.valid())
    return system_error("timerfd_create", errno);
  auto to_ts = [](Duration d) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(d.count() % 1000000000);
    return ts;
  };
  itimerspec its{};
  its.it_value = to_ts(first.count() > 0 ? first : Duration(1));
  its.it_interval = to_ts(period);
  if (timerfd_settime(tfd.get(), 0, &its, nullptr) != 0) {
    return system_error("timerfd_settime", errno);
  }
  TimerId id = next_timer_++;
  auto timer = std::make_unique<Timer>();
  timer->fd = std::move(tfd);
  timer->cb = std::move(cb);
  timer->periodic = period.count() > 0;
  int fd = timer->fd.get();
  timers_[id] = std::move(timer);
  auto r = add_fd(fd, EPOLLIN, [this, id](uint32_t) {
    auto it = timers_.find(id);
    if (it == timers_.end())
      return;
    uint64_t expirations = 0;
    if (read(it->second->fd.get(), &expirations, sizeof(expirations)) < 0)
      return;
    bool periodic = it->second->periodic;
    TimerCallback cb = it->second->cb;  // the callback may cancel this timer
    if (!periodic)
      cancel_timer(id);
    cb();
  });
  if (!r) {
    timers_.erase(id);
    return r.take_error();
  }
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end())
    return;
  remove_fd(it->second->fd.get());
  timers_.erase(it);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
}

void EventLoop::stop_from_any_thread() {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    stop_requested_ = true;
  }
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
}

template <typename F>
void EventLoop::timed(const char* kind, uint64_t id, F&& fn) {
  auto start = now();
  fn();
  Duration took = now() - start;
  ++stats_.callbacks;
  stats_.max_callback = std::max(stats_.max_callback, took);
  if (took > kSlowCallback)
    ++stats_.slow_callbacks;
  if (slow_log_threshold_.count() > 0 && took > slow_log_threshold_) {
    PS_LOG(kWarn) << "event loop: " << kind << " " << id << " callback took "
                  << std::chrono::duration<double, std::milli>(took).count() << " ms";
  }
}

// Posted functions run for at most kPostedSlice per wakeup; the rest wait for
// the next turn, after the timers and fds that became ready meanwhile (a burst
// of API requests must not hold the probes' timer back).
void EventLoop::drain_posted() {
  uint64_t n = 0;
  (void)!read(wake_.get(), &n, sizeof(n));
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    batch.swap(posted_);
    if (stop_requested_)
      running_ = false;
  }
  auto deadline = now() + kPostedSlice;
  while (!batch.empty()) {
    timed("posted", 0, batch.front());
    batch.pop_front();
    if (!batch.empty() && now() >= deadline)
      break;
  }
  if (batch.empty())
    return;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    for (auto it = batch.rbegin(); it != batch.rend(); ++it)
      posted_.push_front(std::move(*it));  // ahead of what arrived meanwhile: FIFO holds
  }
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
}

Result<void> EventLoop::run() {
  running_ = true;
  epoll_event events[64];
  while (running_) {
    int n = epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return system_error("epoll_wait", errno);
    }
    for (int i = 0; i < n && running_; ++i) {
      auto it = fds_.find(events[i].data.fd);
      if (it == fds_.end())
        continue;            // removed by an earlier callback in this batch
      auto cb = it->second;  // keep alive while it runs
      if (events[i].data.fd == wake_.get()) {
        (*cb)(events[i].events);  // posted functions are timed one by one
        continue;
      }
      uint32_t ev = events[i].events;
      timed("fd", static_cast<uint64_t>(events[i].data.fd), [&] { (*cb)(ev); });
    }
  }
  std::lock_guard<std::mutex> lock(posted_mu_);
  stop_requested_ = false;  // consumed: the loop may run again
  return ok();
}

void EventLoop::stop() {
  running_ = false;
}

}  // namespace pathsteer
