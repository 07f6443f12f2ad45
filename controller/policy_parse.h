// PolicyParser: the policy file's schema (DESIGN §7) over YamlReader. Internal
// to the policy files; parse_policy() (controller/policy.h) is its only user
// and carries the contract: a checked Policy, or every error sorted by
// position. One parser per text; not thread-safe.
//
// The sections live in three files, in the order run() reads them:
//   policy_parse.cpp    top level, ownership and the mark mask;
//   policy_wans.cpp     wans, gateways, overlays, probes and health;
//   policy_classes.cpp  classes, match entries and sla.
// A section records its errors and keeps going, so one run reports them all;
// sections read later see what earlier ones accepted (a class's paths are
// checked against the wans and overlays already parsed).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/policy.h"
#include "controller/policy_yaml.h"

namespace pathsteer {

// Enum spellings, indexed by the enum's value (also what to_string prints).
inline constexpr std::string_view kLastResortNames[] = {"main", "unreachable", "blackhole"};
inline constexpr std::string_view kStrategyNames[] = {"failover", "balance", "lowest-latency",
                                                      "sla"};

class PolicyParser final : private YamlReader {
 public:
  // `file` labels the errors; relative prefix-file paths are taken from `base_dir`.
  PolicyParser(std::string file, std::string base_dir)
      : YamlReader(std::move(file)), base_dir_(std::move(base_dir)) {}

  Result<Policy> run(const std::string& text);

 private:
  // policy_parse.cpp
  // The key of a wan, overlay or class entry is a valid name ([A-Za-z0-9_-]{1,32});
  // `kind` ("wan") names it in the error.
  bool check_name(const Field& entry, std::string_view kind);
  // `name` (the value of `at`, or an item of the list at `path`) is a Linux
  // interface name: the kernel's dev_valid_name(), plus IFNAMSIZ.
  bool check_ifname(const Field& at, const std::string& name, const std::string& path);
  void parse_ownership(const Field& f, Policy& p);
  void check_mark_mask(const Field& f, const Policy& p);
  void parse_fleet(const Field& f, Policy& p);

  // policy_wans.cpp
  void parse_wans(const Field& f, Policy& p);
  void parse_wan(const Field& f, Wan& w);
  void parse_gateway(const Field& f, Wan& w);
  void parse_per_family(const Field& f, std::string_view noun, std::string_view expected,
                        std::optional<IpAddr>& v4, std::optional<IpAddr>& v6);
  void parse_probes_and_health(const Field& f, std::vector<ProbeSpec>& probes, HealthSpec& h);
  std::optional<std::string> parse_interface(const Field& f, const Policy& p,
                                             const std::string& owner);
  void parse_overlays(const Field& f, Policy& p);
  void parse_overlay(const Field& f, Overlay& o, const Policy& p);
  std::optional<ProbeSpec> parse_probe(const Field& f);
  void parse_health(const Field& f, HealthSpec& h, std::set<std::string>& given);
  bool parse_thresholds(const Field& health, const char* key, DegradedIf& t);

  // policy_classes.cpp
  void parse_classes(const Field& f, Policy& p);
  void parse_class(const Field& f, ClassSpec& c, const Policy& p);
  void parse_action(const Field& f, const Field& a, ClassSpec& c, const Policy& p);
  std::optional<MatchEntry> parse_match(const Field& f);
  // `src_file` / `dst_file` of match entry f (one path or a list): appends
  // their prefixes to `out`; false after recording why not.
  bool parse_prefix_files(const Field& f, PrefixList& out);
  std::optional<SlaSpec> parse_sla(const Field& f);

  std::string base_dir_;
  std::vector<std::string> prefix_files_;  // Policy::prefix_files
};

}  // namespace pathsteer
