#include "controller/policy_yaml.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

namespace pathsteer {

namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions,
// so that "dprot" is one typo away from "dport".
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The known word that `word` is probably a typo of, or empty.
std::string_view closest(std::string_view word, Keys known) {
  std::string_view best;
  size_t best_d = 3;  // only distances 1 and 2 count as typos
  for (auto k : known) {
    size_t d = edit_distance(word, k);
    if (d < best_d && d < k.size()) {
      best = k;
      best_d = d;
    }
  }
  return best;
}

// " (did you mean 'x'?)" or "".
std::string suggestion(std::string_view word, Keys known) {
  auto best = closest(word, known);
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

std::string join(Keys words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty())
      out += ", ";
    out += w;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::optional<double> parse_double(std::string_view s) {
  std::string str(s);
  if (str.empty() || std::isspace(static_cast<unsigned char>(str.front())))
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(str.c_str(), &end);
  if (errno != 0 || end != str.c_str() + str.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string where(const Field& f) {
  return f.path.empty() ? "at top level" : "in " + f.path;
}

// yaml-cpp 0.7's LoadAll() never returns, allocating without bound, when a
// document starts at a token no node can start with (a file that is just ",",
// or "[a]" followed by a line ","): every pass yields another empty document at
// the same place. This walks the documents with a parser of its own and returns
// the mark where one made no progress; LoadAll() is safe when there is none.
std::optional<YAML::Mark> stalled_document(const std::string& text) {
  struct DocumentStarts : YAML::EventHandler {
    std::optional<YAML::Mark> last, stall;
    void OnDocumentStart(const YAML::Mark& m) override {
      if (last && last->pos == m.pos)
        stall = m;
      last = m;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } starts;
  std::istringstream in(text);
  YAML::Parser parser(in);
  while (!starts.stall && parser.HandleNextDocument(starts)) {
  }
  return starts.stall;
}

}  // namespace

// Decimal, or hex with 0x; an optional leading '-' so that range errors can
// show the operator's negative number instead of "not a number".
std::optional<int64_t> parse_int(std::string_view s) {
  bool neg = false;
  if (!s.empty() && s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty())
    return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size())
    return std::nullopt;
  return neg ? -v : v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  static_cast<void>(std::snprintf(buf, sizeof(buf), "0x%08x", v));
  return buf;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    default:
      return "nothing";
  }
}

std::string invalid_value(std::string_view value, const std::string& path,
                          std::string_view expected, Keys known) {
  auto best = closest(value, known);
  return "invalid value '" + std::string(value) + "' for " + path + " (expected " +
         std::string(expected) +
         (best.empty() ? "" : "; did you mean '" + std::string(best) + "'?") + ")";
}

std::optional<YAML::Node> YamlReader::load(const std::string& text) {
  std::vector<YAML::Node> docs;
  try {
    if (auto stall = stalled_document(text)) {
      error_at(*stall, "YAML syntax error: no node can start here (a stray ',')");
      return std::nullopt;
    }
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    error_at(e.mark, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
  if (docs.empty() || docs[0].IsNull()) {
    errors_.push_back(
        PolicyError{.file = file_, .line = 1, .column = 1, .message = "the policy is empty"});
    return std::nullopt;
  }
  if (docs.size() > 1) {
    error_at(docs[1].Mark(), "expected one YAML document, found " + std::to_string(docs.size()));
  }
  return docs[0];
}

void YamlReader::error_at(const YAML::Mark& m, std::string message) {
  PolicyError e{.file = file_, .message = std::move(message)};
  if (m.line >= 0) {
    e.line = m.line + 1;
    e.column = m.column + 1;
  }
  errors_.push_back(std::move(e));
}

// A null value has no useful mark of its own (yaml-cpp points at the next
// token), so errors about it go to its key.
YAML::Mark YamlReader::mark_of(const Field& f) {
  if (f.value.IsDefined() && !f.value.IsNull())
    return f.value.Mark();
  return key_mark(f);
}

YAML::Mark YamlReader::key_mark(const Field& f) {
  if (f.key.IsDefined() && f.key.Mark().line >= 0) {
    return f.key.Mark();
  }
  if (f.value.IsDefined())
    return f.value.Mark();
  return YAML::Mark::null_mark();
}

void YamlReader::error(const Field& f, std::string message) {
  error_at(mark_of(f), std::move(message));
}

void YamlReader::type_error(const Field& f, std::string_view expected) {
  error(f, "expected " + std::string(expected) + " for " +
               (f.path.empty() ? "the top level" : f.path) + ", got " + describe(f.value));
}

Error YamlReader::invalid_sorted() {
  std::stable_sort(errors_.begin(), errors_.end(), [this](const auto& a, const auto& b) {
    bool a_other = a.file != file_;
    bool b_other = b.file != file_;
    return std::tie(a_other, a.file, a.line, a.column) <
           std::tie(b_other, b.file, b.line, b.column);
  });
  return invalid_input(errors_);
}

bool YamlReader::expect_map(const Field& f, Keys known) {
  if (!f.value.IsMap()) {
    type_error(f, "a map");
    return false;
  }
  // By name: the classes map may hold thousands of keys.
  std::unordered_map<std::string, YAML::Mark> seen;
  for (const auto& kv : f.value) {
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      error_at(k.Mark(), "expected a plain key " + where(f) + ", got " + describe(k));
      continue;
    }
    const std::string& name = k.Scalar();
    auto dup = seen.find(name);
    if (dup != seen.end()) {
      error_at(k.Mark(), "duplicate key '" + name + "' " + where(f) + " (first at line " +
                             std::to_string(dup->second.line + 1) + ")");
      continue;
    }
    seen.emplace(name, k.Mark());
    if (!known.empty() && std::find(known.begin(), known.end(), name) == known.end()) {
      error_at(k.Mark(), "unknown key '" + name + "' " + where(f) + suggestion(name, known));
    }
  }
  return true;
}

bool YamlReader::expect_list(const Field& f, bool allow_empty) {
  if (!f.value.IsSequence()) {
    type_error(f, "a list");
    return false;
  }
  if (!allow_empty && f.value.size() == 0) {
    error(f, f.path + " must not be empty");
    return false;
  }
  return true;
}

// The first value for `key` (duplicates were reported by expect_map).
std::optional<Field> YamlReader::get(const Field& map, std::string_view key) {
  for (const auto& kv : map.value) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      return Field(kv.first, kv.second, child_path(map.path, key));
    }
  }
  return std::nullopt;
}

std::optional<Field> YamlReader::require(const Field& map, std::string_view key) {
  auto f = get(map, key);
  if (!f)
    error_at(key_mark(map), "missing required key '" + std::string(key) + "' " + where(map));
  return f;
}

std::vector<Field> YamlReader::items(const Field& list) {
  std::vector<Field> out;
  size_t i = 0;
  for (const auto& n : list.value) {
    out.emplace_back(YAML::Node(), n, list.path + "[" + std::to_string(i++) + "]");
  }
  return out;
}

std::vector<Field> YamlReader::entries(const Field& map) {
  std::vector<Field> out;
  std::set<std::string> seen;
  for (const auto& kv : map.value) {
    if (!kv.first.IsScalar() || !seen.insert(kv.first.Scalar()).second)
      continue;
    out.emplace_back(kv.first, kv.second, child_path(map.path, kv.first.Scalar()));
  }
  return out;
}

std::optional<std::string> YamlReader::string(const Field& f) {
  if (!f.value.IsScalar()) {
    type_error(f, "a string");
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<int64_t> YamlReader::integer(const Field& f, int64_t lo, int64_t hi) {
  if (!f.value.IsScalar()) {
    type_error(f, "an integer");
    return std::nullopt;
  }
  auto v = parse_int(f.value.Scalar());
  if (!v) {
    type_error(f, "an integer");
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    std::string range = hi == kU32Max && *v < lo
                            ? ">= " + std::to_string(lo)
                            : "between " + std::to_string(lo) + " and " + std::to_string(hi);
    error(f, f.path + " must be " + range + ", got " + f.value.Scalar());
    return std::nullopt;
  }
  return v;
}

std::optional<double> YamlReader::number(const Field& f, double lo, double hi) {
  std::optional<double> v;
  if (f.value.IsScalar())
    v = parse_double(f.value.Scalar());
  if (!v) {
    type_error(f, "a number");
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    error(f, f.path + " must be between " + format_number(lo) + " and " + format_number(hi) +
                 ", got " + f.value.Scalar());
    return std::nullopt;
  }
  return v;
}

std::optional<size_t> YamlReader::choice(const Field& f, Keys names) {
  auto s = string(f);
  if (!s)
    return std::nullopt;
  auto it = std::find(names.begin(), names.end(), *s);
  if (it != names.end())
    return static_cast<size_t>(it - names.begin());
  error(f, invalid_value(*s, f.path, "one of: " + join(names), names));
  return std::nullopt;
}

std::optional<std::vector<Field>> YamlReader::scalar_or_list(const Field& f) {
  if (!f.value.IsSequence())
    return std::vector<Field>{f};
  if (!expect_list(f))
    return std::nullopt;
  return items(f);
}

// "80", 80, "5060-5061,10000-20000", or a list of those.
std::optional<std::vector<std::pair<int64_t, int64_t>>> YamlReader::ranges(const Field& f,
                                                                           const char* what,
                                                                           int64_t min,
                                                                           int64_t max) {
  auto parts = scalar_or_list(f);
  if (!parts)
    return std::nullopt;
  std::vector<std::pair<int64_t, int64_t>> out;
  bool ok = true;
  std::string bounds = std::to_string(min) + "-" + std::to_string(max);
  for (const auto& part : *parts) {
    if (!part.value.IsScalar()) {
      type_error(part, std::string("a ") + what + " or " + what + " range");
      ok = false;
      continue;
    }
    std::string_view text = part.value.Scalar();
    while (true) {
      auto comma = text.find(',');
      std::string_view item = trim(text.substr(0, comma));
      auto dash = item.find('-', 1);
      auto lo = parse_int(trim(item.substr(0, dash)));
      auto hi = dash == std::string_view::npos ? lo : parse_int(trim(item.substr(dash + 1)));
      if (!lo || !hi || item.empty()) {
        error(part, std::string("invalid ") + what + " '" + std::string(item) + "' in " +
                        part.path + " (expected a " + what + " " + bounds + " or a range lo-hi)");
        ok = false;
      } else if (*lo < min || *lo > max || *hi < min || *hi > max) {
        error(part, std::string(what) + " '" + std::string(item) + "' in " + part.path +
                        " is out of range " + bounds);
        ok = false;
      } else if (*lo > *hi) {
        error(part, std::string(what) + " range '" + std::string(item) + "' in " + part.path +
                        " has low > high");
        ok = false;
      } else {
        out.emplace_back(*lo, *hi);
      }
      if (comma == std::string_view::npos)
        break;
      text.remove_prefix(comma + 1);
    }
  }
  if (!ok)
    return std::nullopt;
  return out;
}

std::optional<std::vector<PortRange>> YamlReader::ports(const Field& f) {
  auto r = ranges(f, "port", 1, 65535);
  if (!r)
    return std::nullopt;
  std::vector<PortRange> out;
  for (auto [lo, hi] : *r)
    out.push_back(PortRange{.lo = static_cast<uint16_t>(lo), .hi = static_cast<uint16_t>(hi)});
  return out;
}

std::optional<std::vector<Prefix>> YamlReader::prefixes(const Field& f) {
  auto parts = scalar_or_list(f);
  if (!parts)
    return std::nullopt;
  std::vector<Prefix> out;
  bool ok = true;
  for (const auto& part : *parts) {
    if (!part.value.IsScalar()) {
      type_error(part, "a prefix");
      ok = false;
      continue;
    }
    std::string why;
    auto p = Prefix::parse(part.value.Scalar(), &why);
    if (!p) {
      error(part, "invalid prefix in " + part.path + ": " + why);
      ok = false;
      continue;
    }
    out.push_back(*p);
  }
  if (!ok)
    return std::nullopt;
  return out;
}

}  // namespace pathsteer
