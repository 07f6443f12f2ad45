#include "controller/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"

namespace pathsteer {
namespace {

bool any_error_has(const StateDir& s, const std::string& text) {
  for (const auto& e : s.errors()) {
    if (e.find(text) != std::string::npos)
      return true;
  }
  return false;
}

TEST(StateDir, AcceptsItsOwnDirectoryAndCreatesAMissingOne) {
  TempDir dir;
  StateDir existing(dir.path());
  EXPECT_TRUE(existing.errors().empty());
  StateDir created(dir.file("sub"));
  EXPECT_TRUE(created.errors().empty());
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
}

TEST(StateDir, RefusesADirectoryOthersCanWriteAndNeitherReadsNorWritesIt) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0770), 0);
  std::ofstream(dir.file("uplink-ids.json")) << R"({"version":1,"uplinks":{"wan1":7}})";
  std::ofstream(dir.file("health.json")) << R"({"version":1,"uplinks":{"wan1":"down"}})";
  StateDir s(dir.path());
  ASSERT_EQ(s.errors().size(), 1u);
  EXPECT_TRUE(any_error_has(s, "writable by group or others (mode 0770)")) << s.errors()[0];
  // Planted contents are not believed...
  auto ids = s.number_uplinks({"wan1", "wan2"}, 254, 200, /*first=*/true);
  ASSERT_TRUE(ids) << ids.error().to_string();
  EXPECT_EQ(ids->ids().at("wan1"), 1u);
  EXPECT_TRUE(s.load_health().empty());
  EXPECT_TRUE(s.load_intents().intents().empty());
  // ...and nothing is written there.
  s.save_health({{"wan1", HealthState::kUp}});
  s.save_intents(IntentStore(dir.file("intents.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("intents.json")));
  std::ifstream in(dir.file("uplink-ids.json"));
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, R"({"version":1,"uplinks":{"wan1":7}})");
  EXPECT_EQ(s.errors().size(), 1u);  // still the one refusal, nothing else
}

TEST(StateDir, RefusesADirectoryOwnedByAnotherUser) {
  TempDir dir;
  std::string path = dir.path();
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  } else {
    path = "/";  // root's, and not writable by others
  }
  StateDir s(path);
  EXPECT_TRUE(any_error_has(s, "owned by uid ")) << ::testing::PrintToString(s.errors());
  EXPECT_TRUE(any_error_has(s, "refused"));
}

TEST(StateDir, AFileInPlaceOfTheDirectoryIsAnError) {
  TempDir dir;
  std::ofstream(dir.file("f")) << "x";
  StateDir s(dir.file("f"));
  EXPECT_TRUE(any_error_has(s, "not a directory")) << ::testing::PrintToString(s.errors());
}

TEST(StateDir, HealthFileHoldsOnlyTheKnownStates) {
  auto good = health_from_text(R"({"version":1,"uplinks":{"a":"up","b":"degraded","c":"down"}})");
  ASSERT_TRUE(good) << good.error().to_string();
  EXPECT_EQ(good->at("a"), HealthState::kUp);
  EXPECT_EQ(good->at("b"), HealthState::kDegraded);
  EXPECT_EQ(good->at("c"), HealthState::kDown);
  for (const char* bad : {
           R"({"version":1,"uplinks":{"a":"up","b":"sideways"}})",
           R"({"version":1,"uplinks":{"a":"unknown"}})",  // never saved
           R"({"version":1,"uplinks":{"a":3}})",
           R"({"version":1,"uplinks":{"a":null}})",
           R"({"uplinks":{"a":"up"}})",
           R"({"version":2,"uplinks":{"a":"up"}})",
           R"({"version":1,"uplinks":["up"]})",
           "not json",
       }) {
    EXPECT_FALSE(health_from_text(bad)) << bad;
  }
}

TEST(StateDir, CorruptFilesTakeTheirLoadersErrorPaths) {
  TempDir dir;
  StateDir s(dir.path());
  // Health and planner memory: ignored, whole.
  std::ofstream(dir.file("health.json")) << R"({"version":1,"uplinks":{"a":"up","b":"sideways"}})";
  EXPECT_TRUE(s.load_health().empty());
  std::ofstream(dir.file("planner.json"))
      << R"({"version":1,"classes":{"c":{"uplink":"a","since_unix_ms":9000000000000000000}}})";
  EXPECT_FALSE(s.load_plan_memory(PlanTime{}, std::chrono::system_clock::now()));
  // Intents: moved aside as evidence.
  std::ofstream(dir.file("intents.json"))
      << R"({"version":1,"intents":[{"id":"i-1","class":"c","paths":["a"],"ttl_s":60,)"
         R"("comment":"","created_ms":0,"expires_ms":9000000000000000000}]})";
  EXPECT_TRUE(s.load_intents().intents().empty());
  EXPECT_TRUE(std::filesystem::exists(dir.file("intents.json.corrupt")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("intents.json")));
  // Uplink ids: an error, even at first start (renumbering would move marks).
  std::ofstream(dir.file("uplink-ids.json")) << R"({"version":1,"uplinks":{"a":4294967297}})";
  auto ids = s.number_uplinks({"a"}, 254, 200, /*first=*/true);
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.error().context.find("bad number for uplink 'a'"), std::string::npos);
}

}  // namespace
}  // namespace pathsteer
