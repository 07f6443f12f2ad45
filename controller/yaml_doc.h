// pathsteer::yaml: a read-only YAML tree built from libyaml's events, the layer
// under YamlReader (controller/policy_yaml.h). Internal to the policy files
// (controller/policy*.cpp); controller/policy.h never shows it.
//
// Contract:
// * load(text) reads every document of the stream `text` (UTF-8, or UTF-16
//   with its BOM; a leading UTF-8 BOM is skipped) into one tree, or returns a
//   kInvalidPolicy Error with exactly one detail (1-based line and column, no
//   file) for the first problem: "YAML syntax error: <libyaml's problem>"
//   (plus where the construct it was in began, when that is elsewhere), an
//   alias to an undefined anchor, nesting deeper than Limits::max_depth, more
//   than Limits::max_nodes nodes, or libyaml out of memory. It never throws
//   for malformed input and never recurses, and its tree is bounded by
//   max_nodes whatever the text: arbitrary bytes cannot exhaust the stack or
//   memory.
// * Kinds: a plain, untagged scalar "", "~", "null", "Null" or "NULL" is null
//   (so is an empty value: `key:` or a lone `-`); every other scalar, quoted,
//   tagged or plain, is a scalar holding its text as written, escapes
//   resolved. There is no type resolution ("1" and 1 are both the text 1);
//   tags are otherwise ignored.
// * An alias is the node its anchor names (the same node, its mark included).
//   An anchor counts from the end of its node, so no node contains itself.
// * A map keeps every pair in file order, duplicate keys and keys of any kind
//   included: judging them is the reader's business.
// * Marks are libyaml's: 0-based line and column, counted in characters (a
//   CRLF is one line end); an empty value's mark is just after its indicator
//   (':' or '-'). An absent node (Node()) has line -1.
// * A Node is a handle (a pointer and an index) into its Stream's tree, cheap
//   to copy; it stays valid while that Stream (or a copy of it) lives.
// * Nothing here is shared or mutable after load(): concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pathsteer::yaml {

struct Mark {
  int line = -1;  // 0-based; -1 for an absent node
  int column = -1;
  size_t pos = 0;  // characters from the start of the text
};

enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };

struct Tree;
struct Pair;

class Node {
 public:
  // Absent: no node at all (the key of the root or of a list item). It reads
  // as null, with no mark.
  Node() = default;

  bool defined() const { return tree_ != nullptr; }
  Kind kind() const;
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_scalar() const { return kind() == Kind::kScalar; }
  bool is_sequence() const { return kind() == Kind::kSequence; }
  bool is_map() const { return kind() == Kind::kMap; }

  // A scalar's text; "" for every other kind (null included).
  const std::string& scalar() const;
  // The scalar was written quoted ('', "") or as a block (|, >), not plain.
  bool quoted() const;
  Mark mark() const;
  // A sequence's items or a map's pairs; 0 for the other kinds.
  size_t size() const;
  // Empty unless the node is a sequence / a map.
  std::span<const Node> items() const;
  std::span<const Pair> pairs() const;

 private:
  friend class Builder;
  Node(const Tree* tree, uint32_t index) : tree_(tree), index_(index) {}

  const Tree* tree_ = nullptr;
  uint32_t index_ = 0;
};

struct Pair {
  Node key;
  Node value;
};

// Owns the nodes of every document of one text (copies share them).
class Stream {
 public:
  // The root of each document, in order; an empty document's is null.
  const std::vector<Node>& documents() const { return documents_; }

 private:
  friend class Builder;
  std::shared_ptr<const Tree> tree_;
  std::vector<Node> documents_;
};

struct Limits {
  size_t max_depth = 64;  // maps and sequences open at once
  // Nodes and alias uses: 4,096 one-line classes are ~61,500.
  size_t max_nodes = size_t{1} << 20;
};

Result<Stream> load(std::string_view text, const Limits& limits = {});

}  // namespace pathsteer::yaml
