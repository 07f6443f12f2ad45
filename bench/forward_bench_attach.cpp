// forward_bench_attach: loads the pathsteer classifier with N match entries
// and attaches it to one interface's TC ingress (and DNS learning to its
// egress, as the daemon does), then exits (the filters and pinned maps stay
// until the namespace and pin dir are removed). A helper of
// bench/forward_bench.py; run it inside the gateway namespace with
// `nsenter --net=...` so /sys/fs/bpf stays visible.
//
//   forward_bench_attach --pin-dir DIR --iface NAME --entries N --match-dst ADDR [--serve]
//
// --serve: after "attached: ..." it stays and answers one line on stdout for
// each line on stdin, so the benchmark can switch our program on and off in
// well under a millisecond, with the maps (and the flow table) kept:
//   attach  -> "ok"   Datapath::attach (both filters)
//   detach  -> "ok"   Datapath::detach (both filters)
//   stats   -> "<run_time_ns> <run_cnt>" of the classifier (counted while
//              kernel.bpf_stats_enabled is 1)
// A failure answers "error <message>". EOF on stdin ends it; the filters stay
// as they are.
//
// Entries 0..N-2 are {udp, dport 1000+i, dst 198.18.(i/256).(i%256)/32} and
// never match the benchmark traffic; the last is {dst ADDR/32}, so every
// packet is classified into the last class (the worst case), steered to
// uplink 1 (mark 0x00100000).
#include <bpf/bpf.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "bpf/datapath.h"

namespace {

// The --serve loop: one answer line per command line.
int serve(pathsteer::Datapath& dp, int ifindex) {
  std::string line;
  while (std::getline(std::cin, line)) {
    pathsteer::Result<void> r = pathsteer::ok();
    if (line == "attach") {
      r = dp.attach(ifindex);
    } else if (line == "detach") {
      r = dp.detach(ifindex);
    } else if (line == "stats") {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(dp.program_fd(), &info, &len) != 0) {
        std::printf("error bpf_obj_get_info_by_fd failed\n");
      } else {
        std::printf("%llu %llu\n", static_cast<unsigned long long>(info.run_time_ns),
                    static_cast<unsigned long long>(info.run_cnt));
      }
      std::fflush(stdout);
      continue;
    } else {
      std::printf("error unknown command '%s'\n", line.c_str());
      std::fflush(stdout);
      continue;
    }
    if (r) {
      std::printf("ok\n");
    } else {
      std::printf("error %s\n", r.error().to_string().c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string pin_dir, iface, match_dst;
  int entries = 1000;
  bool serve_commands = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--serve") {
      serve_commands = true;
    } else if (i + 1 < argc && flag == "--pin-dir") {
      pin_dir = argv[++i];
    } else if (i + 1 < argc && flag == "--iface") {
      iface = argv[++i];
    } else if (i + 1 < argc && flag == "--entries") {
      entries = std::atoi(argv[++i]);
    } else if (i + 1 < argc && flag == "--match-dst") {
      match_dst = argv[++i];
    }
  }
  using namespace pathsteer;
  auto dst = Prefix::parse(match_dst);
  int ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  if (pin_dir.empty() || ifindex == 0 || !dst || entries < 1) {
    std::fprintf(stderr,
                 "usage: forward_bench_attach --pin-dir DIR --iface NAME --entries N "
                 "--match-dst ADDR [--serve]\n");
    return 2;
  }
  // The new-flow runs come from one LAN source: a quota it never reaches, so
  // every new flow is written (the flow table's cost), as before fairness.
  DatapathPlan plan{.mark_mask = 0x0ff00000, .flow_quota = UINT32_MAX};
  plan.uplinks = {DatapathUplink{.id = 1, .mark = 1u << 20, .table = 201, .live = true}};
  std::vector<MatchEntry> all;
  for (int i = 0; i + 1 < entries; ++i) {
    auto port = static_cast<uint16_t>(1000 + i);
    all.push_back(MatchEntry{.proto = IPPROTO_UDP,
                             .dport = {{port, port}},
                             .dst = {*Prefix::parse("198.18." + std::to_string(i / 256) + "." +
                                                    std::to_string(i % 256))}});
  }
  all.push_back(MatchEntry{.dst = {*dst}});
  // At most 4 entries per class, so 1,000 entries fit the 256 classes.
  for (size_t i = 0; i < all.size(); i += 4) {
    DatapathClass c{.name = "c" + std::to_string(i / 4), .members = {{1, 1}}};
    for (size_t j = i; j < all.size() && j < i + 4; ++j) {
      c.match.push_back(all[j]);
    }
    plan.classes.push_back(std::move(c));
  }
  auto dp = Datapath::open(pin_dir);
  if (!dp) {
    std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
    return 1;
  }
  if (auto r = (*dp)->program(plan); !r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  if (auto r = (*dp)->attach(ifindex); !r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  std::printf("attached: %d entries on %s\n", entries, iface.c_str());
  std::fflush(stdout);
  return serve_commands ? serve(**dp, ifindex) : 0;
}
