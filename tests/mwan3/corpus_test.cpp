// The reviewed corpus (tests/mwan3/corpus/): every NAME.mwan3 converts to exactly NAME.yaml
// with exactly the notes in NAME.notes, and that YAML is a valid policy for the real parser.
// A NAME.mwan4 (mwan4's spellings of the same config) converts to the same policy: the same
// YAML once comment lines are dropped, and the same notes but for the file name.
// NAME.network is the netifd file for NAME (else corpus/network).
// PS_MWAN3_REGENERATE=1 rewrites the expected files from the converter, for review in a diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "controller/policy.h"
#include "import/mwan3.h"
#include "import/uci.h"

namespace pathsteer {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = PS_MWAN3_CORPUS;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Converted {
  std::string yaml;
  std::string notes;  // one per line
};

Converted convert(const fs::path& file) {
  fs::path net_file = file;
  net_file.replace_extension(".network");
  if (!fs::exists(net_file))
    net_file = kCorpus / "network";
  auto m = uci::parse(slurp(file), file.filename().string());
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().to_string());
  auto n = uci::parse(slurp(net_file), net_file.filename().string());
  EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().to_string());
  if (!m.ok() || !n.ok())
    return {};
  auto c = mwan3::convert(*m, &*n);
  Converted out{.yaml = c.yaml};
  for (const auto& note : c.notes)
    out.notes += note.to_string() + "\n";
  return out;
}

std::string without_comments(const std::string& yaml) {
  std::istringstream in(yaml);
  std::string line, out;
  while (std::getline(in, line)) {
    auto hash = line.find(" #");
    if (line.find_first_not_of(' ') != std::string::npos &&
        line[line.find_first_not_of(' ')] == '#')
      continue;
    if (hash != std::string::npos && line.find('"') == std::string::npos)
      line.erase(hash);
    out += line + "\n";
  }
  return out;
}

std::vector<fs::path> cases(const char* ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kCorpus)) {
    if (e.path().extension() == ext)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Mwan3Corpus, HasTheRealisticConfigs) {
  EXPECT_GE(cases(".mwan3").size(), 10u);
  EXPECT_GE(cases(".mwan4").size(), 2u);
}

TEST(Mwan3Corpus, EachConvertsValidatesAndMatches) {
  const bool regen = std::getenv("PS_MWAN3_REGENERATE") != nullptr;
  for (const auto& file : cases(".mwan3")) {
    SCOPED_TRACE(file.filename().string());
    Converted c = convert(file);
    fs::path yaml = file, notes = file;
    yaml.replace_extension(".yaml");
    notes.replace_extension(".notes");
    if (regen) {
      std::ofstream(yaml, std::ios::binary) << c.yaml;
      std::ofstream(notes, std::ios::binary) << c.notes;
    }
    EXPECT_EQ(c.yaml, slurp(yaml));
    EXPECT_EQ(c.notes, slurp(notes));
    auto p = parse_policy(c.yaml, yaml.filename().string());
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().to_string()) << "\n" << c.yaml;
  }
}

TEST(Mwan3Corpus, Mwan4NamingConvertsToTheSamePolicy) {
  for (const auto& file : cases(".mwan4")) {
    SCOPED_TRACE(file.filename().string());
    fs::path twin = file;
    twin.replace_extension(".mwan3");
    ASSERT_TRUE(fs::exists(twin)) << "every .mwan4 case has its .mwan3 twin";
    Converted four = convert(file), three = convert(twin);
    EXPECT_EQ(without_comments(four.yaml), without_comments(three.yaml));
    std::string notes = four.notes;
    for (size_t at = notes.find(file.filename().string()); at != std::string::npos;
         at = notes.find(file.filename().string()))
      notes.replace(at, file.filename().string().size(), twin.filename().string());
    // The same options, under mwan4's names.
    for (auto [a, b] : {std::pair{"route '", "member '"},
                        {"strategy '", "policy '"},
                        {"'use_route'", "'use_member'"},
                        {"'use_strategy'", "'use_policy'"}}) {
      for (size_t at = notes.find(a); at != std::string::npos; at = notes.find(a))
        notes.replace(at, std::string(a).size(), b);
    }
    EXPECT_EQ(notes, three.notes);
    auto p4 = parse_policy(four.yaml, "mwan4.yaml");
    auto p3 = parse_policy(three.yaml, "mwan3.yaml");
    ASSERT_TRUE(p4.ok() && p3.ok());
    EXPECT_EQ(*p4, *p3);
  }
}

}  // namespace
}  // namespace pathsteer
