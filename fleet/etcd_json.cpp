// The gateway's JSON and base64, and endpoint URLs: the client's pure half
// (no I/O), which parses what the network sends.
#include "fleet/etcd_json.h"

#include <nlohmann/json.hpp>

namespace pathsteer::fleet {

using json = nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

// etcd's gateway prints int64 as strings ("revision":"42"); accept numbers too.
int64_t int_of(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end())
    return 0;
  if (it->is_number_integer())
    return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bool_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::optional<KeyValue> kv_of(const json& j) {
  if (!j.is_object())
    return std::nullopt;
  KeyValue kv;
  auto key = base64_decode(str_of(j, "key"));
  auto value = base64_decode(str_of(j, "value"));
  if (!key || !value)
    return std::nullopt;
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = int_of(j, "create_revision");
  kv.mod_revision = int_of(j, "mod_revision");
  kv.lease = int_of(j, "lease");
  return kv;
}

std::string base64_encode(const std::string& raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8) | uint8_t(raw[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == raw.size()) {
    uint32_t v = uint8_t(raw[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == raw.size()) {
    uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int pad = 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=') {
        // Padding only at the end of the last quantum.
        if (i + 4 != text.size() || k < 2)
          return std::nullopt;
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0)
        return std::nullopt;
      int d = value_of(c);
      if (d < 0)
        return std::nullopt;
      v = (v << 6) | uint32_t(d);
    }
    // Canonical only (RFC 4648 3.5): the bits a padded quantum drops are zero,
    // so one value has one encoding (etcd writes no other).
    if ((pad == 2 && (v & 0xffff) != 0) || (pad == 1 && (v & 0xff) != 0))
      return std::nullopt;
    out += char((v >> 16) & 0xff);
    if (pad < 2)
      out += char((v >> 8) & 0xff);
    if (pad < 1)
      out += char(v & 0xff);
  }
  return out;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<WatchResponse> parse_watch_line(const std::string& line) {
  auto j = json::parse(line, nullptr, false);
  if (!j.is_object())
    return malformed_error("etcd watch: a line that is not a JSON object");
  if (j.contains("error")) {
    const json& e = j["error"];
    std::string msg = e.is_object() && e.contains("message") && e["message"].is_string()
                          ? e["message"].get<std::string>()
                          : e.dump().substr(0, 200);
    return system_error("etcd watch: " + msg, 0);
  }
  auto r = j.find("result");
  if (r == j.end() || !r->is_object())
    return malformed_error("etcd watch: a line without result");
  WatchResponse w;
  if (auto h = r->find("header"); h != r->end() && h->is_object())
    w.header_revision = int_of(*h, "revision");
  w.created = bool_of(*r, "created");
  w.canceled = bool_of(*r, "canceled");
  w.compact_revision = int_of(*r, "compact_revision");
  if (auto c = r->find("cancel_reason"); c != r->end() && c->is_string())
    w.cancel_reason = c->get<std::string>();
  if (auto evs = r->find("events"); evs != r->end()) {
    if (!evs->is_array())
      return malformed_error("etcd watch: events is not a list");
    for (const auto& e : *evs) {
      if (!e.is_object())
        return malformed_error("etcd watch: an event that is not an object");
      WatchEvent ev;
      ev.type = str_of(e, "type") == "DELETE" ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
      auto kv = e.contains("kv") ? kv_of(e["kv"]) : std::nullopt;
      if (!kv)
        return malformed_error("etcd watch: an event whose key or value is not base64");
      ev.kv = std::move(*kv);
      w.events.push_back(std::move(ev));
    }
  }
  return w;
}

std::string Endpoint::to_string() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + port;
}

Result<Endpoint> parse_endpoint(const std::string& url) {
  Endpoint e;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    e.tls = true;
    rest = url.substr(8);
  } else {
    return malformed_error("etcd endpoint '" + url + "': expected http://HOST:PORT or https://");
  }
  if (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  size_t colon = rest.rfind(':');
  if (rest.empty() || rest.find('/') != std::string::npos || colon == std::string::npos ||
      colon + 1 == rest.size())
    return malformed_error("etcd endpoint '" + url + "': expected http://HOST:PORT or https://");
  e.host = rest.substr(0, colon);
  e.port = rest.substr(colon + 1);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']')
    e.host = e.host.substr(1, e.host.size() - 2);
  for (char c : e.port) {
    if (c < '0' || c > '9')
      return malformed_error("etcd endpoint '" + url + "': the port is not a number");
  }
  if (e.host.empty() || e.port.size() > 5 || std::stoi(e.port) == 0 || std::stoi(e.port) > 65535)
    return malformed_error("etcd endpoint '" + url + "': no host or a port out of range");
  return e;
}

}  // namespace pathsteer::fleet
