#include "common/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace pathsteer {

namespace {

// Higher than any capability number a kernel knows today; PR_CAPBSET_READ says EINVAL past
// the last one, which ends the walks below.
constexpr int kCapLimit = 64;

struct CapSets {
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
};

Result<CapSets> cap_get() {
  __user_cap_header_struct hdr{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  CapSets sets;
  if (syscall(SYS_capget, &hdr, sets.data) != 0)
    return system_error("capget", errno);
  return sets;
}

Result<void> cap_clear() {
  __user_cap_header_struct hdr{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  CapSets empty;
  if (syscall(SYS_capset, &hdr, empty.data) != 0)
    return system_error("capset (clearing every capability)", errno);
  return ok();
}

bool in_bounding_set(int cap) {
  return prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1;
}

Result<void> drop_bounding_set() {
  for (int cap = 0; cap < kCapLimit; ++cap) {
    int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (r < 0 && errno == EINVAL)
      break;
    if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      return system_error("prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")", errno);
  }
  return ok();
}

struct User {
  uid_t uid;
  gid_t gid;
};

Result<User> look_up(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int err = 0;
  while ((err = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE)
    buf.resize(buf.size() * 2);
  if (err != 0)
    return system_error("looking up user '" + name + "'", err);
  if (found == nullptr)
    return unrealizable_error("no user '" + name + "' to run as");
  if (pw.pw_uid == 0 || pw.pw_gid == 0)
    return unrealizable_error("user '" + name +
                              "' is root or in group 0; name an unprivileged one");
  return User{.uid = pw.pw_uid, .gid = pw.pw_gid};
}

Result<void> switch_to(const User& u) {
  if (auto r = drop_bounding_set(); !r)
    return r;
  if (setgroups(0, nullptr) != 0)
    return system_error("setgroups(0)", errno);
  if (setresgid(u.gid, u.gid, u.gid) != 0)
    return system_error("setresgid(" + std::to_string(u.gid) + ")", errno);
  if (setresuid(u.uid, u.uid, u.uid) != 0)
    return system_error("setresuid(" + std::to_string(u.uid) + ")", errno);
  return ok();
}

Result<void> verify(bool switched) {
  auto sets = cap_get();
  if (!sets)
    return sets.take_error();
  for (const auto& d : sets->data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0)
      return bug_error("capabilities left after dropping them");
  }
  for (int cap = 0; cap < kCapLimit; ++cap) {
    int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
    if (r < 0)
      break;  // past the last capability (or no ambient set at all: nothing to check)
    if (r == 1 || (switched && in_bounding_set(cap)))
      return bug_error("capability " + std::to_string(cap) + " left after dropping them");
  }
  if (switched && setuid(0) == 0)
    return bug_error("setuid(0) succeeded after dropping root");
  return ok();
}

}  // namespace

Result<Credentials> drop_privileges(const std::string& user) {
  uid_t ruid = 0;
  uid_t euid = 0;
  uid_t suid = 0;
  if (getresuid(&ruid, &euid, &suid) != 0)
    return system_error("getresuid", errno);
  Credentials out{.uid = euid, .gid = getegid(), .switched = false};
  if (ruid == 0 || euid == 0 || suid == 0) {
    auto u = look_up(user.empty() ? kUnprivilegedUser : user);
    if (!u)
      return u.take_error();
    if (auto r = switch_to(*u); !r)
      return r.take_error();
    out = Credentials{.uid = u->uid, .gid = u->gid, .switched = true};
  } else if (!user.empty()) {
    auto u = look_up(user);
    if (!u)
      return u.take_error();
    if (u->uid != euid)
      return unrealizable_error("cannot become user '" + user + "': not started as root");
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return system_error("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  // EINVAL: a kernel before 4.3 has no ambient set.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return system_error("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  if (auto r = cap_clear(); !r)
    return r.take_error();
  if (auto r = verify(out.switched); !r)
    return r.take_error();
  return out;
}

}  // namespace pathsteer
