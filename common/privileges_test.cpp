// drop_privileges() runs in a forked child (it cannot be undone); the child reports through its
// exit status. Switching users needs root: without it those tests skip.
#include "common/privileges.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace pathsteer {
namespace {

// Runs fn in a child process; its return value is the child's exit status.
int in_child(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0)
    _exit(fn());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(DropPrivileges, RootBecomesNobodyForGood) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root";
  const passwd* nobody = getpwnam(kUnprivilegedUser);
  if (nobody == nullptr)
    GTEST_SKIP() << "no user nobody";
  const uid_t want_uid = nobody->pw_uid;
  const gid_t want_gid = nobody->pw_gid;
  EXPECT_EQ(in_child([&] {
              auto c = drop_privileges("");
              if (!c || !c->switched || c->uid != want_uid || c->gid != want_gid)
                return 1;
              uid_t r = 0, e = 0, s = 0;
              gid_t rg = 0, eg = 0, sg = 0;
              getresuid(&r, &e, &s);
              getresgid(&rg, &eg, &sg);
              if (r != want_uid || e != want_uid || s != want_uid || rg != want_gid ||
                  eg != want_gid || sg != want_gid)
                return 2;
              if (getgroups(0, nullptr) != 0)
                return 3;
              if (setuid(0) == 0 || setgid(0) == 0)
                return 4;
              if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return 5;
              if (prctl(PR_CAPBSET_READ, 0, 0, 0, 0) != 0)  // CAP_CHOWN
                return 6;
              return 0;
            }),
            0);
}

TEST(DropPrivileges, RefusesRootAndUnknownUsers) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root";
  EXPECT_EQ(in_child([] {
              auto c = drop_privileges("root");
              return !c && c.error().to_string().find("root") != std::string::npos ? 0 : 1;
            }),
            0);
  EXPECT_EQ(in_child([] { return drop_privileges("no-such-user-pst").ok() ? 1 : 0; }), 0);
}

TEST(DropPrivileges, NonRootKeepsItsUserAndLosesEveryCapability) {
  // As root, become a plain user first (with a capability left over, as a file capability or
  // systemd's AmbientCapabilities would leave one), then drop.
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root";
  const passwd* nobody = getpwnam(kUnprivilegedUser);
  if (nobody == nullptr)
    GTEST_SKIP() << "no user nobody";
  const uid_t uid = nobody->pw_uid;
  EXPECT_EQ(in_child([&] {
              prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
              if (setresuid(uid, uid, uid) != 0)
                return 1;
              if (drop_privileges("root").ok())  // cannot become anyone else
                return 2;
              auto c = drop_privileges("");
              if (!c || c->switched || c->uid != uid)
                return 3;
              return setuid(0) == 0 ? 4 : 0;
            }),
            0);
}

}  // namespace
}  // namespace pathsteer
