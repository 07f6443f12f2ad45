#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdint>
#include <limits>

#include "controller/policy_parse.h"

namespace pathsteer {

namespace {

constexpr std::string_view kTopKeys[] = {
    "version", "lan_interfaces", "datapath", "last_resort", "conntrack", "ownership",
    "wans",    "overlays",       "classes",  "dns",         "fleet"};
constexpr std::string_view kDnsKeys[] = {"min_ttl_s", "grace_s", "max_addrs_per_name"};
constexpr int64_t kMaxDnsSeconds = 7 * 24 * 3600;
constexpr int64_t kMaxAddrsPerName = 4096;
constexpr std::string_view kFleetKeys[] = {"endpoints", "node",         "groups",
                                           "prefix",    "token_file",   "ca_file",
                                           "confirm_s", "status_ttl_s", "status_figures_s"};
constexpr std::string_view kConntrackKeys[] = {"flush_on_down"};
constexpr std::string_view kBooleans[] = {"false", "true"};
constexpr std::string_view kDatapathKeys[] = {"mode", "flow_quota"};
// The flow table's entries per family (bpf/compile.h kFlowEntries): a larger
// quota could never bind.
constexpr int64_t kMaxFlowQuota = 262144;
constexpr std::string_view kOwnershipKeys[] = {"mark_mask", "rule_priority_base", "table_base",
                                               "route_protocol"};

bool valid_object_name(std::string_view s) {
  if (s.empty() || s.size() > 32)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// Node and group names: they become etcd key segments.
bool valid_fleet_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..")
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool valid_endpoint(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://"))
    rest = s.substr(7);
  else if (s.starts_with("https://"))
    rest = s.substr(8);
  else
    return false;
  if (rest.ends_with("/"))
    rest.remove_suffix(1);
  auto colon = rest.rfind(':');
  if (rest.empty() || colon == std::string_view::npos || colon == 0 ||
      rest.find('/') != std::string_view::npos)
    return false;
  std::string_view port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int n = std::stoi(std::string(port));
  return n > 0 && n <= 65535;
}

bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..")
    return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c));
  });
}

}  // namespace

Result<Policy> PolicyParser::run(const std::string& text) {
  std::optional<yaml::Node> doc = load(text);
  if (!doc)
    return invalid();

  Policy p;
  Field root(yaml::Node(), *doc, "");
  if (!expect_map(root, kTopKeys))
    return invalid();

  if (auto f = require(root, "version")) {
    if (auto v =
            integer(*f, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
      if (*v != 1) {
        error(*f, "unsupported policy version " + f->value.scalar() +
                      " (this pathsteer reads version 1)");
      }
    }
  }

  if (auto f = require(root, "lan_interfaces"); f && expect_list(*f)) {
    for (const auto& item : items(*f)) {
      auto name = string(item);
      if (!name || !check_ifname(item, *name, f->path))
        continue;
      if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), *name) !=
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
    set_u32(*f, "flow_quota", p.flow_quota, 0, kMaxFlowQuota);
  }

  if (auto f = get(root, "last_resort")) {
    if (auto i = choice(*f, kLastResortNames)) {
      p.last_resort = static_cast<LastResort>(*i);
    }
  }

  if (auto f = get(root, "conntrack"); f && expect_map(*f, kConntrackKeys)) {
    if (auto b = get(*f, "flush_on_down")) {
      if (auto i = choice(*b, kBooleans))
        p.conntrack_flush_on_down = *i == 1;
    }
  }

  if (auto f = get(root, "dns"); f && expect_map(*f, kDnsKeys)) {
    set_u32(*f, "min_ttl_s", p.dns.min_ttl_s, 0, kMaxDnsSeconds);
    set_u32(*f, "grace_s", p.dns.grace_s, 0, kMaxDnsSeconds);
    set_u32(*f, "max_addrs_per_name", p.dns.max_addrs_per_name, 1, kMaxAddrsPerName);
  }

  std::optional<Field> ownership = get(root, "ownership");
  if (ownership)
    parse_ownership(*ownership, p);

  std::optional<Field> wans = require(root, "wans");
  if (wans)
    parse_wans(*wans, p);
  if (auto f = get(root, "overlays"))
    parse_overlays(*f, p);
  // Its width depends on the number of wans and overlays, so it is checked only now.
  std::optional<Field> mask_field =
      ownership && ownership->value.is_map() ? get(*ownership, "mark_mask") : std::nullopt;
  if (mask_field) {
    check_mark_mask(*mask_field, p);
  } else if (wans) {
    check_mark_mask(*wans, p);
  }

  if (auto f = require(root, "classes"))
    parse_classes(*f, p);
  if (auto f = get(root, "fleet"))
    parse_fleet(*f, p);

  if (!errors().empty())
    return invalid_sorted();
  p.prefix_files = std::move(prefix_files_);
  return p;
}

void PolicyParser::parse_fleet(const Field& f, Policy& p) {
  if (!expect_map(f, kFleetKeys))
    return;
  FleetSpec spec;
  if (auto e = require(f, "endpoints"); e && expect_list(*e)) {
    auto list = items(*e);
    if (list.size() > 16)
      error(*e, "at most 16 endpoints in fleet.endpoints");
    for (const auto& item : list) {
      auto url = string(item);
      if (!url)
        continue;
      if (!valid_endpoint(*url)) {
        error(item, "invalid etcd endpoint '" + *url +
                        "' in fleet.endpoints (expected http://HOST:PORT or https://HOST:PORT)");
      } else {
        spec.endpoints.push_back(*url);
      }
    }
  }
  auto name_at = [&](const Field& at, const std::string& what) -> std::optional<std::string> {
    auto v = string(at);
    if (!v)
      return std::nullopt;
    if (!valid_fleet_name(*v)) {
      error(at, "invalid " + what + " '" + *v + "' (expected 1-64 of A-Z a-z 0-9 _ - .)");
      return std::nullopt;
    }
    return v;
  };
  if (auto n = get(f, "node")) {
    if (auto v = name_at(*n, "fleet.node"))
      spec.node = *v;
  }
  if (auto g = get(f, "groups"); g && expect_list(*g, /*allow_empty=*/true)) {
    for (const auto& item : items(*g)) {
      auto v = name_at(item, "group in fleet.groups");
      if (!v)
        continue;
      if (std::find(spec.groups.begin(), spec.groups.end(), *v) != spec.groups.end())
        error(item, "duplicate group '" + *v + "' in fleet.groups");
      else
        spec.groups.push_back(*v);
    }
  }
  if (auto x = get(f, "prefix")) {
    if (auto v = string(*x)) {
      if (v->empty() || v->front() != '/' || v->back() == '/' || v->size() > 200)
        error(*x, "invalid fleet.prefix '" + *v +
                      "' (expected a key prefix that starts with '/' and does not end with one)");
      else
        spec.prefix = *v;
    }
  }
  for (auto [key, out] :
       {std::pair{"token_file", &spec.token_file}, std::pair{"ca_file", &spec.ca_file}}) {
    if (auto x = get(f, key)) {
      if (auto v = string(*x)) {
        if (v->empty() || v->front() != '/')
          error(*x, std::string("fleet.") + key + " must be an absolute path");
        else
          *out = *v;
      }
    }
  }
  set_u32(f, "confirm_s", spec.confirm_s, 0, 3600);
  set_u32(f, "status_ttl_s", spec.status_ttl_s, 5, 300);
  set_u32(f, "status_figures_s", spec.status_figures_s, 1, 3600);
  p.fleet = std::move(spec);
}

void PolicyParser::parse_ownership(const Field& f, Policy& p) {
  if (!expect_map(f, kOwnershipKeys))
    return;
  Ownership& o = p.ownership;
  set_u32(f, "mark_mask", o.mark_mask, 0, kU32Max);  // shape checked with the wan count
  set_u32(f, "rule_priority_base", o.rule_priority_base, 1, 32000 - 1000);
  set_u32(f, "table_base", o.table_base, 1, kU32Max - 256);
  if (auto r = get(f, "route_protocol")) {
    if (auto v = integer(*r, 0, 255)) {
      if (*v < 5) {
        error(*r, "ownership.route_protocol " + r->value.scalar() +
                      " is reserved for the kernel (0-4: unspec, redirect, kernel, boot, static); "
                      "use 5..255");
      } else {
        o.route_protocol = static_cast<uint8_t>(*v);
      }
    }
  }
}

bool PolicyParser::check_name(const Field& entry, std::string_view kind) {
  const std::string& name = entry.key.scalar();
  if (valid_object_name(name))
    return true;
  error_at(entry.key.mark(), "invalid " + std::string(kind) + " name '" + name +
                                 "' (1-32 characters of A-Z a-z 0-9 _ -)");
  return false;
}

bool PolicyParser::check_ifname(const Field& at, const std::string& name, const std::string& path) {
  if (valid_ifname(name))
    return true;
  error(at, "invalid interface name '" + name + "' in " + path +
                " (1-15 characters, no '/', ':' or whitespace)");
  return false;
}

// `f` is where to point: the mark_mask value, or the wans if the mask is the default.
void PolicyParser::check_mark_mask(const Field& f, const Policy& p) {
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

}  // namespace pathsteer
