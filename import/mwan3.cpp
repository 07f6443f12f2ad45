#include "import/mwan3.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/net.h"

namespace pathsteer::mwan3 {

namespace {

using uci::Option;
using uci::Package;
using uci::Section;

// mwan3 2.12's documented options, per section kind (mwan4's spellings are
// mapped onto these first).
const std::set<std::string> kGlobalsOptions = {"mmx_mask", "logging", "loglevel", "local_source",
                                               "rtmon_interval"};
const std::set<std::string> kInterfaceOptions = {"enabled",
                                                 "initial_state",
                                                 "family",
                                                 "track_ip",
                                                 "track_method",
                                                 "reliability",
                                                 "count",
                                                 "size",
                                                 "max_ttl",
                                                 "check_quality",
                                                 "failure_latency",
                                                 "failure_loss",
                                                 "recovery_latency",
                                                 "recovery_loss",
                                                 "timeout",
                                                 "interval",
                                                 "failure_interval",
                                                 "keep_failure_interval",
                                                 "recovery_interval",
                                                 "down",
                                                 "up",
                                                 "flush_conntrack",
                                                 "httping_ssl"};
const std::set<std::string> kMemberOptions = {"interface", "metric", "weight"};
const std::set<std::string> kPolicyOptions = {"use_member", "last_resort"};
const std::set<std::string> kRuleOptions = {"proto",     "src_ip",     "src_port",  "dest_ip",
                                            "dest_port", "ipset",      "family",    "sticky",
                                            "timeout",   "use_policy", "src_iface", "logging"};

// Protocols iptables knows by name that the policy file takes as numbers.
const std::map<std::string, int> kProtoNumbers = {
    {"sctp", 132}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"udplite", 136}};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int64_t> to_int(std::string_view s, int base = 10) {
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

struct Iface {
  const Section* s = nullptr;
  bool enabled = false;
  bool v4 = true, v6 = false;  // family
  std::string device;
  bool device_known = false;
  std::string device_how;  // for the comment
  std::string wan;         // the wan it became ("" if disabled)
};

struct Probe {
  std::string method;
  std::string target;
  int port = 0;
  bool operator==(const Probe&) const = default;
};

struct WanOut {
  std::string name;
  std::string device;
  std::vector<std::string> comments;
  std::vector<Probe> probes;
  int64_t interval_s = 10, timeout_s = 4, down = 5, up = 5, reliability = 1;
  bool quality = false;
  int64_t failure_latency = 1000, failure_loss = 40, recovery_latency = 500, recovery_loss = 10;
  std::optional<int64_t> weight;
  std::string weight_from;      // member that set it
  bool v4 = false, v6 = false;  // the families mwan3 carries over it
};

struct MemberOut {
  const Section* s = nullptr;
  std::string iface;
  int64_t metric = 1, weight = 1;
  int metric_line = 0, weight_line = 0;
};

// A policy as a strategy: tiers of wan names in metric order.
struct Shape {
  const Section* s = nullptr;
  std::vector<std::vector<std::string>> tiers;
  std::string last_resort = "unreachable";
  int last_resort_line = 0;
  bool balanced() const {
    return std::any_of(tiers.begin(), tiers.end(), [](const auto& t) { return t.size() > 1; });
  }
};

class Converter {
 public:
  Converter(const Package& m, const Package* net) : m_(m), net_(net) {}

  Conversion run() {
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

 private:
  // ---- notes ----
  void note(const Section& s, const std::string& option, int line, std::string why) {
    notes_.push_back(Note{.file = m_.file,
                          .line = line,
                          .section_type = s.type,
                          .section = s.name,
                          .option = option,
                          .why = std::move(why)});
  }
  void note(const Section& s, const Option& o, std::string why) {
    note(s, written_name(s, o.name), o.line, std::move(why));
  }
  // The option's name as the file spells it (mwan4's use_route, use_strategy).
  static std::string written_name(const Section& s, const std::string& canonical) {
    if (canonical == "use_member" && s.find("use_route"))
      return "use_route";
    if (canonical == "use_policy" && s.find("use_strategy"))
      return "use_strategy";
    return canonical;
  }

  const Option* opt(const Section& s, const std::string& name) const {
    if (const Option* o = s.find(name))
      return o;
    if (name == "use_member")
      return s.find("use_route");
    if (name == "use_policy")
      return s.find("use_strategy");
    return nullptr;
  }
  std::optional<std::string> str(const Section& s, const std::string& name) const {
    const Option* o = opt(s, name);
    if (!o || o->values.empty())
      return std::nullopt;
    return o->values.back().text;
  }
  // An integer option within [lo, hi], else its default (noted).
  int64_t integer(const Section& s, const std::string& name, int64_t def, int64_t lo, int64_t hi) {
    const Option* o = opt(s, name);
    if (!o || o->values.empty())
      return def;
    auto v = to_int(o->values.back().text);
    if (!v || *v < lo || *v > hi) {
      note(s, *o,
           "'" + flat(o->values.back().text) + "' is not an integer in " + std::to_string(lo) +
               ".." + std::to_string(hi) + "; the default " + std::to_string(def) + " is used");
      return def;
    }
    return *v;
  }
  bool boolean(const Section& s, const std::string& name, bool def) {
    const Option* o = opt(s, name);
    if (!o || o->values.empty())
      return def;
    std::string v = lower(o->values.back().text);
    if (v == "1" || v == "yes" || v == "on" || v == "true" || v == "enabled")
      return true;
    if (v == "0" || v == "no" || v == "off" || v == "false" || v == "disabled")
      return false;
    note(s, *o,
         "'" + flat(v) + "' is not a boolean; the default " + (def ? "1" : "0") + " is used");
    return def;
  }
  void unknown_options(const Section& s, const std::set<std::string>& known) {
    for (const auto& o : s.options) {
      std::string n = o.name == "use_route"      ? "use_member"
                      : o.name == "use_strategy" ? "use_policy"
                                                 : o.name;
      if (!known.count(n))
        note(s, o, "unknown option for a " + s.type + " section; not carried over");
    }
  }

  // ---- sections ----
  void classify_sections() {
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

  void read_globals() {
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
  const Section* net_iface(const std::string& name) const {
    if (!net_)
      return nullptr;
    for (const auto& s : net_->sections) {
      if (s.type == "interface" && s.name == name)
        return &s;
    }
    return nullptr;
  }
  static std::optional<std::string> net_opt(const Section& s, const std::string& name) {
    const Option* o = s.find(name);
    if (!o || o->values.empty())
      return std::nullopt;
    auto words = split(o->values.front().text, " \t");
    if (words.empty())
      return std::nullopt;
    return words.front();
  }
  // The Linux device of a netifd interface, or nullopt with `how` saying why not.
  std::optional<std::string> device_of(const std::string& name, std::string& how,
                                       int depth = 0) const {
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

  void read_lan() {
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

  // ---- interfaces -> wans ----
  void read_interfaces() {
    for (auto& i : ifaces_) {
      const Section& s = *i.s;
      unknown_options(s, kInterfaceOptions);
      i.enabled = boolean(s, "enabled", false);
      read_family(s, i.v4, i.v6);
      std::string how;
      if (auto d = device_of(s.name, how)) {
        i.device = *d;
        i.device_known = true;
        i.device_how = how;
      } else {
        i.device = s.name;
        i.device_how = how;
      }
    }
    // IPv6 pairs: an ipv6-only interface on the device of an ipv4 one joins its
    // wan. Names first (ipv4 and dual-stack interfaces), then the ipv6 ones join or stand alone.
    for (int pass = 0; pass < 2; ++pass) {
      for (auto& i : ifaces_) {
        if (!i.enabled || (pass == 0) != i.v4)
          continue;
        if (pass == 0 && i.device_known) {
          // A second ipv4 interface on a device that already has a wan (a
          // macvlan-less setup netifd would not route either): one wan.
          Iface* first = nullptr;
          for (auto& j : ifaces_) {
            if (&j != &i && !j.wan.empty() && j.device_known && j.device == i.device && j.v4)
              first = first ? first : &j;
          }
          if (first) {
            note(*i.s, "", i.s->line,
                 "same device (" + i.device + ") as interface '" + first->s->name +
                     "': pathsteer has one wan per device, so this interface's members use wan '" +
                     first->wan + "' and its own tracking is not carried over");
            i.wan = first->wan;
            continue;
          }
        }
        if (pass == 1) {
          for (auto& j : ifaces_) {
            if (&j == &i || !j.enabled || !j.v4 || j.wan.empty())
              continue;
            bool same = i.device_known && j.device_known ? i.device == j.device
                                                         : i.s->name == j.s->name + "6";
            if (!same)
              continue;
            join_pair(i, j);
            break;
          }
          if (!i.wan.empty())
            continue;
        }
        add_wan(i);
      }
    }
    for (auto& i : ifaces_) {
      if (!i.enabled)
        disabled_.push_back(i.s);
    }
  }

  void read_family(const Section& s, bool& v4, bool& v6) {
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

  std::string wan_name(const std::string& n) {
    std::string out = n.substr(0, 32);
    if (out != n)
      notes_.push_back(Note{.file = m_.file,
                            .why = "interface name '" + n + "' is longer than 32 characters; " +
                                   "the wan is named '" + out + "'"});
    return out;
  }

  void add_wan(Iface& i) {
    const Section& s = *i.s;
    WanOut w;
    w.name = wan_name(s.name);
    w.device = i.device;
    w.comments.push_back("interface '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) +
                         (i.v6 && !i.v4 ? ", family ipv6"
                          : i.v6        ? ", family ipv4+ipv6"
                                        : "") +
                         "), device from " + i.device_how);
    if (!i.device_known) {
      note(s, "", s.line,
           "its device is unknown (" + i.device_how + "); the wan's interface is '" + i.device +
               "', the netifd name: pass --network or edit it");
    }
    read_health(i, w);
    w.v4 = i.v4;
    w.v6 = i.v6;
    i.wan = w.name;
    wans_.push_back(std::move(w));
  }

  void join_pair(Iface& i, Iface& j) {
    WanOut* w = find_wan(j.wan);
    const Section& s = *i.s;
    w->comments.push_back("interface '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) +
                          ", family ipv6) joins it: same device");
    WanOut mine;
    read_health(i, mine, /*quiet=*/true);
    for (const auto& p : mine.probes) {
      if (std::find(w->probes.begin(), w->probes.end(), p) == w->probes.end())
        w->probes.push_back(p);
    }
    auto differs = [&](const char* opt_name, int64_t a, int64_t b) {
      if (a != b && s.find(opt_name))
        note(s, *s.find(opt_name),
             "the wan is shared with interface '" + j.s->name + "' (same device), which has " +
                 std::to_string(b) + "; a wan has one health setting, " + std::to_string(b) +
                 " is used");
    };
    differs("interval", mine.interval_s, w->interval_s);
    differs("timeout", mine.timeout_s, w->timeout_s);
    differs("down", mine.down, w->down);
    differs("up", mine.up, w->up);
    if (!mine.probes.empty() && !w->probes.empty()) {
      note(s, "", s.line,
           "merged with interface '" + j.s->name +
               "' (same device): pathsteer judges the uplink's health over the probes of both "
               "families together (reliability " +
               std::to_string(w->reliability) + " of " + std::to_string(w->probes.size()) +
               "), mwan3 each family on its own");
    }
    w->v6 = true;
    i.wan = j.wan;
  }

  WanOut* find_wan(const std::string& name) {
    for (auto& w : wans_) {
      if (w.name == name)
        return &w;
    }
    return nullptr;
  }

  void read_health(const Iface& i, WanOut& w, bool quiet = false) {
    const Section& s = *i.s;
    std::string method = lower(str(s, "track_method").value_or("ping"));
    const Option* track = s.find("track_ip");
    bool ssl = boolean(s, "httping_ssl", false);
    Probe base{.method = "icmp"};
    std::string why;
    if (method == "ping" || method == "nping-icmp") {
    } else if (method == "httping") {
      base = Probe{.method = "tcp", .port = ssl ? 443 : 80};
      why = "httping sends an HTTP request; pathsteer's tcp probe measures the connect to port " +
            std::to_string(base.port);
    } else if (method == "nping-tcp") {
      base = Probe{.method = "tcp", .port = 80};
      why = "nping-tcp's port is not configurable in mwan3; a tcp connect to port 80 is used";
    } else if (method == "arping") {
      why = "arping asks the gateway's ARP; pathsteer sends ICMP echo to each track_ip";
    } else {
      why = "track_method '" + method + "' has no pathsteer probe; ICMP echo is used";
    }
    if (!why.empty() && !quiet && track)
      note(s, *s.find("track_method"), why);
    if (track) {
      for (const auto& v : track->values) {
        auto a = IpAddr::parse(v.text);
        if (!a) {
          if (!quiet)
            note(s, "track_ip", v.line,
                 "'" + flat(v.text) +
                     "' is not an IP address (pathsteer probes addresses, "
                     "not host names); not carried over");
          continue;
        }
        Probe p = base;
        p.target = a->to_string();
        if (std::find(w.probes.begin(), w.probes.end(), p) == w.probes.end())
          w.probes.push_back(p);
      }
    }
    w.interval_s = integer(s, "interval", 10, 1, 4294967);
    w.timeout_s = integer(s, "timeout", 4, 1, 4294967);
    w.down = integer(s, "down", 5, 1, 1000000);
    w.up = integer(s, "up", 5, 1, 1000000);
    w.reliability = integer(s, "reliability", 1, 1, 1000);
    int64_t count = integer(s, "count", 1, 1, 1000);
    if (quiet)
      return;
    // Without track_ip mwan3 ignores the probing options too: nothing to report.
    if (!w.probes.empty() && w.reliability > static_cast<int64_t>(w.probes.size())) {
      note(s, *s.find("reliability"),
           std::to_string(w.reliability) + " exceeds the " + std::to_string(w.probes.size()) +
               " usable track_ip(s): mwan3 could never see the interface up; " +
               std::to_string(w.probes.size()) + " is used");
      w.reliability = static_cast<int64_t>(w.probes.size());
    }
    if (w.probes.empty())
      return;
    if (count != 1) {
      note(s, *s.find("count"),
           "pathsteer sends one probe per target per round (mwan3 sends " + std::to_string(count) +
               " and needs one answer): a round may fail where mwan3's "
               "would pass");
    }
    for (const char* n : {"failure_interval", "recovery_interval"}) {
      if (const Option* o = s.find(n)) {
        auto v = to_int(o->values.back().text);
        if (!v || *v != w.interval_s)
          note(s, *o,
               "pathsteer probes at one interval (" + std::to_string(w.interval_s) +
                   " s) whatever the state; " + n + " " + flat(o->values.back().text) +
                   " s is not carried over");
      }
    }
    if (const Option* o = s.find("keep_failure_interval"); o && boolean(s, o->name, false))
      note(s, *o, "pathsteer probes at one interval whatever the state");
    if (const Option* o = s.find("size"); o && o->values.back().text != "56")
      note(s, *o, "pathsteer's ICMP probes have a fixed size; not carried over");
    if (const Option* o = s.find("max_ttl"); o && o->values.back().text != "60")
      note(s, *o, "pathsteer's probes use the system's default TTL; not carried over");
    if (const Option* o = s.find("initial_state"); o && lower(o->values.back().text) != "online")
      note(s, *o,
           "pathsteer starts every uplink unknown and brings it up at its first good round, "
           "not after 'up' rounds");
    w.quality = boolean(s, "check_quality", false);
    if (w.quality) {
      w.failure_latency = integer(s, "failure_latency", 1000, 1, 4294967295LL);
      w.failure_loss = integer(s, "failure_loss", 40, 0, 100);
      w.recovery_latency = integer(s, "recovery_latency", 500, 1, 4294967295LL);
      w.recovery_loss = integer(s, "recovery_loss", 10, 0, 100);
      if (w.recovery_latency > w.failure_latency) {
        note(s, *s.find("recovery_latency"),
             "above failure_latency; pathsteer needs the recovery bar at or below it: " +
                 std::to_string(w.failure_latency) + " is used");
        w.recovery_latency = w.failure_latency;
      }
      if (w.recovery_loss > w.failure_loss) {
        note(s, *s.find("recovery_loss"),
             "above failure_loss; pathsteer needs the recovery bar at or below it: " +
                 std::to_string(w.failure_loss) + " is used");
        w.recovery_loss = w.failure_loss;
      }
      note(s, *s.find("check_quality"),
           "a link over failure_latency/failure_loss becomes degraded in pathsteer (mwan3 takes "
           "it offline): failover and balance classes keep using a degraded uplink");
    }
  }

  // ---- members and policies ----
  void read_members() {
    for (const Section* s : member_secs_) {
      unknown_options(*s, kMemberOptions);
      MemberOut m{.s = s};
      m.iface = str(*s, "interface").value_or("");
      m.metric = integer(*s, "metric", 1, 1, 256);
      m.weight = integer(*s, "weight", 1, 1, 1000);
      if (const Option* o = s->find("metric"))
        m.metric_line = o->line;
      if (const Option* o = s->find("weight"))
        m.weight_line = o->line;
      if (m.iface.empty())
        note(*s, "", s->line, "names no interface; mwan3 ignores it");
      members_[s->name] = m;
    }
  }

  const Iface* iface(const std::string& name) const {
    for (const auto& i : ifaces_) {
      if (i.s->name == name)
        return &i;
    }
    return nullptr;
  }

  void read_policies() {
    for (const Section* s : policy_secs_) {
      unknown_options(*s, kPolicyOptions);
      Shape shape{.s = s};
      if (const Option* lr = s->find("last_resort")) {
        std::string v = lower(lr->values.back().text);
        if (v == "unreachable" || v == "blackhole" || v == "default") {
          shape.last_resort = v;
          shape.last_resort_line = lr->line;
        } else {
          note(*s, *lr, "unknown last_resort '" + flat(v) + "'; unreachable (the default) is used");
        }
      }
      std::map<int64_t, std::vector<std::pair<std::string, const MemberOut*>>> by_metric;
      if (const Option* um = opt(*s, "use_member")) {
        for (const auto& v : um->values) {
          auto it = members_.find(v.text);
          if (it == members_.end()) {
            note(*s, written_name(*s, "use_member"), v.line,
                 "no member '" + flat(v.text) + "'; mwan3 skips it");
            continue;
          }
          const MemberOut& m = it->second;
          const Iface* i = iface(m.iface);
          if (!i) {
            if (!m.iface.empty())
              note(*m.s, "interface", m.s->find("interface")->line,
                   "no interface '" + m.iface + "'; mwan3 skips the member");
            continue;
          }
          if (!i->enabled)
            continue;  // as mwan3: a disabled interface's members carry nothing
          auto& tier = by_metric[m.metric];
          bool dup = std::any_of(tier.begin(), tier.end(),
                                 [&](const auto& e) { return e.first == i->wan; });
          if (!dup)
            tier.emplace_back(i->wan, &m);
        }
      }
      std::set<std::string> seen;
      for (auto& [metric, tier] : by_metric) {
        std::vector<std::string> names;
        for (const auto& [wan, m] : tier) {
          if (seen.count(wan)) {
            note(*m->s, "metric", m->metric_line ? m->metric_line : m->s->line,
                 "wan '" + wan + "' is already in a better tier of policy '" + s->name +
                     "' (an IPv6 pair or a second member); this member adds nothing");
            continue;
          }
          seen.insert(wan);
          names.push_back(wan);
        }
        if (!names.empty())
          shape.tiers.push_back(names);
        if (names.size() > 1) {
          for (const auto& [wan, m] : tier)
            set_weight(wan, *m);
        }
      }
      shapes_[s->name] = shape;
    }
  }

  void set_weight(const std::string& wan, const MemberOut& m) {
    WanOut* w = find_wan(wan);
    if (!w)
      return;
    if (!w->weight) {
      w->weight = m.weight;
      w->weight_from = m.s->name;
      return;
    }
    if (*w->weight != m.weight) {
      note(*m.s, "weight", m.weight_line ? m.weight_line : m.s->line,
           "wan '" + wan + "' already has weight " + std::to_string(*w->weight) + " from member '" +
               w->weight_from + "'; pathsteer weights are per wan, so " +
               std::to_string(*w->weight) + " is used here too");
    }
  }

  // ---- rules -> classes ----
  struct ClassOut {
    std::string name;
    std::vector<std::string> comments;
    std::vector<std::string> match;  // flow maps
    std::string strategy;
    std::string paths;
    uint32_t affinity_s = 0;
    std::string action;  // main / unreachable / blackhole: use_policy default/unreachable/blackhole
    const Section* rule = nullptr;
    const Option* use_policy = nullptr;
    bool commented = false;  // written as a comment: not expressible
  };

  std::string class_name(const Section& s, size_t index) {
    std::string n = s.anonymous ? "rule_" + std::to_string(index) : s.name.substr(0, 32);
    std::string base = n;
    for (int k = 2; used_names_.count(n); ++k)
      n = base.substr(0, 28) + "_" + std::to_string(k);
    used_names_.insert(n);
    return n;
  }

  // "80,443" / "1000:2000" -> "80,443" / "1000-2000"; nullopt (noted) when invalid.
  std::optional<std::string> ports(const Section& s, const Option& o) {
    std::string out;
    for (const auto& part : split(o.values.back().text, ", ")) {
      auto range = split(part, ":-");
      auto lo = range.size() >= 1 ? to_int(range[0]) : std::nullopt;
      auto hi = range.size() == 2 ? to_int(range[1]) : lo;
      if (range.empty() || range.size() > 2 || !lo || !hi || *lo < 0 || *hi > 65535 || *lo > *hi) {
        note(s, o,
             "'" + flat(o.values.back().text) +
                 "' is not a port list (\"80,443\", \"1000:2000\"); the rule is not "
                 "carried over");
        return std::nullopt;
      }
      if (!out.empty())
        out += ",";
      out += std::to_string(*lo);
      if (*hi != *lo)
        out += "-" + std::to_string(*hi);
    }
    if (out.empty()) {
      note(s, o, "empty port list; the rule is not carried over");
      return std::nullopt;
    }
    return out;
  }

  // Addresses (comma-separated, as iptables takes them); host bits masked as iptables does.
  std::optional<std::vector<Prefix>> prefixes(const Section& s, const Option& o) {
    std::vector<Prefix> out;
    for (const auto& part : split(o.values.back().text, ", ")) {
      auto slash = part.find('/');
      auto a = IpAddr::parse(part.substr(0, slash));
      std::optional<int64_t> len;
      if (a)
        len = slash == std::string::npos ? static_cast<int64_t>(a->size() * 8)
                                         : to_int(part.substr(slash + 1));
      if (!a || !len || *len < 0 || *len > static_cast<int64_t>(a->size() * 8)) {
        note(s, o,
             "'" + flat(part) +
                 "' is not an address or prefix (host names and negation "
                 "are not carried over); the rule is not carried over");
        return std::nullopt;
      }
      Prefix p{.addr = *a, .len = static_cast<uint8_t>(*len)};
      for (size_t bit = p.len; bit < a->size() * 8; ++bit)
        p.addr.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
      out.push_back(p);
    }
    return out;
  }

  static std::string prefix_list(const std::vector<Prefix>& ps) {
    if (ps.size() == 1)
      return scalar(ps[0].to_string());
    std::string out = "[";
    for (size_t i = 0; i < ps.size(); ++i)
      out += (i ? ", " : "") + scalar(ps[i].to_string());
    return out + "]";
  }

  void read_rules() {
    size_t index = 0;
    for (const Section* sp : rule_secs_) {
      const Section& s = *sp;
      unknown_options(s, kRuleOptions);
      ClassOut c;
      c.name = class_name(s, index++);
      c.comments.push_back("rule '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) +
                           ")");
      bool ok = true;
      std::vector<std::string> fields;
      auto fail = [&](std::string why) {
        c.commented = true;
        c.comments.push_back("NOT CONVERTED: " + why);
        ok = false;
      };

      // proto
      std::optional<int> proto;
      if (const Option* o = s.find("proto")) {
        std::string p = lower(o->values.back().text);
        if (p == "all" || p.empty()) {
        } else if (p == "tcp" || p == "udp" || p == "icmp" || p == "icmpv6" || p == "ipv6-icmp") {
          proto = p == "tcp" ? 6 : p == "udp" ? 17 : p == "icmp" ? 1 : 58;
          fields.push_back(std::string("proto: ") + (*proto == 58  ? "icmpv6"
                                                     : *proto == 1 ? "icmp"
                                                                   : p));
        } else if (kProtoNumbers.count(p)) {
          proto = kProtoNumbers.at(p);
          fields.push_back("proto: " + std::to_string(*proto));
        } else if (auto n = to_int(p); n && *n >= 0 && *n <= 255) {
          proto = static_cast<int>(*n);
          fields.push_back("proto: " + std::to_string(*n));
        } else {
          note(s, *o, "unknown protocol '" + flat(p) + "'; the rule is not carried over");
          fail("proto '" + flat(p) + "'");
        }
      }
      // family
      bool v4 = true, v6 = true;
      if (s.find("family")) {
        read_family(s, v4, v6);
      }
      // addresses
      std::vector<Prefix> src, dst;
      for (const char* key : {"src_ip", "dest_ip"}) {
        const Option* o = s.find(key);
        if (!o)
          continue;
        auto ps = prefixes(s, *o);
        if (!ps) {
          fail(std::string(key) + " '" + flat(o->values.back().text) + "'");
          continue;
        }
        std::vector<Prefix> kept;
        for (const auto& p : *ps) {
          if ((p.addr.is_v4() && v4) || (p.addr.is_v6() && v6))
            kept.push_back(p);
        }
        if (kept.size() != ps->size()) {
          note(s, *o,
               "an address of the other family than the rule's; mwan3 cannot use it, "
               "so neither does pathsteer");
        }
        if (kept.empty() && !ps->empty()) {
          fail(std::string(key) + " has no address of the rule's family");
          continue;
        }
        (std::string(key) == "src_ip" ? src : dst) = kept;
      }
      // A rule of one family whose addresses do not say so: all of that family.
      if (ok && v4 != v6 && src.empty() && dst.empty())
        dst.push_back(Prefix::default_route(v4 ? AF_INET : AF_INET6));
      if (proto == 1 && !v4 && ok) {
        // ip6tables reads 'icmp' as protocol 1, which no IPv6 packet carries.
        note(s, *s.find("proto"),
             "icmp in an IPv6-only rule never matches in mwan3; pathsteer refuses such a "
             "class, so the rule is written as a comment (use proto icmpv6)");
        fail("proto icmp with family ipv6");
      }
      if (!src.empty())
        fields.push_back("src: " + prefix_list(src));
      if (!dst.empty())
        fields.push_back("dst: " + prefix_list(dst));
      // ports
      for (const auto& [key, out] : {std::pair{"src_port", "sport"}, {"dest_port", "dport"}}) {
        const Option* o = s.find(key);
        if (!o)
          continue;
        if (proto != 6 && proto != 17) {
          note(s, *o,
               "ports need proto tcp or udp; mwan3 ignores them here, and so does pathsteer");
          continue;
        }
        if (auto p = ports(s, *o)) {
          fields.push_back(std::string(out) + ": \"" + *p + "\"");
        } else {
          fail(std::string(key) + " '" + flat(o->values.back().text) + "'");
        }
      }
      // src_iface
      if (const Option* o = s.find("src_iface")) {
        std::string how;
        std::string name = o->values.back().text;
        auto d = device_of(name, how);
        if (!d) {
          note(s, *o,
               "the device of '" + flat(name) + "' is unknown (" + how + "); '" + flat(name) +
                   "' is used as the device name");
          d = name;
        }
        fields.push_back("iif: " + scalar(*d));
        if (std::find(lan_.begin(), lan_.end(), *d) == lan_.end() && !is_wan_device(*d)) {
          lan_.push_back(*d);
          lan_extra_.push_back(*d + ": src_iface of rule '" + s.name + "'");
        }
      }
      if (const Option* o = s.find("ipset")) {
        note(s, *o,
             "pathsteer has no named sets: ipset '" + flat(o->values.back().text) +
                 "' is not carried over and the rule is written as a comment; if the set is "
                 "filled by dnsmasq from domain names, a match entry with domain: [...] says the "
                 "same");
        fail("ipset '" + flat(o->values.back().text) +
             "' (no named sets; for dnsmasq-filled sets use a match entry with domain: [...])");
      }
      if (const Option* o = s.find("logging"); o && boolean(s, "logging", false))
        note(s, *o, "pathsteer does not log matched packets; GET /v1/events shows class moves");

      if (!fields.empty()) {
        std::string m = "{ ";
        for (size_t i = 0; i < fields.size(); ++i)
          m += (i ? ", " : "") + fields[i];
        c.match.push_back(m + " }");
      }

      // use_policy
      std::optional<std::string> pol = str(s, "use_policy");
      const Option* po = opt(s, "use_policy");
      if (!pol) {
        note(s, "", s.line, "no use_policy; mwan3 ignores the rule, and so does pathsteer");
        fail("no use_policy");
      } else if (*pol == "default" || *pol == "unreachable" || *pol == "blackhole") {
        // unreachable/blackhole must agree with the one last_resort (checked once it is chosen)
        c.action = *pol == "default" ? "main" : *pol;
        c.rule = &s;
        c.use_policy = po;
        c.comments.push_back("use_policy " + *pol + ": no uplink");
      } else if (!shapes_.count(*pol)) {
        note(s, *po,
             "no policy '" + flat(*pol) + "'; mwan3 ignores the rule, and so does pathsteer");
        fail("unknown policy '" + flat(*pol) + "'");
      } else {
        const Shape& sh = shapes_.at(*pol);
        c.comments.push_back(std::string(mwan4_ ? "strategy" : "policy") + " '" + *pol + "' (" +
                             m_.file + ":" + std::to_string(sh.s->line) + ")" + describe(sh));
        if (sh.tiers.empty()) {
          note(s, *po,
               "policy '" + *pol +
                   "' has no member on an enabled interface: mwan3 sends its "
                   "traffic to last_resort; pathsteer needs at least one path, so the rule is "
                   "written as a comment");
          fail("policy '" + *pol + "' has no member on an enabled interface");
        } else {
          strategy_of(sh, c);
          used_shapes_.push_back(&sh);
          check_families(s, *po, sh, src.empty() && dst.empty() ? v4 : has(src, dst, AF_INET),
                         src.empty() && dst.empty() ? v6 : has(src, dst, AF_INET6));
          if (boolean(s, "sticky", false)) {
            int64_t timeout = integer(s, "timeout", 600, 1, 604800);
            if (sh.balanced()) {
              c.affinity_s = static_cast<uint32_t>(timeout);
            } else {
              c.comments.push_back("sticky: one uplink at a time already (failover)");
            }
          }
        }
      }
      if (!ok)
        c.commented = true;
      // pathsteer refuses a class that can never match; mwan3 merely never reaches it.
      if (!c.commented && catch_all_) {
        c.commented = true;
        c.comments.push_back("never matches: rule '" + *catch_all_ +
                             "' before it takes all traffic (mwan3 never reaches it either)");
      } else if (!c.commented && c.match.empty()) {
        catch_all_ = s.name;
      }
      classes_.push_back(std::move(c));
    }
  }

  // Whether an entry with these prefixes can match `family` (no prefixes: any).
  static bool has(const std::vector<Prefix>& src, const std::vector<Prefix>& dst, int family) {
    auto ok = [&](const std::vector<Prefix>& ps) {
      return ps.empty() || std::any_of(ps.begin(), ps.end(),
                                       [&](const Prefix& p) { return p.addr.family == family; });
    };
    return ok(src) && ok(dst);
  }

  // A rule of one family over a wan mwan3 does not carry that family on: mwan3
  // leaves that member out (last_resort if none is left); pathsteer's wan
  // carries both families wherever the device has a default route.
  void check_families(const Section& s, const Option& po, const Shape& sh, bool v4, bool v6) {
    if (v4 == v6)
      return;
    for (const auto& tier : sh.tiers) {
      for (const auto& name : tier) {
        const WanOut* w = find_wan_const(name);
        if (!w || (v4 ? w->v4 : w->v6))
          continue;
        std::string fam = v4 ? "IPv4" : "IPv6";
        note(s, po,
             "policy '" + sh.s->name + "' reaches wan '" + name + "' through no enabled " + fam +
                 " interface, so mwan3 gives this " + fam + " rule no path there (last_resort " +
                 "if none is left); pathsteer sends the rule's traffic to '" + name +
                 "' if its device has an " + fam + " default route");
      }
    }
  }

  const WanOut* find_wan_const(const std::string& name) const {
    for (const auto& w : wans_) {
      if (w.name == name)
        return &w;
    }
    return nullptr;
  }

  bool is_wan_device(const std::string& d) const {
    return std::any_of(wans_.begin(), wans_.end(), [&](const WanOut& w) { return w.device == d; });
  }

  static std::string describe(const Shape& sh) {
    if (sh.tiers.size() == 1 && sh.tiers[0].size() == 1)
      return ": one member";
    if (sh.tiers.size() == 1)
      return ": one metric tier";
    if (!sh.balanced())
      return ": one member per metric";
    return ": " + std::to_string(sh.tiers.size()) + " metric tiers";
  }

  static std::string list(const std::vector<std::string>& names) {
    std::string out = "[";
    for (size_t i = 0; i < names.size(); ++i)
      out += (i ? ", " : "") + names[i];
    return out + "]";
  }

  static void strategy_of(const Shape& sh, ClassOut& c) {
    if (!sh.balanced()) {
      std::vector<std::string> flat_names;
      for (const auto& t : sh.tiers)
        flat_names.push_back(t[0]);
      c.strategy = "failover";
      c.paths = list(flat_names);
      return;
    }
    c.strategy = "balance";
    if (sh.tiers.size() == 1) {
      c.paths = list(sh.tiers[0]);
      return;
    }
    std::string out = "[";
    for (size_t i = 0; i < sh.tiers.size(); ++i)
      out += (i ? ", " : "") + (sh.tiers[i].size() == 1 ? sh.tiers[i][0] : list(sh.tiers[i]));
    c.paths = out + "]";
  }

  // ---- policy-wide choices ----
  void choose_last_resort() {
    std::map<std::string, int> votes;
    for (const Shape* sh : used_shapes_)
      votes[sh->last_resort]++;
    for (const auto& c : classes_) {
      if (!c.commented && (c.action == "unreachable" || c.action == "blackhole"))
        votes[c.action]++;
    }
    if (votes.empty()) {
      last_resort_ = "unreachable";
      return;
    }
    std::string best = votes.begin()->first;
    for (const auto& [v, n] : votes) {
      if (n > votes[best] || (n == votes[best] && v == "unreachable"))
        best = v;
    }
    last_resort_ = best;
    for (auto& c : classes_) {
      if (c.commented || c.action.empty() || c.action == "main" || c.action == best)
        continue;
      note(*c.rule, *c.use_policy,
           "a pathsteer class may send its traffic to the main table or to the policy's one "
           "last_resort (" +
               to_pathsteer(best) + "), not to " + c.action +
               "; the rule is written as a comment and its traffic falls to the next class that "
               "matches");
      c.commented = true;
      c.comments.push_back("NOT CONVERTED: use_policy " + c.action + " (last_resort is " +
                           to_pathsteer(best) + ")");
    }
    std::set<const Shape*> done;
    for (const Shape* sh : used_shapes_) {
      if (sh->last_resort == best || !done.insert(sh).second)
        continue;
      note(*sh->s, "last_resort", sh->last_resort_line ? sh->last_resort_line : sh->s->line,
           "pathsteer has one last_resort for every class; " + to_pathsteer(best) + " (mwan3 " +
               best + ", as most policies in use) is used instead of " + sh->last_resort);
    }
  }
  static std::string to_pathsteer(const std::string& lr) { return lr == "default" ? "main" : lr; }

  void choose_conntrack() {
    int want = 0, total = 0;
    std::vector<std::pair<const Section*, bool>> each;
    for (const auto& i : ifaces_) {
      if (!i.enabled)
        continue;
      bool flush = false;
      if (const Option* o = i.s->find("flush_conntrack")) {
        for (const auto& v : o->values) {
          for (const auto& w : split(v.text, " ,")) {
            std::string x = lower(w);
            if (x == "ifdown" || x == "disconnected") {
              flush = true;
            } else if (x == "never") {
            } else {
              note(*i.s, "flush_conntrack", v.line,
                   "'" + flat(x) + "': pathsteer flushes only when an uplink goes down");
            }
          }
        }
      }
      each.emplace_back(i.s, flush);
      want += flush;
      ++total;
    }
    flush_ = total > 0 && want * 2 > total;
    for (const auto& [s, f] : each) {
      if (f != flush_)
        note(*s, "flush_conntrack",
             s->find("flush_conntrack") ? s->find("flush_conntrack")->line : s->line,
             std::string("pathsteer flushes conntrack on down for every uplink or none; ") +
                 (flush_ ? "all (most interfaces flush)" : "none (most interfaces do not)") +
                 " is used");
    }
  }

  // A free 8-bit run for pathsteer's marks, clear of mwan3's.
  uint32_t mark_mask() const {
    for (uint32_t m :
         {0x0ff00000u, 0xff000000u, 0x00ff0000u, 0x000ff000u, 0xf0000000u, 0x000000ffu}) {
      if ((m & mmx_mask_) == 0)
        return m;
    }
    return 0x0ff00000u;
  }

  // ---- writing ----
  static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08x", v);
    return buf;
  }

  std::string write() {
    std::ostringstream y;
    y << "# Converted from " << m_.file << " by `pathsteer import mwan3`"
      << (net_ ? " (network: " + net_->file + ")" : std::string(" (no network file)")) << ".\n";
    if (mwan4_)
      y << "# mwan4 names: route = member, strategy = policy.\n";
    y << "# Every option not carried over exactly was reported on stderr; see docs/MIGRATING.md.\n";
    y << "version: 1\n";
    y << "# " << flat(lan_comment_) << "\n";
    for (const auto& e : lan_extra_)
      y << "# " << flat(e) << "\n";
    y << "lan_interfaces: [";
    for (size_t i = 0; i < lan_.size(); ++i)
      y << (i ? ", " : "") << scalar(lan_[i]);
    y << "]\n";
    y << "# mwan3 keeps its marks in mmx_mask " << hex(mmx_mask_)
      << (mmx_line_ ? " (globals, line " + std::to_string(mmx_line_) + ")"
                    : std::string(" (default)"))
      << ", its ip rules at\n# priorities 1001-3254 and its routing tables from 1: pathsteer's "
         "slice "
         "stays clear\n# of all three, so both can run side by side during the move.\n";
    y << "ownership:\n";
    y << "  mark_mask: " << hex(mark_mask()) << "\n";
    y << "  rule_priority_base: 10000\n";
    y << "  table_base: 200\n";
    y << "  route_protocol: 201\n";
    y << "last_resort: " << to_pathsteer(last_resort_) << "  # mwan3 policies' last_resort "
      << last_resort_ << "\n";
    y << "conntrack: { flush_on_down: " << (flush_ ? "true" : "false")
      << " }  # flush_conntrack ifdown: " << (flush_ ? "yes" : "no") << "\n";
    y << "\nwans:\n";
    if (wans_.empty())
      y << "  {}  # no enabled interface\n";
    for (const auto& w : wans_) {
      for (const auto& c : w.comments)
        y << "  # " << flat(c) << "\n";
      y << "  " << w.name << ":\n";
      y << "    interface: " << scalar(w.device) << "\n";
      y << "    gateway: auto\n";
      if (w.weight)
        y << "    weight: " << *w.weight << "  # member '" << w.weight_from << "'\n";
      if (w.probes.empty()) {
        y << "    probes: []  # no track_ip: up while the link is (carrier), as in mwan3\n";
        continue;
      }
      y << "    probes:  # track_ip\n";
      for (const auto& p : w.probes) {
        y << "      - { method: " << p.method << ", target: " << scalar(p.target);
        if (p.port)
          y << ", port: " << p.port;
        y << " }\n";
      }
      y << "    health:\n";
      y << "      interval_ms: " << w.interval_s * 1000 << "  # interval " << w.interval_s
        << " s\n";
      y << "      timeout_ms: " << w.timeout_s * 1000 << "  # timeout " << w.timeout_s << " s\n";
      y << "      down_after: " << w.down << "  # down\n";
      y << "      up_after: " << w.up << "  # up\n";
      y << "      reliability: " << w.reliability << "\n";
      if (w.quality) {
        y << "      degraded_if: { rtt_ms: " << w.failure_latency
          << ", loss_pct: " << w.failure_loss << " }  # failure_latency, failure_loss\n";
        y << "      recover_if: { rtt_ms: " << w.recovery_latency
          << ", loss_pct: " << w.recovery_loss << " }  # recovery_latency, recovery_loss\n";
      }
    }
    for (const Section* s : disabled_)
      y << "  # interface '" << s->name << "' (" << m_.file << ":" << s->line
        << ") is not enabled: mwan3 does not use it\n";
    y << "\nclasses:  # mwan3 rules, first match wins, in file order\n";
    bool any = false;
    for (const auto& c : classes_) {
      std::string p = c.commented ? "  # " : "  ";
      for (const auto& line : c.comments)
        y << "  # " << flat(line) << "\n";
      y << p << c.name << ":\n";
      if (!c.match.empty()) {
        y << p << "  match:\n";
        for (const auto& m : c.match)
          y << p << "    - " << m << "\n";
      }
      if (!c.action.empty())
        y << p << "  action: " << c.action << "\n";
      if (!c.strategy.empty()) {
        y << p << "  strategy: " << c.strategy << "\n";
        y << p << "  paths: " << c.paths << "\n";
      }
      if (c.affinity_s)
        y << p << "  source_affinity_s: " << c.affinity_s << "  # sticky, timeout\n";
      any = any || !c.commented;
    }
    if (!any)
      y << "  {}  # no rule could be converted\n";
    return y.str();
  }

  const Package& m_;
  const Package* net_;
  std::vector<Note> notes_;
  bool mwan4_ = false;
  std::vector<const Section*> globals_, member_secs_, policy_secs_, rule_secs_, disabled_;
  std::vector<Iface> ifaces_;
  std::vector<WanOut> wans_;
  std::map<std::string, MemberOut> members_;
  std::map<std::string, Shape> shapes_;
  std::vector<const Shape*> used_shapes_;
  std::vector<ClassOut> classes_;
  std::set<std::string> used_names_;
  std::optional<std::string> catch_all_;  // the first rule that matches everything
  std::vector<std::string> lan_;
  std::string lan_comment_;
  std::vector<std::string> lan_extra_;
  uint32_t mmx_mask_ = 0x3f00;
  int mmx_line_ = 0;
  std::string last_resort_ = "unreachable";
  bool flush_ = false;
};

}  // namespace

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
  return Converter(mwan3, network).run();
}

}  // namespace pathsteer::mwan3
