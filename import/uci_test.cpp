#include "import/uci.h"

#include <gtest/gtest.h>

#include <string>

namespace pathsteer::uci {
namespace {

Package ok(std::string_view text) {
  auto r = parse(text, "t");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : Package{};
}

Diagnostic err(std::string_view text) {
  auto r = parse(text, "t");
  EXPECT_FALSE(r.ok());
  if (r.ok() || r.error().details.size() != 1)
    return {};
  return r.error().details[0];
}

std::string value(const Package& p, std::string_view section, std::string_view option) {
  const Section* s = p.find(section);
  if (!s)
    return "<no section>";
  const Option* o = s->find(option);
  if (!o || o->values.empty())
    return "<no option>";
  return o->values.back().text;
}

TEST(Uci, SectionsOptionsAndLists) {
  auto p =
      ok("config globals 'globals'\n"
         "\toption mmx_mask '0x3F00'\n"
         "\n"
         "config interface 'wan'\n"
         "\toption enabled '1'\n"
         "\tlist track_ip '8.8.8.8'\n"
         "\tlist track_ip '1.1.1.1'\n");
  ASSERT_EQ(p.sections.size(), 2u);
  EXPECT_EQ(p.sections[0].type, "globals");
  EXPECT_EQ(p.sections[0].name, "globals");
  EXPECT_EQ(p.sections[0].line, 1);
  EXPECT_EQ(value(p, "globals", "mmx_mask"), "0x3F00");
  const Option* t = p.find("wan")->find("track_ip");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->is_list);
  ASSERT_EQ(t->values.size(), 2u);
  EXPECT_EQ(t->values[0], (Value{.text = "8.8.8.8", .line = 6}));
  EXPECT_EQ(t->values[1], (Value{.text = "1.1.1.1", .line = 7}));
  EXPECT_EQ(p.find("wan")->find("enabled")->line, 5);
}

TEST(Uci, AnonymousSectionsAreNamedByTypeIndexCountingNamedOnes) {
  auto p =
      ok("config rule 'https'\n"
         "config rule\n"
         "  option proto tcp\n"
         "config member\n"
         "config rule ''\n"
         "  option proto udp\n");
  ASSERT_EQ(p.sections.size(), 4u);
  EXPECT_EQ(p.sections[1].name, "@rule[1]");
  EXPECT_TRUE(p.sections[1].anonymous);
  EXPECT_EQ(p.sections[2].name, "@member[0]");
  EXPECT_EQ(p.sections[3].name, "@rule[2]");
  EXPECT_EQ(value(p, "@rule[2]", "proto"), "udp");
  EXPECT_EQ(p.of_type("rule").size(), 3u);
}

TEST(Uci, QuotingAsUciReadsIt) {
  auto p =
      ok("config x 'a'\n"
         "  option single 'it is \"literal\" \\n'\n"
         "  option double \"say \\\"hi\\\" \\\\ 'x'\"\n"
         "  option bare plain\\ word\n"
         "  option glued a'b c'\"d\"e\n"
         "  option empty ''\n"
         "  option hash \"a#b\"\n"
         "  option missing\n");
  EXPECT_EQ(value(p, "a", "single"), "it is \"literal\" \\n");
  EXPECT_EQ(value(p, "a", "double"), "say \"hi\" \\ 'x'");
  EXPECT_EQ(value(p, "a", "bare"), "plain word");
  EXPECT_EQ(value(p, "a", "glued"), "ab cde");
  EXPECT_EQ(value(p, "a", "empty"), "");
  EXPECT_EQ(value(p, "a", "hash"), "a#b");
  EXPECT_EQ(value(p, "a", "missing"), "");
}

TEST(Uci, CommentsAnywhereOutsideQuotes) {
  auto p =
      ok("# header\n"
         "   # indented\n"
         "config interface wan # trailing\n"
         "\toption track_ip 1.1.1.1#no space needed\n"
         "\toption x '#not a comment'\n");
  EXPECT_EQ(value(p, "wan", "track_ip"), "1.1.1.1");
  EXPECT_EQ(value(p, "wan", "x"), "#not a comment");
  EXPECT_EQ(p.find("wan")->line, 3);
}

TEST(Uci, ContinuationsSemicolonsAndMultiLineQuotes) {
  auto p =
      ok("config x a; option one 1; option two 2\n"
         "option three \\\n"
         "  3\n"
         "option multi 'line1\n"
         "line2'\n"
         "option after 4\r\n");
  EXPECT_EQ(value(p, "a", "one"), "1");
  EXPECT_EQ(value(p, "a", "two"), "2");
  EXPECT_EQ(value(p, "a", "three"), "3");
  EXPECT_EQ(value(p, "a", "multi"), "line1\nline2");
  EXPECT_EQ(value(p, "a", "after"), "4");
  EXPECT_EQ(p.find("a")->find("after")->line, 6);
}

TEST(Uci, ShortCommandsAndPackage) {
  auto p = ok("package mwan3\nc interface wan\no enabled 1\nl track_ip 9.9.9.9\n");
  EXPECT_EQ(value(p, "wan", "enabled"), "1");
  EXPECT_EQ(value(p, "wan", "track_ip"), "9.9.9.9");
}

TEST(Uci, OptionReplacesAndListAfterOptionAppends) {
  auto p =
      ok("config x a\n"
         "option v 1\n"
         "option v 2\n"
         "option l first\n"
         "list l second\n");
  const Option* v = p.find("a")->find("v");
  ASSERT_EQ(v->values.size(), 1u);
  EXPECT_EQ(v->values[0].text, "2");
  EXPECT_EQ(v->line, 3);
  const Option* l = p.find("a")->find("l");
  EXPECT_TRUE(l->is_list);
  ASSERT_EQ(l->values.size(), 2u);
  EXPECT_EQ(l->values[0].text, "first");
  EXPECT_EQ(l->values[1].text, "second");
}

TEST(Uci, RepeatedNamedSectionMerges) {
  auto p = ok("config interface wan\noption a 1\nconfig interface wan\noption b 2\n");
  ASSERT_EQ(p.sections.size(), 1u);
  EXPECT_EQ(value(p, "wan", "a"), "1");
  EXPECT_EQ(value(p, "wan", "b"), "2");
}

TEST(Uci, ErrorsNameLineAndColumn) {
  auto e = err("config x a\n  bogus y z\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
  EXPECT_NE(e.message.find("invalid command 'bogus'"), std::string::npos) << e.message;

  e = err("option a 1\n");
  EXPECT_EQ(e.line, 1);
  EXPECT_NE(e.message.find("before the first 'config'"), std::string::npos) << e.message;

  e = err("config x a\noption v 'open\nmore\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 10);
  EXPECT_NE(e.message.find("unterminated '"), std::string::npos) << e.message;

  e = err("config x a\noption v \"open\n");
  EXPECT_NE(e.message.find("unterminated \""), std::string::npos) << e.message;

  e = err("config x a\noption v one two\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 14);
  EXPECT_NE(e.message.find("unexpected 'two'"), std::string::npos) << e.message;

  e = err("config x a\noption bad-name 1\n");
  EXPECT_NE(e.message.find("invalid option name 'bad-name'"), std::string::npos) << e.message;

  e = err("config x bad.name\n");
  EXPECT_NE(e.message.find("invalid section name"), std::string::npos) << e.message;

  e = err("config 'a b'\n");
  EXPECT_NE(e.message.find("invalid section type"), std::string::npos) << e.message;

  e = err("config\n");
  EXPECT_NE(e.message.find("needs a name"), std::string::npos) << e.message;

  e = err(std::string_view("config x a\noption v a\0b\n", 22));
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.message.find("NUL"), std::string::npos) << e.message;
  EXPECT_EQ(e.file, "t");
}

TEST(Uci, EmptyAndCommentOnlyInputs) {
  EXPECT_TRUE(ok("").sections.empty());
  EXPECT_TRUE(ok("# nothing\n\n   \n;;\n").sections.empty());
  EXPECT_EQ(ok("config a").sections.size(), 1u);  // no final newline
}

TEST(Uci, MissingFileIsAnError) {
  auto r = parse_file("/nonexistent/mwan3");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().err_no, 0);
}

}  // namespace
}  // namespace pathsteer::uci
