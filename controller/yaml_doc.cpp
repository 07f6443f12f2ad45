#include "controller/yaml_doc.h"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

namespace pathsteer::yaml {

struct NodeData {
  Kind kind = Kind::kNull;
  bool quoted = false;
  Mark mark;
  std::string text;
  uint32_t first = 0;  // of a sequence: in Tree::items; of a map: in Tree::pairs
  uint32_t count = 0;
};

// A container's children are appended when it ends, so each container's
// items (or pairs) are one contiguous run.
struct Tree {
  std::vector<NodeData> nodes;
  std::vector<Node> items;
  std::vector<Pair> pairs;
};

namespace {

const std::string kNoText;

bool is_null_text(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

Mark mark_of(const yaml_mark_t& m) {
  return Mark{
      .line = static_cast<int>(m.line), .column = static_cast<int>(m.column), .pos = m.index};
}

// libyaml reports an encoding problem by byte offset, not by mark. Counts as
// libyaml's marks do: characters, a CRLF ends one line, a leading BOM is no
// character. (For UTF-16 text the line is approximate.)
Mark mark_at_offset(std::string_view text, size_t offset) {
  Mark m{.line = 0, .column = 0, .pos = 0};
  size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (; i < offset && i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80)
      continue;  // inside a UTF-8 sequence
    ++m.pos;
    bool crlf = c == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
    if ((c == '\n' || c == '\r') && !crlf) {
      ++m.line;
      m.column = 0;
    } else {
      ++m.column;
    }
  }
  return m;
}

Error failure(const Mark& at, std::string message) {
  return invalid_input(
      {Diagnostic{.line = at.line + 1, .column = at.column + 1, .message = std::move(message)}});
}

std::string_view view(const yaml_char_t* s, size_t n) {
  return {reinterpret_cast<const char*>(s), n};
}
std::string_view view(const yaml_char_t* s) {
  return s == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(s));
}

// libyaml's parser and its event, released on every path.
class Parser {
 public:
  explicit Parser(std::string_view text) {
    ok_ = yaml_parser_initialize(&parser_) != 0;
    if (ok_) {
      yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                   text.size());
    }
  }
  ~Parser() { yaml_parser_delete(&parser_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  bool ok() const { return ok_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_{};
  bool ok_ = false;
};

struct Event {
  Event() = default;
  ~Event() { yaml_event_delete(&e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  yaml_event_t e{};
};

}  // namespace

// Folds libyaml's events into a Tree without recursion: the open containers
// are a stack, their finished children wait in `pending_`.
class Builder {
 public:
  Builder(std::string_view text, const Limits& limits)
      : text_(text),
        limits_(limits),
        max_nodes_(std::min<size_t>(limits.max_nodes, std::numeric_limits<uint32_t>::max())),
        tree_(std::make_shared<Tree>()) {}

  Result<Stream> run() {
    Parser parser(text_);
    if (!parser.ok())
      return failure(Mark{.line = 0, .column = 0}, "cannot read the YAML: out of memory");
    while (true) {
      Event ev;
      if (yaml_parser_parse(parser.get(), &ev.e) == 0)
        return syntax_error(*parser.get());
      std::optional<Error> err;
      switch (ev.e.type) {
        case YAML_DOCUMENT_START_EVENT:
          documents_.emplace_back();
          anchors_.clear();  // an anchor's scope is its document
          break;
        case YAML_SCALAR_EVENT:
          err = scalar(ev.e);
          break;
        case YAML_SEQUENCE_START_EVENT:
          err = open(Kind::kSequence, ev.e.start_mark, view(ev.e.data.sequence_start.anchor));
          break;
        case YAML_MAPPING_START_EVENT:
          err = open(Kind::kMap, ev.e.start_mark, view(ev.e.data.mapping_start.anchor));
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          close();
          break;
        case YAML_ALIAS_EVENT:
          err = alias(ev.e);
          break;
        case YAML_STREAM_END_EVENT: {
          Stream s;
          s.tree_ = std::move(tree_);
          s.documents_ = std::move(documents_);
          return s;
        }
        default:  // stream start, document end
          break;
      }
      if (err)
        return std::move(*err);
    }
  }

 private:
  struct Open {
    uint32_t node;
    size_t first_pending;  // its children so far: pending_[first_pending..]
    std::string anchor;
  };

  Error syntax_error(const yaml_parser_t& p) const {
    if (p.error == YAML_MEMORY_ERROR)
      return failure(Mark{.line = 0, .column = 0}, "cannot read the YAML: out of memory");
    std::string problem = p.problem != nullptr ? p.problem : "unknown error";
    Mark at = mark_of(p.problem_mark);
    if (p.error == YAML_READER_ERROR) {
      at = mark_at_offset(text_, p.problem_offset);
      if (p.problem_value != -1) {
        char hex[16];
        static_cast<void>(std::snprintf(hex, sizeof(hex), " (#x%02X)", p.problem_value));
        problem += hex;
      }
    }
    std::string message = "YAML syntax error: " + problem;
    if (p.context != nullptr && p.context_mark.index != p.problem_mark.index) {
      // Where the construct that failed began: an unclosed '[' or quote is found only later.
      message += std::string(" (") + p.context + " started at line " +
                 std::to_string(p.context_mark.line + 1) + ", column " +
                 std::to_string(p.context_mark.column + 1) + ")";
    }
    return failure(at, message);
  }

  std::optional<Error> count_node(const yaml_mark_t& at) {
    if (++nodes_ <= max_nodes_)
      return std::nullopt;
    return failure(mark_of(at), "the YAML text holds more than " + std::to_string(max_nodes_) +
                                    " nodes (values and alias uses)");
  }

  uint32_t add_node(NodeData d) {
    tree_->nodes.push_back(std::move(d));
    return static_cast<uint32_t>(tree_->nodes.size() - 1);
  }

  // `index` is complete: the root of its document or a child of the innermost open container.
  void attach(uint32_t index) {
    Node n(tree_.get(), index);
    if (open_.empty()) {
      documents_.back() = n;
    } else {
      pending_.push_back(n);
    }
  }

  std::optional<Error> scalar(const yaml_event_t& ev) {
    if (auto err = count_node(ev.start_mark))
      return err;
    const auto& s = ev.data.scalar;
    std::string_view text = view(s.value, s.length);
    bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
    bool null = plain && s.tag == nullptr && is_null_text(text);
    uint32_t i = add_node(NodeData{.kind = null ? Kind::kNull : Kind::kScalar,
                                   .quoted = !plain,
                                   .mark = mark_of(ev.start_mark),
                                   .text = null ? std::string() : std::string(text)});
    if (s.anchor != nullptr)
      anchors_[std::string(view(s.anchor))] = i;
    attach(i);
    return std::nullopt;
  }

  std::optional<Error> open(Kind kind, const yaml_mark_t& at, std::string_view anchor) {
    if (open_.size() >= limits_.max_depth) {
      return failure(mark_of(at),
                     "YAML nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    if (auto err = count_node(at))
      return err;
    uint32_t i = add_node(NodeData{.kind = kind, .mark = mark_of(at)});
    open_.push_back(
        Open{.node = i, .first_pending = pending_.size(), .anchor = std::string(anchor)});
    return std::nullopt;
  }

  void close() {
    if (open_.empty())
      return;  // libyaml balances its events; never trust that with an index
    Open o = std::move(open_.back());
    open_.pop_back();
    NodeData& d = tree_->nodes[o.node];
    auto first = pending_.begin() + static_cast<std::ptrdiff_t>(o.first_pending);
    if (d.kind == Kind::kSequence) {
      d.first = static_cast<uint32_t>(tree_->items.size());
      tree_->items.insert(tree_->items.end(), first, pending_.end());
      d.count = static_cast<uint32_t>(tree_->items.size() - d.first);
    } else {
      d.first = static_cast<uint32_t>(tree_->pairs.size());
      // libyaml always gives a key and a value (an empty scalar for a missing one).
      for (size_t i = o.first_pending; i + 1 < pending_.size(); i += 2)
        tree_->pairs.push_back(Pair{.key = pending_[i], .value = pending_[i + 1]});
      d.count = static_cast<uint32_t>(tree_->pairs.size() - d.first);
    }
    pending_.erase(first, pending_.end());
    if (!o.anchor.empty())
      anchors_[o.anchor] = o.node;
    attach(o.node);
  }

  std::optional<Error> alias(const yaml_event_t& ev) {
    std::string name(view(ev.data.alias.anchor));
    auto it = anchors_.find(name);
    if (it == anchors_.end()) {
      bool inside =
          std::any_of(open_.begin(), open_.end(), [&](const Open& o) { return o.anchor == name; });
      return failure(mark_of(ev.start_mark),
                     "YAML syntax error: alias '*" + name + "' " +
                         (inside ? "is inside the node it names" : "has no anchor before it"));
    }
    if (auto err = count_node(ev.start_mark))
      return err;
    attach(it->second);
    return std::nullopt;
  }

  std::string_view text_;
  Limits limits_;
  size_t max_nodes_;
  std::shared_ptr<Tree> tree_;
  std::vector<Node> documents_;
  std::vector<Open> open_;
  std::vector<Node> pending_;
  std::unordered_map<std::string, uint32_t> anchors_;
  size_t nodes_ = 0;
};

Kind Node::kind() const {
  return tree_ != nullptr ? tree_->nodes[index_].kind : Kind::kNull;
}

const std::string& Node::scalar() const {
  return tree_ != nullptr ? tree_->nodes[index_].text : kNoText;
}

bool Node::quoted() const {
  return tree_ != nullptr && tree_->nodes[index_].quoted;
}

Mark Node::mark() const {
  return tree_ != nullptr ? tree_->nodes[index_].mark : Mark{};
}

size_t Node::size() const {
  return tree_ != nullptr ? tree_->nodes[index_].count : 0;
}

std::span<const Node> Node::items() const {
  if (!is_sequence())
    return {};
  const NodeData& d = tree_->nodes[index_];
  return std::span<const Node>(tree_->items).subspan(d.first, d.count);
}

std::span<const Pair> Node::pairs() const {
  if (!is_map())
    return {};
  const NodeData& d = tree_->nodes[index_];
  return std::span<const Pair>(tree_->pairs).subspan(d.first, d.count);
}

Result<Stream> load(std::string_view text, const Limits& limits) {
  return Builder(text, limits).run();
}

}  // namespace pathsteer::yaml
