// Prefix-list files: a match entry's `src_file` / `dst_file` (DESIGN §7,
// docs/man/pathsteer-policy.5), the plain lists network engineers keep for
// ipset, mwan3/pbr and BGP tooling. Read by a line parser of our own, not as
// YAML: a million prefixes must parse in well under a second.
//
// Format: one IPv4 or IPv6 prefix or address per line, spelled as
// Prefix::parse() takes it (a bare address is a full-length prefix; host bits
// set beyond the length are an error, as in the policy's inline src/dst). `#`
// starts a comment that runs to the end of the line; blank lines, and spaces,
// tabs and a CR around the prefix, are ignored. Anything else on a line is an
// error.
//
// Contract:
// * parse_prefix_list() returns the prefixes in file order (duplicates kept:
//   the data plane's compiler merges them), or a kInvalidPolicy error whose
//   details name `file` with the 1-based line and column of each offending
//   token. It reports at most kMaxPrefixFileErrors bad lines, then one finding
//   saying where it stopped; more than `max_prefixes` prefixes is one finding
//   at the first line beyond. A NUL byte is an error (not a text file).
// * load_prefix_list() reads the file and parses it with
//   parse_prefix_list() (whose error it returns as is), or returns a kSystem
//   error (errno set) when the file cannot be opened or read, and a
//   kInvalidPolicy error with no details when it is not a regular file or
//   holds more than kMaxPrefixFileBytes (it never reads more than
//   kMaxPrefixFileBytes + 1 bytes); the caller puts either at the policy's
//   key. Each list is remembered per path: while the file keeps its device,
//   inode, size, mtime and ctime, the next load returns the same shared list
//   without reading it (a reload that changes one class does not parse a
//   million prefixes again). A file whose stamp changed, or that was changed
//   less than kRacyFileS before it was read (a rewrite within the
//   filesystem's timestamp granularity could keep all five), is read again,
//   and its text decides: the same size and hash give the same list, without
//   parsing. At most kMaxRememberedPrefixes are remembered, all files
//   together; errors are never remembered.
// * Pure apart from load_prefix_list(); thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "model/match.h"

namespace pathsteer {

inline constexpr size_t kMaxPrefixFileBytes = size_t{64} << 20;  // 64 MiB
inline constexpr size_t kMaxPrefixFileErrors = 20;
inline constexpr int kRacyFileS = 2;
inline constexpr size_t kMaxRememberedPrefixes = size_t{4} << 20;

Result<std::vector<Prefix>> parse_prefix_list(std::string_view text, const std::string& file,
                                              size_t max_prefixes);

Result<PrefixList> load_prefix_list(const std::string& path, size_t max_prefixes);

}  // namespace pathsteer
