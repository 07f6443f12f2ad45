// KernelView: folding watcher events into the observed kernel, and the delta
// each batch reports.
#include <gtest/gtest.h>

#include "controller/kernel_view.h"

namespace pathsteer {
namespace {

Route default_route(int oif, const char* gw, uint32_t metric = 0) {
  return Route{.family = AF_INET,
               .table = RT_TABLE_MAIN,
               .dst = Prefix::default_route(AF_INET),
               .gateway = IpAddr::parse(gw),
               .oif = oif,
               .priority = metric};
}

Event ev(Event::Kind kind, std::variant<std::monostate, Link, Address, Route, Rule> o,
         uint16_t flags = 0) {
  return Event{.kind = kind, .object = std::move(o), .nlmsg_flags = flags};
}

TEST(KernelView, LinksAndTheirChanges) {
  KernelView v;
  KernelDelta d;
  v.apply(ev(Event::Kind::kNewLink,
             Link{.ifindex = 5, .name = "eth1", .admin_up = true, .carrier = true}),
          d);
  EXPECT_TRUE(v.usable("eth1"));
  EXPECT_EQ(v.ifindex_of("eth1"), 5);
  ASSERT_EQ(d.links.size(), 1u);
  EXPECT_FALSE(d.links[0].before);
  ASSERT_TRUE(d.links[0].after);
  // Renamed: the change carries both names.
  KernelDelta d2;
  v.apply(ev(Event::Kind::kNewLink,
             Link{.ifindex = 5, .name = "wanx", .admin_up = true, .carrier = false}),
          d2);
  EXPECT_EQ(v.ifindex_of("eth1"), 0);
  EXPECT_FALSE(v.usable("wanx"));
  EXPECT_EQ(d2.links[0].before->name, "eth1");
  EXPECT_EQ(d2.links[0].after->name, "wanx");
}

TEST(KernelView, ADeletedOrDownLinkTakesItsDefaultsAndAddressesWithIt) {
  KernelView v;
  v.replace({Link{.ifindex = 5, .name = "eth1", .admin_up = true, .carrier = true}},
            {Address{.ifindex = 5, .family = AF_INET, .addr = *IpAddr::parse("192.0.2.2")}},
            {default_route(5, "192.0.2.1"), Route{.table = 200}});
  ASSERT_EQ(v.main_default_routes().size(), 1u);  // only the main table's defaults are kept
  ASSERT_EQ(v.addresses_of(5).size(), 1u);
  KernelDelta d;
  v.apply(ev(Event::Kind::kNewLink, Link{.ifindex = 5, .name = "eth1", .admin_up = false}), d);
  EXPECT_TRUE(v.main_default_routes().empty());  // the kernel flushed them silently
  EXPECT_EQ(v.addresses_of(5).size(), 1u);
  v.apply(ev(Event::Kind::kDelLink, Link{.ifindex = 5, .name = "eth1"}), d);
  EXPECT_TRUE(v.addresses_of(5).empty());
  EXPECT_EQ(v.link_named("eth1"), nullptr);
  EXPECT_FALSE(d.links.back().after);
}

TEST(KernelView, ARouteReplaceSwapsTheGatewayWithoutADelete) {
  KernelView v;
  KernelDelta d;
  v.apply(ev(Event::Kind::kNewRoute, default_route(5, "192.0.2.1")), d);
  v.apply(ev(Event::Kind::kNewRoute, default_route(5, "192.0.2.9"), NLM_F_REPLACE), d);
  ASSERT_EQ(v.main_default_routes().size(), 1u);
  EXPECT_EQ(v.main_default_routes()[0].gateway, IpAddr::parse("192.0.2.9"));
  // Another metric is another route.
  v.apply(ev(Event::Kind::kNewRoute, default_route(6, "198.51.100.1", 100)), d);
  EXPECT_EQ(v.main_default_routes().size(), 2u);
  v.apply(ev(Event::Kind::kDelRoute, default_route(5, "192.0.2.9")), d);
  EXPECT_EQ(v.main_default_routes().size(), 1u);
  EXPECT_EQ(d.route_tables, std::set<uint32_t>{RT_TABLE_MAIN});
}

TEST(KernelView, AddressesAndRulesAreReportedByWhereTheyAre) {
  KernelView v;
  KernelDelta d;
  Address a{.ifindex = 7, .family = AF_INET6, .addr = *IpAddr::parse("2001:db8::1")};
  v.apply(ev(Event::Kind::kNewAddr, a), d);
  v.apply(ev(Event::Kind::kNewAddr, a), d);  // a repeat is not a second address
  EXPECT_EQ(v.addresses_of(7).size(), 1u);
  v.apply(ev(Event::Kind::kNewRule, Rule{.priority = 10002}), d);
  EXPECT_EQ(d.addresses, std::set<int>{7});
  EXPECT_EQ(d.rule_priorities, std::set<uint32_t>{10002});
  EXPECT_FALSE(d.empty());
  v.apply(ev(Event::Kind::kDelAddr, a), d);
  EXPECT_TRUE(v.addresses_of(7).empty());
}

}  // namespace
}  // namespace pathsteer
