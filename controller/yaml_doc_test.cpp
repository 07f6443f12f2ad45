#include "controller/yaml_doc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pathsteer::yaml {
namespace {

using ::testing::ElementsAre;

// The root of the only document of `text`.
Node root_of(const Stream& s) {
  EXPECT_EQ(s.documents().size(), 1U);
  return s.documents().empty() ? Node() : s.documents()[0];
}

Stream loaded(const std::string& text, const Limits& limits = {}) {
  auto r = load(text, limits);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().details[0].to_string());
  return r ? *r : Stream();
}

// "line:col: message" of the one error loading `text` gives.
std::string error_of(const std::string& text, const Limits& limits = {}) {
  auto r = load(text, limits);
  if (r)
    return "loaded";
  EXPECT_EQ(r.error().details.size(), 1U);
  const auto& d = r.error().details.at(0);
  return std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

// 1-based "line:col" of a node, as errors print it.
std::string at(const Node& n) {
  return std::to_string(n.mark().line + 1) + ":" + std::to_string(n.mark().column + 1);
}

std::vector<std::string> keys(const Node& map) {
  std::vector<std::string> out;
  for (const auto& [k, v] : map.pairs())
    out.push_back(k.scalar());
  return out;
}

TEST(YamlDoc, MapsKeepEveryPairInFileOrderDuplicatesIncluded) {
  Stream s = loaded("b: 1\na: 2\nb: 3\n");
  Node m = root_of(s);
  ASSERT_TRUE(m.is_map());
  EXPECT_EQ(m.size(), 3U);
  EXPECT_THAT(keys(m), ElementsAre("b", "a", "b"));
  EXPECT_EQ(m.pairs()[2].value.scalar(), "3");
  EXPECT_EQ(at(m.pairs()[2].key), "3:1");
  EXPECT_EQ(at(m.pairs()[2].value), "3:4");
}

TEST(YamlDoc, SequencesAndNestingInBlockAndFlowStyle) {
  Stream s = loaded("l:\n  - a\n  - [b, {c: d}]\n");
  Node l = root_of(s).pairs()[0].value;
  ASSERT_TRUE(l.is_sequence());
  ASSERT_EQ(l.size(), 2U);
  EXPECT_EQ(l.items()[0].scalar(), "a");
  EXPECT_EQ(at(l), "2:3");
  Node inner = l.items()[1];
  ASSERT_TRUE(inner.is_sequence());
  EXPECT_EQ(at(inner), "3:5");
  EXPECT_EQ(inner.items()[1].pairs()[0].value.scalar(), "d");
  // The other kinds have no children.
  EXPECT_TRUE(l.items()[0].items().empty());
  EXPECT_TRUE(l.items()[0].pairs().empty());
  EXPECT_TRUE(l.pairs().empty());
  EXPECT_TRUE(root_of(s).items().empty());
}

TEST(YamlDoc, PlainNullSpellingsAreNullQuotedOrTaggedOnesAreText) {
  Stream s = loaded(
      "a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: ''\ng: \"null\"\nh: !!str null\ni: nil\n"
      "j: 'it''s'\nk: \"tab\\t\"\nl: |\n  block\n");
  Node m = root_of(s);
  std::vector<std::string> nulls, texts;
  for (const auto& [k, v] : m.pairs()) {
    if (v.is_null()) {
      nulls.push_back(k.scalar());
      EXPECT_EQ(v.scalar(), "");
    } else {
      ASSERT_TRUE(v.is_scalar()) << k.scalar();
      texts.push_back(k.scalar() + "=" + v.scalar() + (v.quoted() ? " quoted" : ""));
    }
  }
  EXPECT_THAT(nulls, ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_THAT(texts, ElementsAre("f= quoted", "g=null quoted", "h=null", "i=nil", "j=it's quoted",
                                 "k=tab\t quoted", "l=block\n quoted"));
}

TEST(YamlDoc, NumbersAndBooleansStayTheirText) {
  Stream s = loaded("a: 0x10\nb: '1'\nc: true\n");
  Node m = root_of(s);
  EXPECT_EQ(m.pairs()[0].value.scalar(), "0x10");
  EXPECT_FALSE(m.pairs()[0].value.quoted());
  EXPECT_EQ(m.pairs()[1].value.scalar(), "1");
  EXPECT_TRUE(m.pairs()[1].value.quoted());
  EXPECT_EQ(m.pairs()[2].value.scalar(), "true");
}

TEST(YamlDoc, AnEmptyValueIsNullMarkedJustAfterItsIndicator) {
  Stream s = loaded("key:\nlist:\n  -\n  - ~\nflow: {x: }\n");
  Node m = root_of(s);
  Node v = m.pairs()[0].value;
  EXPECT_TRUE(v.defined());
  EXPECT_TRUE(v.is_null());
  EXPECT_EQ(at(m.pairs()[0].key), "1:1");
  EXPECT_EQ(at(v), "1:5");  // after "key:"
  Node list = m.pairs()[1].value;
  ASSERT_EQ(list.size(), 2U);
  EXPECT_TRUE(list.items()[0].is_null());
  EXPECT_EQ(at(list.items()[0]), "3:4");  // after "  -"
  EXPECT_TRUE(list.items()[1].is_null());
  EXPECT_EQ(at(list.items()[1]), "4:5");  // the '~' itself
  EXPECT_TRUE(m.pairs()[2].value.pairs()[0].value.is_null());
}

TEST(YamlDoc, AnAbsentNodeReadsAsNullWithoutAMark) {
  Node n;
  EXPECT_FALSE(n.defined());
  EXPECT_TRUE(n.is_null());
  EXPECT_EQ(n.mark().line, -1);
  EXPECT_EQ(n.size(), 0U);
  EXPECT_EQ(n.scalar(), "");
  EXPECT_TRUE(n.items().empty());
  EXPECT_TRUE(n.pairs().empty());
}

TEST(YamlDoc, AnAliasIsTheAnchoredNodeItself) {
  Stream s = loaded(
      "h: &h { interval_ms: 100 }\n"
      "w1: { health: *h }\n"
      "l: [&x one, *x, *h]\n");
  Node m = root_of(s);
  Node anchored = m.pairs()[0].value;
  Node via_alias = m.pairs()[1].value.pairs()[0].value;
  ASSERT_TRUE(via_alias.is_map());
  EXPECT_EQ(via_alias.pairs()[0].value.scalar(), "100");
  EXPECT_EQ(at(via_alias), at(anchored));  // the anchor's mark, not the alias's
  EXPECT_EQ(at(anchored), "1:4");
  Node l = m.pairs()[2].value;
  ASSERT_EQ(l.size(), 3U);
  EXPECT_EQ(l.items()[1].scalar(), "one");
  EXPECT_EQ(at(l.items()[1]), "3:5");
  EXPECT_TRUE(l.items()[2].is_map());
}

TEST(YamlDoc, ALaterAnchorOfTheSameNameWins) {
  Stream s = loaded("[&a 1, *a, &a 2, *a]");
  Node l = root_of(s);
  ASSERT_EQ(l.size(), 4U);
  EXPECT_EQ(l.items()[1].scalar(), "1");
  EXPECT_EQ(l.items()[3].scalar(), "2");
}

TEST(YamlDoc, AnAliasWithoutAnAnchorIsAnErrorAtTheAlias) {
  EXPECT_EQ(error_of("a: 1\nb: *nope\n"),
            "2:4: YAML syntax error: alias '*nope' has no anchor before it");
  // The anchor comes later: still undefined where it is used.
  EXPECT_EQ(error_of("- *a\n- &a 1\n"),
            "1:3: YAML syntax error: alias '*a' has no anchor before it");
  // Anchors do not reach into the next document.
  EXPECT_EQ(error_of("a: &a 1\n---\nb: *a\n"),
            "3:4: YAML syntax error: alias '*a' has no anchor before it");
}

TEST(YamlDoc, ANodeCannotContainAnAliasToItself) {
  EXPECT_EQ(error_of("&a [1, *a]"),
            "1:8: YAML syntax error: alias '*a' is inside the node it names");
  EXPECT_EQ(error_of("a: &m\n  b: *m\n"),
            "2:6: YAML syntax error: alias '*m' is inside the node it names");
}

TEST(YamlDoc, NestingIsBounded) {
  auto flow = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_EQ(error_of(flow(64)), "loaded");
  EXPECT_EQ(error_of(flow(65)), "1:65: YAML nesting deeper than 64 levels");
  // A deep nest is refused before it is built, whatever its size.
  EXPECT_EQ(error_of(flow(100000)), "1:65: YAML nesting deeper than 64 levels");
  Limits three{.max_depth = 3};
  EXPECT_EQ(error_of("a:\n  b:\n    c: 1\n", three), "loaded");
  EXPECT_EQ(error_of("a:\n  b:\n    c:\n      - 1\n", three),
            "4:7: YAML nesting deeper than 3 levels");
}

TEST(YamlDoc, NodesAreBoundedAliasUsesIncluded) {
  Limits four{.max_nodes = 4};
  EXPECT_EQ(error_of("[a, b, c]", four), "loaded");
  EXPECT_EQ(error_of("[a, b, c, d]", four),
            "1:11: the YAML text holds more than 4 nodes (values and alias uses)");
  EXPECT_EQ(error_of("[&a x, *a, *a, *a]", four),
            "1:16: the YAML text holds more than 4 nodes (values and alias uses)");
}

TEST(YamlDoc, EveryDocumentIsRead) {
  Stream s = loaded("a: 1\n---\nb: 2\n--- c\n");
  ASSERT_EQ(s.documents().size(), 3U);
  EXPECT_EQ(at(s.documents()[1]), "3:1");
  EXPECT_EQ(s.documents()[1].pairs()[0].key.scalar(), "b");
  EXPECT_EQ(s.documents()[2].scalar(), "c");
}

TEST(YamlDoc, AnEmptyTextHasNoDocumentAnEmptyDocumentANullRoot) {
  EXPECT_TRUE(loaded("").documents().empty());
  EXPECT_TRUE(loaded("# only a comment\n\n").documents().empty());
  Stream s = loaded("---\n");
  ASSERT_EQ(s.documents().size(), 1U);
  EXPECT_TRUE(s.documents()[0].defined());
  EXPECT_TRUE(s.documents()[0].is_null());
}

// yaml-cpp 0.7 looped forever, allocating, on both (fuzz/regressions/policy/stray-comma-*).
TEST(YamlDoc, AStrayCommaIsASyntaxErrorNotAHang) {
  EXPECT_EQ(error_of(","), "1:1: YAML syntax error: did not find expected node content");
  EXPECT_EQ(error_of("[a]\n,"), "2:1: YAML syntax error: did not find expected <document start>");
  EXPECT_EQ(error_of("[a]\n, x\n"),
            "2:1: YAML syntax error: did not find expected <document start>");
}

TEST(YamlDoc, SyntaxErrorsNameWhereTheUnfinishedConstructBegan) {
  EXPECT_EQ(error_of("version: 1\nlan_interfaces: [lan0\nwans: {}\n"),
            "3:5: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
            "sequence started at line 2, column 17)");
  EXPECT_EQ(error_of("a: 'open\n"),
            "2:1: YAML syntax error: found unexpected end of stream (while scanning a quoted "
            "scalar started at line 1, column 4)");
  EXPECT_EQ(error_of("a: b: c\n"),
            "1:5: YAML syntax error: mapping values are not allowed in this context");
}

TEST(YamlDoc, EncodingErrorsArePlacedByCharacter) {
  EXPECT_EQ(error_of("a: [b]\nc: \"\xC3\xA9\" \x01\n"),
            "2:8: YAML syntax error: control characters are not allowed (#x01)");
  EXPECT_EQ(error_of("a:\r\n  b: \x80\r\n"),
            "2:6: YAML syntax error: invalid leading UTF-8 octet (#x80)");
  EXPECT_EQ(error_of(std::string("a: 1\n\0", 6)),
            "2:1: YAML syntax error: control characters are not allowed (#x00)");
}

TEST(YamlDoc, AUtf8ByteOrderMarkIsSkippedAndNotCounted) {
  Stream s = loaded(
      "\xEF\xBB\xBF"
      "a: 1\nb: x\n");
  Node m = root_of(s);
  ASSERT_TRUE(m.is_map());
  EXPECT_EQ(m.pairs()[0].key.scalar(), "a");
  EXPECT_EQ(at(m.pairs()[0].key), "1:1");
  EXPECT_EQ(m.pairs()[0].key.mark().pos, 0U);
  EXPECT_EQ(at(m.pairs()[1].value), "2:4");
  EXPECT_EQ(error_of("\xEF\xBB\xBF"
                     "a: \x01"),
            "1:4: YAML syntax error: control characters are not allowed (#x01)");
}

TEST(YamlDoc, CrlfLineEndsCountOnceAndStayOutOfScalars) {
  Stream s = loaded("a: 1\r\nb:\r\n  - x\r\n  - y\r\nc: |\r\n  two\r\n  lines\r\n");
  Node m = root_of(s);
  EXPECT_EQ(at(m.pairs()[1].key), "2:1");
  Node list = m.pairs()[1].value;
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list.items()[1].scalar(), "y");
  EXPECT_EQ(at(list.items()[1]), "4:5");
  EXPECT_EQ(m.pairs()[2].value.scalar(), "two\nlines\n");
  EXPECT_EQ(error_of("a: 1\r\nb: [\r\n"),
            "3:1: YAML syntax error: did not find expected node content");
}

TEST(YamlDoc, NodesStayValidWhileACopyOfTheirStreamLives) {
  Stream keep;
  Node n;
  {
    Stream s = loaded("k: [v]\n");
    n = root_of(s).pairs()[0].value;
    Stream moved = std::move(s);
    keep = moved;
  }
  EXPECT_EQ(n.items()[0].scalar(), "v");  // the sanitizer build would catch a freed tree
}

}  // namespace
}  // namespace pathsteer::yaml
