#include "netlink/types.h"

#include <cstdio>

namespace pathsteer {
namespace {

std::string hex(uint32_t v) {
  char buf[16];
  (void)std::snprintf(buf, sizeof(buf), "0x%x", v);
  return buf;
}

std::string table_name(uint32_t t) {
  switch (t) {
    case RT_TABLE_MAIN:
      return "main";
    case RT_TABLE_LOCAL:
      return "local";
    case RT_TABLE_DEFAULT:
      return "default";
    default:
      return std::to_string(t);
  }
}

std::string route_type_name(uint8_t t) {
  switch (t) {
    case RTN_UNICAST:
      return "unicast";
    case RTN_LOCAL:
      return "local";
    case RTN_BROADCAST:
      return "broadcast";
    case RTN_MULTICAST:
      return "multicast";
    case RTN_BLACKHOLE:
      return "blackhole";
    case RTN_UNREACHABLE:
      return "unreachable";
    case RTN_PROHIBIT:
      return "prohibit";
    case RTN_THROW:
      return "throw";
    default:
      return "type" + std::to_string(t);
  }
}

std::string scope_name(uint8_t s) {
  switch (s) {
    case RT_SCOPE_UNIVERSE:
      return "global";
    case RT_SCOPE_LINK:
      return "link";
    case RT_SCOPE_HOST:
      return "host";
    case RT_SCOPE_NOWHERE:
      return "nowhere";
    default:
      return std::to_string(s);
  }
}

std::string rule_action_name(const Rule& r) {
  switch (r.action) {
    case FR_ACT_TO_TBL:
      return "lookup " + table_name(r.table);
    case FR_ACT_BLACKHOLE:
      return "blackhole";
    case FR_ACT_UNREACHABLE:
      return "unreachable";
    case FR_ACT_PROHIBIT:
      return "prohibit";
    case FR_ACT_NOP:
      return "nop";
    case FR_ACT_GOTO:
      return "goto";
    default:
      return "action" + std::to_string(r.action);
  }
}

std::string range(uint32_t lo, uint32_t hi) {
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

}  // namespace

std::string Link::to_string() const {
  std::string s = "link " + std::to_string(ifindex) + " " + name;
  s += admin_up ? " up" : " down";
  s += carrier ? " carrier" : " no-carrier";
  return s;
}

std::string Address::to_string() const {
  return "addr " + addr.to_string() + "/" + std::to_string(prefix.len) + " ifindex " +
         std::to_string(ifindex);
}

std::string Route::to_string() const {
  std::string s = "route " + family_name(family) + " ";
  if (type != RTN_UNICAST)
    s += route_type_name(type) + " ";
  s += dst.len == 0 ? std::string("default") : dst.to_string();
  if (gateway)
    s += " via " + gateway->to_string();
  if (oif != 0)
    s += " oif " + std::to_string(oif);
  s += " table " + table_name(table);
  s += " proto " + std::to_string(protocol);
  if (scope != RT_SCOPE_UNIVERSE)
    s += " scope " + scope_name(scope);
  s += " metric " + std::to_string(priority);
  if (linkdown)
    s += " linkdown";
  return s;
}

std::string Rule::to_string() const {
  std::string s = "rule " + family_name(family) + " pref " + std::to_string(priority);
  if (invert)
    s += " not";
  if (src)
    s += " from " + src->to_string();
  if (dst)
    s += " to " + dst->to_string();
  if (tos != 0)
    s += " tos " + hex(tos);
  if (fwmark != 0 || fwmask != 0)
    s += " fwmark " + hex(fwmark) + "/" + hex(fwmask);
  if (!iifname.empty())
    s += " iif " + iifname;
  if (!oifname.empty())
    s += " oif " + oifname;
  if (ip_proto != 0)
    s += " ipproto " + std::to_string(ip_proto);
  if (sport)
    s += " sport " + range(sport->lo, sport->hi);
  if (dport)
    s += " dport " + range(dport->lo, dport->hi);
  if (uid_range)
    s += " uidrange " + range(uid_range->lo, uid_range->hi);
  s += " " + rule_action_name(*this);
  if (suppress_prefixlen >= 0)
    s += " suppress_prefixlength " + std::to_string(suppress_prefixlen);
  s += " proto " + std::to_string(protocol);
  return s;
}

}  // namespace pathsteer
