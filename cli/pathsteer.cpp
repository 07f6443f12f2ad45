// pathsteer: the command-line tool. `validate` and `reflector` work offline; the other
// commands are clients of the daemon's REST API (DESIGN §8).
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "api/http.h"
#include "cli/fleet_cmd.h"
#include "common/event_loop.h"
#include "common/file.h"
#include "common/log.h"
#include "common/privileges.h"
#include "controller/capacity.h"
#include "controller/policy.h"
#include "import/mwan3.h"
#include "import/uci.h"
#include "probes/reflector.h"

namespace {

using namespace pathsteer;

constexpr const char* kDefaultSocket = "/run/pathsteer/api.sock";
constexpr const char* kDefaultApi = "http://127.0.0.1:9370";

// $PATHSTEER_API, else the daemon's unix socket when there is one (the
// packaged unit listens there), else loopback TCP.
std::string default_api() {
  if (const char* env = std::getenv("PATHSTEER_API"))
    return env;
  if (::access(kDefaultSocket, F_OK) == 0)
    return std::string("unix:") + kDefaultSocket;
  return kDefaultApi;
}

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: pathsteer validate FILE\n"
      "       pathsteer status [--json] [--api URL]\n"
      "       pathsteer explain --src ADDR --dst ADDR [--proto P] [--sport N] [--dport N]\n"
      "                         [--dscp D] [--json] [--api URL]\n"
      "       pathsteer domains [--class C] [--json] [--api URL]\n"
      "       pathsteer intent add --class C [--paths W1,W2] [--max-rtt-ms N]\n"
      "                         [--max-jitter-ms N] [--max-loss-pct X] --ttl SECONDS\n"
      "                         [--comment TEXT] [--json] [--api URL] [--token-file F]\n"
      "       pathsteer intent list [--json] [--api URL]\n"
      "       pathsteer intent del ID [--api URL] [--token-file F]\n"
      "       pathsteer policy get [--json] [--api URL]\n"
      "       pathsteer policy diff FILE [--json] [--api URL] [--token-file F]  (a dry run)\n"
      "       pathsteer policy put FILE [--json] [--api URL] [--token-file F]\n"
      "       pathsteer reflector [--listen ADDR:PORT]... [--rate PPS] [--rate-total PPS]\n"
      "                         [--allow CIDR]...\n"
      "                         [--user NAME] [--verbose] [--log-every N]\n"
      "       pathsteer import mwan3 FILE [--network FILE] [-o OUT] [--strict]\n"
      "       pathsteer fleet status | put-policy | intent ...  (etcd; `fleet --help`)\n"
      "       pathsteer help | --help | -h\n"
      "The API URL (http://ADDR:PORT, https://..., or unix:SOCKET) defaults to $PATHSTEER_API,\n"
      "else unix:%s when it exists, else %s; changes need the daemon's\n"
      "bearer token, read from --token-file or $PATHSTEER_TOKEN_FILE.\n"
      "The STAMP reflector (RFC 8762) listens on 0.0.0.0:862 and [::]:862 unless\n"
      "--listen is given (repeatable). It never answers a packet from its own port or\n"
      "a port below 1024, nor one sent to a broadcast or multicast address; it answers\n"
      "each source (an IPv4 address or an IPv6 /64) at most PPS packets a second\n"
      "(default %u, bursts of as many), all sources together at most --rate-total\n"
      "(default %u), and with --allow (repeatable, IPv4 or IPv6) only sources inside one of\n"
      "the prefixes. Started as root, it binds, then runs as NAME (default %s, its\n"
      "primary group) without any capability. It logs every packet it answers with\n"
      "--verbose, else a summary every N reflected packets (default 1000), and stops on\n"
      "SIGINT/SIGTERM, logging what it received, answered and dropped (by reason).\n"
      "`import mwan3` converts OpenWrt's /etc/config/mwan3 (mwan4's naming too; devices\n"
      "and lan_interfaces from --network, e.g. /etc/config/network) into a version 1\n"
      "policy on stdout or OUT, and prints on stderr one line per option it could not\n"
      "carry over exactly (FILE:LINE: option 'X' of rule 'Y': why). Exit 0: all carried\n"
      "over; 3: some approximated; 1: a file cannot be read, or (--strict) any\n"
      "approximation, then nothing is written. docs/MIGRATING.md has the details.\n",
      kDefaultSocket, kDefaultApi, RateLimit{}.rate_pps, RateLimit{}.total_pps, kUnprivilegedUser);
}

int cmd_validate(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    usage(stderr);
    return 2;
  }
  auto parsed = parse_policy_file(args[0]);
  if (!parsed) {
    for (const auto& e : parsed.error().details)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  const auto& p = parsed.value();
  if (auto r = check_capacity(p, args[0]); !r) {
    for (const auto& e : r.error().details)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  std::printf("%s: valid (%zu wans, %zu classes)\n", args[0].c_str(), p.wans.size(),
              p.classes.size());
  return 0;
}

std::string fmt_ms(const nlohmann::json& v) {
  if (!v.is_number())
    return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v.get<double>());
  return buf;
}

void print_intent(const nlohmann::json& it);

int cmd_status(const std::vector<std::string>& args) {
  bool as_json = false;
  std::string api = default_api();
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      as_json = true;
    } else if (args[i] == "--api" && i + 1 < args.size()) {
      api = args[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  auto reply = http_call("GET", api + "/v1/status");
  if (!reply) {
    std::fprintf(stderr, "pathsteer: %s\n", reply.error().to_string().c_str());
    return 1;
  }
  if (reply->status != 200) {
    std::fprintf(stderr, "pathsteer: HTTP %d: %s\n", reply->status, reply->body.c_str());
    return 1;
  }
  if (as_json) {
    std::printf("%s\n", reply->body.c_str());
    return 0;
  }
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "pathsteer: the daemon sent invalid JSON\n");
    return 1;
  }
  std::printf("pathsteerd %s, policy generation %s, %s\n\n", j.value("version", "?").c_str(),
              j["policy_generation"].dump().c_str(),
              j.value("synced", false) ? "kernel in sync" : "NOT in sync");
  std::printf("%-10s %-10s %-8s %-10s %8s %8s %7s  %s\n", "UPLINK", "INTERFACE", "STATE", "REASON",
              "RTT ms", "JIT ms", "LOSS %", "GATEWAY");
  for (const auto& w : j["wans"]) {
    std::string gw = w["gateway4"].is_string() ? w["gateway4"].get<std::string>() : "-";
    if (w["gateway6"].is_string())
      gw += " " + w["gateway6"].get<std::string>();
    std::printf("%-10s %-10s %-8s %-10s %8s %8s %7s  %s\n", w.value("name", "").c_str(),
                w.value("interface", "").c_str(), w.value("state", "").c_str(),
                w.value("reason", "").c_str(), fmt_ms(w["rtt_ms"]).c_str(),
                fmt_ms(w["jitter_ms"]).c_str(), fmt_ms(w["loss_pct"]).c_str(), gw.c_str());
  }
  std::printf("\n%-12s %-14s %-10s %-16s %-8s %12s\n", "CLASS", "STRATEGY", "UPLINK", "REASON",
              "LOCAL", "PACKETS");
  for (const auto& c : j["classes"]) {
    std::string up = c["uplink"].is_string() ? c["uplink"].get<std::string>() : "(last resort)";
    std::printf("%-12s %-14s %-10s %-16s %-8s %12s\n", c.value("name", "").c_str(),
                c.value("strategy", "").c_str(), up.c_str(), c.value("reason", "").c_str(),
                c.value("local", "-").c_str(),
                c.contains("packets") ? c["packets"].dump().c_str() : "-");
  }
  if (j.contains("intents") && !j["intents"].empty()) {
    std::printf("\n%-20s %-12s %7s  %s\n", "INTENT", "CLASS", "LEFT", "OVERRIDE");
    for (const auto& it : j["intents"])
      print_intent(it);
  }
  for (const auto& e : j["errors"])
    std::printf("error: %s\n", e.get<std::string>().c_str());
  for (const auto& c : j["conflicts"])
    std::printf("conflict: %s\n", c.get<std::string>().c_str());
  return 0;
}

// Options shared by the API clients; the rest are left in `rest` as (flag, value) pairs.
struct ClientOptions {
  std::string api;
  std::string token_file;
  bool as_json = false;
  std::vector<std::pair<std::string, std::string>> flags;  // --name value
  std::vector<std::string> positional;
};

std::optional<ClientOptions> client_options(const std::vector<std::string>& args,
                                            const std::vector<std::string>& valued) {
  ClientOptions o;
  o.api = default_api();
  if (const char* t = std::getenv("PATHSTEER_TOKEN_FILE"))
    o.token_file = t;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "--json") {
      o.as_json = true;
    } else if (a == "--api" && has_value) {
      o.api = args[++i];
    } else if (a == "--token-file" && has_value) {
      o.token_file = args[++i];
    } else if (std::find(valued.begin(), valued.end(), a) != valued.end() && has_value) {
      o.flags.emplace_back(a, args[++i]);
    } else if (!a.starts_with("--")) {
      o.positional.push_back(a);
    } else {
      std::fprintf(stderr, "pathsteer: unknown option or missing value: %s\n", a.c_str());
      return std::nullopt;
    }
  }
  return o;
}

// Calls the API; prints the error (the body's message) and returns nullopt on failure.
std::optional<nlohmann::json> api_call(const ClientOptions& o, const std::string& method,
                                       const std::string& path, const std::string& body = {},
                                       bool with_token = false) {
  std::string token;
  if (with_token) {
    if (o.token_file.empty()) {
      std::fprintf(stderr,
                   "pathsteer: this change needs --token-file (or $PATHSTEER_TOKEN_FILE)\n");
      return std::nullopt;
    }
    std::ifstream in(o.token_file);
    if (!in || !std::getline(in, token) || token.empty()) {
      std::fprintf(stderr, "pathsteer: cannot read a token from %s\n", o.token_file.c_str());
      return std::nullopt;
    }
  }
  auto reply = http_call(method, o.api + path, body, token);
  if (!reply) {
    std::fprintf(stderr, "pathsteer: %s\n", reply.error().to_string().c_str());
    return std::nullopt;
  }
  auto j = reply->body.empty() ? nlohmann::json::object()
                               : nlohmann::json::parse(reply->body, nullptr, false);
  if (reply->status >= 300) {
    std::string msg = reply->body;
    if (!j.is_discarded() && j.contains("error"))
      msg = j["error"].value("message", reply->body);
    std::fprintf(stderr, "pathsteer: %s %s: HTTP %d: %s\n", method.c_str(), path.c_str(),
                 reply->status, msg.c_str());
    return std::nullopt;
  }
  if (j.is_discarded()) {
    std::fprintf(stderr, "pathsteer: the daemon sent invalid JSON\n");
    return std::nullopt;
  }
  return j;
}

int cmd_explain(const std::vector<std::string>& args) {
  auto o = client_options(args, {"--src", "--dst", "--proto", "--sport", "--dport", "--dscp"});
  if (!o || !o->positional.empty()) {
    usage(stderr);
    return 2;
  }
  nlohmann::json req = nlohmann::json::object();
  for (const auto& [flag, value] : o->flags) {
    std::string key = flag.substr(2);
    bool numeric = !value.empty() && std::all_of(value.begin(), value.end(), ::isdigit);
    if (numeric && key != "src" && key != "dst")
      req[key] = std::stoul(value);
    else
      req[key] = value;
  }
  auto j = api_call(*o, "POST", "/v1/explain", req.dump());
  if (!j)
    return 1;
  if (o->as_json) {
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  auto str = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : "-"; };
  std::printf("class:  %s\nuplink: %s\nmark:   0x%x\ntable:  %s\naction: %s\n",
              str((*j)["class"]).c_str(), str((*j)["uplink"]).c_str(), (*j)["mark"].get<uint32_t>(),
              (*j)["table"].dump().c_str(), str((*j)["action"]).c_str());
  for (const auto& r : (*j)["reasons"])
    std::printf("  - %s\n", r.get<std::string>().c_str());
  return 0;
}

// `pathsteer domains`: the addresses learned from DNS (GET /v1/domains).
int cmd_domains(const std::vector<std::string>& args) {
  auto o = client_options(args, {"--class"});
  if (!o || !o->positional.empty()) {
    usage(stderr);
    return 2;
  }
  std::string path = "/v1/domains";
  for (const auto& [flag, c] : o->flags) {
    // Class names are [A-Za-z0-9_-]: nothing to escape, but never pass anything else.
    if (c.empty() || !std::all_of(c.begin(), c.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
        })) {
      std::fprintf(stderr, "pathsteer: invalid class name '%s'\n", c.c_str());
      return 2;
    }
    path += "?class=" + c;
  }
  auto j = api_call(*o, "GET", path, "");
  if (!j)
    return 1;
  if (o->as_json) {
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  std::printf("%-32s %-40s %-12s %7s %10s\n", "DOMAIN", "ADDRESS", "CLASS", "TTL s", "EXPIRES s");
  for (const auto& d : (*j)["domains"]) {
    std::string klass = d["class"].is_string() ? d["class"].get<std::string>() : "-";
    double left = d["expires_in_s"].get<double>();
    char expires[32];
    if (left < 0)
      std::snprintf(expires, sizeof(expires), "flow");
    else
      std::snprintf(expires, sizeof(expires), "%.0f", left);
    std::printf("%-32s %-40s %-12s %7u %10s\n", d["domain"].get<std::string>().c_str(),
                d["address"].get<std::string>().c_str(), klass.c_str(), d["ttl_s"].get<unsigned>(),
                expires);
  }
  return 0;
}

void print_intent(const nlohmann::json& it) {
  std::string what;
  if (it["paths"].is_array()) {
    what = "paths";
    for (const auto& p : it["paths"])
      what += " " + p.get<std::string>();
  }
  if (it["sla"].is_object())
    what += (what.empty() ? "sla " : ", sla ") + it["sla"].dump();
  long long left_s =
      (it["expires_ms"].get<long long>() - std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()) /
      1000;
  std::printf("%-20s %-12s %6llds  %s%s%s\n", it["id"].get<std::string>().c_str(),
              it["class"].get<std::string>().c_str(), std::max(0LL, left_s), what.c_str(),
              it.value("applies", true) ? "" : "  (does not apply to this policy)",
              it.value("comment", "").empty() ? "" : ("  # " + it.value("comment", "")).c_str());
}

int cmd_intent(const std::vector<std::string>& args) {
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  auto o = client_options(rest, {"--class", "--paths", "--max-rtt-ms", "--max-jitter-ms",
                                 "--max-loss-pct", "--ttl", "--comment"});
  if (!o) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "list" && o->positional.empty() && o->flags.empty()) {
    auto j = api_call(*o, "GET", "/v1/intents");
    if (!j)
      return 1;
    if (o->as_json) {
      std::printf("%s\n", j->dump().c_str());
      return 0;
    }
    std::printf("%-20s %-12s %7s  %s\n", "ID", "CLASS", "LEFT", "OVERRIDE");
    for (const auto& it : (*j)["intents"])
      print_intent(it);
    return 0;
  }
  if (args[0] == "del" && o->positional.size() == 1 && o->flags.empty()) {
    return api_call(*o, "DELETE", "/v1/intents/" + o->positional[0], {}, true) ? 0 : 1;
  }
  if (args[0] != "add" || !o->positional.empty()) {
    usage(stderr);
    return 2;
  }
  nlohmann::json req = nlohmann::json::object();
  try {
    for (const auto& [flag, value] : o->flags) {
      if (flag == "--class") {
        req["class"] = value;
      } else if (flag == "--paths") {
        req["paths"] = nlohmann::json::array();
        std::string item;
        std::stringstream ss(value);
        while (std::getline(ss, item, ','))
          req["paths"].push_back(item);
      } else if (flag == "--max-rtt-ms") {
        req["sla"]["max_rtt_ms"] = std::stoul(value);
      } else if (flag == "--max-jitter-ms") {
        req["sla"]["max_jitter_ms"] = std::stoul(value);
      } else if (flag == "--max-loss-pct") {
        req["sla"]["max_loss_pct"] = std::stod(value);
      } else if (flag == "--ttl") {
        req["ttl_s"] = std::stoul(value);
      } else if (flag == "--comment") {
        req["comment"] = value;
      }
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "pathsteer: a numeric option has a non-numeric value\n");
    return 2;
  }
  auto j = api_call(*o, "POST", "/v1/intents", req.dump(), true);
  if (!j)
    return 1;
  if (o->as_json)
    std::printf("%s\n", j->dump().c_str());
  else
    std::printf("%s\n", (*j)["id"].get<std::string>().c_str());
  return 0;
}

void print_diff(const nlohmann::json& diff) {
  auto where = [](const nlohmann::json& c) {
    return (c["uplink"].is_string() ? c["uplink"].get<std::string>() : "(last resort)") + " (" +
           c.value("reason", "") + ")";
  };
  for (const auto& c : diff["classes"]) {
    std::string change = c.value("change", "");
    std::string line = "class " + c.value("class", "") + ": ";
    if (change == "added")
      line += "added, on " + where(c["after"]);
    else if (change == "removed")
      line += "removed (was on " + where(c["before"]) + ")";
    else
      line += where(c["before"]) + " -> " + where(c["after"]);
    std::printf("%s\n", line.c_str());
  }
  for (const char* kind : {"rules", "routes"}) {
    for (const auto& o : diff[kind]["remove"])
      std::printf("- %s\n", o.get<std::string>().c_str());
    for (const auto& o : diff[kind]["add"])
      std::printf("+ %s\n", o.get<std::string>().c_str());
  }
  if (diff.value("datapath_changed", false))
    std::printf("data plane: the classifier's rule set changes\n");
  if (diff["classes"].empty() && diff["rules"]["add"].empty() && diff["rules"]["remove"].empty() &&
      diff["routes"]["add"].empty() && diff["routes"]["remove"].empty() &&
      !diff.value("datapath_changed", false)) {
    std::printf("no change\n");
  }
}

int cmd_policy(const std::vector<std::string>& args) {
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  auto o = client_options(rest, {});
  if (!o) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "get" && o->positional.empty()) {
    auto j = api_call(*o, "GET", "/v1/policy");
    if (!j)
      return 1;
    if (o->as_json)
      std::printf("%s\n", j->dump().c_str());
    else
      std::printf("%s", (*j)["text"].get<std::string>().c_str());
    return 0;
  }
  if ((args[0] != "put" && args[0] != "diff") || o->positional.size() != 1) {
    usage(stderr);
    return 2;
  }
  std::ifstream in(o->positional[0], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "pathsteer: cannot read %s\n", o->positional[0].c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json body = {{"text", ss.str()}};
  std::string path = args[0] == "diff" ? "/v1/policy?dry_run=true" : "/v1/policy";
  auto j = api_call(*o, "PUT", path, body.dump(), true);
  if (!j)
    return 1;
  if (o->as_json) {
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  print_diff((*j)["diff"]);
  if (j->value("applied", false))
    std::printf("applied: policy generation %s\n", (*j)["generation"].dump().c_str());
  return 0;
}

// `pathsteer __complete classes|wans|intents [--api URL]`: the names the shell completion
// (packaging/bash-completion/pathsteer) offers, one a line. Not in the usage text: it is for
// scripts. Says nothing on stderr, so a daemon that is not running does not garble a prompt.
int cmd_complete(const std::vector<std::string>& args) {
  std::string api = default_api();
  if (args.empty())
    return 2;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--api" && i + 1 < args.size())
      api = args[++i];
    else
      return 2;
  }
  const std::string& what = args[0];
  const char* path = what == "intents" ? "/v1/intents" : "/v1/status";
  const char* list = what == "classes" ? "classes" : what == "wans" ? "wans" : "intents";
  const char* key = what == "intents" ? "id" : "name";
  if (what != "classes" && what != "wans" && what != "intents")
    return 2;
  auto reply = http_call("GET", api + path);
  if (!reply || reply->status != 200)
    return 1;
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded() || !j.contains(list) || !j[list].is_array())
    return 1;
  for (const auto& item : j[list]) {
    if (item.contains(key) && item[key].is_string())
      std::printf("%s\n", item[key].get<std::string>().c_str());
  }
  return 0;
}

int cmd_reflector(const std::vector<std::string>& args) {
  std::vector<ListenAddr> listens;
  RateLimit rate_limit;
  std::vector<Prefix> allow;
  std::string user;
  bool verbose = false;
  uint64_t log_every = 1000;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--listen" && i + 1 < args.size()) {
      auto l = parse_listen_addr(args[++i]);
      if (!l) {
        std::fprintf(stderr,
                     "pathsteer reflector: bad --listen '%s' (ADDR:PORT or [V6ADDR]:PORT)\n",
                     args[i].c_str());
        return 2;
      }
      listens.push_back(*l);
    } else if (args[i] == "--rate" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      uint32_t pps = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pps);
      if (ec != std::errc() || end != v.data() + v.size() || pps < 1 || pps > RateLimit::kMaxRate) {
        std::fprintf(stderr, "pathsteer reflector: bad --rate '%s' (packets a second, 1-%u)\n",
                     v.c_str(), RateLimit::kMaxRate);
        return 2;
      }
      rate_limit.rate_pps = pps;
      rate_limit.burst = pps;
    } else if (args[i] == "--rate-total" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      uint32_t pps = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pps);
      if (ec != std::errc() || end != v.data() + v.size() || pps < 1 || pps > RateLimit::kMaxRate) {
        std::fprintf(stderr,
                     "pathsteer reflector: bad --rate-total '%s' (packets a second, 1-%u)\n",
                     v.c_str(), RateLimit::kMaxRate);
        return 2;
      }
      rate_limit.total_pps = pps;
    } else if (args[i] == "--allow" && i + 1 < args.size()) {
      std::string why;
      auto p = Prefix::parse(args[++i], &why);
      if (!p) {
        std::fprintf(stderr, "pathsteer reflector: bad --allow: %s\n", why.c_str());
        return 2;
      }
      allow.push_back(*p);
    } else if (args[i] == "--user" && i + 1 < args.size()) {
      user = args[++i];
    } else if (args[i] == "--verbose" || args[i] == "-v") {
      verbose = true;
    } else if (args[i] == "--log-every" && i + 1 < args.size()) {
      log_every = std::strtoull(args[++i].c_str(), nullptr, 10);
    } else {
      usage(stderr);
      return 2;
    }
  }
  const bool defaults = listens.empty();
  if (defaults) {
    listens.push_back({.addr = *IpAddr::parse("0.0.0.0"), .port = kStampDefaultPort});
    listens.push_back({.addr = *IpAddr::parse("::"), .port = kStampDefaultPort});
  }

  // Signals through a signalfd so they are handled on the loop like everything else.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    std::perror("pathsteer reflector: sigprocmask");
    return 1;
  }
  Fd sig(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sig.valid()) {
    std::perror("pathsteer reflector: signalfd");
    return 1;
  }
  auto loop = EventLoop::create();
  if (!loop) {
    std::fprintf(stderr, "pathsteer reflector: %s\n", loop.error().to_string().c_str());
    return 1;
  }
  EventLoop& ev = **loop;
  if (auto r = ev.add_fd(sig.get(), EPOLLIN, [&](uint32_t) { ev.stop(); }); !r) {
    std::fprintf(stderr, "pathsteer reflector: %s\n", r.error().to_string().c_str());
    return 1;
  }

  std::vector<std::unique_ptr<StampReflector>> reflectors;
  uint64_t total = 0;
  for (const ListenAddr& l : listens) {
    std::string name = l.to_string();
    auto on_packet = [&total, verbose, log_every, name](const ReflectedPacketInfo& p) {
      ++total;
      if (verbose) {
        PS_LOG(kInfo) << "reflector " << name << ": " << p.peer << " seq " << p.seq << " size "
                      << p.size << " ttl " << static_cast<int>(p.ttl) << " residence "
                      << p.residence_us << " us"
                      << (p.kernel_timestamp ? "" : " (no kernel rx ts)");
      } else if (log_every > 0 && total % log_every == 0) {
        PS_LOG(kInfo) << "reflector: " << total << " packets reflected";
      }
    };
    auto r = StampReflector::create(
        ev, {.listen = l, .rate_limit = rate_limit, .allow = allow, .on_packet = on_packet});
    if (!r) {
      // With the defaults, a host without IPv6 still gets an IPv4 reflector.
      if (defaults && l.addr.is_v6() && r.error().err_no == EAFNOSUPPORT) {
        PS_LOG(kWarn) << "reflector: IPv6 unavailable, IPv4 only";
        continue;
      }
      std::fprintf(stderr, "pathsteer reflector: %s\n", r.error().to_string().c_str());
      return 1;
    }
    PS_LOG(kInfo) << "reflector: STAMP (RFC 8762) listening on " << l.addr.to_string() << " port "
                  << (*r)->port();
    reflectors.push_back(std::move(*r));
  }

  // Everything privileged (binding a port below 1024) is done.
  auto creds = drop_privileges(user);
  if (!creds) {
    std::fprintf(stderr, "pathsteer reflector: dropping privileges: %s\n",
                 creds.error().to_string().c_str());
    return 1;
  }
  PS_LOG(kInfo) << "reflector: running as uid " << creds->uid << " gid " << creds->gid
                << (creds->switched ? " (switched from root)" : "") << ", no capabilities";

  if (auto r = ev.run(); !r) {
    std::fprintf(stderr, "pathsteer reflector: %s\n", r.error().to_string().c_str());
    return 1;
  }
  for (const auto& r : reflectors)
    PS_LOG(kInfo) << "reflector " << r->listen().to_string() << ": stopping; "
                  << to_string(r->stats());
  reflectors.clear();
  ev.remove_fd(sig.get());
  return 0;
}

}  // namespace

namespace {

// DESIGN §12: 0 every option carried over, 3 some approximated, 1 a file
// cannot be read (or, with --strict, anything approximated: nothing written).
int cmd_import(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "mwan3") {
    std::fprintf(stderr, "pathsteer import: the only format is mwan3\n");
    usage(stderr);
    return 2;
  }
  std::optional<std::string> file, network, out;
  bool strict = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--network" && i + 1 < args.size()) {
      network = args[++i];
    } else if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) {
      out = args[++i];
    } else if (args[i] == "--strict") {
      strict = true;
    } else if (!file && !args[i].starts_with("-")) {
      file = args[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  auto conf = uci::parse_file(*file);
  if (!conf) {
    std::fprintf(stderr, "pathsteer import: %s\n", conf.error().to_string().c_str());
    return 1;
  }
  std::optional<uci::Package> net;
  if (network) {
    auto n = uci::parse_file(*network);
    if (!n) {
      std::fprintf(stderr, "pathsteer import: %s\n", n.error().to_string().c_str());
      return 1;
    }
    net = std::move(*n);
  }
  auto conv = mwan3::convert(*conf, net ? &*net : nullptr);
  for (const auto& n : conv.notes)
    std::fprintf(stderr, "%s%s\n", strict ? "error: " : "", n.to_string().c_str());
  if (strict && !conv.notes.empty()) {
    std::fprintf(stderr, "pathsteer import: %zu option(s) not carried over exactly (--strict)\n",
                 conv.notes.size());
    return 1;
  }
  // The result must be a policy pathsteer accepts; say so now, not at the daemon's start.
  auto check = parse_policy(conv.yaml, out.value_or("<stdout>"));
  if (out) {
    if (auto w = write_file_atomic(*out, conv.yaml); !w) {
      std::fprintf(stderr, "pathsteer import: %s\n", w.error().to_string().c_str());
      return 1;
    }
  } else {
    std::fwrite(conv.yaml.data(), 1, conv.yaml.size(), stdout);
  }
  if (!check) {
    for (const auto& e : check.error().details)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "pathsteer import: the converted policy needs editing before use\n");
    return 1;
  }
  return conv.notes.empty() ? 0 : 3;
}

}  // namespace

static int run(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "validate")
    return cmd_validate(args);
  if (cmd == "status")
    return cmd_status(args);
  if (cmd == "explain")
    return cmd_explain(args);
  if (cmd == "intent")
    return cmd_intent(args);
  if (cmd == "domains")
    return cmd_domains(args);
  if (cmd == "policy")
    return cmd_policy(args);
  if (cmd == "reflector")
    return cmd_reflector(args);
  if (cmd == "__complete")
    return cmd_complete(args);
  if (cmd == "import")
    return cmd_import(args);
  if (cmd == "fleet")
    return cmd_fleet(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "pathsteer: unknown command '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // A malformed reply from the daemon (JSON of an unexpected shape).
    std::fprintf(stderr, "pathsteer: %s\n", e.what());
    return 1;
  }
}
