// The mwan3 converter's groundwork (import/mwan3_converter.h): the text helpers, notes,
// option readers, the sorting of sections, globals, and the network package (the
// device of a netifd interface, lan_interfaces).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "import/mwan3_converter.h"

namespace pathsteer::mwan3::detail {

namespace {

// mwan3 2.12's documented options of the globals section.
const std::set<std::string> kGlobalsOptions = {"mmx_mask", "logging", "loglevel", "local_source",
                                               "rtmon_interval"};

}  // namespace

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int64_t> to_int(std::string_view s, int base) {
  if (base == 16 && (s.starts_with("0x") || s.starts_with("0X")))
    s.remove_prefix(2);
  if (s.empty())
    return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::vector<std::string> split(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string_view::npos) {
      if (!cur.empty())
        out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(cur);
  return out;
}

// A YAML scalar: plain when it is obviously safe, double-quoted otherwise.
std::string scalar(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(":#,[]{}&*!|>'\"%@`\\ ") == std::string::npos &&
               s != "true" && s != "false" && s != "null" && s != "yes" && s != "no" && s != "on" &&
               s != "off" && s != "~";
  if (plain)
    return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// A comment's text on one line.
std::string flat(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// ---- notes ----
void Converter::note(const Section& s, const std::string& option, int line, std::string why) {
  notes_.push_back(Note{.file = m_.file,
                        .line = line,
                        .section_type = s.type,
                        .section = s.name,
                        .option = option,
                        .why = std::move(why)});
}

void Converter::note(const Section& s, const Option& o, std::string why) {
  note(s, written_name(s, o.name), o.line, std::move(why));
}

// The option's name as the file spells it (mwan4's use_route, use_strategy).
std::string Converter::written_name(const Section& s, const std::string& canonical) {
  if (canonical == "use_member" && s.find("use_route"))
    return "use_route";
  if (canonical == "use_policy" && s.find("use_strategy"))
    return "use_strategy";
  return canonical;
}

const Option* Converter::opt(const Section& s, const std::string& name) const {
  if (const Option* o = s.find(name))
    return o;
  if (name == "use_member")
    return s.find("use_route");
  if (name == "use_policy")
    return s.find("use_strategy");
  return nullptr;
}

std::optional<std::string> Converter::str(const Section& s, const std::string& name) const {
  const Option* o = opt(s, name);
  if (!o || o->values.empty())
    return std::nullopt;
  return o->values.back().text;
}

// An integer option within [lo, hi], else its default (noted).
int64_t Converter::integer(const Section& s, const std::string& name, int64_t def, int64_t lo,
                           int64_t hi) {
  const Option* o = opt(s, name);
  if (!o || o->values.empty())
    return def;
  auto v = to_int(o->values.back().text);
  if (!v || *v < lo || *v > hi) {
    note(s, *o,
         "'" + flat(o->values.back().text) + "' is not an integer in " + std::to_string(lo) + ".." +
             std::to_string(hi) + "; the default " + std::to_string(def) + " is used");
    return def;
  }
  return *v;
}

bool Converter::boolean(const Section& s, const std::string& name, bool def) {
  const Option* o = opt(s, name);
  if (!o || o->values.empty())
    return def;
  std::string v = lower(o->values.back().text);
  if (v == "1" || v == "yes" || v == "on" || v == "true" || v == "enabled")
    return true;
  if (v == "0" || v == "no" || v == "off" || v == "false" || v == "disabled")
    return false;
  note(s, *o, "'" + flat(v) + "' is not a boolean; the default " + (def ? "1" : "0") + " is used");
  return def;
}

void Converter::unknown_options(const Section& s, const std::set<std::string>& known) {
  for (const auto& o : s.options) {
    std::string n = o.name == "use_route"      ? "use_member"
                    : o.name == "use_strategy" ? "use_policy"
                                               : o.name;
    if (!known.count(n))
      note(s, o, "unknown option for a " + s.type + " section; not carried over");
  }
}

void Converter::read_family(const Section& s, bool& v4, bool& v6) {
  const Option* f = s.find("family");
  if (!f)
    return;
  v4 = v6 = false;
  for (const auto& v : f->values) {
    for (const auto& w : split(v.text, " ,")) {
      std::string x = lower(w);
      if (x == "ipv4") {
        v4 = true;
      } else if (x == "ipv6") {
        v6 = true;
      } else if (x == "any") {
        v4 = v6 = true;
      } else {
        note(s, *f, "unknown family '" + flat(w) + "' (ipv4, ipv6); ipv4 is assumed");
        v4 = true;
      }
    }
  }
  if (!v4 && !v6)
    v4 = true;
}

// ---- sections ----
void Converter::classify_sections() {
  for (const auto& s : m_.sections) {
    if (s.type == "globals") {
      globals_.push_back(&s);
    } else if (s.type == "interface") {
      ifaces_.push_back(Iface{.s = &s});
    } else if (s.type == "member" || s.type == "route") {
      member_secs_.push_back(&s);
    } else if (s.type == "policy" || s.type == "strategy") {
      policy_secs_.push_back(&s);
    } else if (s.type == "rule") {
      rule_secs_.push_back(&s);
    } else {
      note(s, "", s.line,
           "unknown section type '" + s.type +
               "' (mwan3 knows globals, interface, member, policy, rule); not carried over");
    }
    if (s.type == "route" || s.type == "strategy")
      mwan4_ = true;
  }
}

void Converter::read_globals() {
  for (const Section* g : globals_) {
    unknown_options(*g, kGlobalsOptions);
    if (const Option* o = g->find("mmx_mask")) {
      auto v = to_int(o->values.back().text, 16);
      if (!v || *v <= 0 || *v > 0xffffffffLL) {
        note(*g, *o, "not a hexadecimal mark mask; mwan3's default 0x3F00 is assumed");
      } else {
        mmx_mask_ = static_cast<uint32_t>(*v);
        mmx_line_ = o->line;
      }
    }
    for (const char* n : {"logging", "loglevel"}) {
      if (const Option* o = g->find(n))
        note(*g, *o, "pathsteerd logs to the journal; use --log-level instead");
    }
    if (const Option* o = g->find("local_source"))
      note(*g, *o,
           "the gateway's own traffic follows the classes through ip rules; "
           "no source address is chosen");
    if (const Option* o = g->find("rtmon_interval"))
      note(*g, *o, "routes are followed from netlink events, not polled");
  }
}

// ---- the network package ----
const Section* Converter::net_iface(const std::string& name) const {
  if (!net_)
    return nullptr;
  for (const auto& s : net_->sections) {
    if (s.type == "interface" && s.name == name)
      return &s;
  }
  return nullptr;
}

std::optional<std::string> Converter::net_opt(const Section& s, const std::string& name) {
  const Option* o = s.find(name);
  if (!o || o->values.empty())
    return std::nullopt;
  auto words = split(o->values.front().text, " \t");
  if (words.empty())
    return std::nullopt;
  return words.front();
}

// The Linux device of a netifd interface, or nullopt with `how` saying why not.
std::optional<std::string> Converter::device_of(const std::string& name, std::string& how,
                                                int depth) const {
  const Section* s = net_iface(name);
  if (!s) {
    how = net_ ? "no interface '" + name + "' in " + net_->file : "no --network file";
    return std::nullopt;
  }
  std::string proto = lower(net_opt(*s, "proto").value_or(""));
  static const std::set<std::string> kPpp = {"pppoe", "pppoa", "ppp", "3g", "pptp", "l2tp"};
  if (kPpp.count(proto)) {
    how = "proto " + proto + " in " + net_->file + ":" + std::to_string(s->line);
    return proto + "-" + name;
  }
  if (proto == "wireguard" || proto == "gre" || proto == "gretap" || proto == "vti") {
    how = "proto " + proto + " in " + net_->file + ":" + std::to_string(s->line);
    return name;
  }
  if (net_opt(*s, "type").value_or("") == "bridge") {
    how = "bridge in " + net_->file + ":" + std::to_string(s->line);
    return "br-" + name;
  }
  for (const char* key : {"device", "ifname"}) {
    auto d = net_opt(*s, key);
    if (!d)
      continue;
    if (d->starts_with("@")) {
      if (depth > 8) {
        how = "alias loop at " + net_->file + ":" + std::to_string(s->line);
        return std::nullopt;
      }
      return device_of(d->substr(1), how, depth + 1);
    }
    if (d->starts_with("/dev/")) {
      how = "proto " + proto + " names the control device " + *d + ", not the data interface";
      return std::nullopt;
    }
    how = std::string(key) + " in " + net_->file + ":" + std::to_string(s->find(key)->line);
    return *d;
  }
  how = "interface '" + name + "' in " + net_->file + " names no device";
  return std::nullopt;
}

void Converter::read_lan() {
  std::string how;
  if (auto d = device_of("lan", how)) {
    lan_.push_back(*d);
    lan_comment_ = "network interface 'lan' (" + how + ")";
    return;
  }
  lan_.push_back("br-lan");
  lan_comment_ = "assumed: " + how;
  notes_.push_back(Note{.file = net_ ? net_->file : m_.file,
                        .why = "lan_interfaces: the 'lan' device is unknown (" + how +
                               "); br-lan, OpenWrt's default, is assumed"});
}

}  // namespace pathsteer::mwan3::detail
