#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <vector>

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

TEST(Icmp, WriteEchoRequestMatchesBuildAndChecksShortBuffers) {
  std::array<uint8_t, 64> buf;
  buf.fill(0xaa);  // stale bytes from a reused buffer must not leak into the packet
  size_t n = write_echo_request(AF_INET, {.ident = 3, .seq = 4}, buf);
  ASSERT_EQ(n, kEchoRequestLen);
  auto built = build_echo_request(AF_INET, {.ident = 3, .seq = 4});
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)), built);
  std::array<uint8_t, kEchoRequestLen - 1> small{};
  EXPECT_EQ(write_echo_request(AF_INET, {.ident = 3, .seq = 4}, small), 0u);
}

TEST(Icmp, Ipv4HeaderForHdrincLeavesKernelFieldsZero) {
  std::array<uint8_t, 64> buf;
  buf.fill(0xaa);
  IpAddr dst;
  dst.family = AF_INET;
  dst.bytes[0] = 192;
  dst.bytes[1] = 0;
  dst.bytes[2] = 2;
  dst.bytes[3] = 7;
  size_t n = write_ipv4_echo_request(dst, {.ident = 5, .seq = 6}, buf);
  ASSERT_EQ(n, kIpv4HeaderLen + kEchoRequestLen);
  const std::vector<uint8_t> header = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1,
                                       0,    0, 0, 0, 0, 0, 192,  0, 2,  7};
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + kIpv4HeaderLen), header);
  auto request = build_echo_request(AF_INET, {.ident = 5, .seq = 6});
  EXPECT_EQ(std::vector<uint8_t>(buf.begin() + kIpv4HeaderLen,
                                 buf.begin() + static_cast<std::ptrdiff_t>(n)),
            request);
  // What comes back quoting it (an error) or answering it parses with the ids.
  buf[kIpv4HeaderLen] = 0;  // as an echo reply
  EXPECT_EQ(parse_echo_reply(AF_INET, buf.data(), n), (EchoId{.ident = 5, .seq = 6}));

  std::array<uint8_t, kIpv4HeaderLen + kEchoRequestLen - 1> small{};
  EXPECT_EQ(write_ipv4_echo_request(dst, {.ident = 5, .seq = 6}, small), 0u);
  IpAddr v6;
  v6.family = AF_INET6;
  EXPECT_EQ(write_ipv4_echo_request(v6, {.ident = 5, .seq = 6}, buf), 0u);
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

TEST(Icmp, ParsesV4ErrorQuotingOurRequest) {
  // outer IPv4 | ICMP 3/3 (port unreachable... any code) | quoted IPv4 to 10.0.0.9 | request
  auto req = build_echo_request(AF_INET, {.ident = 0xabcd, .seq = 0xfffe});
  std::vector<uint8_t> pkt(20, 0);
  pkt[0] = 0x45;
  std::vector<uint8_t> icmp = {3, 1, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> quoted(20, 0);
  quoted[0] = 0x45;
  quoted[9] = 1;  // ICMP
  quoted[16] = 10;
  quoted[19] = 9;
  pkt.insert(pkt.end(), icmp.begin(), icmp.end());
  pkt.insert(pkt.end(), quoted.begin(), quoted.end());
  pkt.insert(pkt.end(), req.begin(), req.begin() + 8);  // RFC 792 quotes 8 bytes
  auto e = parse_echo_error(AF_INET, pkt.data(), pkt.size());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, (EchoId{.ident = 0xabcd, .seq = 0xfffe}));
  EXPECT_EQ(e->dst, *IpAddr::parse("10.0.0.9"));
  EXPECT_EQ(e->type, 3);
  EXPECT_EQ(e->code, 1);
  EXPECT_FALSE(parse_echo_reply(AF_INET, pkt.data(), pkt.size()));
  EXPECT_FALSE(parse_echo_error(AF_INET, pkt.data(), pkt.size() - 1));  // truncated quote
  pkt[20] = 11;                                                         // time exceeded
  EXPECT_TRUE(parse_echo_error(AF_INET, pkt.data(), pkt.size()));
  pkt[20] = 5;  // redirect: not a failure
  EXPECT_FALSE(parse_echo_error(AF_INET, pkt.data(), pkt.size()));
  pkt[20] = 3;
  pkt[28 + 9] = 17;  // quotes a UDP datagram, not ours
  EXPECT_FALSE(parse_echo_error(AF_INET, pkt.data(), pkt.size()));
}

TEST(Icmp, ParsesV6ErrorQuotingOurRequest) {
  auto req = build_echo_request(AF_INET6, {.ident = 1, .seq = 2});
  std::vector<uint8_t> pkt = {1, 4, 0, 0, 0, 0, 0, 0};  // dest unreachable, port unreachable
  std::vector<uint8_t> quoted(40, 0);
  quoted[0] = 0x60;
  quoted[6] = 58;  // ICMPv6
  auto dst = *IpAddr::parse("fd99::2");
  std::copy(dst.bytes.begin(), dst.bytes.end(), quoted.begin() + 24);
  pkt.insert(pkt.end(), quoted.begin(), quoted.end());
  pkt.insert(pkt.end(), req.begin(), req.end());
  auto e = parse_echo_error(AF_INET6, pkt.data(), pkt.size());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, (EchoId{.ident = 1, .seq = 2}));
  EXPECT_EQ(e->dst, dst);
  pkt[0] = 2;  // packet too big: not a failure of the path as such
  EXPECT_FALSE(parse_echo_error(AF_INET6, pkt.data(), pkt.size()));
  pkt[0] = 3;
  EXPECT_TRUE(parse_echo_error(AF_INET6, pkt.data(), pkt.size()));
  pkt[8 + 40] = 129;  // quotes a reply
  EXPECT_FALSE(parse_echo_error(AF_INET6, pkt.data(), pkt.size()));
}

}  // namespace
}  // namespace pathsteer
