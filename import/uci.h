// A reader for OpenWrt UCI configuration files (/etc/config/*), as OpenWrt's
// `uci` (libuci's file parser) reads them. Depends on common/ only; knows
// nothing of pathsteer's policy.
//
// Syntax, one statement per line (a `;` outside quotes ends a statement early,
// so that several fit on one line):
//   package NAME                      accepted, ignored
//   config TYPE ['NAME']              a section (`c` is accepted for `config`);
//                                     without a NAME (or with '') it is anonymous
//   option NAME VALUE                 (`o`) sets an option; a later one replaces it
//   list NAME VALUE                   (`l`) appends to a list option; a `list` after an
//                                     `option` of that name keeps the option's value first
// Words: a word is unquoted, 'single quoted' (nothing is special inside),
// "double quoted" (a backslash takes the next character literally), or several
// of these glued together (`a'b c'"d"` is one word "ab cd"). Outside quotes a
// backslash takes the next character literally, `#` starts a comment that runs
// to the end of the line, and whitespace separates words. A backslash at the
// end of a line joins the next line (neither is kept); a quote left open at the
// end of a line continues on the next one with the newline kept in the value.
// TYPE is [A-Za-z0-9_-]+, section and option NAMEs are [A-Za-z0-9_]+ (as
// uci_validate_type / uci_validate_name require). A named section that appears
// again is the same section (its options merge, later ones win), as in uci.
//
// Anonymous sections are named like uci's extended syntax: `@TYPE[N]`, N the
// 0-based index among all sections of TYPE (named ones count) in file order.
//
// Every section, option and list value keeps its 1-based line. Errors (an
// unknown statement, an invalid name, an unterminated quote, an option before
// the first section, trailing words) name the line and column; the reader
// stops at the first one, as uci does. Input is bytes; NUL bytes are errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pathsteer::uci {

struct Value {
  std::string text;
  int line = 0;
  friend bool operator==(const Value&, const Value&) = default;
};

struct Option {
  std::string name;
  bool is_list = false;       // set by `list` (and kept when `option` did it first)
  std::vector<Value> values;  // one for `option`; any number for `list`
  int line = 0;               // where it was last set (the first `list` for lists)
  friend bool operator==(const Option&, const Option&) = default;
};

struct Section {
  std::string type;
  std::string name;  // as written; for anonymous sections @TYPE[N]
  bool anonymous = false;
  int line = 0;                 // of its (first) `config` statement
  std::vector<Option> options;  // in order of first appearance

  const Option* find(std::string_view name) const;
  friend bool operator==(const Section&, const Section&) = default;
};

struct Package {
  std::string file;               // labels errors and notes
  std::vector<Section> sections;  // file order (of first appearance)

  std::vector<const Section*> of_type(std::string_view type) const;
  const Section* find(std::string_view name) const;  // by name or @TYPE[N]
};

// A parse error is an Error of kind kInvalidPolicy with one Diagnostic (file,
// line, column, message).
Result<Package> parse(std::string_view text, const std::string& file_name);
Result<Package> parse_file(const std::string& path);

}  // namespace pathsteer::uci
