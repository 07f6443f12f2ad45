// `pathsteer fleet ...` (DESIGN §13): talks to etcd directly with the fleet's
// own client (fleet/etcd_client.h), never through a daemon.
#include "cli/fleet_cmd.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/file.h"
#include "controller/capacity.h"
#include "controller/policy.h"
#include "fleet/etcd_client.h"
#include "fleet/logic.h"

namespace pathsteer {

namespace {

using json = nlohmann::json;

struct Conn {
  std::vector<std::string> endpoints;
  fleet::KeyLayout keys;
  std::string token_file, ca_file;
  bool as_json = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

// Consumes the connection options at args[i]; false when args[i] is not one.
bool conn_option(const std::vector<std::string>& args, size_t& i, Conn& c) {
  if (i + 1 >= args.size())
    return args[i] == "--json" ? (c.as_json = true) : false;
  const std::string& a = args[i];
  if (a == "--endpoints")
    c.endpoints = split(args[++i]);
  else if (a == "--prefix")
    c.keys.prefix = args[++i];
  else if (a == "--token-file")
    c.token_file = args[++i];
  else if (a == "--ca-file")
    c.ca_file = args[++i];
  else if (a == "--json")
    c.as_json = true;
  else
    return false;
  return true;
}

std::unique_ptr<fleet::EtcdClient> connect(Conn& c) {
  if (c.endpoints.empty()) {
    const char* env = std::getenv("PATHSTEER_ETCD");
    c.endpoints = split(env != nullptr ? env : "http://127.0.0.1:2379");
  }
  fleet::EtcdClient::Options o{.endpoints = c.endpoints, .ca_file = c.ca_file};
  if (!c.token_file.empty()) {
    auto t = read_file(c.token_file);
    if (!t) {
      std::fprintf(stderr, "pathsteer fleet: %s\n", t.error().to_string().c_str());
      return nullptr;
    }
    std::string line = t->substr(0, t->find('\n'));
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::fprintf(stderr, "pathsteer fleet: %s: expected one line USER:PASSWORD\n",
                   c.token_file.c_str());
      return nullptr;
    }
    o.user = line.substr(0, colon);
    o.password = line.substr(colon + 1);
  }
  auto client = fleet::EtcdClient::create(o);
  if (!client) {
    std::fprintf(stderr, "pathsteer fleet: %s\n", client.error().to_string().c_str());
    return nullptr;
  }
  return std::move(*client);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int fleet_status(const std::vector<std::string>& args) {
  Conn c;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!conn_option(args, i, c)) {
      fleet_usage(stderr);
      return 2;
    }
  }
  auto client = connect(c);
  if (!client)
    return 1;
  auto r = client->range(c.keys.status_prefix(), fleet::prefix_end(c.keys.status_prefix()));
  if (!r) {
    std::fprintf(stderr, "pathsteer fleet: %s\n", r.error().to_string().c_str());
    return 1;
  }
  if (c.as_json) {
    json out = json::array();
    for (const auto& kv : r->kvs) {
      auto j = json::parse(kv.value, nullptr, false);
      out.push_back(j.is_discarded() ? json(kv.value) : j);
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-24s %6s %-10s %-44s %7s %6s\n", "NODE", "GEN", "STATE", "POLICY", "UP", "AGE");
  for (const auto& kv : r->kvs) {
    auto j = json::parse(kv.value, nullptr, false);
    std::string node = kv.key.substr(c.keys.status_prefix().size());
    if (!j.is_object()) {
      std::printf("%-24s (unreadable status)\n", node.c_str());
      continue;
    }
    size_t up = 0, total = 0;
    if (j.contains("wans") && j["wans"].is_array()) {
      for (const auto& w : j["wans"]) {
        ++total;
        if (w.value("usable", false))
          ++up;
      }
    }
    std::string state = "-", source = "-";
    if (j.contains("policy") && j["policy"].is_object()) {
      state = j["policy"].value("state", "-");
      source = j["policy"].value("source", "-");
    }
    std::string age = "-";
    if (j.contains("updated_ms") && j["updated_ms"].is_number_integer())
      age = std::to_string((now_ms() - j["updated_ms"].get<int64_t>()) / 1000) + "s";
    std::string ups = std::to_string(up) + "/" + std::to_string(total);
    std::printf("%-24s %6s %-10s %-44s %7s %6s\n", node.c_str(),
                j.contains("generation") ? j["generation"].dump().c_str() : "-", state.c_str(),
                source.c_str(), ups.c_str(), age.c_str());
    if (j.contains("rollback") && j["rollback"].value("state", "") == "rolled-back")
      std::printf("%-24s   rolled back: %s\n", "", j["rollback"].value("reason", "").c_str());
    if (j.contains("policy") && j["policy"].contains("errors") &&
        j["policy"]["errors"].is_array()) {
      for (const auto& e : j["policy"]["errors"])
        if (e.is_string())
          std::printf("%-24s   %s\n", "", e.get<std::string>().c_str());
    }
  }
  return 0;
}

int fleet_put_policy(const std::vector<std::string>& args) {
  Conn c;
  std::string group, node, file;
  bool as_default = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--group" && i + 1 < args.size())
      group = args[++i];
    else if (args[i] == "--node" && i + 1 < args.size())
      node = args[++i];
    else if (args[i] == "--default")
      as_default = true;
    else if (conn_option(args, i, c))
      continue;
    else if (file.empty() && !args[i].starts_with("-"))
      file = args[i];
    else {
      fleet_usage(stderr);
      return 2;
    }
  }
  if (file.empty() || (group.empty() + node.empty() + !as_default) != 2) {
    std::fprintf(stderr,
                 "pathsteer fleet put-policy: one of --group G, --node N, --default "
                 "and a FILE\n");
    return 2;
  }
  auto text = read_file(file);
  if (!text) {
    std::fprintf(stderr, "pathsteer fleet: %s\n", text.error().to_string().c_str());
    return 1;
  }
  // Validated as the node will validate it, before anything is written.
  auto parsed = parse_policy(*text, file);
  if (parsed) {
    if (auto r = check_capacity(*parsed, file); !r)
      parsed = r.take_error();
  }
  if (!parsed) {
    for (const auto& e : parsed.error().details)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "pathsteer fleet: %s not written\n", file.c_str());
    return 1;
  }
  if (parsed->fleet) {
    std::fprintf(stderr,
                 "%s: a fleet policy has no fleet: block (it stays in each node's "
                 "local file); not written\n",
                 file.c_str());
    return 1;
  }
  std::string key = !group.empty()  ? c.keys.policy_group(group)
                    : !node.empty() ? c.keys.policy_node(node)
                                    : c.keys.policy_default();
  auto client = connect(c);
  if (!client)
    return 1;
  auto rev = client->put(key, *text);
  if (!rev) {
    std::fprintf(stderr, "pathsteer fleet: %s\n", rev.error().to_string().c_str());
    return 1;
  }
  std::printf("%s written at revision %lld\n", key.c_str(), static_cast<long long>(*rev));
  return 0;
}

int fleet_intent(const std::vector<std::string>& args) {
  if (args.empty()) {
    fleet_usage(stderr);
    return 2;
  }
  Conn c;
  const std::string& sub = args[0];
  if (sub == "add") {
    json body = json::object();
    std::string id;
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      bool has = i + 1 < args.size();
      if (a == "--class" && has)
        body["class"] = args[++i];
      else if (a == "--paths" && has)
        body["paths"] = split(args[++i]);
      else if (a == "--ttl" && has)
        body["ttl_s"] = std::strtoll(args[++i].c_str(), nullptr, 10);
      else if (a == "--max-rtt-ms" && has)
        body["sla"]["max_rtt_ms"] = std::strtoll(args[++i].c_str(), nullptr, 10);
      else if (a == "--max-jitter-ms" && has)
        body["sla"]["max_jitter_ms"] = std::strtoll(args[++i].c_str(), nullptr, 10);
      else if (a == "--max-loss-pct" && has)
        body["sla"]["max_loss_pct"] = std::strtod(args[++i].c_str(), nullptr);
      else if (a == "--comment" && has)
        body["comment"] = args[++i];
      else if (a == "--nodes" && has)
        body["nodes"] = split(args[++i]);
      else if (a == "--groups" && has)
        body["groups"] = split(args[++i]);
      else if (a == "--id" && has)
        id = args[++i];
      else if (conn_option(args, i, c))
        continue;
      else {
        fleet_usage(stderr);
        return 2;
      }
    }
    if (id.empty()) {
      std::mt19937_64 rng(std::random_device{}());
      char buf[24];
      std::snprintf(buf, sizeof(buf), "f-%016llx", static_cast<unsigned long long>(rng()));
      id = buf;
    }
    body["created_ms"] = now_ms();
    // Checked as every node will check it (shape, ttl, selectors).
    fleet::KeyValue kv{.key = c.keys.intent(id), .value = body.dump()};
    if (auto fi = fleet::parse_fleet_intent(kv, c.keys, now_ms()); !fi) {
      std::fprintf(stderr, "pathsteer fleet: %s\n", fi.error().to_string().c_str());
      return 1;
    }
    auto client = connect(c);
    if (!client)
      return 1;
    auto rev = client->put(kv.key, kv.value);
    if (!rev) {
      std::fprintf(stderr, "pathsteer fleet: %s\n", rev.error().to_string().c_str());
      return 1;
    }
    std::printf("%s\n", id.c_str());
    return 0;
  }
  if (sub == "list" || sub == "del") {
    std::string id;
    for (size_t i = 1; i < args.size(); ++i) {
      if (conn_option(args, i, c))
        continue;
      if (sub == "del" && id.empty() && !args[i].starts_with("-")) {
        id = args[i];
        continue;
      }
      fleet_usage(stderr);
      return 2;
    }
    auto client = connect(c);
    if (!client)
      return 1;
    if (sub == "del") {
      if (id.empty()) {
        fleet_usage(stderr);
        return 2;
      }
      auto n = client->remove(c.keys.intent(id));
      if (!n) {
        std::fprintf(stderr, "pathsteer fleet: %s\n", n.error().to_string().c_str());
        return 1;
      }
      if (*n == 0) {
        std::fprintf(stderr, "pathsteer fleet: no intent '%s'\n", id.c_str());
        return 1;
      }
      return 0;
    }
    auto r = client->range(c.keys.intents(), fleet::prefix_end(c.keys.intents()));
    if (!r) {
      std::fprintf(stderr, "pathsteer fleet: %s\n", r.error().to_string().c_str());
      return 1;
    }
    for (const auto& kv : r->kvs)
      std::printf("%s %s\n", kv.key.substr(c.keys.intents().size()).c_str(), kv.value.c_str());
    return 0;
  }
  fleet_usage(stderr);
  return 2;
}

}  // namespace

void fleet_usage(FILE* out) {
  std::fprintf(
      out,
      "usage: pathsteer fleet status [--json] [CONN]\n"
      "       pathsteer fleet put-policy (--group G | --node N | --default) FILE [CONN]\n"
      "       pathsteer fleet intent add --class C [--paths W1,W2] [--max-rtt-ms N]\n"
      "                         [--max-jitter-ms N] [--max-loss-pct X] --ttl SECONDS\n"
      "                         [--nodes N1,N2] [--groups G1,G2] [--id ID] [--comment TEXT] "
      "[CONN]\n"
      "       pathsteer fleet intent list [CONN]\n"
      "       pathsteer fleet intent del ID [CONN]\n"
      "CONN: [--endpoints URL,URL] [--prefix P] [--token-file F] [--ca-file F]; the endpoints\n"
      "default to $PATHSTEER_ETCD, else http://127.0.0.1:2379, the prefix to /pathsteer/v1.\n"
      "These talk to etcd directly (DESIGN §13). put-policy validates FILE like `validate`\n"
      "(and refuses a fleet: block) before it writes.\n");
}

int cmd_fleet(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fleet_usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "status")
    return fleet_status(rest);
  if (args[0] == "put-policy")
    return fleet_put_policy(rest);
  if (args[0] == "intent")
    return fleet_intent(rest);
  fleet_usage(stderr);
  return 2;
}

}  // namespace pathsteer
