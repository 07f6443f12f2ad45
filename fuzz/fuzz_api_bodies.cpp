// Fuzz target: every JSON body the REST API parses (DESIGN §9). The first byte picks the
// endpoint, the rest is the body:
//   'i' POST /v1/intents  -> parse_intent_request, then validate against a fixed policy and
//                            add to a store (ids, expiry), and its JSON form;
//   'e' POST /v1/explain  -> parse_explain_body, then the frame the classifier would get;
//   anything else         -> parse_policy_body, then the parsing and validation of its text.
// Any input must give a value or an error with a message; a crash, hang, leak or UB is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/json_map.h"
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

void check(const Error& e) {
  if (e.context.empty())
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
      if (!r) {
        check(r.error());
        return 0;
      }
      if (auto v = validate(*r, fixed_policy()); !v) {
        check(v.error());
        return 0;
      }
      IntentStore store;
      auto added = store.add(*r, WallTime(std::chrono::seconds(1'800'000'000)));
      if (!added)
        check(added.error());
      else
        (void)intent_json(IntentView{.intent = *added, .applies = applies(*added, fixed_policy())})
            .dump();
      (void)store.overrides(fixed_policy());
      return 0;
    }
    case 'e': {
      auto r = parse_explain_body(body);
      if (!r) {
        check(r.error());
        return 0;
      }
      auto frame = testing::build(r->frame);
      if (frame.size() < 14)
        std::abort();
      return 0;
    }
    default: {
      auto text = parse_policy_body(body);
      if (!text) {
        check(text.error());
        return 0;
      }
      auto p = parse_policy(*text, "put.yaml");
      if (!p && p.error().details.empty())
        std::abort();
      return 0;
    }
  }
}
