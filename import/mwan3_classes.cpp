// Members, policies and rules -> classes (import/mwan3_converter.h): each policy as
// tiers of wans by metric, each rule as a class with its match, its policy's
// strategy and paths, or a comment saying why it could not be carried over.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/net.h"
#include "import/mwan3_converter.h"

namespace pathsteer::mwan3::detail {

namespace {

// mwan3 2.12's documented options of member, policy and rule sections (mwan4's
// spellings are mapped onto these first).
const std::set<std::string> kMemberOptions = {"interface", "metric", "weight"};
const std::set<std::string> kPolicyOptions = {"use_member", "last_resort"};
const std::set<std::string> kRuleOptions = {"proto",     "src_ip",     "src_port",  "dest_ip",
                                            "dest_port", "ipset",      "family",    "sticky",
                                            "timeout",   "use_policy", "src_iface", "logging"};

// Protocols iptables knows by name that the policy file takes as numbers.
const std::map<std::string, int> kProtoNumbers = {
    {"sctp", 132}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"udplite", 136}};

}  // namespace

// ---- members and policies ----
void Converter::read_members() {
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

const Iface* Converter::iface(const std::string& name) const {
  for (const auto& i : ifaces_) {
    if (i.s->name == name)
      return &i;
  }
  return nullptr;
}

void Converter::read_policies() {
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
        bool dup =
            std::any_of(tier.begin(), tier.end(), [&](const auto& e) { return e.first == i->wan; });
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

void Converter::set_weight(const std::string& wan, const MemberOut& m) {
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
             w->weight_from + "'; pathsteer weights are per wan, so " + std::to_string(*w->weight) +
             " is used here too");
  }
}

// ---- rules -> classes ----
std::string Converter::class_name(const Section& s, size_t index) {
  std::string n = s.anonymous ? "rule_" + std::to_string(index) : s.name.substr(0, 32);
  std::string base = n;
  for (int k = 2; used_names_.count(n); ++k)
    n = base.substr(0, 28) + "_" + std::to_string(k);
  used_names_.insert(n);
  return n;
}

// "80,443" / "1000:2000" -> "80,443" / "1000-2000"; nullopt (noted) when invalid.
std::optional<std::string> Converter::ports(const Section& s, const Option& o) {
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
std::optional<std::vector<Prefix>> Converter::prefixes(const Section& s, const Option& o) {
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

std::string Converter::prefix_list(const std::vector<Prefix>& ps) {
  if (ps.size() == 1)
    return scalar(ps[0].to_string());
  std::string out = "[";
  for (size_t i = 0; i < ps.size(); ++i)
    out += (i ? ", " : "") + scalar(ps[i].to_string());
  return out + "]";
}

void Converter::read_rules() {
  size_t index = 0;
  for (const Section* sp : rule_secs_) {
    const Section& s = *sp;
    unknown_options(s, kRuleOptions);
    ClassOut c;
    c.name = class_name(s, index++);
    c.comments.push_back("rule '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) + ")");
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
        note(s, *o, "ports need proto tcp or udp; mwan3 ignores them here, and so does pathsteer");
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
      note(s, *po, "no policy '" + flat(*pol) + "'; mwan3 ignores the rule, and so does pathsteer");
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
bool Converter::has(const std::vector<Prefix>& src, const std::vector<Prefix>& dst, int family) {
  auto ok = [&](const std::vector<Prefix>& ps) {
    return ps.empty() || std::any_of(ps.begin(), ps.end(),
                                     [&](const Prefix& p) { return p.addr.family == family; });
  };
  return ok(src) && ok(dst);
}

// A rule of one family over a wan mwan3 does not carry that family on: mwan3
// leaves that member out (last_resort if none is left); pathsteer's wan
// carries both families wherever the device has a default route.
void Converter::check_families(const Section& s, const Option& po, const Shape& sh, bool v4,
                               bool v6) {
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

std::string Converter::describe(const Shape& sh) {
  if (sh.tiers.size() == 1 && sh.tiers[0].size() == 1)
    return ": one member";
  if (sh.tiers.size() == 1)
    return ": one metric tier";
  if (!sh.balanced())
    return ": one member per metric";
  return ": " + std::to_string(sh.tiers.size()) + " metric tiers";
}

std::string Converter::list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", " : "") + names[i];
  return out + "]";
}

void Converter::strategy_of(const Shape& sh, ClassOut& c) {
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

}  // namespace pathsteer::mwan3::detail
