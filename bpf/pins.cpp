#include "bpf/pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <vector>

#include "bpf/pathsteer_abi.h"
#include "common/fd.h"
#include "common/log.h"

namespace pathsteer {

namespace {

constexpr const char* kBpffsRoot = "/sys/fs/bpf";

bool under_bpffs_root(const std::string& dir) {
  std::string root = kBpffsRoot;
  return dir == root || dir.starts_with(root + "/");
}

Result<void> ensure_bpffs(const std::string& pin_dir) {
  if (!under_bpffs_root(pin_dir)) {
    return ok();
  }
  struct statfs st {};
  if (::statfs(kBpffsRoot, &st) != 0) {
    return system_error(std::string("statfs ") + kBpffsRoot, errno);
  }
  if (static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC) {
    return ok();
  }
  if (::mount("bpf", kBpffsRoot, "bpf", 0, "mode=0700") != 0) {
    return system_error(std::string("mount bpffs on ") + kBpffsRoot, errno);
  }
  PS_LOG(kInfo) << "mounted bpffs on " << kBpffsRoot;
  return ok();
}

Result<void> make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return system_error("create pin dir " + dir, ec.value());
  }
  return ok();
}

// The layout N of a pinned map name "ps_<what>_v<N>", or nullopt.
std::optional<int> pinned_layout(const std::string& name) {
  if (!name.starts_with(PS_MAP_PREFIX)) {
    return std::nullopt;
  }
  size_t v = name.rfind("_v");
  if (v == std::string::npos || v + 2 >= name.size()) {
    return std::nullopt;
  }
  int n = 0;
  for (size_t i = v + 2; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') {
      return std::nullopt;
    }
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

std::vector<std::string> pinned_names(const std::string& pin_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir, ec)) {
    out.push_back(entry.path().filename().string());
  }
  return out;
}

// Refuses a newer layout's maps, a foreign config map and a newer abi_version.
// A same-named map has the same layout by our versioning rule (PS_ABI_LAYOUT);
// the value size is still checked before reading so a foreign file cannot
// make us overrun a buffer.
Result<void> check_pinned_state(const std::string& pin_dir) {
  for (const std::string& name : pinned_names(pin_dir)) {
    auto layout = pinned_layout(name);
    if (name.starts_with("ps_cfg_") && layout && *layout > PS_ABI_LAYOUT) {
      return unrealizable_error(
          "pinned datapath state in " + pin_dir + " has layout v" + std::to_string(*layout) + " (" +
          name + "), written by a newer pathsteer; this binary knows up to v" +
          std::to_string(PS_ABI_LAYOUT) + ". Run the newer version or flush the pin dir");
    }
  }
  std::string path = pin_dir + "/" + PS_CONFIG_MAP;
  if (::access(path.c_str(), F_OK) != 0) {
    return ok();  // fresh pin dir
  }
  Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) {
    return system_error("open pinned " + path, errno);
  }
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(fd.get(), &info, &info_len); err != 0) {
    return system_error("inspect pinned " + path, -err);
  }
  if (info.value_size != sizeof(ps_config) || info.max_entries != 1) {
    return unrealizable_error("pinned " + path +
                              " has an unknown layout; remove the pin dir to start over");
  }
  ps_config cfg{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd.get(), &key, &cfg) != 0) {
    return system_error("read pinned " + path, errno);
  }
  if (cfg.magic == 0) {
    return ok();  // created but never initialised
  }
  if (cfg.magic != PS_ABI_MAGIC) {
    return unrealizable_error("pinned " + path + " is not pathsteer's (magic " +
                              std::to_string(cfg.magic) + ")");
  }
  if (cfg.abi_version > PS_ABI_VERSION) {
    return unrealizable_error(
        "pinned datapath state in " + pin_dir + " was written by a newer pathsteer (abi_version " +
        std::to_string(cfg.abi_version) + ", this binary knows up to " +
        std::to_string(PS_ABI_VERSION) + "); run the newer version or flush the pin dir");
  }
  return ok();
}

// Older layouts' pins: their maps stay alive while an old program attached
// somewhere still holds them; attach() replaces that program.
void remove_older_layout_pins(const std::string& pin_dir) {
  for (const std::string& name : pinned_names(pin_dir)) {
    auto layout = pinned_layout(name);
    if (!layout || *layout >= PS_ABI_LAYOUT) {
      continue;
    }
    std::string path = pin_dir + "/" + name;
    if (::unlink(path.c_str()) == 0) {
      PS_LOG(kInfo) << "removed " << path << " (data-plane layout v" << *layout << ", replaced by v"
                    << PS_ABI_LAYOUT << ")";
    }
  }
}

// Flow entries of an older layout's pinned tables whose key and value have our
// sizes (v2's do), copied into ours so that an upgrade keeps established flows
// on their uplinks. Flows an old program creates after the copy, until
// attach() replaces it, are not carried (they are classified anew).
template <typename Key>
size_t carry_older_flows(const std::string& pin_dir, const char* what, bpf_map* ours,
                         uint32_t stale_epoch) {
  size_t carried = 0;
  for (const std::string& name : pinned_names(pin_dir)) {
    auto layout = pinned_layout(name);
    if (!layout || *layout >= PS_ABI_LAYOUT ||
        name != std::string(PS_MAP_PREFIX) + what + "_v" + std::to_string(*layout)) {
      continue;
    }
    std::string path = pin_dir + "/" + name;
    Fd old(bpf_obj_get(path.c_str()));
    bpf_map_info info{};
    uint32_t info_len = sizeof(info);
    if (!old.valid() || bpf_obj_get_info_by_fd(old.get(), &info, &info_len) != 0 ||
        info.key_size != sizeof(Key) || info.value_size != sizeof(ps_flow)) {
      PS_LOG(kInfo) << "not carrying flows from " << path << " (other entry layout)";
      continue;
    }
    Key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(old.get(), prev, &next) == 0) {
      ps_flow v{};
      if (bpf_map_lookup_elem(old.get(), &next, &v) == 0) {
        v.epoch = stale_epoch;
        if (bpf_map__update_elem(ours, &next, sizeof(next), &v, sizeof(v), BPF_NOEXIST) == 0) {
          ++carried;
        }
      }
      key = next;
      prev = &key;
    }
  }
  return carried;
}

}  // namespace

Result<void> prepare_pin_dir(const std::string& pin_dir) {
  if (auto r = ensure_bpffs(pin_dir); !r) {
    return r;
  }
  if (auto r = make_dirs(pin_dir); !r) {
    return r;
  }
  return check_pinned_state(pin_dir);
}

void adopt_older_layouts(const std::string& pin_dir, bpf_map* flow4, bpf_map* flow6,
                         uint32_t stale_epoch) {
  size_t carried = carry_older_flows<ps_flow4_key>(pin_dir, "flow4", flow4, stale_epoch) +
                   carry_older_flows<ps_flow6_key>(pin_dir, "flow6", flow6, stale_epoch);
  if (carried > 0) {
    PS_LOG(kInfo) << "datapath: carried " << carried << " flows from an older layout's tables";
  }
  remove_older_layout_pins(pin_dir);
}

}  // namespace pathsteer
