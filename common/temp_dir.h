// TempDir, for tests: a fresh directory under /tmp (mkdtemp, mode 0700, ours),
// removed with everything in it when the TempDir goes.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace pathsteer {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ps-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    if (!path_.empty())
      std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace pathsteer
