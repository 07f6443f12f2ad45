// STAMP wire format (RFC 8762 §4.2.1, §4.3.1), NTP conversion, RTT arithmetic, and the
// reflector on loopback driven by our own encoder/decoder and a plain UDP socket.
#include "probes/stamp.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "common/test_skip.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "probes/reflector.h"

namespace pathsteer {
namespace {

// --- wire format against byte arrays written from the RFC figures -----------------------------

TEST(StampWire, SenderPacketLayout) {
  // Sequence Number | Timestamp (sec, frac) | Error Estimate | MBZ (30 bytes)
  const std::array<uint8_t, 44> expected = {
      0x01, 0x02, 0x03, 0x04,                          // 0  Sequence Number
      0xE1, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,  // 4  Timestamp
      0x81, 0x01,                                      // 12 Error Estimate S=1 Z=0 Scale=1 Mult=1
      0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0,
      0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0,  // 14 MBZ (30)
  };
  auto pkt = encode_sender_packet(0x01020304, {.sec = 0xE1234567, .frac = 0x89ABCDEF}, 0x8101);
  EXPECT_EQ(pkt, expected);

  auto back = decode_sender_packet(expected);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->seq, 0x01020304u);
  EXPECT_EQ(back->t1, (StampTimestamp{.sec = 0xE1234567, .frac = 0x89ABCDEF}));
  EXPECT_EQ(back->error_estimate, 0x8101);
}

TEST(StampWire, DefaultErrorEstimateIsValid) {
  auto pkt = encode_sender_packet(7, {});
  uint16_t ee = static_cast<uint16_t>((pkt[12] << 8) | pkt[13]);
  EXPECT_EQ(ee, kStampDefaultErrorEstimate);
  EXPECT_EQ(ee & kStampErrorEstimateZ, 0);  // NTP format
  EXPECT_NE(ee & 0xff, 0);                  // RFC 4656: Multiplier MUST NOT be zero
  // Scale 22, Multiplier 1: 2^-10 s, about 1 ms.
  EXPECT_EQ((ee >> 8) & 0x3f, 22);
}

const std::array<uint8_t, 44> kReflected = {
    0x0A, 0x0B, 0x0C, 0x0D,                          // 0  Sequence Number
    0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,  // 4  Timestamp (t3)
    0x00, 0x01,                                      // 12 Error Estimate
    0x00, 0x00,                                      // 14 MBZ
    0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44,  // 16 Receive Timestamp (t2)
    0x01, 0x02, 0x03, 0x04,                          // 24 Session-Sender Sequence Number
    0xE1, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,  // 28 Session-Sender Timestamp (t1)
    0x81, 0x01,                                      // 36 Session-Sender Error Estimate
    0x00, 0x00,                                      // 38 MBZ
    0x40,                                            // 40 Ses-Sender TTL
    0x00, 0x00, 0x00,                                // 41 MBZ
};

TEST(StampWire, ReflectedPacketDecode) {
  auto r = decode_reflected_packet(kReflected);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, 0x0A0B0C0Du);
  EXPECT_EQ(r->t3, (StampTimestamp{.sec = 0x11111111, .frac = 0x22222222}));
  EXPECT_EQ(r->error_estimate, 0x0001);
  EXPECT_EQ(r->t2, (StampTimestamp{.sec = 0x33333333, .frac = 0x44444444}));
  EXPECT_EQ(r->sender_seq, 0x01020304u);
  EXPECT_EQ(r->t1, (StampTimestamp{.sec = 0xE1234567, .frac = 0x89ABCDEF}));
  EXPECT_EQ(r->sender_error_estimate, 0x8101);
  EXPECT_EQ(r->sender_ttl, 0x40);
}

TEST(StampWire, ReflectedPacketEncodeMatchesLayout) {
  StampReflected r{
      .seq = 0x0A0B0C0D,
      .t3 = {.sec = 0x11111111, .frac = 0x22222222},
      .t2 = {.sec = 0x33333333, .frac = 0x44444444},
      .sender_seq = 0x01020304,
      .t1 = {.sec = 0xE1234567, .frac = 0x89ABCDEF},
      .sender_ttl = 0x40,
      .error_estimate = 0x0001,
      .sender_error_estimate = 0x8101,
  };
  std::vector<uint8_t> out(60, 0xAA);  // padded: bytes past 44 must come out zero
  ASSERT_TRUE(encode_reflected_packet(r, out));
  EXPECT_TRUE(std::equal(kReflected.begin(), kReflected.end(), out.begin()));
  for (size_t i = 44; i < out.size(); ++i)
    EXPECT_EQ(out[i], 0) << "byte " << i;

  std::array<uint8_t, 43> small{};
  EXPECT_FALSE(encode_reflected_packet(r, small));
}

TEST(StampWire, ShortPacketsRejectedLongAccepted) {
  EXPECT_FALSE(decode_reflected_packet(std::span<const uint8_t>(kReflected.data(), 43)));
  EXPECT_FALSE(decode_sender_packet(std::span<const uint8_t>(kReflected.data(), 0)));
  std::vector<uint8_t> padded(kReflected.begin(), kReflected.end());
  padded.resize(1000, 0);
  auto r = decode_reflected_packet(padded);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->sender_seq, 0x01020304u);
}

// --- NTP timestamps ----------------------------------------------------------------------------

TEST(StampTime, UnixEpochIsNtp2208988800) {
  auto ts = to_stamp_timestamp(timespec{.tv_sec = 0, .tv_nsec = 0});
  EXPECT_EQ(ts.sec, 2208988800u);  // 0x83AA7E80
  EXPECT_EQ(ts.frac, 0u);
  // 2020-01-01T00:00:00Z = Unix 1577836800 = NTP 3786825600
  EXPECT_EQ(to_stamp_timestamp(timespec{.tv_sec = 1577836800, .tv_nsec = 0}).sec, 3786825600u);
}

TEST(StampTime, FractionIsBinary) {
  EXPECT_EQ(to_stamp_timestamp(timespec{.tv_sec = 0, .tv_nsec = 500000000}).frac, 0x80000000u);
  EXPECT_EQ(to_stamp_timestamp(timespec{.tv_sec = 0, .tv_nsec = 250000000}).frac, 0x40000000u);
  EXPECT_EQ(to_stamp_timestamp(timespec{.tv_sec = 0, .tv_nsec = 1}).frac, 4u);  // 4.29 -> 4
  auto back = from_stamp_timestamp({.sec = 2208988800u + 5, .frac = 0xC0000000u});
  EXPECT_EQ(back.tv_sec, 5);
  EXPECT_EQ(back.tv_nsec, 750000000);
}

TEST(StampTime, RoundTripIsExactToTheNanosecond) {
  // 2^-32 s is 0.23 ns, so to NTP and back must land on the same nanosecond.
  for (long ns = 0; ns < 1000000000; ns += 999983) {
    timespec in{.tv_sec = 1700000000, .tv_nsec = ns};
    timespec out = from_stamp_timestamp(to_stamp_timestamp(in));
    ASSERT_EQ(out.tv_sec, in.tv_sec) << ns;
    ASSERT_EQ(out.tv_nsec, in.tv_nsec) << ns;
  }
  timespec last{.tv_sec = 1700000000, .tv_nsec = 999999999};
  timespec out = from_stamp_timestamp(to_stamp_timestamp(last));
  EXPECT_EQ(out.tv_sec, last.tv_sec);
  EXPECT_EQ(out.tv_nsec, last.tv_nsec);
}

TEST(StampTime, FractionNearOneCarries) {
  timespec t = from_stamp_timestamp({.sec = 2208988800u + 9, .frac = 0xFFFFFFFFu});
  EXPECT_EQ(t.tv_sec, 10);
  EXPECT_EQ(t.tv_nsec, 0);
}

// --- RTT ---------------------------------------------------------------------------------------

timespec add_ms(timespec t, long ms) {
  t.tv_nsec += ms * 1000000;
  t.tv_sec += t.tv_nsec / 1000000000;
  t.tv_nsec %= 1000000000;
  return t;
}

TEST(StampRtt, ResidenceTimeIsSubtracted) {
  timespec t1{.tv_sec = 1700000000, .tv_nsec = 990000000};
  StampReflected r{
      .seq = 1,
      .t3 = to_stamp_timestamp(add_ms(t1, 12)),
      .t2 = to_stamp_timestamp(add_ms(t1, 10)),
      .sender_seq = 1,
      .t1 = to_stamp_timestamp(t1),
      .sender_ttl = 64,
  };
  // (25 - 0) - (12 - 10) = 23 ms
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 25)), 23.0, 1e-6);
  // No residence time: plain t4 - t1.
  r.t3 = r.t2;
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 25)), 25.0, 1e-6);
}

TEST(StampRtt, AcrossTheNtpEraBoundary) {
  // NTP seconds wrap at Unix 2085978496 (2036-02-07T06:28:16Z).
  timespec t1{.tv_sec = 2085978495, .tv_nsec = 995000000};
  StampReflected r{
      .seq = 1,
      .t3 = to_stamp_timestamp(add_ms(t1, 8)),
      .t2 = to_stamp_timestamp(add_ms(t1, 7)),
      .sender_seq = 1,
      .t1 = to_stamp_timestamp(t1),
      .sender_ttl = 64,
  };
  EXPECT_EQ(r.t1.sec, 0xFFFFFFFFu);
  EXPECT_EQ(r.t3.sec, 0u);
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 20)), 19.0, 1e-6);
}

// A reflector's t3 - t2 of -2^63 units once overflowed a signed subtraction (found by
// fuzz_probe_replies). A residence time below zero or longer than the round trip is a broken
// or lying reflector: the RTT is then t4 - t1, our own clock's, and never below zero.
TEST(StampRtt, NonsenseReflectorTimestampsAreIgnored) {
  timespec t1{.tv_sec = 1'700'000'000, .tv_nsec = 0};
  StampReflected r{
      .seq = 1,
      .t3 = {.sec = 0, .frac = 0},
      .t2 = {.sec = 0x80000000u, .frac = 0},
      .sender_seq = 1,
      .t1 = to_stamp_timestamp(t1),
      .sender_ttl = 64,
  };
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 30)), 30.0, 1e-6);  // t3 - t2 = -2^63 units
  r.t2 = to_stamp_timestamp(add_ms(t1, 10));
  r.t3 = to_stamp_timestamp(add_ms(t1, 5));  // t3 before t2
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 30)), 30.0, 1e-6);
  r.t3 = to_stamp_timestamp(add_ms(t1, 50));  // a residence of 40 ms in a 30 ms round trip
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 30)), 30.0, 1e-6);
  r.t3 = to_stamp_timestamp(add_ms(t1, 40));  // exactly the round trip: 0
  EXPECT_NEAR(stamp_rtt_ms(r, add_ms(t1, 30)), 0.0, 1e-6);
  // The wall clock stepped back between send and receive: 0, not a negative RTT.
  r.t3 = r.t2;
  EXPECT_EQ(stamp_rtt_ms(r, add_ms(t1, -1000)), 0.0);
  EXPECT_EQ(stamp_rtt_ms(r, t1), 0.0);
}

// --- reflector on loopback ---------------------------------------------------------------------

struct Reply {
  std::vector<uint8_t> data;
  timespec t4{};
  bool got = false;
};

class ReflectorLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok()) << l.error().to_string();
    loop_ = std::move(*l);
  }

  // A client socket connected to dst:port with a given TTL / hop limit and kernel rx stamps.
  // Returns an invalid Fd (and skips) when the family is unavailable.
  Fd client(const IpAddr& dst, uint16_t port, int ttl) {
    Fd fd(socket(dst.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid())
      return fd;
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    if (dst.is_v4()) {
      setsockopt(fd.get(), IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(port);
      std::memcpy(&sin.sin_addr, dst.bytes.data(), 4);
      if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0)
        fd.reset();
    } else {
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = htons(port);
      std::memcpy(&sin6.sin6_addr, dst.bytes.data(), 16);
      if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6)) != 0)
        fd.reset();
    }
    return fd;
  }

  // Sends payload on fd and runs the loop until a reply arrives or 2 s pass.
  Reply exchange(int fd, const std::vector<uint8_t>& payload) {
    Reply reply;
    EXPECT_EQ(send(fd, payload.data(), payload.size(), 0), static_cast<ssize_t>(payload.size()));
    auto added = loop_->add_fd(fd, EPOLLIN, [&](uint32_t) {
      std::vector<uint8_t> buf(65536);
      iovec iov{.iov_base = buf.data(), .iov_len = buf.size()};
      alignas(cmsghdr) char control[128];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
      if (n < 0)
        return;
      buf.resize(static_cast<size_t>(n));
      reply.data = std::move(buf);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
          std::memcpy(&reply.t4, CMSG_DATA(c), sizeof(reply.t4));
      }
      reply.got = true;
      loop_->stop();
    });
    EXPECT_TRUE(added.ok());
    auto timer = loop_->add_timer(std::chrono::seconds(2), {}, [&] { loop_->stop(); });
    EXPECT_TRUE(timer.ok());
    EXPECT_TRUE(loop_->run().ok());
    loop_->remove_fd(fd);
    if (timer.ok())
      loop_->cancel_timer(*timer);
    return reply;
  }

  // Our own sender (stamp.h) against our reflector: every field checked.
  void check_round_trip(const IpAddr& listen, const IpAddr& dst) {
    auto refl = StampReflector::create(*loop_, {.listen = {.addr = listen, .port = 0}});
    if (!refl.ok() &&
        (refl.error().err_no == EAFNOSUPPORT || refl.error().err_no == EADDRNOTAVAIL)) {
      PS_SKIP_OR_FAIL(refl.error().to_string());
    }
    ASSERT_TRUE(refl.ok()) << refl.error().to_string();
    uint16_t port = (*refl)->port();
    ASSERT_NE(port, 0);
    Fd fd = client(dst, port, 37);
    ASSERT_TRUE(fd.valid()) << std::strerror(errno);

    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    StampTimestamp t1 = to_stamp_timestamp(now);
    auto pkt = encode_sender_packet(0xFFFFFFF0u, t1);
    Reply reply = exchange(fd.get(), std::vector<uint8_t>(pkt.begin(), pkt.end()));
    ASSERT_TRUE(reply.got) << "no reply from the reflector";
    ASSERT_EQ(reply.data.size(), kStampPacketSize);
    auto r = decode_reflected_packet(reply.data);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->seq, 0xFFFFFFF0u);  // stateless: the sender's sequence number
    EXPECT_EQ(r->sender_seq, 0xFFFFFFF0u);
    EXPECT_EQ(r->t1, t1);
    EXPECT_EQ(r->sender_error_estimate, kStampDefaultErrorEstimate);
    EXPECT_EQ(r->error_estimate, kStampDefaultErrorEstimate);
    EXPECT_EQ(r->sender_ttl, 37);
    // MBZ fields are zero.
    for (size_t i : {14, 15, 38, 39, 41, 42, 43})
      EXPECT_EQ(reply.data[i], 0) << "byte " << i;

    timespec t2 = from_stamp_timestamp(r->t2);
    timespec t3 = from_stamp_timestamp(r->t3);
    auto ns = [](const timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; };
    EXPECT_LE(ns(now) - 1, ns(t2));  // one clock, so t1 <= t2 <= t3 <= t4 (1 ns of rounding)
    EXPECT_LE(ns(t2), ns(t3));
    EXPECT_LT(ns(t3) - ns(t2), 50'000'000) << "residence time";
    ASSERT_NE(reply.t4.tv_sec, 0) << "no kernel rx timestamp on the client";
    EXPECT_LE(ns(t3), ns(reply.t4) + 1);
    double rtt = stamp_rtt_ms(*r, reply.t4);
    EXPECT_GE(rtt, 0.0);
    EXPECT_LT(rtt, 50.0);
    EXPECT_EQ((*refl)->stats().reflected, 1u);
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_F(ReflectorLoopback, V4RoundTrip) {
  check_round_trip(*IpAddr::parse("127.0.0.1"), *IpAddr::parse("127.0.0.1"));
}

TEST_F(ReflectorLoopback, V6RoundTrip) {
  check_round_trip(*IpAddr::parse("::1"), *IpAddr::parse("::1"));
}

// Bound to the wildcard, the reply must come from the address the sender used (the client is
// connected, so a reply from 127.0.0.1 would not reach it).
TEST_F(ReflectorLoopback, WildcardAnswersFromTheAddressedAddress) {
  check_round_trip(*IpAddr::parse("0.0.0.0"), *IpAddr::parse("127.0.0.2"));
}

TEST_F(ReflectorLoopback, ShortDroppedPaddedReflectedAtSameLength) {
  IpAddr lo = *IpAddr::parse("127.0.0.1");
  auto refl = StampReflector::create(*loop_, {.listen = {.addr = lo, .port = 0}});
  ASSERT_TRUE(refl.ok()) << refl.error().to_string();
  Fd fd = client(lo, (*refl)->port(), 64);
  ASSERT_TRUE(fd.valid());

  // The short datagram first, then a padded one: UDP on loopback keeps the order, so when the
  // padded one's reply arrives the short one has been handled (dropped) already.
  std::vector<uint8_t> short_pkt(43, 0x11);
  ASSERT_EQ(send(fd.get(), short_pkt.data(), short_pkt.size(), 0), 43);
  auto pkt = encode_sender_packet(42, {.sec = 1, .frac = 2});
  // Non-zero padding: the reflector must not echo it. (Made at its full size: growing the
  // vector with resize() makes GCC 12 at -O3 report a false -Warray-bounds in memmove.)
  std::vector<uint8_t> padded(200, 0x5A);
  std::copy(pkt.begin(), pkt.end(), padded.begin());
  Reply reply = exchange(fd.get(), padded);
  ASSERT_TRUE(reply.got);
  EXPECT_EQ((*refl)->stats().too_short, 1u);
  ASSERT_EQ(reply.data.size(), 200u);
  auto r = decode_reflected_packet(reply.data);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->sender_seq, 42u);
  for (size_t i = 44; i < reply.data.size(); ++i)
    ASSERT_EQ(reply.data[i], 0) << "byte " << i;
  EXPECT_EQ((*refl)->stats().received, 2u);
  EXPECT_EQ((*refl)->stats().reflected, 1u);
}

// A socket bound to from:from_port and connected to to:to_port (IPv4 loopback addresses).
Fd bound_client(const char* from, uint16_t from_port, const char* to, uint16_t to_port) {
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(from_port);
  inet_pton(AF_INET, from, &sin.sin_addr);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0)
    return Fd();
  sin.sin_port = htons(to_port);
  inet_pton(AF_INET, to, &sin.sin_addr);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0)
    return Fd();
  return fd;
}

// Datagrams the reflector must not answer go first, then one it must answer: UDP on loopback
// keeps the order, so once that reply is in, the others have been handled already.
TEST_F(ReflectorLoopback, OwnPortAndSourcesOutsideTheAllowListGetNoAnswer) {
  auto refl =
      StampReflector::create(*loop_, {.listen = {.addr = *IpAddr::parse("127.0.0.1"), .port = 0},
                                      .allow = {*Prefix::parse("127.0.0.0/30")}});
  ASSERT_TRUE(refl.ok()) << refl.error().to_string();
  const uint16_t port = (*refl)->port();
  auto pkt = encode_sender_packet(7, {.sec = 1, .frac = 2});
  std::vector<uint8_t> payload(pkt.begin(), pkt.end());

  // From the reflector's own port (on another address, so the bind succeeds).
  Fd own = bound_client("127.0.0.2", port, "127.0.0.1", port);
  ASSERT_TRUE(own.valid()) << std::strerror(errno);
  Fd outside = bound_client("127.0.0.5", 0, "127.0.0.1", port);
  ASSERT_TRUE(outside.valid()) << std::strerror(errno);
  for (int fd : {own.get(), outside.get()})
    ASSERT_EQ(send(fd, payload.data(), payload.size(), 0), 44);

  Fd good = bound_client("127.0.0.2", 0, "127.0.0.1", port);
  ASSERT_TRUE(good.valid());
  ASSERT_TRUE(exchange(good.get(), payload).got);
  uint8_t byte = 0;
  EXPECT_EQ(recv(own.get(), &byte, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(recv(outside.get(), &byte, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(to_string((*refl)->stats()),
            "received 3, reflected 1, too short 0, own port 1, low port 0, multicast 0, "
            "broadcast 0, not allowed 1, rate limited 0, send errors 0");
}

TEST_F(ReflectorLoopback, EachSourceIsRateLimited) {
  auto refl =
      StampReflector::create(*loop_, {.listen = {.addr = *IpAddr::parse("127.0.0.1"), .port = 0},
                                      .rate_limit = {.rate_pps = 1, .burst = 2}});
  ASSERT_TRUE(refl.ok()) << refl.error().to_string();
  const uint16_t port = (*refl)->port();
  auto pkt = encode_sender_packet(7, {.sec = 1, .frac = 2});
  std::vector<uint8_t> payload(pkt.begin(), pkt.end());

  // Four from 127.0.0.2 at once: a burst of two is answered, then one a second.
  Fd busy = bound_client("127.0.0.2", 0, "127.0.0.1", port);
  ASSERT_TRUE(busy.valid());
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(send(busy.get(), payload.data(), payload.size(), 0), 44);
  Fd other = bound_client("127.0.0.3", 0, "127.0.0.1", port);
  ASSERT_TRUE(other.valid());
  ASSERT_TRUE(exchange(other.get(), payload).got) << "another source is answered";
  EXPECT_EQ((*refl)->stats().rate_limited, 2u);
  EXPECT_EQ((*refl)->stats().reflected, 3u);
  int answers = 0;
  uint8_t buf[64];
  while (recv(busy.get(), buf, sizeof(buf), MSG_DONTWAIT) == 44)
    ++answers;
  EXPECT_EQ(answers, 2);
}

TEST(ListenAddr, Parse) {
  auto a = parse_listen_addr("0.0.0.0:862");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "0.0.0.0:862");
  a = parse_listen_addr("[::]:8620");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "[::]:8620");
  a = parse_listen_addr("10.0.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, kStampDefaultPort);
  a = parse_listen_addr("fd00::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "[fd00::1]:862");
  a = parse_listen_addr("[fd00::1]");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, kStampDefaultPort);
  EXPECT_FALSE(parse_listen_addr("10.0.0.1:99999"));
  EXPECT_FALSE(parse_listen_addr("10.0.0.1:"));
  EXPECT_FALSE(parse_listen_addr("[10.0.0.1]:862"));
  EXPECT_FALSE(parse_listen_addr("[::1"));
  EXPECT_FALSE(parse_listen_addr("host:862"));
  EXPECT_FALSE(parse_listen_addr(""));
}

}  // namespace
}  // namespace pathsteer
