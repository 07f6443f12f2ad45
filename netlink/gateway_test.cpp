#include "netlink/gateway.h"

#include <gtest/gtest.h>

namespace pathsteer {
namespace {

Route def(int oif, const char* gw, uint32_t metric, uint8_t proto = RTPROT_DHCP,
          uint32_t table = RT_TABLE_MAIN) {
  auto a = *IpAddr::parse(gw);
  return Route{.family = a.family,
               .table = table,
               .dst = Prefix::default_route(a.family),
               .gateway = a,
               .oif = oif,
               .protocol = proto,
               .priority = metric};
}

TEST(FindDefaultGateway, LowestMetricOnThatInterfaceWins) {
  std::vector<Route> routes = {def(2, "192.0.2.1", 100), def(2, "192.0.2.2", 50),
                               def(3, "198.51.100.1", 1), def(2, "2001:db8::1", 1)};
  EXPECT_EQ(find_default_gateway(routes, 2, AF_INET, 201), IpAddr::parse("192.0.2.2"));
  EXPECT_EQ(find_default_gateway(routes, 2, AF_INET6, 201), IpAddr::parse("2001:db8::1"));
  EXPECT_EQ(find_default_gateway(routes, 4, AF_INET, 201), std::nullopt);
}

TEST(FindDefaultGateway, IgnoresOursOtherTablesAndNonDefaults) {
  auto specific = def(2, "192.0.2.9", 0);
  specific.dst = *Prefix::parse("10.0.0.0/8");
  std::vector<Route> routes = {def(2, "192.0.2.7", 0, 201), def(2, "192.0.2.8", 0, 3, 300),
                               specific, def(2, "192.0.2.1", 600)};
  EXPECT_EQ(find_default_gateway(routes, 2, AF_INET, 201), IpAddr::parse("192.0.2.1"));
}

}  // namespace
}  // namespace pathsteer
