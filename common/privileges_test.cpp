// drop_privileges() runs in a forked child (it cannot be undone); the child reports through its
// exit status. Switching users needs root: without it those tests skip.
#include "common/privileges.h"

#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/test_skip.h"

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

// Switching users needs root and a user "nobody".
class DropPrivilegesAsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      PS_SKIP_OR_FAIL("dropping privileges needs root");
    const passwd* nobody = getpwnam(kUnprivilegedUser);
    if (nobody == nullptr)
      PS_SKIP_OR_FAIL("dropping privileges needs a user nobody");
    uid_ = nobody->pw_uid;
    gid_ = nobody->pw_gid;
  }
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST_F(DropPrivilegesAsRoot, BecomesNobodyForGood) {
  EXPECT_EQ(in_child([&] {
              auto c = drop_privileges("");
              if (!c || !c->switched || c->uid != uid_ || c->gid != gid_)
                return 1;
              uid_t r = 0, e = 0, s = 0;
              gid_t rg = 0, eg = 0, sg = 0;
              getresuid(&r, &e, &s);
              getresgid(&rg, &eg, &sg);
              if (r != uid_ || e != uid_ || s != uid_ || rg != gid_ || eg != gid_ || sg != gid_)
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

TEST_F(DropPrivilegesAsRoot, RefusesRootAndUnknownUsers) {
  EXPECT_EQ(in_child([] {
              auto c = drop_privileges("root");
              return !c && c.error().to_string().find("root") != std::string::npos ? 0 : 1;
            }),
            0);
  EXPECT_EQ(in_child([] { return drop_privileges("no-such-user-pst").ok() ? 1 : 0; }), 0);
}

// Become a plain user first, with capabilities left over (as a file capability or systemd's
// AmbientCapabilities would leave them), then drop.
TEST_F(DropPrivilegesAsRoot, NonRootKeepsItsUserAndLosesEveryCapability) {
  EXPECT_EQ(in_child([&] {
              prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
              if (setresuid(uid_, uid_, uid_) != 0)
                return 1;
              if (drop_privileges("root").ok())  // cannot become anyone else
                return 2;
              auto c = drop_privileges("");
              if (!c || c->switched || c->uid != uid_)
                return 3;
              return setuid(0) == 0 ? 4 : 0;
            }),
            0);
}

}  // namespace
}  // namespace pathsteer
