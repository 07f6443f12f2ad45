// Giving up privileges for good once the privileged set-up (binding port 862, say) is done.
//
// drop_privileges(user):
// * started as root (real, effective or saved uid 0): looks `user` up (getpwnam_r; its primary
//   group is the group), drops every capability from the bounding set while CAP_SETPCAP is
//   still held, then setgroups(0) (no supplementary groups), setresgid(g, g, g) and
//   setresuid(u, u, u), in that order (each later step needs the privilege the earlier keeps).
//   A user that does not exist or is uid 0 is an error, as is a group id 0.
// * started as another user: stays that user; `user`, if not empty, must name that uid.
// * either way: no_new_privs set (no execve can gain privileges back), the ambient,
//   inheritable, permitted and effective capability sets emptied, and then verified: every
//   capability set (the bounding set too, when we started as root) is empty and, when we
//   switched, setuid(0) fails. Any failure is an error; the caller must then exit, as the
//   process may be half-dropped.
// Call it before any thread is started: capset() and prctl() act on the calling thread only.
// With the default user "nobody", the group is nobody's primary group ("nogroup" on Debian).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace pathsteer {

inline constexpr const char* kUnprivilegedUser = "nobody";

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  bool switched = false;  // we were root and became uid/gid
};

Result<Credentials> drop_privileges(const std::string& user);

}  // namespace pathsteer
