// pathsteer: the command-line tool. `validate` and `reflector` work offline; the other
// commands are clients of the daemon's REST API (DESIGN §8).
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "controller/policy.h"
#include "probes/reflector.h"

namespace {

using namespace pathsteer;

constexpr const char* kDefaultApi = "http://127.0.0.1:9370";

void usage(FILE* out) {
  std::fprintf(out,
               "usage: pathsteer validate FILE\n"
               "       pathsteer status [--json] [--api URL]\n"
               "       pathsteer reflector [--listen ADDR:PORT]... [--verbose] [--log-every N]\n"
               "The API URL defaults to %s (or $PATHSTEER_API).\n"
               "The STAMP reflector (RFC 8762) listens on 0.0.0.0:862 and [::]:862 unless\n"
               "--listen is given (repeatable); it logs every packet with --verbose, else a\n"
               "summary every N reflected packets (default 1000), and stops on SIGINT/SIGTERM.\n",
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

std::string fmt_stats(const StampReflector& r) {
  const ReflectorStats& s = r.stats();
  return "received " + std::to_string(s.received) + ", reflected " + std::to_string(s.reflected) +
         ", too short " + std::to_string(s.too_short) + ", send errors " +
         std::to_string(s.send_errors);
}

int cmd_reflector(const std::vector<std::string>& args) {
  std::vector<ListenAddr> listens;
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
    auto r = StampReflector::create(ev, {.listen = l, .on_packet = on_packet});
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

  if (auto r = ev.run(); !r) {
    std::fprintf(stderr, "pathsteer reflector: %s\n", r.error().to_string().c_str());
    return 1;
  }
  for (const auto& r : reflectors)
    PS_LOG(kInfo) << "reflector " << r->listen().to_string() << ": stopping; " << fmt_stats(*r);
  reflectors.clear();
  ev.remove_fd(sig.get());
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
  if (cmd == "reflector")
    return cmd_reflector(args);
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
