#include "controller/prefix_list.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/fd.h"

namespace pathsteer {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// What identifies one version of a file without reading it.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  size_t max_prefixes = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

int64_t ns_of(const struct timespec& t) {
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

FileStamp stamp_of(const struct stat& st, size_t max_prefixes) {
  return FileStamp{.dev = st.st_dev,
                   .ino = st.st_ino,
                   .size = st.st_size,
                   .mtime_ns = ns_of(st.st_mtim),
                   .ctime_ns = ns_of(st.st_ctim),
                   .max_prefixes = max_prefixes};
}

struct Remembered {
  FileStamp stamp;
  bool racy = false;  // changed within kRacyFileS of its reading: the stamp proves nothing
  size_t text_size = 0;
  size_t text_hash = 0;
  PrefixList list;
};

std::mutex remembered_mu;
std::map<std::string, Remembered> remembered;  // by path, guarded by remembered_mu

// Opens `path` for reading as a prefix file: a regular file.
Result<Fd> open_prefix_file(const std::string& path, struct stat* st) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid())
    return system_error("opening " + path, errno);
  if (::fstat(fd.get(), st) != 0)
    return system_error("reading " + path, errno);
  if (!S_ISREG(st->st_mode))
    return policy_error(path + " is not a regular file");
  return fd;
}

// The text of an open prefix file (open_prefix_file()), at most
// kMaxPrefixFileBytes of it.
Result<std::string> read_text(const std::string& path, const Fd& fd, const struct stat& st);

}  // namespace

Result<PrefixList> load_prefix_list(const std::string& path, size_t max_prefixes) {
  struct stat st {};
  auto fd = open_prefix_file(path, &st);
  if (!fd)
    return fd.take_error();
  const FileStamp stamp = stamp_of(st, max_prefixes);
  std::optional<Remembered> known;
  {
    std::lock_guard lock(remembered_mu);
    if (auto it = remembered.find(path); it != remembered.end()) {
      if (it->second.stamp == stamp && !it->second.racy)
        return it->second.list;
      known = it->second;
    }
  }
  auto text = read_text(path, *fd, st);
  if (!text)
    return text.take_error();
  // A new stamp, or one too fresh to trust: the text decides.
  const size_t hash = std::hash<std::string_view>{}(*text);
  PrefixList list;
  if (known && known->stamp.max_prefixes == max_prefixes && known->text_size == text->size() &&
      known->text_hash == hash) {
    list = known->list;
  } else {
    auto parsed = parse_prefix_list(*text, path, max_prefixes);
    if (!parsed)
      return parsed.take_error();
    list = PrefixList(std::move(*parsed));
  }
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t newest = std::max(stamp.mtime_ns, stamp.ctime_ns);
  std::lock_guard lock(remembered_mu);
  remembered.erase(path);
  size_t held = list.size();
  for (const auto& [p, r] : remembered)
    held += r.list.size();
  if (held > kMaxRememberedPrefixes)
    remembered.clear();
  if (list.size() <= kMaxRememberedPrefixes) {
    remembered.emplace(path,
                       Remembered{.stamp = stamp,
                                  .racy = ns_of(now) - newest < int64_t{kRacyFileS} * 1'000'000'000,
                                  .text_size = text->size(),
                                  .text_hash = hash,
                                  .list = list});
  }
  return list;
}

namespace {

Result<std::string> read_text(const std::string& path, const Fd& fd, const struct stat& st) {
  auto too_big = [&] {
    return policy_error(path + " is larger than " + std::to_string(kMaxPrefixFileBytes >> 20) +
                        " MiB, the most a prefix file may hold");
  };
  if (static_cast<uint64_t>(st.st_size) > kMaxPrefixFileBytes)
    return too_big();
  std::string out;
  out.resize(static_cast<size_t>(st.st_size) + 1);  // +1: notice a file that grew
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (out.size() > kMaxPrefixFileBytes)
        return too_big();
      out.resize(std::min(out.size() * 2 + 4096, kMaxPrefixFileBytes + 1));
    }
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return system_error("reading " + path, errno);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

Result<std::vector<Prefix>> parse_prefix_list(std::string_view text, const std::string& file,
                                              size_t max_prefixes) {
  std::vector<Prefix> out;
  out.reserve(std::min<size_t>(std::count(text.begin(), text.end(), '\n') + 1, max_prefixes));
  std::vector<Diagnostic> errors;
  bool stopped = false;
  auto bad = [&](int line, size_t column, std::string message) {
    if (errors.size() == kMaxPrefixFileErrors) {
      message = "stopped after " + std::to_string(kMaxPrefixFileErrors) +
                " invalid lines (expected one IPv4 or IPv6 prefix per line)";
      stopped = true;
    }
    errors.push_back(Diagnostic{.file = file,
                                .line = line,
                                .column = static_cast<int>(column + 1),
                                .message = std::move(message)});
  };
  int line_no = 0;
  for (size_t pos = 0; pos < text.size() && !stopped;) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    size_t b = 0;
    while (b < line.size() && is_space(line[b]))
      ++b;
    size_t e = line.size();
    while (e > b && is_space(line[e - 1]))
      --e;
    if (b == e)
      continue;  // blank or comment only
    std::string_view token = line.substr(b, e - b);
    if (auto nul = token.find('\0'); nul != std::string_view::npos) {
      bad(line_no, b + nul, "a NUL byte (expected one IPv4 or IPv6 prefix per line)");
      continue;
    }
    auto gap = std::find_if(token.begin(), token.end(), is_space);
    if (gap != token.end()) {
      auto more = std::find_if_not(gap, token.end(), is_space);
      bad(line_no, b + static_cast<size_t>(more - token.begin()),
          "'" + std::string(token.substr(0, static_cast<size_t>(gap - token.begin()))) +
              "' is followed by more text (one prefix per line; '#' starts a comment)");
      continue;
    }
    std::string why;
    auto p = Prefix::parse(token, &why);
    if (!p) {
      bad(line_no, b, "invalid prefix: " + why);
      continue;
    }
    if (out.size() == max_prefixes) {
      bad(line_no, b,
          "more than " + std::to_string(max_prefixes) +
              " prefixes, the data plane's capacity per address family and direction");
      break;
    }
    out.push_back(*p);
  }
  if (!errors.empty())
    return invalid_input(std::move(errors));
  return out;
}

}  // namespace pathsteer
