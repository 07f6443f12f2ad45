#include "import/uci.h"

#include <map>
#include <optional>

#include "common/file.h"

namespace pathsteer::uci {

namespace {

bool is_name_char(char c, bool dash) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (dash && c == '-');
}

bool valid_name(std::string_view s, bool dash) {
  if (s.empty())
    return false;
  for (char c : s) {
    if (!is_name_char(c, dash))
      return false;
  }
  return true;
}

// isspace() minus the newline, which ends a statement.
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

struct Word {
  std::string text;
  int line = 0;
  int column = 0;
};

struct ParseFailure {
  int line;
  int column;
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  bool eof() const { return pos_ >= s_.size(); }
  int line() const { return line_; }
  int column() const { return static_cast<int>(pos_ - line_start_) + 1; }

  // The next word of the current statement, or nullopt at its end (a newline,
  // a `;`, a comment or the end of the input; the terminator is consumed).
  std::optional<Word> next_word() {
    skip_blanks();
    if (eof())
      return std::nullopt;
    char c = s_[pos_];
    if (c == '\n' || c == ';') {
      advance();
      return std::nullopt;
    }
    if (c == '#') {
      skip_comment();
      return std::nullopt;
    }
    Word w{.line = line_, .column = column()};
    while (!eof()) {
      c = s_[pos_];
      if (c == '\0')
        fail("NUL byte in the file");
      if (c == '\n' || is_blank(c) || c == '#' || c == ';')
        break;
      if (c == '\'') {
        single_quoted(w.text);
      } else if (c == '"') {
        double_quoted(w.text);
      } else if (c == '\\') {
        backslash(w.text);
      } else {
        w.text += c;
        advance();
      }
    }
    return w;
  }

  [[noreturn]] void fail(std::string message) const {
    throw ParseFailure{line_, column(), std::move(message)};
  }

 private:
  void advance() {
    if (s_[pos_] == '\n') {
      ++line_;
      line_start_ = pos_ + 1;
    }
    ++pos_;
  }

  // A backslash before the end of a line (or of the input) joins the next line.
  bool at_continuation() const {
    if (s_[pos_] != '\\')
      return false;
    size_t n = pos_ + 1;
    if (n < s_.size() && s_[n] == '\r')
      ++n;
    return n >= s_.size() || s_[n] == '\n';
  }

  void skip_continuation() {
    advance();  // the backslash
    while (!eof() && s_[pos_] != '\n')
      advance();  // an optional \r
    if (!eof())
      advance();
  }

  void skip_blanks() {
    while (!eof()) {
      if (is_blank(s_[pos_])) {
        advance();
      } else if (at_continuation()) {
        skip_continuation();
      } else {
        return;
      }
    }
  }

  void skip_comment() {
    while (!eof() && s_[pos_] != '\n')
      advance();
    if (!eof())
      advance();
  }

  void backslash(std::string& out) {
    if (at_continuation()) {
      skip_continuation();
      return;
    }
    advance();
    if (s_[pos_] == '\0')
      fail("NUL byte in the file");
    out += s_[pos_];
    advance();
  }

  void single_quoted(std::string& out) {
    int line = line_, col = column();
    advance();
    while (!eof() && s_[pos_] != '\'') {
      if (s_[pos_] == '\0')
        fail("NUL byte in the file");
      out += s_[pos_];
      advance();
    }
    if (eof())
      throw ParseFailure{line, col, "unterminated ' (the file ends inside the quote)"};
    advance();
  }

  void double_quoted(std::string& out) {
    int line = line_, col = column();
    advance();
    while (!eof() && s_[pos_] != '"') {
      if (s_[pos_] == '\0')
        fail("NUL byte in the file");
      if (s_[pos_] == '\\') {
        if (pos_ + 1 >= s_.size())
          break;
        backslash(out);
        continue;
      }
      out += s_[pos_];
      advance();
    }
    if (eof())
      throw ParseFailure{line, col, "unterminated \" (the file ends inside the quote)"};
    advance();
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

class Builder {
 public:
  explicit Builder(Package& pkg) : pkg_(pkg) {}

  void statement(Reader& r) {
    auto cmd = r.next_word();
    if (!cmd)
      return;  // blank line, comment, lone `;`
    std::vector<Word> args;
    while (auto w = r.next_word())
      args.push_back(std::move(*w));
    const std::string& c = cmd->text;
    if (c == "package" || c == "p") {
      want_args(*cmd, args, 1, 1);
    } else if (c == "config" || c == "c") {
      want_args(*cmd, args, 1, 2);
      config(args[0], args.size() > 1 ? &args[1] : nullptr);
    } else if (c == "option" || c == "o" || c == "list" || c == "l") {
      want_args(*cmd, args, 1, 2);
      Word empty{.line = args[0].line, .column = args[0].column};
      option(*cmd, args[0], args.size() > 1 ? args[1] : empty, c[0] == 'l');
    } else {
      throw ParseFailure{cmd->line, cmd->column,
                         "invalid command '" + c + "' (expected config, option, list or package)"};
    }
  }

  void finish() {
    std::map<std::string, int> count;
    for (auto& s : pkg_.sections) {
      int n = count[s.type]++;
      if (s.anonymous)
        s.name = "@" + s.type + "[" + std::to_string(n) + "]";
    }
  }

 private:
  static void want_args(const Word& cmd, const std::vector<Word>& args, size_t lo, size_t hi) {
    if (args.size() < lo)
      throw ParseFailure{cmd.line, cmd.column, "'" + cmd.text + "' needs a name"};
    if (args.size() > hi) {
      const Word& extra = args[hi];
      throw ParseFailure{extra.line, extra.column,
                         "unexpected '" + extra.text + "' after '" + cmd.text +
                             "' (quote a value that contains spaces)"};
    }
  }

  void config(const Word& type, const Word* name) {
    if (!valid_name(type.text, /*dash=*/true)) {
      throw ParseFailure{type.line, type.column,
                         "invalid section type '" + type.text + "' (A-Z a-z 0-9 _ -)"};
    }
    if (name && !name->text.empty()) {
      if (!valid_name(name->text, /*dash=*/false)) {
        throw ParseFailure{name->line, name->column,
                           "invalid section name '" + name->text + "' (A-Z a-z 0-9 _)"};
      }
      if (auto it = named_.find(name->text); it != named_.end()) {
        current_ = it->second;
        pkg_.sections[*current_].type = type.text;  // uci_set on a section: its type changes
        return;
      }
    }
    Section s{.type = type.text, .line = type.line};
    if (name && !name->text.empty()) {
      s.name = name->text;
      named_[s.name] = pkg_.sections.size();
    } else {
      s.anonymous = true;
    }
    current_ = pkg_.sections.size();
    pkg_.sections.push_back(std::move(s));
  }

  void option(const Word& cmd, const Word& name, const Word& value, bool list) {
    if (!current_) {
      throw ParseFailure{cmd.line, cmd.column,
                         "'" + cmd.text + "' before the first 'config' section"};
    }
    if (!valid_name(name.text, /*dash=*/false)) {
      throw ParseFailure{name.line, name.column,
                         "invalid option name '" + name.text + "' (A-Z a-z 0-9 _)"};
    }
    Section& s = pkg_.sections[*current_];
    Option* o = nullptr;
    for (auto& existing : s.options) {
      if (existing.name == name.text)
        o = &existing;
    }
    if (!o) {
      s.options.push_back(Option{.name = name.text, .line = cmd.line});
      o = &s.options.back();
    }
    Value v{.text = value.text, .line = value.line};
    if (list) {
      if (!o->is_list)
        o->line = o->values.empty() ? cmd.line : o->line;
      o->is_list = true;
      o->values.push_back(std::move(v));
    } else {
      o->is_list = false;
      o->line = cmd.line;
      o->values = {std::move(v)};
    }
  }

  Package& pkg_;
  std::map<std::string, size_t> named_;
  std::optional<size_t> current_;
};

}  // namespace

const Option* Section::find(std::string_view option_name) const {
  for (const auto& o : options) {
    if (o.name == option_name)
      return &o;
  }
  return nullptr;
}

std::vector<const Section*> Package::of_type(std::string_view type) const {
  std::vector<const Section*> out;
  for (const auto& s : sections) {
    if (s.type == type)
      out.push_back(&s);
  }
  return out;
}

const Section* Package::find(std::string_view section_name) const {
  for (const auto& s : sections) {
    if (s.name == section_name)
      return &s;
  }
  return nullptr;
}

Result<Package> parse(std::string_view text, const std::string& file_name) {
  Package pkg{.file = file_name};
  Reader r(text);
  Builder b(pkg);
  try {
    while (!r.eof())
      b.statement(r);
  } catch (const ParseFailure& f) {
    return invalid_input(
        {Diagnostic{.file = file_name, .line = f.line, .column = f.column, .message = f.message}});
  }
  b.finish();
  return pkg;
}

Result<Package> parse_file(const std::string& path) {
  auto text = read_file(path);
  if (!text)
    return text.take_error();
  return parse(*text, path);
}

}  // namespace pathsteer::uci
