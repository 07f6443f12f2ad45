#include "import/mwan3.h"

#include <algorithm>
#include <utility>

#include "import/mwan3_converter.h"

namespace pathsteer::mwan3::detail {

Conversion Converter::run() {
  classify_sections();
  read_globals();
  read_lan();
  read_interfaces();
  read_members();
  read_policies();
  read_rules();
  choose_last_resort();
  choose_conntrack();
  Conversion c;
  c.yaml = write();
  // In file order (the network file's notes first), as a reader goes through the file.
  std::stable_sort(notes_.begin(), notes_.end(), [&](const Note& a, const Note& b) {
    return std::pair(a.file == m_.file, a.line) < std::pair(b.file == m_.file, b.line);
  });
  c.notes = std::move(notes_);
  return c;
}

}  // namespace pathsteer::mwan3::detail

namespace pathsteer::mwan3 {

std::string Note::to_string() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line);
  out += ": ";
  if (!option.empty()) {
    out += "option '" + option + "' of " + section_type + " '" + section + "': ";
  } else if (!section.empty()) {
    out += section_type + " '" + section + "': ";
  }
  return out + why;
}

Conversion convert(const uci::Package& mwan3, const uci::Package* network) {
  return detail::Converter(mwan3, network).run();
}

}  // namespace pathsteer::mwan3
