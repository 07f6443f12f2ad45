// Whole-file reads and atomic replacement, for the state directory and the
// policy file.
//
// write_file_atomic(path, content): writes `path.tmp` in the same directory
// and renames it over `path`, so a reader (or a crash) sees the old content
// or the new, never a mix. Whatever is at `path.tmp` first (a crash's
// leftover, a planted symlink) is unlinked, then the temp file is created
// with O_EXCL | O_NOFOLLOW (mode 0640): the write never follows a link; if
// something reappears there in between, the write fails (EEXIST). A failed
// write removes its temp file and leaves `path` as it was.
// With Durability::kSynced the temp file is fsynced before the rename and the
// directory after it (the policy, intents, uplink numbers: losing them changes
// what a restart does); kFast skips both fsyncs (health and planner memory,
// written on every change from the event loop, where a lost last write only
// means a restart plans with an older view until probes answer).
#pragma once

#include <string>

#include "common/result.h"

namespace pathsteer {

enum class Durability { kFast, kSynced };

Result<void> write_file_atomic(const std::string& path, const std::string& content,
                               Durability durability = Durability::kSynced);

// The whole file; a missing file is an error with err_no ENOENT.
Result<std::string> read_file(const std::string& path);

}  // namespace pathsteer
