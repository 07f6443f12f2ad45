#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/event_loop.h"
#include "common/file.h"
#include "common/net.h"
#include "common/temp_dir.h"

namespace pathsteer {
namespace {

std::string contents(const std::string& path) {
  auto text = read_file(path);
  return text ? *text : "<" + text.error().to_string() + ">";
}

TEST(WriteFileAtomic, DoesNotFollowASymlinkPlantedAtTheTempPath) {
  TempDir dir;
  std::ofstream(dir.file("victim")) << "precious\n";
  ASSERT_EQ(::symlink(dir.file("victim").c_str(), dir.file("state.json.tmp").c_str()), 0);
  for (Durability d : {Durability::kSynced, Durability::kFast}) {
    ASSERT_TRUE(write_file_atomic(dir.file("state.json"), "new\n", d));
    EXPECT_EQ(contents(dir.file("victim")), "precious\n");
    EXPECT_EQ(contents(dir.file("state.json")), "new\n");
    struct stat st {};
    ASSERT_EQ(::lstat(dir.file("state.json").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));  // the link was removed, not renamed over the file
    EXPECT_FALSE(std::filesystem::exists(dir.file("state.json.tmp")));
  }
}

TEST(WriteFileAtomic, ReplacesAStaleTempFileWithAFreshOne) {
  TempDir dir;
  std::ofstream(dir.file("f.tmp")) << "a crash's leftover, longer than the new content\n";
  ASSERT_EQ(::chmod(dir.file("f.tmp").c_str(), 0666), 0);
  ASSERT_TRUE(write_file_atomic(dir.file("f"), "x\n"));
  EXPECT_EQ(contents(dir.file("f")), "x\n");
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // created anew, not the leftover's mode
}

TEST(WriteFileAtomic, FailureLeavesNoTempFile) {
  TempDir dir;
  // A directory at the target: the rename fails after the temp was written.
  std::filesystem::create_directory(dir.file("d"));
  std::ofstream(dir.file("d/inside")) << "x";
  auto r = write_file_atomic(dir.file("d"), "new\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find("rename"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(std::filesystem::exists(dir.file("d.tmp")));
}

TEST(WriteFileAtomic, SyncsARelativePathsDirectory) {
  TempDir dir;
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.file(""));
  auto r = write_file_atomic("relative.json", "{}\n", Durability::kSynced);
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(contents(dir.file("relative.json")), "{}\n");
}

TEST(Prefix, ParsesBothFamiliesAndRejectsHostBits) {
  auto v4 = Prefix::parse("192.168.1.0/24");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->to_string(), "192.168.1.0/24");
  EXPECT_TRUE(v4->contains(*IpAddr::parse("192.168.1.77")));
  EXPECT_FALSE(v4->contains(*IpAddr::parse("192.168.2.1")));

  auto v6 = Prefix::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->addr.family, AF_INET6);
  EXPECT_TRUE(v6->contains(*IpAddr::parse("2001:db8:1::1")));

  auto host = Prefix::parse("10.0.0.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->len, 32);

  std::string why;
  EXPECT_FALSE(Prefix::parse("192.168.1.1/24", &why));
  EXPECT_NE(why.find("host bits"), std::string::npos);
  EXPECT_FALSE(Prefix::parse("10.0.0.0/33", &why));
  EXPECT_NE(why.find("out of range"), std::string::npos);
  EXPECT_FALSE(Prefix::parse("banana/8", &why));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/", &why));
  // A NUL inside is no address (inet_pton would stop there and take the part before).
  EXPECT_FALSE(IpAddr::parse(std::string_view("10.0.0.1\0junk", 13)));
  EXPECT_FALSE(IpAddr::parse(std::string_view("::1\0", 4)));
  EXPECT_FALSE(Prefix::parse(std::string_view("10.0.0.0\0/8", 11), &why));
}

// Work posted from another thread runs on the loop; a periodic timer keeps
// firing. No deadline of the test depends on scheduling (CI machines are busy).
TEST(EventLoop, RunsTimersAndPostedWork) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  std::vector<int> seen;
  int ticks = 0;
  bool timed_out = false;
  auto periodic =
      (*loop)->add_timer(std::chrono::milliseconds(1), std::chrono::milliseconds(1), [&] {
        if (++ticks >= 5 && !seen.empty())
          (*loop)->stop();
      });
  ASSERT_TRUE(periodic);
  ASSERT_TRUE((*loop)->add_timer(std::chrono::seconds(10), {}, [&] {
    timed_out = true;
    (*loop)->stop();
  }));
  std::thread poster([&] { (*loop)->post([&] { seen.push_back(1); }); });
  ASSERT_TRUE((*loop)->run());
  poster.join();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(seen, (std::vector<int>{1}));
  EXPECT_GE(ticks, 5);
}

// Every callback is timed; the long ones are counted (a busy machine may make
// more of them slow, never fewer).
TEST(EventLoop, CountsSlowCallbacks) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto nap = std::chrono::milliseconds(3);
  ASSERT_GT(nap, EventLoop::kSlowCallback);
  ASSERT_TRUE((*loop)->add_timer(std::chrono::milliseconds(1), {}, [&] {
    std::this_thread::sleep_for(nap);
    (*loop)->post([&] {
      std::this_thread::sleep_for(nap);
      (*loop)->stop();
    });
  }));
  ASSERT_TRUE((*loop)->run());
  const EventLoop::Stats& s = (*loop)->stats();
  EXPECT_GE(s.callbacks, 2u);
  EXPECT_GE(s.slow_callbacks, 2u);
  EXPECT_GE(s.max_callback, nap);
}

TEST(EventLoop, StopFromAnotherThread) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  std::thread stopper([&] { (*loop)->stop_from_any_thread(); });
  ASSERT_TRUE((*loop)->run());
  stopper.join();
}

}  // namespace
}  // namespace pathsteer
