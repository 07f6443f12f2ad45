// Internal to fleet/: the gateway's JSON field readers shared by the client's
// transport (etcd_client.cpp) and its pure parsers (etcd_json.cpp, which also
// defines etcd_client.h's parse_watch_line, base64 and parse_endpoint).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "fleet/etcd_client.h"

namespace pathsteer::fleet {

// etcd's gateway prints int64 as strings ("revision":"42"); numbers are taken
// too; anything else (or a missing key) is 0.
int64_t int_of(const nlohmann::json& j, const char* key);
// A string / bool field; anything else (or missing) is "" / false. Never
// nlohmann's value(), which throws on a field of another type.
std::string str_of(const nlohmann::json& j, const char* key);
bool bool_of(const nlohmann::json& j, const char* key);
// A kv object: key and value base64-decoded; nullopt if either is not base64.
std::optional<KeyValue> kv_of(const nlohmann::json& j);

}  // namespace pathsteer::fleet
