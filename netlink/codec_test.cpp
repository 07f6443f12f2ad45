// The decoders against crafted messages (no kernel, no root): lengths that lie
// must give nullopt (or no extack message), never a read outside the message.
#include "netlink/codec.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <vector>

#include "netlink/conntrack.h"
#include "netlink/nl_io.h"

namespace pathsteer {
namespace {

// A message built with libmnl, then copied into a buffer of exactly its size so
// that a sanitizer sees any read past it.
class Msg {
 public:
  explicit Msg(uint16_t type) : buf_(MNL_SOCKET_BUFFER_SIZE) {
    nlh_ = mnl_nlmsg_put_header(buf_.data());
    nlh_->nlmsg_type = type;
  }
  template <typename T>
  T* header() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(T)));
  }
  nlmsghdr* nlh() { return nlh_; }
  // Raw bytes at the tail, counted in the message.
  void put_raw(const void* data, size_t len) {
    std::memcpy(mnl_nlmsg_get_payload_tail(nlh_), data, len);
    nlh_->nlmsg_len += static_cast<uint32_t>(len);
  }
  const nlmsghdr* exact() {
    exact_.assign(buf_.data(), buf_.data() + nlh_->nlmsg_len);
    return reinterpret_cast<const nlmsghdr*>(exact_.data());
  }

 private:
  std::vector<char> buf_;
  std::vector<char> exact_;
  nlmsghdr* nlh_;
};

// An IPv4 route in the main table whose RTA_MULTIPATH holds one hop of
// rtnh_len bytes, followed by `hop_attrs_len` bytes of attributes (an
// RTA_GATEWAY of 8 bytes if there is room).
Msg multipath_route(uint16_t rtnh_len, bool with_gateway) {
  Msg m(RTM_NEWROUTE);
  auto* rtm = m.header<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  nlattr* nest = mnl_attr_nest_start(m.nlh(), RTA_MULTIPATH);
  rtnexthop nh{};
  nh.rtnh_len = rtnh_len;
  nh.rtnh_ifindex = 7;
  m.put_raw(&nh, sizeof(nh));
  if (with_gateway) {
    in_addr gw{};
    inet_pton(AF_INET, "192.0.2.1", &gw);
    mnl_attr_put(m.nlh(), RTA_GATEWAY, sizeof(gw), &gw);
  }
  mnl_attr_nest_end(m.nlh(), nest);
  return m;
}

TEST(Codec, MultipathFirstHopWithItsGateway) {
  Msg m = multipath_route(sizeof(rtnexthop) + 8, true);
  auto r = nlcodec::parse_route(m.exact());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->oif, 7);
  ASSERT_TRUE(r->gateway);
  EXPECT_EQ(r->gateway->to_string(), "192.0.2.1");
}

TEST(Codec, MultipathHopLongerThanItsAttributeIsMalformed) {
  // The hop claims more than RTA_MULTIPATH holds: before, the walk went on
  // into whatever followed the message.
  for (uint16_t len : {uint16_t{sizeof(rtnexthop) + 16}, uint16_t{4096}, uint16_t{0xffff}}) {
    Msg m = multipath_route(len, false);
    EXPECT_FALSE(nlcodec::parse_route(m.exact())) << len;
  }
  // Shorter than its own header.
  Msg tiny = multipath_route(4, false);
  EXPECT_FALSE(nlcodec::parse_route(tiny.exact()));
  // The hop holds 12 attribute bytes but its attribute claims more.
  Msg m = multipath_route(sizeof(rtnexthop) + 12, true);
  nlattr lying{.nla_len = 64, .nla_type = RTA_GATEWAY};
  auto* mp = reinterpret_cast<nlattr*>(static_cast<char*>(mnl_nlmsg_get_payload(m.nlh())) +
                                       NLMSG_ALIGN(sizeof(rtmsg)));
  m.put_raw(&lying, sizeof(lying));
  mp->nla_len += sizeof(lying);
  EXPECT_FALSE(nlcodec::parse_route(m.exact()));
}

TEST(Codec, AttributesShorterThanTheirTypeAreMalformed) {
  Msg route(RTM_NEWROUTE);
  route.header<rtmsg>()->rtm_family = AF_INET;
  uint16_t two = 2;
  mnl_attr_put(route.nlh(), RTA_OIF, sizeof(two), &two);
  EXPECT_FALSE(nlcodec::parse_route(route.exact()));

  Msg link(RTM_NEWLINK);
  link.header<ifinfomsg>();
  mnl_attr_put(link.nlh(), IFLA_IFNAME, 4, "eth0");  // no NUL
  EXPECT_FALSE(nlcodec::parse_link(link.exact()));

  Msg rule(RTM_NEWRULE);
  rule.header<fib_rule_hdr>()->family = AF_INET;
  mnl_attr_put(rule.nlh(), FRA_PROTOCOL, 0, nullptr);
  EXPECT_FALSE(nlcodec::parse_rule(rule.exact()));

  Msg named(RTM_NEWLINK);
  named.header<ifinfomsg>()->ifi_index = 3;
  mnl_attr_put_strz(named.nlh(), IFLA_IFNAME, "eth0");
  auto l = nlcodec::parse_link(named.exact());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->name, "eth0");
}

TEST(Codec, ConntrackProtocolNumberMustBeThere) {
  auto entry = [](bool empty_proto_num) {
    Msg m((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW);
    m.header<nfgenmsg>()->nfgen_family = AF_INET;
    for (int dir : {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY}) {
      nlattr* tuple = mnl_attr_nest_start(m.nlh(), static_cast<uint16_t>(dir));
      nlattr* ip = mnl_attr_nest_start(m.nlh(), CTA_TUPLE_IP);
      mnl_attr_put_u32(m.nlh(), CTA_IP_V4_SRC, htonl(0xc0000201));
      mnl_attr_put_u32(m.nlh(), CTA_IP_V4_DST, htonl(0xc6336401));
      mnl_attr_nest_end(m.nlh(), ip);
      nlattr* proto = mnl_attr_nest_start(m.nlh(), CTA_TUPLE_PROTO);
      if (empty_proto_num)
        mnl_attr_put(m.nlh(), CTA_PROTO_NUM, 0, nullptr);
      else
        mnl_attr_put_u8(m.nlh(), CTA_PROTO_NUM, IPPROTO_UDP);
      mnl_attr_nest_end(m.nlh(), proto);
      mnl_attr_nest_end(m.nlh(), tuple);
    }
    return m;
  };
  Msg good = entry(false);
  auto e = parse_conntrack_entry(good.exact());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->original.protocol, IPPROTO_UDP);
  EXPECT_EQ(e->reply.dst.to_string(), "198.51.100.1");
  Msg bad = entry(true);
  EXPECT_FALSE(parse_conntrack_entry(bad.exact()));
}

TEST(Codec, AMessageLengthOf2GiBOrMoreDoesNotFitADatagram) {
  alignas(nlmsghdr) char buf[64] = {};
  auto* m = reinterpret_cast<nlmsghdr*>(buf);
  m->nlmsg_len = 0x80400a00;  // found by the fuzzer: mnl_nlmsg_ok took it as negative
  EXPECT_TRUE(mnl_nlmsg_ok(m, sizeof(buf)));
  EXPECT_FALSE(nlio::message_ok(m, sizeof(buf)));
  m->nlmsg_len = sizeof(buf);
  EXPECT_TRUE(nlio::message_ok(m, sizeof(buf)));
  EXPECT_FALSE(nlio::message_ok(m, sizeof(buf) - 1));
}

TEST(Codec, AckWithLyingLengthsGivesNoMessage) {
  auto ack = [](uint32_t echoed_len, const char* text, size_t text_len) {
    Msg m(NLMSG_ERROR);
    m.nlh()->nlmsg_flags = NLM_F_ACK_TLVS;
    auto* e = m.header<nlmsgerr>();
    e->error = -EINVAL;
    e->msg.nlmsg_len = echoed_len;
    mnl_attr_put(m.nlh(), NLMSGERR_ATTR_MSG, text_len, text);
    return m;
  };
  Msg good = ack(sizeof(nlmsghdr), "bad", 4);
  nlio::Ack a = nlio::parse_ack(good.exact());
  EXPECT_EQ(a.err_no, EINVAL);
  EXPECT_EQ(a.message, "bad");
  Msg odd = ack(sizeof(nlmsghdr), "bad", 4);
  reinterpret_cast<nlmsgerr*>(mnl_nlmsg_get_payload(odd.nlh()))->error = INT32_MIN;
  EXPECT_EQ(nlio::parse_ack(odd.exact()).err_no, EPROTO);  // found by the fuzzer: -INT_MIN
  Msg unterminated = ack(sizeof(nlmsghdr), "bad!", 4);
  EXPECT_EQ(nlio::parse_ack(unterminated.exact()).message, "");
  for (uint32_t lying : {0u, 8u, 4096u, 0xffffffffu}) {
    Msg m = ack(lying, "bad", 4);
    nlio::Ack b = nlio::parse_ack(m.exact());
    EXPECT_EQ(b.err_no, EINVAL) << lying;
    EXPECT_EQ(b.message, "") << lying;
  }
}

}  // namespace
}  // namespace pathsteer
