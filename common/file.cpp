#include "common/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"

namespace pathsteer {

namespace {

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> write_all(int fd, const std::string& content, const std::string& name) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return system_error("writing " + name, errno);
    }
    off += static_cast<size_t>(n);
  }
  return ok();
}

}  // namespace

Result<void> write_file_atomic(const std::string& path, const std::string& content,
                               Durability durability) {
  std::string tmp = path + ".tmp";
  // Whatever is at the temp path (a crash's leftover, or a symlink someone
  // planted) is removed, never written through: the open below only succeeds
  // on a file it creates itself.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
    return system_error("removing stale " + tmp, errno);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd.valid())
    return system_error("creating " + tmp, errno);
  auto fail = [&](Error e) {
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto r = write_all(fd.get(), content, tmp); !r)
    return fail(r.take_error());
  if (durability == Durability::kSynced && ::fsync(fd.get()) != 0)
    return fail(system_error("fsync " + tmp, errno));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(system_error("rename to " + path, errno));
  if (durability == Durability::kFast)
    return ok();
  // The rename lives in the directory: without this a crash can bring back
  // the old file even though the new one was fsynced.
  std::string dir = parent_dir(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid())
    return system_error("opening " + dir + " to fsync it", errno);
  if (::fsync(dfd.get()) != 0)
    return system_error("fsync " + dir, errno);
  return ok();
}

Result<std::string> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    return system_error("reading " + path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return system_error("reading " + path, errno);
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace pathsteer
