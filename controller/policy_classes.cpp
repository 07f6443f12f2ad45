#include <algorithm>
#include <cctype>
#include <cstring>
#include <iterator>
#include <variant>

#include "bpf/compile.h"
#include "controller/policy_parse.h"
#include "controller/prefix_list.h"

namespace pathsteer {

namespace {

constexpr std::string_view kClassKeys[] = {"match", "strategy",          "sla",   "hold_down_s",
                                           "paths", "source_affinity_s", "action"};
// A week: longer is a misunderstanding (the flow table forgets flows in minutes).
constexpr int64_t kMaxAffinityS = 7 * 24 * 3600;
constexpr std::string_view kMatchKeys[] = {"proto",    "sport", "dport", "src", "dst",   "src_file",
                                           "dst_file", "dscp",  "iif",   "uid", "domain"};
constexpr std::string_view kSlaKeys[] = {"max_rtt_ms", "max_jitter_ms", "max_loss_pct"};

// Which address families an entry's prefixes allow: bit 0 = IPv4, bit 1 = IPv6.
int families_of(const std::vector<Prefix>& ps) {
  if (ps.empty())
    return 3;
  int f = 0;
  for (const auto& p : ps)
    f |= p.addr.is_v4() ? 1 : 2;
  return f;
}

// A `domain` value, lowercased and without a trailing dot, or why it is not a
// DNS name: labels of [a-z0-9_-]{1,63} (underscore for service names), at most
// 253 characters, optionally led by "*." (every name below the rest).
std::variant<std::string, std::string> normalize_domain(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const bool below = out.starts_with("*.");
  if (out.size() > (below ? 2U : 0U) && out.back() == '.')
    out.pop_back();  // a fully qualified name's root
  std::string_view rest = out;
  if (below)
    rest.remove_prefix(2);
  if (rest.empty())
    return std::variant<std::string, std::string>(std::in_place_index<1>, "an empty name");
  if (out.size() > 253)
    return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                  "longer than 253 characters");
  size_t start = 0;
  while (start <= rest.size()) {
    size_t dot = rest.find('.', start);
    size_t end = dot == std::string_view::npos ? rest.size() : dot;
    std::string_view label = rest.substr(start, end - start);
    if (label.empty())
      return std::variant<std::string, std::string>(std::in_place_index<1>, "an empty label");
    if (label.size() > 63)
      return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                    "a label longer than 63 characters");
    for (char c : label) {
      if (c == '*')
        return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                      "'*' other than as a leading \"*.\" label");
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                      std::string("the character '") + c + "'");
    }
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, std::move(out));
}

}  // namespace

void PolicyParser::parse_classes(const Field& f, Policy& p) {
  if (!expect_map(f, Keys{}))
    return;
  if (f.value.size() == 0)
    error(f, "classes must define at least one class");
  std::optional<std::string> catch_all;  // a class without match seen so far
  for (const auto& cf : entries(f)) {
    ClassSpec c{.name = cf.key.scalar()};
    if (!check_name(cf, "class"))
      continue;
    if (catch_all) {
      error_at(cf.key.mark(), "class '" + c.name + "' can never match: class '" + *catch_all +
                                  "' before it has no 'match' and takes all traffic");
    }
    if (!catch_all && cf.value.is_map() && !get(cf, "match"))
      catch_all = c.name;
    parse_class(cf, c, p);
    p.classes.push_back(std::move(c));
  }
}

void PolicyParser::parse_class(const Field& f, ClassSpec& c, const Policy& p) {
  if (!expect_map(f, kClassKeys))
    return;
  if (auto m = get(f, "match"); m && expect_list(*m)) {
    for (const auto& item : items(*m)) {
      if (auto e = parse_match(item))
        c.match.push_back(std::move(*e));
    }
  }
  if (auto a = get(f, "action")) {
    parse_action(f, *a, c, p);
    return;
  }
  std::optional<Field> strategy = get(f, "strategy");
  if (strategy) {
    if (auto i = choice(*strategy, kStrategyNames)) {
      c.strategy = static_cast<Strategy>(*i);
    } else {
      strategy.reset();  // already reported; do not pile sla errors on top
    }
  }
  std::optional<Field> sla = get(f, "sla");
  if (sla && strategy && c.strategy != Strategy::kSla) {
    error_at(sla->key.mark(), "'sla' in " + f.path +
                                  " is only used with strategy sla (strategy is " +
                                  to_string(c.strategy) + ")");
  } else if (sla) {
    c.sla = parse_sla(*sla);
  } else if (strategy && c.strategy == Strategy::kSla) {
    error(*strategy, "strategy sla in " + f.path + " needs an 'sla' block");
  }
  set_u32(f, "hold_down_s", c.hold_down_s, 0);
  if (auto a = get(f, "source_affinity_s")) {
    if (strategy && c.strategy != Strategy::kBalance) {
      error_at(a->key.mark(), "'source_affinity_s' in " + f.path +
                                  " is only used with strategy balance (strategy is " +
                                  to_string(c.strategy) + ")");
    } else if (auto v = integer(*a, 1, kMaxAffinityS)) {
      c.source_affinity_s = static_cast<uint32_t>(*v);
    }
  }
  if (auto pf = require(f, "paths"); pf && expect_list(*pf)) {
    bool tiered = false;
    uint32_t tier = 0;
    auto add = [&](const Field& item) {
      auto name = string(item);
      if (!name)
        return;
      if (!p.find_wan(*name) && !p.find_overlay(*name)) {
        error(item, "class '" + c.name + "' paths: unknown wan or overlay '" + *name + "'");
      } else if (std::find(c.paths.begin(), c.paths.end(), *name) != c.paths.end()) {
        error(item, "class '" + c.name + "' paths: " + (p.find_wan(*name) ? "wan" : "overlay") +
                        " '" + *name + "' is listed twice");
      } else {
        c.paths.push_back(*name);
        c.tiers.push_back(tier);
      }
    };
    for (const auto& item : items(*pf)) {
      // A nested list is a tier of a balance class: "balance within it, fail
      // over between tiers" (mwan3's metrics).
      if (item.value.is_sequence()) {
        tiered = true;
        if (strategy && c.strategy != Strategy::kBalance) {
          error(item, "class '" + c.name + "' paths: a list of paths (a tier) is only used " +
                          "with strategy balance (strategy is " + to_string(c.strategy) + ")");
        } else if (item.value.size() == 0) {
          error(item, "class '" + c.name + "' paths: empty tier " + item.path);
        }
        for (const auto& inner : items(item)) {
          if (inner.value.is_sequence()) {
            error(inner, "class '" + c.name + "' paths: tiers do not nest (" + inner.path + ")");
          } else {
            add(inner);
          }
        }
      } else {
        add(item);
      }
      ++tier;
    }
    if (!tiered)
      c.tiers.clear();  // one tier: the plain form
  }
}

// A class that never uses an uplink (ClassSpec::action).
void PolicyParser::parse_action(const Field& f, const Field& a, ClassSpec& c, const Policy& p) {
  for (std::string_view key : {"strategy", "sla", "hold_down_s", "source_affinity_s", "paths"}) {
    if (auto other = get(f, key)) {
      error_at(other->key.mark(), "'" + std::string(key) + "' in " + f.path +
                                      " is not used with 'action' (the class uses no uplink)");
    }
  }
  auto i = choice(a, kLastResortNames);
  if (!i)
    return;
  auto action = static_cast<LastResort>(*i);
  if (action != LastResort::kMain && action != p.last_resort) {
    error(a, "action " + std::string(to_string(action)) + " in " + f.path +
                 " needs last_resort: " + to_string(action) + " (last_resort is " +
                 to_string(p.last_resort) + "; one mark value leads there)");
    return;
  }
  c.action = action;
}

std::optional<SlaSpec> PolicyParser::parse_sla(const Field& f) {
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

std::optional<MatchEntry> PolicyParser::parse_match(const Field& f) {
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
    std::string s = proto->value.is_scalar() ? proto->value.scalar() : "";
    auto named = std::find(std::begin(kNames), std::end(kNames), s);
    if (named != std::end(kNames)) {
      size_t i = named - std::begin(kNames);
      if (i < 4)
        e.proto = kNumbers[i];
    } else if (proto->value.is_scalar() && parse_int(s)) {
      if (auto v = integer(*proto, 0, 255)) {
        e.proto = static_cast<uint8_t>(*v);
      } else {
        ok = false;
      }
    } else {
      ok = false;
      if (!proto->value.is_scalar()) {
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
      error_at(pf->key.mark(),
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
  for (std::string_view key : {"src_file", "dst_file"}) {
    auto pf = get(f, key);
    if (!pf)
      continue;
    PrefixList& list = key == "src_file" ? e.src : e.dst;
    if (!parse_prefix_files(*pf, list)) {
      ok = false;
    } else if (list.empty()) {
      // An empty list would leave the field free: every address would match.
      error_at(pf->key.mark(), "'" + std::string(key) + "' in " + f.path +
                                   " lists no prefix, and an entry without " +
                                   std::string(key.substr(0, 3)) + " prefixes matches every " +
                                   (key == "src_file" ? "source" : "destination"));
      ok = false;
    }
  }
  if (auto d = get(f, "dscp")) {
    std::optional<uint8_t> v;
    if (d->value.is_scalar()) {
      v = dscp_from_name(d->value.scalar());
      auto n = parse_int(d->value.scalar());
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
        if (!name || !check_ifname(part, *name, i->path)) {
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
  if (auto d = get(f, "domain")) {
    if (auto parts = scalar_or_list(*d)) {
      for (const auto& part : *parts) {
        auto name = string(part);
        if (!name) {
          ok = false;
          continue;
        }
        auto norm = normalize_domain(*name);
        if (norm.index() == 1) {
          error(part, "invalid domain '" + *name + "' in " + d->path + ": " + std::get<1>(norm) +
                          " (expected a DNS name like video.example or *.cdn.example)");
          ok = false;
        } else if (std::find(e.domain.begin(), e.domain.end(), std::get<0>(norm)) ==
                   e.domain.end()) {
          e.domain.push_back(std::get<0>(norm));
        }
      }
    } else {
      ok = false;
    }
    for (std::string_view key : {"dst", "dst_file"}) {
      if (get(f, key)) {
        error_at(d->key.mark(), "'domain' and '" + std::string(key) + "' in " + f.path +
                                    " cannot be combined (the learned addresses are the "
                                    "destinations; use two entries)");
        ok = false;
      }
    }
    if (get(f, "uid")) {
      error_at(d->key.mark(), f.path +
                                  " can never match: 'uid' selects the gateway's own traffic, "
                                  "which 'domain' (learned on the LAN) never sees");
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

bool PolicyParser::parse_prefix_files(const Field& f, PrefixList& out) {
  auto parts = scalar_or_list(f);
  if (!parts)
    return false;
  bool ok = true;
  for (const auto& part : *parts) {
    auto name = string(part);
    if (!name) {
      ok = false;
      continue;
    }
    if (name->empty()) {
      error(part, "empty path for " + f.path);
      ok = false;
      continue;
    }
    std::string path = name->front() == '/' || base_dir_.empty() ? *name
                       : base_dir_.back() == '/'                 ? base_dir_ + *name
                                                                 : base_dir_ + "/" + *name;
    auto list = load_prefix_list(path, kMaxPrefixes);
    if (!list && !list.error().details.empty()) {
      for (const auto& d : list.error().details)
        add_error(d);
      ok = false;
      continue;
    }
    if (!list) {
      // One path: at its key; an item of a list: at the item.
      auto at = part.key.defined() ? part.key.mark() : part.value.mark();
      const Error& err = list.error();
      std::string why = err.err_no != 0 ? std::strerror(err.err_no) : err.context;
      std::string named = path == *name ? "'" + path + "'" : "'" + *name + "' (" + path + ")";
      error_at(at, "cannot read the prefix file " + named + " of " + f.path + ": " + why);
      ok = false;
      continue;
    }
    out.append(*list);
    if (std::find(prefix_files_.begin(), prefix_files_.end(), path) == prefix_files_.end())
      prefix_files_.push_back(path);
  }
  return ok;
}

}  // namespace pathsteer
