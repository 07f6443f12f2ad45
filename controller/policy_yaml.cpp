#include "controller/policy_yaml.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

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

std::string describe(const yaml::Node& n) {
  switch (n.kind()) {
    case yaml::Kind::kSequence:
      return "a list";
    case yaml::Kind::kMap:
      return "a map";
    case yaml::Kind::kScalar:
      return "'" + n.scalar() + "'";
    case yaml::Kind::kNull:
      break;
  }
  return "nothing";
}

std::string invalid_value(std::string_view value, const std::string& path,
                          std::string_view expected, Keys known) {
  auto best = closest(value, known);
  return "invalid value '" + std::string(value) + "' for " + path + " (expected " +
         std::string(expected) +
         (best.empty() ? "" : "; did you mean '" + std::string(best) + "'?") + ")";
}

std::optional<yaml::Node> YamlReader::load(const std::string& text) {
  auto stream = yaml::load(text);
  if (!stream) {
    for (auto d : stream.error().details) {
      d.file = file_;
      errors_.push_back(std::move(d));
    }
    return std::nullopt;
  }
  stream_ = std::move(*stream);
  const auto& docs = stream_.documents();
  if (docs.empty() || docs[0].is_null()) {
    errors_.push_back(
        PolicyError{.file = file_, .line = 1, .column = 1, .message = "the policy is empty"});
    return std::nullopt;
  }
  if (docs.size() > 1) {
    error_at(docs[1].mark(), "expected one YAML document, found " + std::to_string(docs.size()));
  }
  return docs[0];
}

void YamlReader::error_at(const yaml::Mark& m, std::string message) {
  PolicyError e{.file = file_, .message = std::move(message)};
  if (m.line >= 0) {
    e.line = m.line + 1;
    e.column = m.column + 1;
  }
  errors_.push_back(std::move(e));
}

yaml::Mark YamlReader::mark_of(const Field& f) {
  if (!f.value.is_null())
    return f.value.mark();
  return key_mark(f);
}

yaml::Mark YamlReader::key_mark(const Field& f) {
  return f.key.defined() ? f.key.mark() : f.value.mark();
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
  if (!f.value.is_map()) {
    type_error(f, "a map");
    return false;
  }
  // By name: the classes map may hold thousands of keys.
  std::unordered_map<std::string_view, yaml::Mark> seen;
  for (const auto& [k, v] : f.value.pairs()) {
    if (!k.is_scalar()) {
      error_at(k.mark(), "expected a plain key " + where(f) + ", got " + describe(k));
      continue;
    }
    const std::string& name = k.scalar();
    auto dup = seen.find(name);
    if (dup != seen.end()) {
      error_at(k.mark(), "duplicate key '" + name + "' " + where(f) + " (first at line " +
                             std::to_string(dup->second.line + 1) + ")");
      continue;
    }
    seen.emplace(name, k.mark());
    if (!known.empty() && std::find(known.begin(), known.end(), name) == known.end()) {
      error_at(k.mark(), "unknown key '" + name + "' " + where(f) + suggestion(name, known));
    }
  }
  return true;
}

bool YamlReader::expect_list(const Field& f, bool allow_empty) {
  if (!f.value.is_sequence()) {
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
  for (const auto& [k, v] : map.value.pairs()) {
    if (k.is_scalar() && k.scalar() == key) {
      return Field(k, v, child_path(map.path, key));
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
  for (const auto& n : list.value.items()) {
    out.emplace_back(yaml::Node(), n, list.path + "[" + std::to_string(i++) + "]");
  }
  return out;
}

std::vector<Field> YamlReader::entries(const Field& map) {
  std::vector<Field> out;
  std::unordered_set<std::string_view> seen;
  for (const auto& [k, v] : map.value.pairs()) {
    if (!k.is_scalar() || !seen.insert(k.scalar()).second)
      continue;
    out.emplace_back(k, v, child_path(map.path, k.scalar()));
  }
  return out;
}

std::optional<std::string> YamlReader::string(const Field& f) {
  if (!f.value.is_scalar()) {
    type_error(f, "a string");
    return std::nullopt;
  }
  return f.value.scalar();
}

std::optional<int64_t> YamlReader::integer(const Field& f, int64_t lo, int64_t hi) {
  if (!f.value.is_scalar()) {
    type_error(f, "an integer");
    return std::nullopt;
  }
  auto v = parse_int(f.value.scalar());
  if (!v) {
    type_error(f, "an integer");
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    std::string range = hi == kU32Max && *v < lo
                            ? ">= " + std::to_string(lo)
                            : "between " + std::to_string(lo) + " and " + std::to_string(hi);
    error(f, f.path + " must be " + range + ", got " + f.value.scalar());
    return std::nullopt;
  }
  return v;
}

std::optional<double> YamlReader::number(const Field& f, double lo, double hi) {
  std::optional<double> v;
  if (f.value.is_scalar())
    v = parse_double(f.value.scalar());
  if (!v) {
    type_error(f, "a number");
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    error(f, f.path + " must be between " + format_number(lo) + " and " + format_number(hi) +
                 ", got " + f.value.scalar());
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
  if (!f.value.is_sequence())
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
    if (!part.value.is_scalar()) {
      type_error(part, std::string("a ") + what + " or " + what + " range");
      ok = false;
      continue;
    }
    std::string_view text = part.value.scalar();
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
    if (!part.value.is_scalar()) {
      type_error(part, "a prefix");
      ok = false;
      continue;
    }
    std::string why;
    auto p = Prefix::parse(part.value.scalar(), &why);
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
