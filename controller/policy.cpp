#include "controller/policy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "controller/policy_parse.h"
#include "model/spelling.h"

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

const ClassSpec* Policy::find_class(const std::string& name, size_t hint) const {
  if (hint < classes.size() && classes[hint].name == name)
    return &classes[hint];
  for (const auto& c : classes) {
    if (c.name == name)
      return &c;
  }
  return nullptr;
}

std::vector<std::string> Policy::path_names() const {
  std::vector<std::string> names;
  for (const auto& w : wans)
    names.push_back(w.name);
  for (const auto& o : overlays)
    names.push_back(o.name);
  return names;
}

const char* to_string(Strategy s) {
  return spelling(kStrategyNames, s);
}
const char* to_string(LastResort r) {
  return spelling(kLastResortNames, r);
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

Result<Policy> parse_policy(const std::string& text, const std::string& file_name) {
  return parse_policy(text, file_name, directory_of(file_name));
}

Result<Policy> parse_policy(const std::string& text, const std::string& file_name,
                            const std::string& base_dir) {
  return PolicyParser(file_name, base_dir).run(text);
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return "";
  return slash == 0 ? "/" : path.substr(0, slash);
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
