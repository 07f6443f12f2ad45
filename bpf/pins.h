// Pin compatibility: what the loader (bpf/datapath.cpp) does with the pin dir
// around loading the classifier, so that a new pathsteer takes over the state
// an older one pinned and refuses the state of a newer one. Internal to bpf/
// (it knows map names and layouts; docs/DATAPLANE.md has the rules).
//
// Contract:
// * prepare_pin_dir() runs before the skeleton is loaded (libbpf then reuses
//   the pins of our layout by name). If pin_dir is /sys/fs/bpf or below it and
//   no bpffs is mounted on /sys/fs/bpf, mounts one; creates pin_dir. Refuses
//   (kUnrealizable) a newer layout's config map (ps_cfg_v<N>, N >
//   PS_ABI_LAYOUT) in pin_dir, and a config map of our name whose value size
//   or entry count is not ours, whose magic is not ours, or whose abi_version
//   is newer than PS_ABI_VERSION. A fresh dir, a never-initialised config and
//   older layouts' pins pass. System errors (statfs, mount, mkdir, reading the
//   pinned config) are kSystem.
// * adopt_older_layouts() runs after the new maps are loaded and claimed. It
//   copies the flow entries of older layouts' flow tables whose key and value
//   sizes equal ours into flow4 / flow6 (never over an entry already there),
//   stamped with stale_epoch, so established flows keep their uplinks across
//   an upgrade; then it unlinks every older layout's pin (their maps live on
//   while an old program attached somewhere still holds them). Best effort:
//   it cannot fail; what it skips is logged.
// * Not thread-safe; needs root (mount, CAP_BPF).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

struct bpf_map;

namespace pathsteer {

Result<void> prepare_pin_dir(const std::string& pin_dir);

void adopt_older_layouts(const std::string& pin_dir, bpf_map* flow4, bpf_map* flow6,
                         uint32_t stale_epoch);

}  // namespace pathsteer
