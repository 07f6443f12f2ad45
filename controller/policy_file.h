// The policy source: where the policy text comes from and goes to. The file
// stays the source of truth — a reload (SIGHUP, a change of the file) reads
// it, and PUT /v1/policy writes it (atomically, fsynced) before applying, so a
// restart runs what the API put.
//
// PolicySource is what the controller sees of it; PolicyFile is the file on
// disk with a watch on its directory. Editors save by writing in place or by
// renaming a temp file over the original, and config managers replace whole
// directories, so the watch is on the directory for the file's name
// (close-write, create, move, delete), and it settles for kSettle of quiet
// before it reports, so a multi-step save is read once, complete. Without
// inotify (or its directory) it warns and reloads only on SIGHUP.
//
// The prefix files of the policy in force (src_file, dst_file) are watched the
// same way, each by its directory, once the controller names them
// (set_prefix_files(), after every adopted policy); a settled change of one
// reports prefix_file_changed, and the policy is parsed again even though its
// own text is the same. A file named only by a rejected policy is not
// watched (SIGHUP, or saving the policy file, reads it).
// Threading: the loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"
#include "controller/runtime.h"

namespace pathsteer {

class PolicySource {
 public:
  virtual ~PolicySource() = default;
  virtual const std::string& path() const = 0;  // labels errors, shown in GET /v1/policy
  virtual Result<std::string> read() const = 0;
  virtual Result<void> write(const std::string& text) = 0;
  // The files the policy in force reads besides this one (Policy::prefix_files).
  virtual void set_prefix_files(const std::vector<std::string>& paths) { (void)paths; }

 protected:
  PolicySource() = default;
  PolicySource(const PolicySource&) = default;
  PolicySource& operator=(const PolicySource&) = default;
};

class PolicyFile final : public PolicySource {
 public:
  static constexpr auto kSettle = std::chrono::milliseconds(200);
  struct Settled {
    bool gone = false;                 // the policy file no longer exists
    bool prefix_file_changed = false;  // one of set_prefix_files() changed
  };
  // After a settled change.
  using OnSettled = std::function<void(const Settled&)>;

  explicit PolicyFile(std::string path) : path_(std::move(path)) {}
  ~PolicyFile() override;
  PolicyFile(const PolicyFile&) = delete;
  PolicyFile& operator=(const PolicyFile&) = delete;

  const std::string& path() const override { return path_; }
  Result<std::string> read() const override;
  Result<void> write(const std::string& text) override;
  // Watches these files too, from now on (before watch(): once it starts).
  void set_prefix_files(const std::vector<std::string>& paths) override;

  // Starts watching; on_settled runs on the loop after each settled change.
  void watch(EventLoop& loop, Runtime& rt, OnSettled on_settled);

 private:
  void on_dir_event();
  // Watches the directories of prefix_files_; drops the watches no longer needed.
  void update_prefix_watches();

  std::string path_;
  std::string basename_;
  EventLoop* loop_ = nullptr;
  Runtime* rt_ = nullptr;
  OnSettled on_settled_;
  Fd inotify_;
  int policy_wd_ = -1;  // the policy file's directory
  std::optional<Runtime::TimerId> settle_;
  bool deleted_ = false;         // the last event of the pending change removed the file
  bool prefix_changed_ = false;  // the pending change touched a prefix file
  std::vector<std::string> prefix_files_;
  // Watched directories of prefix files: watch descriptor -> the basenames in it.
  std::map<int, std::set<std::string>> prefix_wds_;
};

}  // namespace pathsteer
