// pathsteer: the command-line tool. `validate` works offline; the other
// commands are clients of the daemon's REST API (DESIGN §8).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http.h"
#include "controller/policy.h"

namespace {

using namespace pathsteer;

constexpr const char* kDefaultApi = "http://127.0.0.1:9370";

void usage(FILE* out) {
  std::fprintf(out,
               "usage: pathsteer validate FILE\n"
               "       pathsteer status [--json] [--api URL]\n"
               "The API URL defaults to %s (or $PATHSTEER_API).\n",
               kDefaultApi);
}

int cmd_validate(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    usage(stderr);
    return 2;
  }
  auto parsed = parse_policy_file(args[0]);
  if (auto* errors = std::get_if<std::vector<PolicyError>>(&parsed)) {
    for (const auto& e : *errors)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  const auto& p = std::get<Policy>(parsed);
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

int cmd_status(const std::vector<std::string>& args) {
  bool as_json = false;
  const char* env_api = std::getenv("PATHSTEER_API");
  std::string api = env_api != nullptr ? env_api : kDefaultApi;
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
  std::printf("\n%-12s %-14s %-10s %-16s %12s\n", "CLASS", "STRATEGY", "UPLINK", "REASON",
              "PACKETS");
  for (const auto& c : j["classes"]) {
    std::string up = c["uplink"].is_string() ? c["uplink"].get<std::string>() : "(last resort)";
    std::printf("%-12s %-14s %-10s %-16s %12s\n", c.value("name", "").c_str(),
                c.value("strategy", "").c_str(), up.c_str(), c.value("reason", "").c_str(),
                c.contains("packets") ? c["packets"].dump().c_str() : "-");
  }
  for (const auto& e : j["errors"])
    std::printf("error: %s\n", e.get<std::string>().c_str());
  for (const auto& c : j["conflicts"])
    std::printf("conflict: %s\n", c.get<std::string>().c_str());
  return 0;
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
