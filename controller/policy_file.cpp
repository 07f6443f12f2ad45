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

namespace {

constexpr uint32_t kDirEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM;

// (directory to watch, name in it) of a file's path.
std::pair<std::string, std::string> split(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

void PolicyFile::watch(EventLoop& loop, Runtime& rt, OnSettled on_settled) {
  loop_ = &loop;
  rt_ = &rt;
  on_settled_ = std::move(on_settled);
  auto [dir, name] = split(path_);
  basename_ = name;
  inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_.valid()) {
    PS_LOG(kWarn) << "inotify: " << std::strerror(errno) << "; reload with SIGHUP only";
    return;
  }
  policy_wd_ = ::inotify_add_watch(inotify_.get(), dir.c_str(), kDirEvents);
  if (policy_wd_ < 0) {
    PS_LOG(kWarn) << "watching " << dir << ": " << std::strerror(errno)
                  << "; reload with SIGHUP only";
    inotify_ = Fd();
    return;
  }
  if (auto r = loop.add_fd(inotify_.get(), EPOLLIN, [this](uint32_t) { on_dir_event(); }); !r)
    PS_LOG(kWarn) << "watching the policy file: " << r.error().to_string();
  update_prefix_watches();
}

void PolicyFile::set_prefix_files(const std::vector<std::string>& paths) {
  // Watched again even when the list is the same: a directory replaced since
  // (a config manager's deploy) is a new inode, and a reload re-arms it.
  prefix_files_ = paths;
  update_prefix_watches();
}

void PolicyFile::update_prefix_watches() {
  if (!inotify_.valid())
    return;
  std::map<int, std::set<std::string>> next;
  for (const auto& path : prefix_files_) {
    auto [dir, name] = split(path);
    // The same directory (or the policy's) gives the same descriptor.
    int wd = ::inotify_add_watch(inotify_.get(), dir.c_str(), kDirEvents);
    if (wd < 0) {
      PS_LOG(kWarn) << "watching " << dir << " for " << path << ": " << std::strerror(errno)
                    << "; reload with SIGHUP after changing it";
      continue;
    }
    next[wd].insert(name);
  }
  for (const auto& [wd, names] : prefix_wds_) {
    if (wd != policy_wd_ && !next.contains(wd))
      ::inotify_rm_watch(inotify_.get(), wd);
  }
  prefix_wds_ = std::move(next);
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
      if (ev->len > 0) {
        if (ev->wd == policy_wd_ && basename_ == ev->name) {
          ours = true;
          deleted_ = (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0;
        }
        if (auto it = prefix_wds_.find(ev->wd);
            it != prefix_wds_.end() && it->second.contains(ev->name)) {
          ours = true;
          prefix_changed_ = true;
        }
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
    Settled s{.gone = deleted_ && ::access(path_.c_str(), F_OK) != 0,
              .prefix_file_changed = prefix_changed_};
    prefix_changed_ = false;
    if (on_settled_)
      on_settled_(s);
  });
}

}  // namespace pathsteer
