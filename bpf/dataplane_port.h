// DataplanePort: what the controller may know of and ask from the data plane
// (DESIGN §3): program a plan, attach the classifier to LAN interfaces, read
// counters, and run one crafted packet through it (explain). Datapath
// (bpf/datapath.h, the loader) is the real one; the controller's unit tests
// use a fake. Nothing here names a map or the kernel ABI.
//
// Contract every implementation keeps (bpf/datapath.h has the details):
//  * program() is atomic for packets and never resets the flow table; on
//    error the previous plan stays in force.
//  * attach()/detach() touch only pathsteer's own TC filter; both idempotent.
//  * simulate(..., record_flow = false) leaves the flow table and the
//    counters exactly as they were.
//  * Not thread-safe; used from the event-loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/compile.h"
#include "common/net.h"
#include "common/result.h"
#include "model/match.h"

namespace pathsteer {

struct ClassCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  friend bool operator==(const ClassCounters&, const ClassCounters&) = default;
};

// A LAN source's share of the flow table (DatapathPlan::flow_quota).
struct SourceFlows {
  std::string source;       // its address
  uint64_t flows = 0;       // entries created in the last two idle windows (what the quota counts)
  uint64_t over_quota = 0;  // packets of its new flows refused an entry (over the quota)
  friend bool operator==(const SourceFlows&, const SourceFlows&) = default;
};

// Sums over all CPUs (packets unless named otherwise).
// DNS learning (DESIGN §10), sums over all CPUs.
struct DnsCounters {
  uint64_t replies = 0;     // DNS replies seen on LAN egress (answers seen)
  uint64_t learned = 0;     // addresses learned anew
  uint64_t refreshed = 0;   // addresses learned again (expiry pushed out)
  uint64_t evicted = 0;     // expired, over max_addrs_per_name, or their domain left the policy
  uint64_t full = 0;        // not learned: the table of learned addresses was full
  uint64_t no_match = 0;    // replies naming no domain of the policy
  uint64_t truncated = 0;   // replies with TC set (the client retries over TCP; not learned)
  uint64_t not_answer = 0;  // not a standard query response, or an error rcode
  uint64_t skipped_records = 0;  // records of other types on the chain (ignored)
  // Replies not learned from, by reason ("short", "loop", "name", "count",
  // "class", "rdata", "chain", "too-big", "fragment"); only reasons that occurred.
  std::map<std::string, uint64_t> failures;
  friend bool operator==(const DnsCounters&, const DnsCounters&) = default;
};

// One address learned from DNS.
struct LearnedAddress {
  IpAddr addr;
  std::string domain;                // the owning pattern ("video.example", "*.cdn.example")
  std::optional<uint32_t> class_id;  // the class of its first rule; nullopt: not in the policy
  uint32_t ttl_s = 0;                // the record's TTL
  int64_t expires_in_ms = 0;         // < 0: expired, kept while a flow to it lives
  friend bool operator==(const LearnedAddress&, const LearnedAddress&) = default;
};

struct DatapathCounters {
  std::vector<ClassCounters> classes;         // by class id of the active generation
  std::map<uint32_t, ClassCounters> uplinks;  // by uplink id; ids that carried traffic
  uint64_t parse_errors = 0;                  // truncated / malformed IP packets (passed untouched)
  uint64_t non_ip = 0;                        // EtherType neither IPv4 nor IPv6 (passed untouched)
  uint64_t link_scope = 0;    // to multicast, broadcast or link-local (never routed; untouched)
  uint64_t unclassified = 0;  // parsed, no class matched (passed untouched)
  uint64_t fragments = 0;     // non-first fragments (classified without ports)
  uint64_t no_ports = 0;      // IPv6 extension chain too long to follow (no ports)
  uint64_t ip_options = 0;    // IPv4 with options
  uint64_t vlan = 0;          // in-band 802.1Q/802.1ad tagged frames
  uint64_t flow_new = 0;      // first packets (classified, entry written)
  uint64_t flow_hit = 0;      // packets of established flows (no classification)
  uint64_t flow_reclassified = 0;  // first packet of a flow after a plan change
  uint64_t flow_rechosen = 0;      // flows moved because their uplink went down
  uint64_t flow_expired = 0;       // entries found idle beyond flow_idle_s
  uint64_t flow_full = 0;          // entry could not be written
  uint64_t no_member = 0;          // class without a member: its own mark (last_resort)
  uint64_t redirected = 0;         // redirect mode: forwarded with bpf_redirect_neigh
  uint64_t over_quota = 0;         // packets of new flows of a source over its flow-table share
  std::vector<SourceFlows> top_sources;  // the largest shares of the flow table (at most 10)
  // redirect mode: why packets were marked instead, by reason ("no-kernel-support",
  // "vlan", "ttl", "redirect", "fib-error", "fib-unreachable", "fib-no-neigh", ...);
  // only reasons that occurred.
  std::map<std::string, uint64_t> fallbacks;
  DnsCounters dns;
};

// The verdict of one packet run through the loaded classifier.
struct SimulateResult {
  uint32_t mark = 0;                 // skb->mark after the program
  int retval = 0;                    // TC action: TC_ACT_UNSPEC, or TC_ACT_REDIRECT
  std::optional<uint32_t> class_id;  // nullopt: unclassified (or not parsed)
  uint32_t uplink_id = 0;            // 0: none
  int redirect_ifindex = 0;          // the interface redirected to, or 0
  std::string fallback;              // redirect mode: why it was marked instead ("" = none)
  bool established = false;          // a live flow entry decided (the flow is pinned)
};

struct DatapathFeatures {
  bool fib_table_lookup = false;  // bpf_fib_lookup with BPF_FIB_LOOKUP_TBID (6.5+)
};

class DataplanePort {
 public:
  virtual ~DataplanePort() = default;

  virtual Result<void> attach(int ifindex) = 0;
  virtual Result<void> detach(int ifindex) = 0;
  virtual Result<void> program(const DatapathPlan& plan) = 0;
  virtual Result<DatapathCounters> read_counters() const = 0;
  virtual const DatapathFeatures& features() const = 0;
  // What a plan's mode becomes here: "mark", "redirect", or "mark (redirect
  // unsupported: ...)".
  virtual std::string effective_mode(DatapathMode requested) const = 0;
  // One Ethernet frame through the classifier against the live maps.
  virtual Result<SimulateResult> simulate(std::span<const uint8_t> frame, uint32_t mark_in,
                                          int ingress_ifindex, bool record_flow) const = 0;
  // Removes the pinned state (--flush-on-exit).
  virtual Result<void> unpin() = 0;
  // What DNS answers taught the data plane, in no particular order.
  virtual Result<std::vector<LearnedAddress>> learned_addresses() const = 0;
  // Housekeeping of learned addresses, run about once a second: drops those
  // expired with no flow to them in the flow table, those whose domain left
  // the policy, and the oldest of a name beyond max_addrs_per_name. Does
  // nothing before the first program() (a restarted daemon keeps them).
  virtual Result<void> expire_learned() = 0;
  // Brings the inactive rule generation up to the active one (after packets
  // that may still read it are done), so that the next rule change writes
  // only its own difference: run when idle, after program(). True when it
  // wrote something. A fake has nothing to mirror.
  virtual Result<bool> mirror_rules() { return false; }

 protected:
  DataplanePort() = default;
  DataplanePort(const DataplanePort&) = default;
  DataplanePort& operator=(const DataplanePort&) = default;
};

}  // namespace pathsteer
