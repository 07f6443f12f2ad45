#include "controller/policy.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <span>
#include <sstream>
#include <string_view>
#include <tuple>

namespace pathsteer {

const Wan* Policy::find_wan(const std::string& name) const {
  for (const auto& w : wans) {
    if (w.name == name)
      return &w;
  }
  return nullptr;
}

const Overlay* Policy::find_overlay(const std::string& name) const {
  for (const auto& o : overlays) {
    if (o.name == name)
      return &o;
  }
  return nullptr;
}

const ClassSpec* Policy::find_class(const std::string& name) const {
  for (const auto& c : classes) {
    if (c.name == name)
      return &c;
  }
  return nullptr;
}

namespace {

// Enum spellings, indexed by the enum's value.
constexpr std::string_view kLastResorts[] = {"main", "unreachable", "blackhole"};
constexpr std::string_view kStrategies[] = {"failover", "balance", "lowest-latency", "sla"};

// The spellings above are literals, so .data() is NUL-terminated.
template <typename E, size_t N>
const char* spelling(const std::string_view (&names)[N], E value) {
  auto i = static_cast<size_t>(value);
  return i < N ? names[i].data() : "?";
}

}  // namespace

const char* to_string(Strategy s) {
  return spelling(kStrategies, s);
}
const char* to_string(LastResort r) {
  return spelling(kLastResorts, r);
}

std::optional<uint8_t> dscp_from_name(std::string_view s) {
  std::string n(s);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "ef")
    return 46;
  if (n.size() == 3 && n.starts_with("cs") && n[2] >= '0' && n[2] <= '7') {
    return static_cast<uint8_t>((n[2] - '0') * 8);
  }
  if (n.size() == 4 && n.starts_with("af") && n[2] >= '1' && n[2] <= '4' && n[3] >= '1' &&
      n[3] <= '3') {
    return static_cast<uint8_t>((n[2] - '0') * 8 + (n[3] - '0') * 2);
  }
  return std::nullopt;
}

std::optional<uint8_t> proto_from_name(std::string_view s) {
  if (s == "tcp")
    return 6;
  if (s == "udp")
    return 17;
  if (s == "icmp")
    return 1;
  if (s == "icmpv6")
    return 58;
  return std::nullopt;
}

namespace {

constexpr uint16_t kStampPort = 862;
constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();

using Keys = std::span<const std::string_view>;

constexpr std::string_view kTopKeys[] = {"version",     "lan_interfaces", "datapath",
                                         "last_resort", "conntrack",      "ownership",
                                         "wans",        "overlays",       "classes"};
constexpr std::string_view kConntrackKeys[] = {"flush_on_down"};
constexpr std::string_view kBooleans[] = {"false", "true"};
constexpr std::string_view kDatapathKeys[] = {"mode"};
constexpr std::string_view kOwnershipKeys[] = {"mark_mask", "rule_priority_base", "table_base",
                                               "route_protocol"};
constexpr std::string_view kWanKeys[] = {"interface", "gateway", "weight",
                                         "cost",      "probes",  "health"};
constexpr std::string_view kOverlayKeys[] = {"interface", "remote",      "underlays", "weight",
                                             "cost",      "hold_down_s", "probes",    "health"};
constexpr std::string_view kProbeKeys[] = {"method", "target", "port"};
constexpr std::string_view kHealthKeys[] = {"interval_ms", "timeout_ms",  "down_after", "up_after",
                                            "reliability", "degraded_if", "recover_if"};
constexpr std::string_view kDegradedKeys[] = {"rtt_ms", "jitter_ms", "loss_pct"};
constexpr std::string_view kClassKeys[] = {"match", "strategy", "sla", "hold_down_s", "paths"};
constexpr std::string_view kMatchKeys[] = {"proto", "sport", "dport", "src",
                                           "dst",   "dscp",  "iif",   "uid"};
constexpr std::string_view kSlaKeys[] = {"max_rtt_ms", "max_jitter_ms", "max_loss_pct"};

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

// "invalid value 'marc' for datapath.mode (expected one of: mark, redirect; did you mean 'mark'?)"
std::string invalid_value(std::string_view value, const std::string& path,
                          std::string_view expected, Keys known) {
  auto best = closest(value, known);
  return "invalid value '" + std::string(value) + "' for " + path + " (expected " +
         std::string(expected) +
         (best.empty() ? "" : "; did you mean '" + std::string(best) + "'?") + ")";
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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

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

bool valid_object_name(std::string_view s) {
  if (s.empty() || s.size() > 32)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// The kernel's dev_valid_name(), plus IFNAMSIZ.
bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..")
    return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c));
  });
}

// A value in the document with the key that introduced it (undefined for the
// root and for list items) and its dotted path, e.g. "wans.wan1.health".
// Not assignable: YAML::Node's operator= writes through into the document.
struct Field {
  Field(const YAML::Node& k, const YAML::Node& v, std::string p)
      : key(k), value(v), path(std::move(p)) {}
  Field(const Field&) = default;
  Field(Field&&) = default;
  Field& operator=(const Field&) = delete;
  Field& operator=(Field&&) = delete;

  YAML::Node key;
  YAML::Node value;
  std::string path;
};

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

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Result<Policy> run(const std::string& text);

 private:
  // --- reporting ---
  void error_at(const YAML::Mark& m, std::string message) {
    PolicyError e{.file = file_, .message = std::move(message)};
    if (m.line >= 0) {
      e.line = m.line + 1;
      e.column = m.column + 1;
    }
    errors_.push_back(std::move(e));
  }
  // Where a value is: a null value has no useful mark of its own (yaml-cpp
  // points at the next token), so errors about it go to its key.
  static YAML::Mark mark_of(const Field& f) {
    if (f.value.IsDefined() && !f.value.IsNull())
      return f.value.Mark();
    return key_mark(f);
  }
  // The root and list items have no key (a default Node, with a null mark).
  static YAML::Mark key_mark(const Field& f) {
    if (f.key.IsDefined() && f.key.Mark().line >= 0) {
      return f.key.Mark();
    }
    if (f.value.IsDefined())
      return f.value.Mark();
    return YAML::Mark::null_mark();
  }
  void error(const Field& f, std::string message) { error_at(mark_of(f), std::move(message)); }
  void type_error(const Field& f, std::string_view expected) {
    error(f, "expected " + std::string(expected) + " for " +
                 (f.path.empty() ? "the top level" : f.path) + ", got " + describe(f.value));
  }

  // --- structure ---
  static std::string child_path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  }
  static std::string where(const Field& f) {
    return f.path.empty() ? "at top level" : "in " + f.path;
  }
  bool expect_map(const Field& f, Keys known);
  bool expect_list(const Field& f, bool allow_empty = false);
  std::optional<Field> get(const Field& map, std::string_view key);
  std::optional<Field> require(const Field& map, std::string_view key);
  std::vector<Field> items(const Field& list);
  std::vector<Field> entries(const Field& map);

  // --- scalars ---
  std::optional<std::string> string(const Field& f);
  std::optional<int64_t> integer(const Field& f, int64_t lo, int64_t hi);
  std::optional<double> number(const Field& f, double lo, double hi);
  std::optional<size_t> choice(const Field& f, Keys names);
  template <typename T>
  void set_u32(const Field& map, std::string_view key, T& out, int64_t lo, int64_t hi = kU32Max);
  std::optional<std::vector<Field>> scalar_or_list(const Field& f);
  std::optional<std::vector<std::pair<int64_t, int64_t>>> ranges(const Field& f, const char* what,
                                                                 int64_t min, int64_t max);
  std::optional<std::vector<PortRange>> ports(const Field& f);
  std::optional<std::vector<Prefix>> prefixes(const Field& f);

  // --- sections ---
  void parse_ownership(const Field& f, Policy& p);
  void check_mark_mask(const Field& f, const Policy& p);
  void parse_wan(const Field& f, Wan& w);
  void parse_gateway(const Field& f, Wan& w);
  void parse_per_family(const Field& f, std::string_view noun, std::string_view expected,
                        std::optional<IpAddr>& v4, std::optional<IpAddr>& v6);
  void parse_probes_and_health(const Field& f, std::vector<ProbeSpec>& probes, HealthSpec& h);
  std::optional<std::string> parse_interface(const Field& f, const Policy& p,
                                             const std::string& owner);
  void parse_overlays(const Field& f, Policy& p);
  void parse_overlay(const Field& f, Overlay& o, const Policy& p);
  std::optional<ProbeSpec> parse_probe(const Field& f);
  void parse_health(const Field& f, HealthSpec& h, std::set<std::string>& given);
  bool parse_thresholds(const Field& health, const char* key, DegradedIf& t);
  void parse_class(const Field& f, ClassSpec& c, const Policy& p);
  std::optional<MatchEntry> parse_match(const Field& f);
  std::optional<SlaSpec> parse_sla(const Field& f);

  std::string file_;
  std::vector<PolicyError> errors_;
};

bool Parser::expect_map(const Field& f, Keys known) {
  if (!f.value.IsMap()) {
    type_error(f, "a map");
    return false;
  }
  std::vector<std::pair<std::string, YAML::Mark>> seen;
  for (const auto& kv : f.value) {
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      error_at(k.Mark(), "expected a plain key " + where(f) + ", got " + describe(k));
      continue;
    }
    const std::string& name = k.Scalar();
    auto dup = std::find_if(seen.begin(), seen.end(), [&](auto& s) { return s.first == name; });
    if (dup != seen.end()) {
      error_at(k.Mark(), "duplicate key '" + name + "' " + where(f) + " (first at line " +
                             std::to_string(dup->second.line + 1) + ")");
      continue;
    }
    seen.emplace_back(name, k.Mark());
    if (!known.empty() && std::find(known.begin(), known.end(), name) == known.end()) {
      error_at(k.Mark(), "unknown key '" + name + "' " + where(f) + suggestion(name, known));
    }
  }
  return true;
}

bool Parser::expect_list(const Field& f, bool allow_empty) {
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
std::optional<Field> Parser::get(const Field& map, std::string_view key) {
  for (const auto& kv : map.value) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      return Field(kv.first, kv.second, child_path(map.path, key));
    }
  }
  return std::nullopt;
}

std::optional<Field> Parser::require(const Field& map, std::string_view key) {
  auto f = get(map, key);
  if (!f)
    error_at(key_mark(map), "missing required key '" + std::string(key) + "' " + where(map));
  return f;
}

std::vector<Field> Parser::items(const Field& list) {
  std::vector<Field> out;
  size_t i = 0;
  for (const auto& n : list.value) {
    out.emplace_back(YAML::Node(), n, list.path + "[" + std::to_string(i++) + "]");
  }
  return out;
}

// Map entries with scalar keys, first occurrence of each key, in file order.
std::vector<Field> Parser::entries(const Field& map) {
  std::vector<Field> out;
  std::set<std::string> seen;
  for (const auto& kv : map.value) {
    if (!kv.first.IsScalar() || !seen.insert(kv.first.Scalar()).second)
      continue;
    out.emplace_back(kv.first, kv.second, child_path(map.path, kv.first.Scalar()));
  }
  return out;
}

std::optional<std::string> Parser::string(const Field& f) {
  if (!f.value.IsScalar()) {
    type_error(f, "a string");
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<int64_t> Parser::integer(const Field& f, int64_t lo, int64_t hi) {
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

std::optional<double> Parser::number(const Field& f, double lo, double hi) {
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

// Index of the value in `names`.
std::optional<size_t> Parser::choice(const Field& f, Keys names) {
  auto s = string(f);
  if (!s)
    return std::nullopt;
  auto it = std::find(names.begin(), names.end(), *s);
  if (it != names.end())
    return static_cast<size_t>(it - names.begin());
  error(f, invalid_value(*s, f.path, "one of: " + join(names), names));
  return std::nullopt;
}

template <typename T>
void Parser::set_u32(const Field& map, std::string_view key, T& out, int64_t lo, int64_t hi) {
  if (auto f = get(map, key)) {
    if (auto v = integer(*f, lo, hi))
      out = static_cast<uint32_t>(*v);
  }
}

// A key that takes one value or a list of them: the items to check, or
// nullopt after reporting a malformed list.
std::optional<std::vector<Field>> Parser::scalar_or_list(const Field& f) {
  if (!f.value.IsSequence())
    return std::vector<Field>{f};
  if (!expect_list(f))
    return std::nullopt;
  return items(f);
}

// "80", 80, "5060-5061,10000-20000", or a list of those.
// "lo-hi" or "n" items, comma-separated or as a list, each within [min, max].
std::optional<std::vector<std::pair<int64_t, int64_t>>> Parser::ranges(const Field& f,
                                                                       const char* what,
                                                                       int64_t min, int64_t max) {
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

std::optional<std::vector<PortRange>> Parser::ports(const Field& f) {
  auto r = ranges(f, "port", 1, 65535);
  if (!r)
    return std::nullopt;
  std::vector<PortRange> out;
  for (auto [lo, hi] : *r)
    out.push_back(PortRange{.lo = static_cast<uint16_t>(lo), .hi = static_cast<uint16_t>(hi)});
  return out;
}

// One prefix string or a list of them.
std::optional<std::vector<Prefix>> Parser::prefixes(const Field& f) {
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

Result<Policy> Parser::run(const std::string& text) {
  std::vector<YAML::Node> docs;
  try {
    if (auto stall = stalled_document(text)) {
      error_at(*stall, "YAML syntax error: no node can start here (a stray ',')");
      return invalid_input(errors_);
    }
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    error_at(e.mark, "YAML syntax error: " + e.msg);
    return invalid_input(errors_);
  }
  if (docs.empty() || docs[0].IsNull()) {
    errors_.push_back(
        PolicyError{.file = file_, .line = 1, .column = 1, .message = "the policy is empty"});
    return invalid_input(errors_);
  }
  if (docs.size() > 1) {
    error_at(docs[1].Mark(), "expected one YAML document, found " + std::to_string(docs.size()));
  }

  Policy p;
  Field root(YAML::Node(), docs[0], "");
  try {
    if (!expect_map(root, kTopKeys))
      return invalid_input(errors_);

    if (auto f = require(root, "version")) {
      if (auto v = integer(*f, std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max())) {
        if (*v != 1) {
          error(*f, "unsupported policy version " + f->value.Scalar() +
                        " (this pathsteer reads version 1)");
        }
      }
    }

    if (auto f = require(root, "lan_interfaces"); f && expect_list(*f)) {
      for (const auto& item : items(*f)) {
        auto name = string(item);
        if (!name)
          continue;
        if (!valid_ifname(*name)) {
          error(item, "invalid interface name '" + *name + "' in " + f->path +
                          " (1-15 characters, no '/', ':' or whitespace)");
        } else if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), *name) !=
                   p.lan_interfaces.end()) {
          error(item, "duplicate interface '" + *name + "' in " + f->path);
        } else {
          p.lan_interfaces.push_back(*name);
        }
      }
    }

    if (auto f = get(root, "datapath"); f && expect_map(*f, kDatapathKeys)) {
      if (auto m = get(*f, "mode")) {
        if (auto i = choice(*m, kDatapathModeNames))
          p.mode = static_cast<DatapathMode>(*i);
      }
    }

    if (auto f = get(root, "last_resort")) {
      if (auto i = choice(*f, kLastResorts)) {
        p.last_resort = static_cast<LastResort>(*i);
      }
    }

    if (auto f = get(root, "conntrack"); f && expect_map(*f, kConntrackKeys)) {
      if (auto b = get(*f, "flush_on_down")) {
        if (auto i = choice(*b, kBooleans))
          p.conntrack_flush_on_down = *i == 1;
      }
    }

    std::optional<Field> ownership = get(root, "ownership");
    if (ownership)
      parse_ownership(*ownership, p);

    std::optional<Field> wans = require(root, "wans");
    if (wans && expect_map(*wans, Keys{})) {
      if (wans->value.size() == 0)
        error(*wans, "wans must define at least one wan");
      for (const auto& wf : entries(*wans)) {
        Wan w{.name = wf.key.Scalar()};
        if (!valid_object_name(w.name)) {
          error_at(wf.key.Mark(),
                   "invalid wan name '" + w.name + "' (1-32 characters of A-Z a-z 0-9 _ -)");
          continue;
        }
        parse_wan(wf, w);
        if (!w.interface.empty()) {
          auto iface = get(wf, "interface");
          auto other = std::find_if(p.wans.begin(), p.wans.end(),
                                    [&](const Wan& o) { return o.interface == w.interface; });
          if (other != p.wans.end()) {
            error(*iface, "wans '" + other->name + "' and '" + w.name + "' both use interface '" +
                              w.interface + "'");
          } else if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), w.interface) !=
                     p.lan_interfaces.end()) {
            error(*iface, "interface '" + w.interface + "' of wan '" + w.name +
                              "' is also in lan_interfaces");
          }
        }
        // Keep the wan even if its body had errors, so that paths naming it
        // do not add a second, misleading error.
        p.wans.push_back(std::move(w));
      }
    }
    if (auto f = get(root, "overlays"))
      parse_overlays(*f, p);
    // Its width depends on the number of wans and overlays, so it is checked only now.
    std::optional<Field> mask_field =
        ownership && ownership->value.IsMap() ? get(*ownership, "mark_mask") : std::nullopt;
    if (mask_field) {
      check_mark_mask(*mask_field, p);
    } else if (wans) {
      check_mark_mask(*wans, p);
    }

    if (auto f = require(root, "classes"); f && expect_map(*f, Keys{})) {
      if (f->value.size() == 0)
        error(*f, "classes must define at least one class");
      std::optional<std::string> catch_all;  // a class without match seen so far
      for (const auto& cf : entries(*f)) {
        ClassSpec c{.name = cf.key.Scalar()};
        if (!valid_object_name(c.name)) {
          error_at(cf.key.Mark(),
                   "invalid class name '" + c.name + "' (1-32 characters of A-Z a-z 0-9 _ -)");
          continue;
        }
        if (catch_all) {
          error_at(cf.key.Mark(), "class '" + c.name + "' can never match: class '" + *catch_all +
                                      "' before it has no 'match' and takes all traffic");
        }
        if (!catch_all && cf.value.IsMap() && !get(cf, "match"))
          catch_all = c.name;
        parse_class(cf, c, p);
        p.classes.push_back(std::move(c));
      }
    }
  } catch (const YAML::Exception& e) {
    error_at(e.mark, std::string("cannot read the policy: ") + e.msg);
  }

  if (!errors_.empty()) {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return invalid_input(errors_);
  }
  return p;
}

void Parser::parse_ownership(const Field& f, Policy& p) {
  if (!expect_map(f, kOwnershipKeys))
    return;
  Ownership& o = p.ownership;
  set_u32(f, "mark_mask", o.mark_mask, 0, kU32Max);  // shape checked with the wan count
  set_u32(f, "rule_priority_base", o.rule_priority_base, 1, 32000 - 1000);
  set_u32(f, "table_base", o.table_base, 1, kU32Max - 256);
  if (auto r = get(f, "route_protocol")) {
    if (auto v = integer(*r, 0, 255)) {
      if (*v < 5) {
        error(*r, "ownership.route_protocol " + r->value.Scalar() +
                      " is reserved for the kernel (0-4: unspec, redirect, kernel, boot, static); "
                      "use 5..255");
      } else {
        o.route_protocol = static_cast<uint8_t>(*v);
      }
    }
  }
}

// `f` is where to point: the mark_mask value, or the wans if the mask is the default.
void Parser::check_mark_mask(const Field& f, const Policy& p) {
  uint32_t mask = p.ownership.mark_mask;
  if (mask == 0) {  // only when given explicitly
    error(f, "ownership.mark_mask must not be 0");
    return;
  }
  uint32_t run = mask >> std::countr_zero(mask);
  if ((run & (run + 1)) != 0) {
    error(f, "ownership.mark_mask " + hex32(mask) + " is not one contiguous run of bits");
    return;
  }
  int bits = std::popcount(mask);
  // 0 = unmarked, then one per wan and overlay
  uint64_t values_needed = p.wans.size() + p.overlays.size() + 1;
  if (bits < 32 && (uint64_t{1} << bits) < values_needed) {
    std::string what = std::to_string(p.wans.size()) + " wans";
    if (!p.overlays.empty())
      what += " and " + std::to_string(p.overlays.size()) + " overlays";
    error(f, "ownership.mark_mask " + hex32(mask) + " has " + std::to_string(bits) +
                 " bit(s), too few for " + what + " (needs " +
                 std::to_string(std::bit_width(values_needed - 1)) + ")");
  }
}

void Parser::parse_wan(const Field& f, Wan& w) {
  if (!expect_map(f, kWanKeys))
    return;
  if (auto i = require(f, "interface")) {
    if (auto name = string(*i)) {
      if (!valid_ifname(*name)) {
        error(*i, "invalid interface name '" + *name + "' in " + i->path +
                      " (1-15 characters, no '/', ':' or whitespace)");
      } else {
        w.interface = *name;
      }
    }
  }
  if (auto g = get(f, "gateway")) {
    parse_gateway(*g, w);
  } else {
    w.gateway_auto = true;
  }
  set_u32(f, "weight", w.weight, 1);
  set_u32(f, "cost", w.cost, 0);
  parse_probes_and_health(f, w.probes, w.health);
}

// `probes` and `health` of a wan or an overlay.
void Parser::parse_probes_and_health(const Field& f, std::vector<ProbeSpec>& probes,
                                     HealthSpec& h) {
  if (auto pf = get(f, "probes"); pf && expect_list(*pf, /*allow_empty=*/true)) {
    for (const auto& item : items(*pf)) {
      if (auto probe = parse_probe(item))
        probes.push_back(*probe);
    }
  }
  std::set<std::string> given;
  std::optional<Field> hf = get(f, "health");
  if (hf)
    parse_health(*hf, h, given);
  if (hf && given.count("reliability") && h.reliability > probes.size()) {
    error(*get(*hf, "reliability"), hf->path + ".reliability " + std::to_string(h.reliability) +
                                        " exceeds the number of probes (" +
                                        std::to_string(probes.size()) + ")");
  }
}

void Parser::parse_gateway(const Field& f, Wan& w) {
  if (f.value.IsScalar() && f.value.Scalar() == "auto") {
    w.gateway_auto = true;
    return;
  }
  parse_per_family(f, "gateway",
                   "'auto', an IP address, or a list of one IPv4 and one IPv6 address", w.gateway4,
                   w.gateway6);
}

// One address, or a list of at most one per family (a wan's gateway, an overlay's remote).
void Parser::parse_per_family(const Field& f, std::string_view noun, std::string_view expected,
                              std::optional<IpAddr>& v4, std::optional<IpAddr>& v6) {
  const std::string bad = " (expected " + std::string(expected) + ")";
  const std::string n(noun);
  auto add = [&](const Field& item) {
    auto s = string(item);
    if (!s)
      return;
    auto a = IpAddr::parse(*s);
    if (!a || a->is_unspecified()) {
      error(item, "invalid " + n + " '" + *s + "' in " + item.path + bad);
      return;
    }
    auto& slot = a->is_v4() ? v4 : v6;
    if (slot) {
      error(item, "two " + family_name(a->family) + " " + n + "s in " + f.path + bad);
      return;
    }
    slot = *a;
  };
  if (f.value.IsSequence()) {
    if (!expect_list(f))
      return;
    if (f.value.size() > 2) {
      error(f, "too many " + n + "s in " + f.path + bad);
      return;
    }
    for (const auto& item : items(f))
      add(item);
  } else {
    add(f);
  }
}

// A wan's or overlay's `interface`: valid, and not taken by a wan, the LAN or
// an overlay already parsed. `owner` is e.g. "overlay 'tun0'".
std::optional<std::string> Parser::parse_interface(const Field& f, const Policy& p,
                                                   const std::string& owner) {
  auto i = require(f, "interface");
  if (!i)
    return std::nullopt;
  auto name = string(*i);
  if (!name)
    return std::nullopt;
  if (!valid_ifname(*name)) {
    error(*i, "invalid interface name '" + *name + "' in " + i->path +
                  " (1-15 characters, no '/', ':' or whitespace)");
    return std::nullopt;
  }
  std::string clash;
  for (const auto& w : p.wans) {
    if (w.interface == *name && clash.empty())
      clash = "wan '" + w.name + "'";
  }
  for (const auto& o : p.overlays) {
    if (o.interface == *name && clash.empty())
      clash = "overlay '" + o.name + "'";
  }
  if (!clash.empty()) {
    error(*i, owner + " and " + clash + " both use interface '" + *name + "'");
  } else if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), *name) !=
             p.lan_interfaces.end()) {
    error(*i, "interface '" + *name + "' of " + owner + " is also in lan_interfaces");
  }
  return name;
}

void Parser::parse_overlays(const Field& f, Policy& p) {
  if (!expect_map(f, Keys{}))
    return;
  for (const auto& of : entries(f)) {
    Overlay o{.name = of.key.Scalar()};
    if (!valid_object_name(o.name)) {
      error_at(of.key.Mark(),
               "invalid overlay name '" + o.name + "' (1-32 characters of A-Z a-z 0-9 _ -)");
      continue;
    }
    if (p.find_wan(o.name)) {
      error_at(
          of.key.Mark(),
          "overlay '" + o.name + "' has the name of a wan (wans and overlays share one namespace)");
      continue;
    }
    parse_overlay(of, o, p);
    // Kept even with errors in its body, so that paths naming it add no second error.
    p.overlays.push_back(std::move(o));
  }
}

void Parser::parse_overlay(const Field& f, Overlay& o, const Policy& p) {
  if (!expect_map(f, kOverlayKeys))
    return;
  if (auto name = parse_interface(f, p, "overlay '" + o.name + "'"))
    o.interface = *name;
  if (auto r = require(f, "remote")) {
    parse_per_family(*r, "remote", "an IP address, or a list of one IPv4 and one IPv6 address",
                     o.remote4, o.remote6);
    for (const auto& other : p.overlays) {
      bool same4 = o.remote4 && other.remote4 == o.remote4;
      bool same6 = o.remote6 && other.remote6 == o.remote6;
      if (same4 || same6) {
        error(*r, "overlays '" + other.name + "' and '" + o.name + "' both have remote " +
                      (same4 ? o.remote4 : o.remote6)->to_string() +
                      " (its outer packets can ride on only one underlay)");
        break;
      }
    }
  }
  if (auto u = require(f, "underlays"); u && expect_list(*u)) {
    for (const auto& item : items(*u)) {
      auto name = string(item);
      if (!name)
        continue;
      if (p.find_overlay(*name) || *name == o.name) {
        error(item, "overlay '" + o.name + "' underlays: '" + *name +
                        "' is an overlay (an overlay rides on wans only)");
      } else if (!p.find_wan(*name)) {
        error(item, "overlay '" + o.name + "' underlays: unknown wan '" + *name + "'");
      } else if (std::find(o.underlays.begin(), o.underlays.end(), *name) != o.underlays.end()) {
        error(item, "overlay '" + o.name + "' underlays: wan '" + *name + "' is listed twice");
      } else {
        o.underlays.push_back(*name);
      }
    }
  }
  set_u32(f, "weight", o.weight, 1);
  set_u32(f, "cost", o.cost, 0);
  set_u32(f, "hold_down_s", o.hold_down_s, 0);
  parse_probes_and_health(f, o.probes, o.health);
}

std::optional<ProbeSpec> Parser::parse_probe(const Field& f) {
  if (!expect_map(f, kProbeKeys))
    return std::nullopt;
  ProbeSpec probe;
  bool ok = true;
  if (auto m = get(f, "method")) {
    auto i = choice(*m, kProbeMethodNames);
    if (i) {
      probe.method = static_cast<ProbeMethod>(*i);
    } else {
      ok = false;
    }
  }
  if (auto t = require(f, "target")) {
    auto s = string(*t);
    auto a = s ? IpAddr::parse(*s) : std::nullopt;
    if (s && (!a || a->is_unspecified())) {
      error(*t, "invalid probe target '" + *s + "' in " + t->path + " (expected an IP address)");
    }
    if (a && !a->is_unspecified()) {
      probe.target = *a;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  auto port = get(f, "port");
  if (port) {
    if (probe.method == ProbeMethod::kIcmp) {
      error_at(port->key.Mark(), "'port' in " + f.path + " is only valid for udp and tcp probes");
      ok = false;
    } else if (auto v = integer(*port, 1, 65535)) {
      probe.port = static_cast<uint16_t>(*v);
    } else {
      ok = false;
    }
  } else if (probe.method == ProbeMethod::kUdp) {
    probe.port = kStampPort;
  } else if (probe.method == ProbeMethod::kTcp) {
    error(f, "missing required key 'port' in " + f.path + " (tcp probes need a port)");
    ok = false;
  }
  if (!ok)
    return std::nullopt;
  return probe;
}

void Parser::parse_health(const Field& f, HealthSpec& h, std::set<std::string>& given) {
  if (!expect_map(f, kHealthKeys))
    return;
  for (const auto& e : entries(f))
    given.insert(e.key.Scalar());
  set_u32(f, "interval_ms", h.interval_ms, 10);
  set_u32(f, "timeout_ms", h.timeout_ms, 10);
  set_u32(f, "down_after", h.down_after, 1);
  set_u32(f, "up_after", h.up_after, 1);
  set_u32(f, "reliability", h.reliability, 1);
  parse_thresholds(f, "degraded_if", h.degraded_if);
  std::optional<Field> r = get(f, "recover_if");
  if (!r || !parse_thresholds(f, "recover_if", h.recover_if))
    return;
  // Hysteresis needs the recovery bar at or below the degraded one, and a
  // recovery bar without a degraded one would never be used.
  auto check = [&](const char* key, auto recover, auto degraded) {
    if (!recover)
      return;
    auto field = get(*r, key);
    if (!degraded) {
      error(*field, r->path + "." + key + " needs degraded_if." + key);
    } else if (*recover > *degraded) {
      error(*field, r->path + "." + key + " must not exceed degraded_if." + key + " (" +
                        format_number(static_cast<double>(*degraded)) + "), got " +
                        field->value.Scalar());
    }
  };
  check("rtt_ms", h.recover_if.rtt_ms, h.degraded_if.rtt_ms);
  check("jitter_ms", h.recover_if.jitter_ms, h.degraded_if.jitter_ms);
  check("loss_pct", h.recover_if.loss_pct, h.degraded_if.loss_pct);
}

bool Parser::parse_thresholds(const Field& health, const char* key, DegradedIf& t) {
  auto d = get(health, key);
  if (!d || !expect_map(*d, kDegradedKeys))
    return false;
  if (auto r = get(*d, "rtt_ms")) {
    if (auto v = integer(*r, 1, kU32Max))
      t.rtt_ms = static_cast<uint32_t>(*v);
  }
  if (auto j = get(*d, "jitter_ms")) {
    if (auto v = integer(*j, 1, kU32Max))
      t.jitter_ms = static_cast<uint32_t>(*v);
  }
  if (auto l = get(*d, "loss_pct")) {
    if (auto v = number(*l, 0, 100))
      t.loss_pct = *v;
  }
  return true;
}

void Parser::parse_class(const Field& f, ClassSpec& c, const Policy& p) {
  if (!expect_map(f, kClassKeys))
    return;
  if (auto m = get(f, "match"); m && expect_list(*m)) {
    for (const auto& item : items(*m)) {
      if (auto e = parse_match(item))
        c.match.push_back(std::move(*e));
    }
  }
  std::optional<Field> strategy = get(f, "strategy");
  if (strategy) {
    if (auto i = choice(*strategy, kStrategies)) {
      c.strategy = static_cast<Strategy>(*i);
    } else {
      strategy.reset();  // already reported; do not pile sla errors on top
    }
  }
  std::optional<Field> sla = get(f, "sla");
  if (sla && strategy && c.strategy != Strategy::kSla) {
    error_at(sla->key.Mark(), "'sla' in " + f.path +
                                  " is only used with strategy sla (strategy is " +
                                  to_string(c.strategy) + ")");
  } else if (sla) {
    c.sla = parse_sla(*sla);
  } else if (strategy && c.strategy == Strategy::kSla) {
    error(*strategy, "strategy sla in " + f.path + " needs an 'sla' block");
  }
  set_u32(f, "hold_down_s", c.hold_down_s, 0);
  if (auto pf = require(f, "paths"); pf && expect_list(*pf)) {
    for (const auto& item : items(*pf)) {
      auto name = string(item);
      if (!name)
        continue;
      if (!p.find_wan(*name) && !p.find_overlay(*name)) {
        error(item, "class '" + c.name + "' paths: unknown wan or overlay '" + *name + "'");
      } else if (std::find(c.paths.begin(), c.paths.end(), *name) != c.paths.end()) {
        error(item, "class '" + c.name + "' paths: " + (p.find_wan(*name) ? "wan" : "overlay") +
                        " '" + *name + "' is listed twice");
      } else {
        c.paths.push_back(*name);
      }
    }
  }
}

std::optional<SlaSpec> Parser::parse_sla(const Field& f) {
  if (!expect_map(f, kSlaKeys))
    return std::nullopt;
  SlaSpec s;
  if (auto r = get(f, "max_rtt_ms")) {
    if (auto v = integer(*r, 1, kU32Max))
      s.max_rtt_ms = static_cast<uint32_t>(*v);
  }
  if (auto j = get(f, "max_jitter_ms")) {
    if (auto v = integer(*j, 1, kU32Max))
      s.max_jitter_ms = static_cast<uint32_t>(*v);
  }
  if (auto l = get(f, "max_loss_pct")) {
    if (auto v = number(*l, 0, 100))
      s.max_loss_pct = *v;
  }
  if (f.value.size() == 0) {
    error(f, f.path + " sets no constraint (max_rtt_ms, max_jitter_ms, max_loss_pct)");
    return std::nullopt;
  }
  return s;
}

// Which address families an entry's prefixes allow: bit 0 = IPv4, bit 1 = IPv6.
int families_of(const std::vector<Prefix>& ps) {
  if (ps.empty())
    return 3;
  int f = 0;
  for (const auto& p : ps)
    f |= p.addr.is_v4() ? 1 : 2;
  return f;
}

std::optional<MatchEntry> Parser::parse_match(const Field& f) {
  if (!expect_map(f, kMatchKeys))
    return std::nullopt;
  if (f.value.size() == 0) {
    error(f, "empty match entry " + f.path + " (omit 'match' to match everything)");
    return std::nullopt;
  }
  MatchEntry e;
  bool ok = true;
  auto proto = get(f, "proto");
  if (proto) {
    static constexpr std::string_view kNames[] = {"tcp", "udp", "icmp", "icmpv6", "any"};
    static constexpr uint8_t kNumbers[] = {6, 17, 1, 58};
    std::string s = proto->value.IsScalar() ? proto->value.Scalar() : "";
    auto named = std::find(std::begin(kNames), std::end(kNames), s);
    if (named != std::end(kNames)) {
      size_t i = named - std::begin(kNames);
      if (i < 4)
        e.proto = kNumbers[i];
    } else if (proto->value.IsScalar() && parse_int(s)) {
      if (auto v = integer(*proto, 0, 255)) {
        e.proto = static_cast<uint8_t>(*v);
      } else {
        ok = false;
      }
    } else {
      ok = false;
      if (!proto->value.IsScalar()) {
        type_error(*proto, "a protocol");
      } else {
        error(*proto, invalid_value(s, proto->path, "tcp, udp, icmp, icmpv6, any or a number 0-255",
                                    kNames));
      }
    }
  }
  for (std::string_view key : {"sport", "dport"}) {
    auto pf = get(f, key);
    if (!pf)
      continue;
    if (!e.proto || (*e.proto != 6 && *e.proto != 17)) {
      if (proto && !ok)
        continue;  // the proto error says enough
      error_at(pf->key.Mark(),
               "'" + std::string(key) + "' in " + f.path + " needs proto tcp or udp");
      ok = false;
      continue;
    }
    if (auto r = ports(*pf)) {
      (key == "sport" ? e.sport : e.dport) = std::move(*r);
    } else {
      ok = false;
    }
  }
  for (std::string_view key : {"src", "dst"}) {
    auto pf = get(f, key);
    if (!pf)
      continue;
    if (auto r = prefixes(*pf)) {
      (key == "src" ? e.src : e.dst) = std::move(*r);
    } else {
      ok = false;
    }
  }
  if (auto d = get(f, "dscp")) {
    std::optional<uint8_t> v;
    if (d->value.IsScalar()) {
      v = dscp_from_name(d->value.Scalar());
      auto n = parse_int(d->value.Scalar());
      if (!v && n && *n >= 0 && *n <= 63)
        v = static_cast<uint8_t>(*n);
    }
    if (v) {
      e.dscp = v;
    } else {
      error(*d, "invalid value " + describe(d->value) + " for " + d->path +
                    " (expected ef, af11..af43, cs0..cs7 or a number 0-63)");
      ok = false;
    }
  }
  if (auto i = get(f, "iif")) {
    // One name or a list; resolved to ifindexes by the daemon (an absent
    // interface matches nothing until it appears).
    if (auto parts = scalar_or_list(*i)) {
      for (const auto& part : *parts) {
        auto name = string(part);
        if (!name) {
          ok = false;
        } else if (!valid_ifname(*name)) {
          error(part, "invalid interface name '" + *name + "' in " + i->path +
                          " (1-15 characters, no '/', ':' or whitespace)");
          ok = false;
        } else if (std::find(e.iif.begin(), e.iif.end(), *name) == e.iif.end()) {
          e.iif.push_back(*name);
        }
      }
    } else {
      ok = false;
    }
  }
  if (auto u = get(f, "uid")) {
    // 0-4294967294: (uid_t)-1 means "no uid" to the kernel.
    if (auto r = ranges(*u, "uid", 0, 4294967294LL)) {
      for (auto [lo, hi] : *r)
        e.uid.push_back(UidRange{.lo = static_cast<uint32_t>(lo), .hi = static_cast<uint32_t>(hi)});
      if (!e.iif.empty()) {
        error(*u, f.path +
                      " can never match: 'iif' selects forwarded traffic and 'uid' the "
                      "gateway's own");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (!ok)
    return std::nullopt;

  int fam = families_of(e.src) & families_of(e.dst);
  if (fam == 0) {
    error(f, f.path + " can never match: src is only " +
                 (families_of(e.src) == 1 ? "IPv4" : "IPv6") + " and dst is only " +
                 (families_of(e.dst) == 1 ? "IPv4" : "IPv6"));
    return std::nullopt;
  }
  if (e.proto == 1 && !(fam & 1)) {
    error(*proto, f.path + " can never match: proto icmp is IPv4 only but the prefixes are IPv6");
    return std::nullopt;
  }
  if (e.proto == 58 && !(fam & 2)) {
    error(*proto, f.path + " can never match: proto icmpv6 is IPv6 only but the prefixes are IPv4");
    return std::nullopt;
  }
  return e;
}

}  // namespace

Result<Policy> parse_policy(const std::string& text, const std::string& file_name) {
  return Parser(file_name).run(text);
}

Result<Policy> parse_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return invalid_input(
        {PolicyError{.file = path, .message = std::string("cannot open: ") + std::strerror(err)}});
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return invalid_input({PolicyError{.file = path, .message = "cannot read the file"}});
  }
  return parse_policy(ss.str(), path);
}

}  // namespace pathsteer
