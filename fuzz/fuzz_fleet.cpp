// Fuzz target: what the fleet reads from the network (fleet/etcd_json.cpp, fleet/logic.h).
// The first byte picks: 0 a /v3/watch line, 1 an intents/<id> value, 2 base64, 3 an
// endpoint URL. Any input must give a value or an error, never a crash (an uncaught
// nlohmann exception would end the daemon's watcher thread), hang, leak or UB.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fleet/etcd_client.h"
#include "fleet/logic.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pathsteer::fleet;
  if (size == 0)
    return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto w = parse_watch_line(text);
      if (w) {
        for (const auto& e : w->events)
          (void)e.kv.key.size();
      } else if (w.error().to_string().empty()) {
        std::abort();  // refused without a reason
      }
      break;
    }
    case 1: {
      KeyLayout keys;
      KeyValue kv{.key = keys.intent("fuzz"),
                  .value = text,
                  .lease = static_cast<int64_t>(text.size() % 2)};
      auto fi = parse_fleet_intent(kv, keys, 1000);
      if (fi) {
        if (fi->intent.id != "fuzz" || fi->intent.expires_ms < fi->intent.created_ms)
          std::abort();
        (void)selects(*fi, "n1", {"g1"});
      } else if (fi.error().to_string().find(kv.key) == std::string::npos) {
        std::abort();  // the error names the key
      }
      break;
    }
    case 2: {
      auto raw = base64_decode(text);
      if (raw && base64_encode(*raw) != text)
        std::abort();  // canonical base64 round-trips
      break;
    }
    default:
      (void)parse_endpoint(text);
      break;
  }
  return 0;
}
