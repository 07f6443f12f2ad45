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

#include "bpf/datapath.h"
#include "bpf/frame.h"
#include "controller/planner.h"
#include "controller/request.h"

namespace pathsteer {

// POST /v1/explain body: {"src": ADDR, "dst": ADDR, "proto": "tcp"|"udp"|
// "icmp"|"icmpv6"|0..255, "sport": n, "dport": n, "dscp": 0..63|"ef"|...}.
// src and dst are required and of one family; ports need tcp or udp.
std::variant<FrameSpec, RequestError> parse_explain_request(const std::string& body);

// The answer as JSON: input (echoed), class (null: no class matched), class
// strategy and reason, uplink (null: last_resort or left unmarked), mark (the
// owned bits after the classifier), table, action ("mark", "last_resort",
// "unclassified"), and a human-readable `reasons` list.
nlohmann::json explain_result(const FrameSpec& in, const SimulateResult& sim,
                              const DesiredState& plan, uint32_t mark_mask);

}  // namespace pathsteer
