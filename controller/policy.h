// The policy file (DESIGN §7, version 1) as typed values, and its parser.
//
// Contract: parse_policy() either returns a complete Policy in which every
// cross-reference has been checked (every name in `paths` is a wan, every
// prefix is canonical, every port range has lo <= hi), or the full list of
// errors, each naming file, line, column (1-based) and the offending key or
// value. Unknown keys are errors. Order of `wans`, `overlays` and `classes` is file order;
// classes are evaluated first-match in that order. Nothing here touches the
// kernel or the file system except reading the policy file (parse_policy_file())
// and the prefix files its match entries name (src_file, dst_file:
// controller/prefix_list.h), which a parse reads afresh each time.
//
// Validation beyond types (all reported as PolicyErrors): version is 1; names
// of wans and classes are [A-Za-z0-9_-]{1,32}; interface names are valid Linux
// names (1-15 chars, no '/', ':' or whitespace, not "." or ".."); no interface
// is used by two wans or by a wan and the LAN; at least one wan and one class;
// paths are non-empty without duplicates and name wans or overlays (a balance class may group
// them into tiers: a path list item that is itself a non-empty list of names); source_affinity_s
// (1..604800) only with balance; a class with `action` has no strategy, sla, hold_down_s,
// source_affinity_s or paths (every other class needs paths), and its action is main or the
// policy's last_resort; sport/dport need proto tcp or
// udp; a match entry whose src/dst/proto families cannot agree is rejected; a class without `match`
// (matches everything) must be the last class; `sla` is given exactly when strategy is sla;
// mark_mask is one contiguous run of bits wide enough for 1 + number of wans + number of overlays
// values; route_protocol >= 5 (0-4 belong to the kernel); a `domain` is a DNS name of labels
// [A-Za-z0-9_-]{1,63}, at most 253 characters, optionally led by "*." (every name below), stored
// lowercase without a trailing dot; an entry with `domain` has no `dst` or `dst_file`; `src_file`
// and `dst_file` (a path or a list of them) name readable prefix files whose prefixes join the
// inline `src`/`dst`, and that union is not empty. Omitted optional keys take the defaults below;
// `gateway` omitted means `auto`, probe `method` omitted means icmp, udp probe port defaults to 862
// (STAMP), tcp probes need a port.
//
// Overlays (`overlays:`, optional): wans and overlays share one namespace (a
// name is one or the other); an overlay's interface is no wan's, no LAN
// interface and no other overlay's; `remote` is one address or a list of one
// IPv4 and one IPv6 address, never shared with another overlay (the `to
// <remote>` rule that carries the outer packets would be ambiguous);
// `underlays` is a non-empty list of wans (not overlays) without duplicates;
// probes and health as for wans.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "model/match.h"
#include "model/probe.h"

namespace pathsteer {

struct Wan {
  std::string name{};
  std::string interface = "";
  // `gateway: auto` learns both families from the interface's default routes;
  // `gateway: ADDR` or `gateway: [ADDR4, ADDR6]` fixes them (one per family).
  // The parser sets gateway_auto when `gateway` is omitted.
  bool gateway_auto = false;
  std::optional<IpAddr> gateway4{};
  std::optional<IpAddr> gateway6{};
  uint32_t weight = 1;
  uint32_t cost = 0;
  std::vector<ProbeSpec> probes{};
  HealthSpec health{};
  friend bool operator==(const Wan&, const Wan&) = default;
};

// A tunnel interface whose outer packets ride on one of `underlays` (DESIGN §6,
// docs/PATH_MODEL.md). It is numbered, marked and routed like a wan (its table
// holds `default dev <interface>`); the underlay in use is chosen like a
// failover class over `underlays` (with `hold_down_s`), and realized by `to
// <remote> lookup <underlay's table>` rules.
struct Overlay {
  std::string name{};
  std::string interface = "";
  std::optional<IpAddr> remote4{};  // the tunnel's outer endpoint, per family (at least one)
  std::optional<IpAddr> remote6{};
  std::vector<std::string> underlays{};  // wan names, in preference order
  uint32_t weight = 1;                   // for balance
  uint32_t cost = 0;                     // added to the underlay's cost
  uint32_t hold_down_s = 0;              // before moving back to an earlier underlay
  std::vector<ProbeSpec> probes{};       // sent through the tunnel
  HealthSpec health{};
  friend bool operator==(const Overlay&, const Overlay&) = default;
};

enum class Strategy { kFailover, kBalance, kLowestLatency, kSla };

enum class LastResort { kMain, kUnreachable, kBlackhole };

// Constraints of strategy sla; at least one is set.
struct SlaSpec {
  std::optional<uint32_t> max_rtt_ms{};
  std::optional<uint32_t> max_jitter_ms{};
  std::optional<double> max_loss_pct{};  // 0..100
  friend bool operator==(const SlaSpec&, const SlaSpec&) = default;
};

struct ClassSpec {
  std::string name{};
  std::vector<MatchEntry> match{};  // empty = matches everything
  Strategy strategy = Strategy::kFailover;
  std::optional<SlaSpec> sla{};      // set iff strategy == kSla
  uint32_t hold_down_s = 0;          // wait before failing back to a preferred path
  std::vector<std::string> paths{};  // wan or overlay names, in preference order
  // balance only. `paths: [[a, b], c]` gives tiers {0, 0, 1}: the class
  // balances over the live members of its first tier that has one and fails
  // over between tiers (docs/MIGRATING.md, "Tiers and source affinity"). Empty: one tier (`paths:
  // [a, b, c]`).
  std::vector<uint32_t> tiers{};  // empty, or one per path, non-decreasing
  // balance only, 0 = off. A source address's new flows take the uplink its
  // last new flow took, while that uplink is a live member, until the source
  // has started no flow for this long (mwan3's `sticky`).
  uint32_t source_affinity_s = 0;
  // `action: main | unreachable | blackhole` instead of strategy and paths: the
  // class never uses an uplink. main leaves its packets to the main table (our
  // mark bits cleared); unreachable/blackhole must equal the policy's
  // last_resort (one reserved mark value leads there). mwan3's `use_policy
  // default / unreachable / blackhole`.
  std::optional<LastResort> action{};
  friend bool operator==(const ClassSpec&, const ClassSpec&) = default;
};

// The slice of kernel state pathsteer owns (DESIGN §2). Parser limits:
// mark_mask non-zero and contiguous; rule_priority_base 1..31000 (the range is
// [base, base+1000)); table_base 1..2^32-257 (the range is [base, base+256));
// route_protocol 5..255.
struct Ownership {
  uint32_t mark_mask = 0x0ff00000;
  uint32_t rule_priority_base = 10000;
  uint32_t table_base = 200;
  uint8_t route_protocol = 201;

  // 0 (unspec), 253 (default), 254 (main), 255 (local): never ours, even when
  // [table_base, +256) covers them (as the default base 200 does).
  static bool is_reserved_table(uint32_t id) { return id == 0 || (id >= 253 && id <= 255); }
  bool owns_table(uint32_t id) const {
    return id >= table_base && id - table_base < 256 && !is_reserved_table(id);
  }
  friend bool operator==(const Ownership&, const Ownership&) = default;
};

// `fleet:` (DESIGN §13): take the policy and intents from etcd, report status
// there. Only in the local file; a fleet policy with one is rejected. Parser
// limits: 1..16 endpoints, each http:// or https://HOST:PORT; node and groups
// are [A-Za-z0-9_.-]{1,64} (node defaults to the host name); prefix starts with
// '/' and does not end with one; confirm_s 0..3600 (0: no rollback watch);
// status_ttl_s 5..300; status_figures_s 1..3600.
struct FleetSpec {
  std::vector<std::string> endpoints{};
  std::string node{};  // empty after parsing: the host name (the daemon fills it in)
  std::vector<std::string> groups{};
  std::string prefix = "/pathsteer/v1";
  std::string token_file{};  // "user:password" for etcd's auth; empty: no auth
  std::string ca_file{};     // https endpoints: trust these; empty: the system's store
  uint32_t confirm_s = 60;
  uint32_t status_ttl_s = 15;
  uint32_t status_figures_s =
      10;  // figures alone (rtt, loss) rewrite the status at most this often
  friend bool operator==(const FleetSpec&, const FleetSpec&) = default;
};

struct Policy {
  int version = 1;
  std::vector<std::string> lan_interfaces{};
  DatapathMode mode = DatapathMode::kMark;
  // `datapath: { flow_quota: N }`: the flow entries one LAN source may create
  // per two flow-idle windows (DatapathPlan::flow_quota); 0: no limit, at most
  // 262,144 (the table). Unset: the data plane's default, 1/16 of the table.
  std::optional<uint32_t> flow_quota{};
  LastResort last_resort = LastResort::kMain;
  // `conntrack: { flush_on_down: true }`: when an uplink goes down, delete the
  // conntrack entries NAT'ed through it (and only those), so clients reconnect
  // over a live uplink at once instead of waiting for their flows to time out.
  bool conntrack_flush_on_down = true;
  // `dns: { min_ttl_s, grace_s, max_addrs_per_name }` (DESIGN §10): the
  // lifetime of addresses learned for `domain` match entries. Limits:
  // min_ttl_s 0..604800, grace_s 0..604800, max_addrs_per_name 1..4096.
  DnsOptions dns{};
  Ownership ownership{};
  std::vector<Wan> wans{};           // file order
  std::vector<Overlay> overlays{};   // file order
  std::vector<ClassSpec> classes{};  // file order = evaluation order
  std::optional<FleetSpec> fleet{};  // the local file's `fleet:` block
  // The prefix files the match entries' src_file/dst_file named, as read
  // (relative ones resolved), in policy order without repeats: what a reload
  // re-reads and the daemon watches besides the policy file.
  std::vector<std::string> prefix_files{};

  const Wan* find_wan(const std::string& name) const;
  const Overlay* find_overlay(const std::string& name) const;
  // `hint`: where the class probably is in `classes`, checked first (a caller
  // walking classes in policy order finds each without a scan).
  const ClassSpec* find_class(const std::string& name, size_t hint = SIZE_MAX) const;
  // Every wan's and overlay's name (they share one namespace), wans first.
  std::vector<std::string> path_names() const;
  friend bool operator==(const Policy&, const Policy&) = default;
};

// A policy error names file, line and column (common/result.h Diagnostic).
using PolicyError = Diagnostic;

// `file_name` labels the errors. An invalid policy is an Error of kind
// kInvalidPolicy whose details are every PolicyError, sorted by position (the
// policy's own first, then those in prefix files, by file). A relative
// src_file/dst_file path is taken relative to `base_dir` ("": the current
// directory); without it, relative to file_name's directory (the text is that
// file's). A text from elsewhere (an etcd key, a cached fleet policy) passes
// the local policy file's directory.
Result<Policy> parse_policy(const std::string& text, const std::string& file_name);
Result<Policy> parse_policy(const std::string& text, const std::string& file_name,
                            const std::string& base_dir);
Result<Policy> parse_policy_file(const std::string& path);
// The directory part of a path: "" for "policy.yaml", "/" for "/p.yaml",
// "/etc/pathsteer" for "/etc/pathsteer/policy.yaml".
std::string directory_of(const std::string& path);

// The policy file's spellings, for other inputs (the API, the CLI).
std::optional<uint8_t> dscp_from_name(std::string_view s);   // ef, afXY, csN (any case)
std::optional<uint8_t> proto_from_name(std::string_view s);  // tcp, udp, icmp, icmpv6

// The spellings used in the policy file.
const char* to_string(Strategy s);
const char* to_string(LastResort r);

}  // namespace pathsteer
