// The REST API's JSON (DESIGN §9, docs/openapi.yaml): the mapping of the
// control service's typed results to response bodies, and of request bodies
// to typed requests. Pure; the shapes are checked against the OpenAPI
// description by tests/netns/test_openapi.py.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "controller/service.h"

namespace pathsteer {

nlohmann::json status_json(const StatusSnapshot& s);
nlohmann::json intent_json(const IntentView& v);  // the stored record, plus "applies"
nlohmann::json intents_json(const std::vector<IntentView>& v);
nlohmann::json explain_json(const ExplainAnswer& a);
// GET /v1/domains: {"domains": [{"domain", "address", "class", "ttl_s", "expires_in_s"}]}
nlohmann::json domains_json(const std::vector<DomainView>& d);
nlohmann::json plan_diff_json(const PlanDiff& d);
nlohmann::json policy_change_json(const PolicyChange& c);
nlohmann::json policy_json(const PolicyView& p);
nlohmann::json history_json(const HistoryView& h);
nlohmann::json event_json(const ControlEvent& e);
// One server-sent event: "id: ID\nevent: KIND\ndata: JSON\n\n".
std::string sse_frame(const ControlEvent& e);

// POST /v1/explain: {"src": ADDR, "dst": ADDR, "proto": "tcp"|"udp"|"icmp"|
// "icmpv6"|0..255, "sport": n, "dport": n, "dscp": 0..63|"ef"|..., "iif":
// NAME}. src and dst are required and of one family; ports need tcp or udp.
// Errors: kMalformed (shape, types, unknown keys), kInvalidPolicy (values).
Result<ExplainQuery> parse_explain_body(const std::string& body);
// PUT /v1/policy: {"text": "<policy YAML>"} and nothing else (kMalformed).
Result<std::string> parse_policy_body(const std::string& body);

}  // namespace pathsteer
