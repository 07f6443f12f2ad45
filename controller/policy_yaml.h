// YamlReader: typed reading of a YAML document (controller/yaml_doc.h) with
// positioned errors, the base the policy parser (controller/policy_parse.h)
// builds its schema on. Internal to the policy files (controller/policy*.cpp):
// it exposes the YAML tree, which controller/policy.h never does.
//
// Contract:
// * A check that fails records a PolicyError per offending key or value,
//   naming the file, the 1-based line and column of the value (of its key
//   when the value is null or absent) and its dotted path; it returns false
//   or nullopt and never throws for malformed input. Errors are kept in the order they
//   were found; sorting them is the caller's business.
// * The nodes load() returns live as long as the reader.
// * Not thread-safe; one reader per document.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"
#include "controller/policy.h"
#include "controller/yaml_doc.h"

namespace pathsteer {

// The keys a map may have, or the spellings a value may take.
using Keys = std::span<const std::string_view>;

inline constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();

// Decimal, or hex with 0x; an optional leading '-'.
std::optional<int64_t> parse_int(std::string_view s);
// "0x0ff00000"
std::string hex32(uint32_t v);
// The shortest spelling of v ("2.5", "100").
std::string format_number(double v);
// "a list", "a map", "'value'" or "nothing".
std::string describe(const yaml::Node& n);
// "invalid value 'marc' for datapath.mode (expected one of: mark, redirect;
// did you mean 'mark'?)": the hint when `value` is within two edits of a
// `known` word.
std::string invalid_value(std::string_view value, const std::string& path,
                          std::string_view expected, Keys known);

// A value in the document with the key that introduced it (absent for the
// root and for list items) and its dotted path, e.g. "wans.wan1.health".
struct Field {
  Field(const yaml::Node& k, const yaml::Node& v, std::string p)
      : key(k), value(v), path(std::move(p)) {}

  yaml::Node key;
  yaml::Node value;
  std::string path;
};

class YamlReader {
 protected:
  // `file` labels every error.
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  // --- the document ---
  // The first document of `text`. nullopt after recording why there is none
  // to read (a syntax error, an empty text); a second document is recorded as
  // an error and the first still returned.
  std::optional<yaml::Node> load(const std::string& text);

  // --- reporting ---
  void error_at(const yaml::Mark& m, std::string message);
  // At the value, or at its key when the value is null (an empty value has
  // no text of its own to point at).
  void error(const Field& f, std::string message);
  // "expected <expected> for <path>, got <what it is>"
  void type_error(const Field& f, std::string_view expected);
  // A finding about another file (a prefix file the policy names), as it is.
  void add_error(PolicyError e) { errors_.push_back(std::move(e)); }
  const std::vector<PolicyError>& errors() const { return errors_; }
  // Every error so far, in order found / sorted by position (stable): the
  // policy's own first, then other files' by file name.
  Error invalid() const { return invalid_input(errors_); }
  Error invalid_sorted();

  // --- structure ---
  // A map whose keys are plain, unique and (unless `known` is empty) in
  // `known`; unknown keys get a "did you mean" hint. False only if f is no map.
  bool expect_map(const Field& f, Keys known);
  bool expect_list(const Field& f, bool allow_empty = false);
  // The first value of `key`; require() records its absence.
  std::optional<Field> get(const Field& map, std::string_view key);
  std::optional<Field> require(const Field& map, std::string_view key);
  std::vector<Field> items(const Field& list);
  // Entries with plain keys, the first of each key, in file order.
  std::vector<Field> entries(const Field& map);

  // --- scalars ---
  std::optional<std::string> string(const Field& f);
  // Within [lo, hi] ("must be >= lo" when hi is kU32Max).
  std::optional<int64_t> integer(const Field& f, int64_t lo, int64_t hi);
  std::optional<double> number(const Field& f, double lo, double hi);
  // The index of the value in `names`.
  std::optional<size_t> choice(const Field& f, Keys names);
  // out = map[key] if present and within [lo, hi]; untouched otherwise.
  template <typename T>
  void set_u32(const Field& map, std::string_view key, T& out, int64_t lo, int64_t hi = kU32Max) {
    if (auto f = get(map, key)) {
      if (auto v = integer(*f, lo, hi))
        out = static_cast<uint32_t>(*v);
    }
  }
  // One value or a list of them: the values to check.
  std::optional<std::vector<Field>> scalar_or_list(const Field& f);
  // "lo-hi" or "n" items, comma-separated and/or as a list, each within
  // [min, max]; `what` names one ("port"). nullopt if any item is bad (each
  // bad item recorded).
  std::optional<std::vector<std::pair<int64_t, int64_t>>> ranges(const Field& f, const char* what,
                                                                 int64_t min, int64_t max);
  std::optional<std::vector<PortRange>> ports(const Field& f);
  // One canonical prefix or a list of them.
  std::optional<std::vector<Prefix>> prefixes(const Field& f);

 private:
  static yaml::Mark mark_of(const Field& f);
  // The key's mark; the value's for the root and list items.
  static yaml::Mark key_mark(const Field& f);

  std::string file_;
  yaml::Stream stream_;  // what load() returned points into it
  std::vector<PolicyError> errors_;
};

}  // namespace pathsteer
