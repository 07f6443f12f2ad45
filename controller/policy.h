// The policy file (DESIGN §7, version 1) as typed values, and its parser.
//
// Contract: parse_policy() either returns a complete Policy in which every
// cross-reference has been checked (every name in `paths` is a wan, every
// prefix is canonical, every port range has lo <= hi), or the full list of
// errors, each naming file, line, column (1-based) and the offending key or
// value. Unknown keys are errors. Order of `wans` and `classes` is file order;
// classes are evaluated first-match in that order. Nothing here touches the
// kernel or the file system except parse_policy_file() reading the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/net.h"

namespace pathsteer {

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// One `match` entry: all present fields must hold. Empty lists = any.
struct MatchEntry {
  std::optional<uint8_t> proto;   // IPPROTO_TCP / IPPROTO_UDP / IPPROTO_ICMP / IPPROTO_ICMPV6
  std::vector<PortRange> sport;   // any of these
  std::vector<PortRange> dport;   // any of these
  std::vector<Prefix> src;        // any of these (both families may appear)
  std::vector<Prefix> dst;        // any of these
  friend bool operator==(const MatchEntry&, const MatchEntry&) = default;
};

enum class ProbeMethod { kIcmp, kUdp, kTcp };

struct ProbeSpec {
  ProbeMethod method = ProbeMethod::kIcmp;
  IpAddr target;
  uint16_t port = 0;  // udp/tcp only
  friend bool operator==(const ProbeSpec&, const ProbeSpec&) = default;
};

struct HealthSpec {
  uint32_t interval_ms = 200;
  uint32_t timeout_ms = 400;
  uint32_t down_after = 3;
  uint32_t up_after = 5;
  uint32_t reliability = 1;  // how many targets must answer in a round
  friend bool operator==(const HealthSpec&, const HealthSpec&) = default;
};

struct Wan {
  std::string name;
  std::string interface;
  // `gateway: auto` learns both families from the interface's default routes;
  // `gateway: ADDR` or `gateway: [ADDR4, ADDR6]` fixes them (one per family).
  bool gateway_auto = false;
  std::optional<IpAddr> gateway4;
  std::optional<IpAddr> gateway6;
  uint32_t weight = 1;
  uint32_t cost = 0;
  std::vector<ProbeSpec> probes;
  HealthSpec health;
  friend bool operator==(const Wan&, const Wan&) = default;
};

enum class Strategy { kFailover, kBalance, kLowestLatency, kSla };

struct ClassSpec {
  std::string name;
  std::vector<MatchEntry> match;  // empty = matches everything
  Strategy strategy = Strategy::kFailover;
  std::vector<std::string> paths;  // wan names, in preference order
  friend bool operator==(const ClassSpec&, const ClassSpec&) = default;
};

struct Ownership {
  uint32_t mark_mask = 0x0ff00000;
  uint32_t rule_priority_base = 10000;
  uint32_t table_base = 200;
  uint8_t route_protocol = 201;
  friend bool operator==(const Ownership&, const Ownership&) = default;
};

enum class DatapathMode { kMark, kRedirect };
enum class LastResort { kMain, kUnreachable, kBlackhole };

struct Policy {
  int version = 1;
  std::vector<std::string> lan_interfaces;
  DatapathMode mode = DatapathMode::kMark;
  LastResort last_resort = LastResort::kMain;
  Ownership ownership;
  std::vector<Wan> wans;          // file order
  std::vector<ClassSpec> classes; // file order = evaluation order

  const Wan* find_wan(const std::string& name) const;
  friend bool operator==(const Policy&, const Policy&) = default;
};

struct PolicyError {
  std::string file;
  int line = 0;    // 1-based; 0 if unknown
  int column = 0;  // 1-based; 0 if unknown
  std::string message;  // names the offending key or value
  std::string to_string() const;  // "file:line:col: message"
};

using PolicyResult = std::variant<Policy, std::vector<PolicyError>>;

PolicyResult parse_policy(const std::string& text, const std::string& file_name);
PolicyResult parse_policy_file(const std::string& path);

const char* to_string(Strategy s);
const char* to_string(ProbeMethod m);

}  // namespace pathsteer
