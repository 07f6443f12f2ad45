#include "netlink/codec.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>

#include <array>
#include <cstring>
#include <initializer_list>
#include <utility>

namespace pathsteer::nlcodec {
namespace {

// What each attribute type must hold to be read (MNL_TYPE_UNSPEC: checked
// where it is read, or not read at all).
template <int kMax>
using AttrPolicy = std::array<mnl_attr_data_type, kMax + 1>;

template <int kMax>
struct Attrs {
  const AttrPolicy<kMax>* policy = nullptr;
  std::array<const nlattr*, kMax + 1> tb{};
  bool malformed = false;  // an attribute shorter than its type, or an unterminated string
  const nlattr* operator[](int i) const { return tb[i]; }
};

template <int kMax>
int collect_attr(const nlattr* attr, void* data) {
  auto* attrs = static_cast<Attrs<kMax>*>(data);
  int type = mnl_attr_get_type(attr);
  if (type >= 0 && type <= kMax) {
    mnl_attr_data_type want = (*attrs->policy)[type];
    if (want != MNL_TYPE_UNSPEC && mnl_attr_validate(attr, want) < 0)
      attrs->malformed = true;
    attrs->tb[type] = attr;
  }
  return MNL_CB_OK;
}

// The message's attributes after its family header; mnl_attr_parse bounds each
// one by nlmsg_len, and the policy bounds what the getters below read.
template <int kMax>
Attrs<kMax> parse_attrs(const nlmsghdr* nlh, size_t header_size, const AttrPolicy<kMax>& policy) {
  Attrs<kMax> attrs;
  attrs.policy = &policy;
  mnl_attr_parse(nlh, header_size, collect_attr<kMax>, &attrs);
  return attrs;
}

template <int kMax>
AttrPolicy<kMax> policy_of(std::initializer_list<std::pair<int, mnl_attr_data_type>> types) {
  AttrPolicy<kMax> p{};
  p.fill(MNL_TYPE_UNSPEC);
  for (auto [type, want] : types)
    p[type] = want;
  return p;
}

const AttrPolicy<IFLA_MAX> kLinkPolicy = policy_of<IFLA_MAX>({{IFLA_IFNAME, MNL_TYPE_NUL_STRING}});
const AttrPolicy<IFA_MAX> kAddressPolicy = policy_of<IFA_MAX>({});
const AttrPolicy<RTA_MAX> kRoutePolicy = policy_of<RTA_MAX>(
    {{RTA_TABLE, MNL_TYPE_U32}, {RTA_OIF, MNL_TYPE_U32}, {RTA_PRIORITY, MNL_TYPE_U32}});
const AttrPolicy<FRA_MAX> kRulePolicy = policy_of<FRA_MAX>({
    {FRA_PRIORITY, MNL_TYPE_U32},
    {FRA_FWMARK, MNL_TYPE_U32},
    {FRA_FWMASK, MNL_TYPE_U32},
    {FRA_TABLE, MNL_TYPE_U32},
    {FRA_SUPPRESS_PREFIXLEN, MNL_TYPE_U32},
    {FRA_PROTOCOL, MNL_TYPE_U8},
    {FRA_IP_PROTO, MNL_TYPE_U8},
    {FRA_IIFNAME, MNL_TYPE_NUL_STRING},
    {FRA_OIFNAME, MNL_TYPE_NUL_STRING},
});

std::optional<IpAddr> attr_addr(const nlattr* a, int family) {
  if (a == nullptr)
    return std::nullopt;
  IpAddr ip;
  ip.family = family;
  size_t want = ip.size();
  if (mnl_attr_get_payload_len(a) != want)
    return std::nullopt;
  std::memcpy(ip.bytes.data(), mnl_attr_get_payload(a), want);
  return ip;
}

Prefix masked(IpAddr addr, uint8_t len) {
  for (size_t i = 0; i < addr.size(); ++i) {
    int bits = static_cast<int>(len) - static_cast<int>(i * 8);
    if (bits >= 8)
      continue;
    addr.bytes[i] &= bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
  }
  return Prefix{.addr = addr, .len = len};
}

std::optional<Prefix> attr_prefix(const nlattr* a, int family, uint8_t len) {
  if (a == nullptr) {
    if (len != 0)
      return std::nullopt;
    return Prefix::default_route(family);
  }
  auto ip = attr_addr(a, family);
  if (!ip)
    return std::nullopt;
  return masked(*ip, len);
}

uint32_t u32_or(const nlattr* a, uint32_t fallback) {
  return a != nullptr ? mnl_attr_get_u32(a) : fallback;
}

// RTA_MULTIPATH holds rtnexthops, each rtnh_len long with its attributes
// after it: the hop must lie inside the attribute and its attributes inside the
// hop, whatever the lengths claim. False if they do not.
bool take_first_hop(const nlattr* multipath, Route& r) {
  const auto* p = static_cast<const char*>(mnl_attr_get_payload(multipath));
  size_t len = mnl_attr_get_payload_len(multipath);
  if (len < sizeof(rtnexthop))
    return len == 0;  // no hops: nothing to take
  rtnexthop nh;
  std::memcpy(&nh, p, sizeof(nh));
  if (nh.rtnh_len < sizeof(nh) || nh.rtnh_len > len)
    return false;
  r.oif = nh.rtnh_ifindex;
  r.linkdown = (nh.rtnh_flags & RTNH_F_LINKDOWN) != 0;
  size_t off = RTNH_ALIGN(sizeof(nh));
  while (off < nh.rtnh_len) {
    const auto* a = reinterpret_cast<const nlattr*>(p + off);
    if (!mnl_attr_ok(a, static_cast<int>(nh.rtnh_len - off)))
      return false;
    if (mnl_attr_get_type(a) == RTA_GATEWAY)
      r.gateway = attr_addr(a, r.family);
    off += MNL_ALIGN(a->nla_len);
  }
  return true;
}

void put_addr(nlmsghdr* nlh, uint16_t type, const IpAddr& a) {
  mnl_attr_put(nlh, type, a.size(), a.bytes.data());
}

}  // namespace

std::optional<Link> parse_link(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
    return std::nullopt;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg)))
    return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  auto tb = parse_attrs<IFLA_MAX>(nlh, sizeof(*ifi), kLinkPolicy);
  if (tb.malformed)
    return std::nullopt;
  Link link{.ifindex = ifi->ifi_index,
            .admin_up = (ifi->ifi_flags & IFF_UP) != 0,
            .carrier = (ifi->ifi_flags & IFF_LOWER_UP) != 0,
            .flags = ifi->ifi_flags};
  if (tb[IFLA_IFNAME] != nullptr)
    link.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
  return link;
}

std::optional<Address> parse_address(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
    return std::nullopt;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg)))
    return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
    return std::nullopt;
  auto tb = parse_attrs<IFA_MAX>(nlh, sizeof(*ifa), kAddressPolicy);
  // IFA_LOCAL is the local address; IFA_ADDRESS is the peer on point-to-point links.
  auto addr =
      attr_addr(tb[IFA_LOCAL] != nullptr ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], ifa->ifa_family);
  if (!addr)
    return std::nullopt;
  return Address{.ifindex = static_cast<int>(ifa->ifa_index),
                 .family = ifa->ifa_family,
                 .prefix = masked(*addr, ifa->ifa_prefixlen),
                 .addr = *addr};
}

std::optional<Route> parse_route(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE)
    return std::nullopt;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg)))
    return std::nullopt;
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
    return std::nullopt;
  auto tb = parse_attrs<RTA_MAX>(nlh, sizeof(*rtm), kRoutePolicy);
  if (tb.malformed)
    return std::nullopt;
  auto dst = attr_prefix(tb[RTA_DST], rtm->rtm_family, rtm->rtm_dst_len);
  if (!dst)
    return std::nullopt;
  Route r{.family = rtm->rtm_family,
          .table = u32_or(tb[RTA_TABLE], rtm->rtm_table),
          .dst = *dst,
          .gateway = attr_addr(tb[RTA_GATEWAY], rtm->rtm_family),
          .oif = static_cast<int>(u32_or(tb[RTA_OIF], 0)),
          .protocol = rtm->rtm_protocol,
          .type = rtm->rtm_type,
          .scope = rtm->rtm_scope,
          .priority = u32_or(tb[RTA_PRIORITY], 0),
          .linkdown = (rtm->rtm_flags & RTNH_F_LINKDOWN) != 0};
  if (tb[RTA_MULTIPATH] != nullptr && !r.gateway && r.oif == 0) {
    // We never write multipath routes; keep the first hop so foreign ones
    // still print and compare sensibly.
    if (!take_first_hop(tb[RTA_MULTIPATH], r))
      return std::nullopt;
  }
  return r;
}

std::optional<Rule> parse_rule(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWRULE && nlh->nlmsg_type != RTM_DELRULE)
    return std::nullopt;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(fib_rule_hdr)))
    return std::nullopt;
  const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
  if (frh->family != AF_INET && frh->family != AF_INET6)
    return std::nullopt;
  auto tb = parse_attrs<FRA_MAX>(nlh, sizeof(*frh), kRulePolicy);
  if (tb.malformed)
    return std::nullopt;
  Rule r{.family = frh->family,
         .priority = u32_or(tb[FRA_PRIORITY], 0),
         .fwmark = u32_or(tb[FRA_FWMARK], 0),
         .fwmask = u32_or(tb[FRA_FWMASK], 0),
         .table = u32_or(tb[FRA_TABLE], frh->table),
         .action = frh->action,
         .protocol = tb[FRA_PROTOCOL] != nullptr ? mnl_attr_get_u8(tb[FRA_PROTOCOL])
                                                 : static_cast<uint8_t>(RTPROT_UNSPEC),
         .tos = frh->tos,
         .invert = (frh->flags & FIB_RULE_INVERT) != 0};
  if (tb[FRA_SUPPRESS_PREFIXLEN] != nullptr) {
    r.suppress_prefixlen = static_cast<int32_t>(mnl_attr_get_u32(tb[FRA_SUPPRESS_PREFIXLEN]));
  }
  if (frh->src_len != 0 || tb[FRA_SRC] != nullptr) {
    r.src = attr_prefix(tb[FRA_SRC], frh->family, frh->src_len);
  }
  if (frh->dst_len != 0 || tb[FRA_DST] != nullptr) {
    r.dst = attr_prefix(tb[FRA_DST], frh->family, frh->dst_len);
  }
  if (tb[FRA_IIFNAME] != nullptr)
    r.iifname = mnl_attr_get_str(tb[FRA_IIFNAME]);
  if (tb[FRA_OIFNAME] != nullptr)
    r.oifname = mnl_attr_get_str(tb[FRA_OIFNAME]);
  if (tb[FRA_IP_PROTO] != nullptr)
    r.ip_proto = mnl_attr_get_u8(tb[FRA_IP_PROTO]);
  auto port_range = [&](int type) -> std::optional<PortRange> {
    if (tb[type] == nullptr || mnl_attr_get_payload_len(tb[type]) < sizeof(fib_rule_port_range)) {
      return std::nullopt;
    }
    fib_rule_port_range pr;
    std::memcpy(&pr, mnl_attr_get_payload(tb[type]), sizeof(pr));
    return PortRange{.lo = pr.start, .hi = pr.end};
  };
  r.sport = port_range(FRA_SPORT_RANGE);
  r.dport = port_range(FRA_DPORT_RANGE);
  if (tb[FRA_UID_RANGE] != nullptr &&
      mnl_attr_get_payload_len(tb[FRA_UID_RANGE]) >= sizeof(fib_rule_uid_range)) {
    fib_rule_uid_range ur;
    std::memcpy(&ur, mnl_attr_get_payload(tb[FRA_UID_RANGE]), sizeof(ur));
    r.uid_range = UidRange{.lo = ur.start, .hi = ur.end};
  }
  return r;
}

nlmsghdr* put_rule(void* buf, uint16_t type, uint16_t flags, uint32_t seq, const Rule& rule) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = static_cast<uint8_t>(rule.family);
  frh->action = rule.action;
  frh->table =
      rule.table < 256 ? static_cast<uint8_t>(rule.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  frh->tos = rule.tos;
  frh->flags = rule.invert ? FIB_RULE_INVERT : 0;
  mnl_attr_put_u32(nlh, FRA_PRIORITY, rule.priority);
  if (rule.table != 0)
    mnl_attr_put_u32(nlh, FRA_TABLE, rule.table);
  if (rule.fwmark != 0 || rule.fwmask != 0) {
    mnl_attr_put_u32(nlh, FRA_FWMARK, rule.fwmark);
    mnl_attr_put_u32(nlh, FRA_FWMASK, rule.fwmask != 0 ? rule.fwmask : 0xffffffffU);
  }
  if (rule.suppress_prefixlen >= 0) {
    mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, static_cast<uint32_t>(rule.suppress_prefixlen));
  }
  mnl_attr_put_u8(nlh, FRA_PROTOCOL, rule.protocol);
  if (rule.src) {
    frh->src_len = rule.src->len;
    put_addr(nlh, FRA_SRC, rule.src->addr);
  }
  if (rule.dst) {
    frh->dst_len = rule.dst->len;
    put_addr(nlh, FRA_DST, rule.dst->addr);
  }
  if (!rule.iifname.empty())
    mnl_attr_put_strz(nlh, FRA_IIFNAME, rule.iifname.c_str());
  if (!rule.oifname.empty())
    mnl_attr_put_strz(nlh, FRA_OIFNAME, rule.oifname.c_str());
  if (rule.ip_proto != 0)
    mnl_attr_put_u8(nlh, FRA_IP_PROTO, rule.ip_proto);
  if (rule.sport) {
    fib_rule_port_range pr{.start = rule.sport->lo, .end = rule.sport->hi};
    mnl_attr_put(nlh, FRA_SPORT_RANGE, sizeof(pr), &pr);
  }
  if (rule.dport) {
    fib_rule_port_range pr{.start = rule.dport->lo, .end = rule.dport->hi};
    mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(pr), &pr);
  }
  if (rule.uid_range) {
    fib_rule_uid_range ur{.start = rule.uid_range->lo, .end = rule.uid_range->hi};
    mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(ur), &ur);
  }
  return nlh;
}

nlmsghdr* put_route(void* buf, uint16_t type, uint16_t flags, uint32_t seq, const Route& route) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<uint8_t>(route.family);
  rtm->rtm_dst_len = route.dst.len;
  rtm->rtm_table =
      route.table < 256 ? static_cast<uint8_t>(route.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rtm->rtm_protocol = route.protocol;
  rtm->rtm_type = route.type;
  rtm->rtm_scope = type == RTM_DELROUTE ? static_cast<uint8_t>(RT_SCOPE_NOWHERE) : route.scope;
  mnl_attr_put_u32(nlh, RTA_TABLE, route.table);
  if (route.dst.len != 0)
    put_addr(nlh, RTA_DST, route.dst.addr);
  if (route.gateway)
    put_addr(nlh, RTA_GATEWAY, *route.gateway);
  if (route.oif != 0)
    mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(route.oif));
  if (route.priority != 0)
    mnl_attr_put_u32(nlh, RTA_PRIORITY, route.priority);
  return nlh;
}

}  // namespace pathsteer::nlcodec
