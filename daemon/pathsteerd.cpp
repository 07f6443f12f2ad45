// pathsteerd: the daemon's entry point. Parses flags, loads the policy (an
// invalid one is fatal at start, with every error printed), then runs.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "common/log.h"
#include "controller/policy.h"
#include "daemon/daemon.h"

namespace {

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: pathsteerd --policy FILE [--state-dir DIR] [--pin-dir DIR]\n"
      "                  [--listen ADDR:PORT|[V6ADDR]:PORT|unix:PATH]... [--token-file FILE]\n"
      "                  [--tls-cert FILE --tls-key FILE] [--insecure-http]\n"
      "                  [--log-level debug|info|warn|error] [--flush-on-exit]\n"
      "                  [--netlink-rcvbuf BYTES] [--loop-slow-ms MS]\n"
      "       pathsteerd --help | -h\n"
      "defaults: --state-dir /var/lib/pathsteer --pin-dir /sys/fs/bpf/pathsteer\n"
      "          --listen 127.0.0.1:9370\n");
}

int run(int argc, char** argv) {
  using namespace pathsteer;
  DaemonOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pathsteerd: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--policy") {
      opts.policy_path = value("--policy");
    } else if (a == "--state-dir") {
      opts.state_dir = value("--state-dir");
    } else if (a == "--pin-dir") {
      opts.pin_dir = value("--pin-dir");
    } else if (a == "--listen") {
      opts.listen.push_back(value("--listen"));
    } else if (a == "--tls-cert") {
      opts.tls_cert = value("--tls-cert");
    } else if (a == "--tls-key") {
      opts.tls_key = value("--tls-key");
    } else if (a == "--insecure-http") {
      opts.insecure_http = true;
    } else if (a == "--token-file") {
      opts.token_file = value("--token-file");
    } else if (a == "--log-level") {
      std::string lv = value("--log-level");
      auto level = parse_log_level(lv);
      if (!level) {
        std::fprintf(stderr, "pathsteerd: unknown --log-level '%s'\n", lv.c_str());
        return 2;
      }
      set_log_level(*level);
    } else if (a == "--netlink-rcvbuf") {
      opts.netlink_rcvbuf = std::atoi(value("--netlink-rcvbuf").c_str());
      if (opts.netlink_rcvbuf <= 0) {
        std::fprintf(stderr, "pathsteerd: --netlink-rcvbuf needs a positive number of bytes\n");
        return 2;
      }
    } else if (a == "--loop-slow-ms") {
      opts.loop_slow_ms = std::atoi(value("--loop-slow-ms").c_str());
    } else if (a == "--flush-on-exit") {
      opts.flush_on_exit = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "pathsteerd: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (opts.policy_path.empty()) {
    usage(stderr);
    return 2;
  }

  auto parsed = parse_policy_file(opts.policy_path);
  if (!parsed) {
    for (const auto& e : parsed.error().details)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "pathsteerd: refusing to start: %s is invalid\n",
                 opts.policy_path.c_str());
    return 1;
  }

  auto daemon = Daemon::create(opts, std::move(parsed).value());
  if (!daemon) {
    std::fprintf(stderr, "pathsteerd: %s\n", daemon.error().to_string().c_str());
    return 1;
  }
  auto r = (*daemon)->run();
  if (!r) {
    std::fprintf(stderr, "pathsteerd: %s\n", r.error().to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

// Exceptions are for fatal start-up problems only (common/result.h): one that
// escapes is reported and the daemon exits 1, never std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pathsteerd: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "pathsteerd: an unknown exception\n");
  }
  return 1;
}
