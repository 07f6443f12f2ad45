// explain (DESIGN §8, §9): a 5-tuple in; the class, uplink, mark/table and
// reasons out. The class and mark come from running the loaded classifier on
// a crafted frame (Datapath::simulate, BPF_PROG_TEST_RUN) against the live
// maps, so the answer cannot disagree with the data plane; the plan only
// names what the mark means (which uplink and table) and why the class is
// there (its reason code).
#pragma once

#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "bpf/dataplane_port.h"
#include "bpf/packet_builder.h"
#include "controller/planner.h"
#include "controller/request.h"

namespace pathsteer {

struct ExplainRequest {
  testing::Frame frame;
  std::string iif;  // the LAN interface it arrives on ("": the policy's first)
};

// POST /v1/explain body: {"src": ADDR, "dst": ADDR, "proto": "tcp"|"udp"|
// "icmp"|"icmpv6"|0..255, "sport": n, "dport": n, "dscp": 0..63|"ef"|...,
// "iif": NAME}. src and dst are required and of one family; ports need tcp or
// udp. The crafted packet never creates or refreshes a flow entry; if a live
// entry for the 5-tuple exists, the answer is that flow's pinned uplink.
std::variant<ExplainRequest, RequestError> parse_explain_request(const std::string& body);

// The answer as JSON: input (echoed), class (null: no class matched), class
// strategy and reason, uplink (null: last_resort or left unmarked), mark (the
// owned bits after the classifier), table, action ("mark", "redirect",
// "last_resort", "unclassified"), flow ("new" or "established"), and a
// human-readable `reasons` list.
nlohmann::json explain_result(const ExplainRequest& in, const SimulateResult& sim,
                              const DesiredState& plan, uint32_t mark_mask);

}  // namespace pathsteer
