#include <gtest/gtest.h>
#include <sys/socket.h>

#include "probes/icmp.h"

namespace pathsteer {
namespace {

TEST(Icmp, ChecksumRfc1071Example) {
  // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, checksum 220d.
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(inet_checksum(data, sizeof(data)), 0x220d);
}

TEST(Icmp, V4RequestHasValidChecksumAndIds) {
  auto pkt = build_echo_request(AF_INET, {.ident = 0xbeef, .seq = 0xffff});
  ASSERT_GE(pkt.size(), 8u);
  EXPECT_EQ(pkt[0], 8);
  EXPECT_EQ(pkt[1], 0);
  EXPECT_EQ(inet_checksum(pkt.data(), pkt.size()), 0);  // a valid checksum sums to 0
  EXPECT_EQ(pkt[4], 0xbe);
  EXPECT_EQ(pkt[5], 0xef);
  EXPECT_EQ(pkt[6], 0xff);
  EXPECT_EQ(pkt[7], 0xff);
}

TEST(Icmp, ParsesV4ReplyAfterIpHeaderWithOptions) {
  auto req = build_echo_request(AF_INET, {.ident = 7, .seq = 9});
  std::vector<uint8_t> pkt(24, 0);
  pkt[0] = 0x46;  // IPv4, IHL 6 (4 bytes of options)
  req[0] = 0;     // echo reply
  pkt.insert(pkt.end(), req.begin(), req.end());
  auto id = parse_echo_reply(AF_INET, pkt.data(), pkt.size());
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (EchoId{.ident = 7, .seq = 9}));

  pkt[24] = 8;  // a request is not a reply
  EXPECT_FALSE(parse_echo_reply(AF_INET, pkt.data(), pkt.size()));
  EXPECT_FALSE(parse_echo_reply(AF_INET, pkt.data(), 30));  // truncated
  pkt[0] = 0x65;                                            // not IPv4
  EXPECT_FALSE(parse_echo_reply(AF_INET, pkt.data(), pkt.size()));
}

TEST(Icmp, ParsesV6Reply) {
  auto pkt = build_echo_request(AF_INET6, {.ident = 0x1234, .seq = 1});
  EXPECT_EQ(pkt[0], 128);
  EXPECT_FALSE(parse_echo_reply(AF_INET6, pkt.data(), pkt.size()));
  pkt[0] = 129;
  auto id = parse_echo_reply(AF_INET6, pkt.data(), pkt.size());
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (EchoId{.ident = 0x1234, .seq = 1}));
  EXPECT_FALSE(parse_echo_reply(AF_INET6, pkt.data(), 7));
}

}  // namespace
}  // namespace pathsteer
