#include "controller/policy_file.h"

#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"
#include "common/log.h"

namespace pathsteer {

PolicyFile::~PolicyFile() {
  if (loop_ != nullptr && inotify_.valid())
    loop_->remove_fd(inotify_.get());
  if (rt_ != nullptr && settle_)
    rt_->cancel(*settle_);
}

Result<std::string> PolicyFile::read() const {
  auto text = read_file(path_);
  if (!text)
    return system_error("reading policy " + path_, text.error().err_no);
  return text;
}

Result<void> PolicyFile::write(const std::string& text) {
  return write_file_atomic(path_, text, Durability::kSynced);
}

void PolicyFile::watch(EventLoop& loop, Runtime& rt, OnSettled on_settled) {
  loop_ = &loop;
  rt_ = &rt;
  on_settled_ = std::move(on_settled);
  auto slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  basename_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_.valid()) {
    PS_LOG(kWarn) << "inotify: " << std::strerror(errno) << "; reload with SIGHUP only";
    return;
  }
  if (::inotify_add_watch(inotify_.get(), dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) <
      0) {
    PS_LOG(kWarn) << "watching " << dir << ": " << std::strerror(errno)
                  << "; reload with SIGHUP only";
    inotify_ = Fd();
    return;
  }
  if (auto r = loop.add_fd(inotify_.get(), EPOLLIN, [this](uint32_t) { on_dir_event(); }); !r)
    PS_LOG(kWarn) << "watching the policy file: " << r.error().to_string();
}

void PolicyFile::on_dir_event() {
  alignas(inotify_event) char buf[4096];
  bool ours = false;
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof(buf));
    if (n <= 0)
      break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      if (ev->len > 0 && basename_ == ev->name) {
        ours = true;
        deleted_ = (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0;
      }
      p += sizeof(inotify_event) + ev->len;
    }
  }
  if (!ours)
    return;
  if (settle_)
    rt_->cancel(*settle_);
  settle_ = rt_->after(kSettle, [this] {
    settle_.reset();
    bool gone = deleted_ && ::access(path_.c_str(), F_OK) != 0;
    if (on_settled_)
      on_settled_(gone);
  });
}

}  // namespace pathsteer
