// Fuzz target: every JSON body the REST API parses (DESIGN §9). The first byte picks the
// endpoint, the rest is the body:
//   'i' POST /v1/intents  -> parse_intent_request, then validate against a fixed policy and
//                            add to a store (ids, expiry), and its JSON form;
//   'e' POST /v1/explain  -> parse_explain_request, then the frame the classifier would get;
//   anything else         -> the parsing and validation of a policy PUT's {"text": ...}.
// Any input must give a value or an error with a message; a crash, hang, leak or UB is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "controller/explain.h"
#include "controller/intents.h"
#include "controller/policy.h"

namespace {

using namespace pathsteer;

const Policy& fixed_policy() {
  static const Policy p = [] {
    auto r = parse_policy(R"(version: 1
lan_interfaces: [lan0]
wans:
  wan1: { interface: eth1, gateway: 192.0.2.1 }
  wan2: { interface: eth2, gateway: 198.51.100.1 }
classes:
  voip: { match: [ { proto: udp, dport: 5060 } ], paths: [wan1, wan2] }
  default: { paths: [wan1, wan2] }
)",
                          "fuzz.yaml");
    if (!r.ok())
      std::abort();
    return r.value();
  }();
  return p;
}

void check(const RequestError& e) {
  if (e.message.empty())
    std::abort();  // refused without a reason
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'i': {
      auto r = parse_intent_request(body);
      if (auto* e = std::get_if<RequestError>(&r)) {
        check(*e);
        return 0;
      }
      auto& req = std::get<IntentRequest>(r);
      if (auto e = validate(req, fixed_policy())) {
        check(*e);
        return 0;
      }
      IntentStore store;
      auto added = store.add(req, WallTime(std::chrono::seconds(1'800'000'000)));
      if (auto* e = std::get_if<RequestError>(&added))
        check(*e);
      else
        (void)intent_json(std::get<Intent>(added), &fixed_policy()).dump();
      (void)store.overrides(fixed_policy());
      return 0;
    }
    case 'e': {
      auto r = parse_explain_request(body);
      if (auto* e = std::get_if<RequestError>(&r)) {
        check(*e);
        return 0;
      }
      auto frame = testing::build(std::get<ExplainRequest>(r).frame);
      if (frame.size() < 14)
        std::abort();
      return 0;
    }
    default: {
      auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
        return 0;
      auto p = parse_policy(j["text"].get<std::string>(), "put.yaml");
      if (auto* errs = (p ? nullptr : &p.error().details)) {
        if (errs->empty())
          std::abort();
      }
      return 0;
    }
  }
}
