// dns_bench: what learning application classes from DNS costs (needs root).
// See bench/README.md.
//
//  1. per reply: ns of ps_dns_learn per DNS reply via BPF_PROG_TEST_RUN, for
//     answers of 1, 8 and 32 A records of a policy domain (the first run
//     learns, the rest refresh: the steady state of a busy name), a reply of
//     8 records naming no domain, and a UDP datagram that is no DNS reply
//     (the program's floor), beside the empty TC program;
//  2. first packet: ns of the classifier for a new flow's first packet
//     (classified, uplink chosen, flow entry written) to one of 100,000
//     addresses learned from DNS, against the same to one of 100,000 dst
//     prefixes of today's classifier (no domains at all). Each packet is a
//     new 5-tuple run once (BPF_PROG_TEST_RUN's in-kernel time of one run,
//     no benchmark mode in the program); the median of --first packets per
//     round;
//  3. memory: the learned-address map's memory (its fdinfo memlock, which
//     counts a non-preallocated hash map's elements) empty and holding
//     262,144 addresses, and that one more address is counted as `full`.
// Each timing is one BPF_PROG_TEST_RUN of --repeat runs (the kernel's mean ns
// per run); --rounds rounds, configurations rotating; median [min..max].
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bpf/datapath.h"
#include "bpf/dns_builder.h"
#include "bpf/packet_builder.h"
#include "bpf/pathsteer_abi.h"
#include "bpf/prog_run.h"
#include "ps_bench_empty.skel.h"

namespace pathsteer {
namespace {

using testing::build_dns;
using testing::dns_a;
using testing::dns_frame;
using testing::DnsReply;

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Stats{.median = v[v.size() / 2], .min = v.front(), .max = v.back()};
}

double time_run(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat) {
  auto ns = run_program_repeated(prog_fd, frame, repeat);
  if (!ns)
    throw std::runtime_error("BPF_PROG_TEST_RUN: " + ns.error().to_string());
  return static_cast<double>(*ns);
}

std::string addr_of(int i) {
  return "100." + std::to_string(64 + (i >> 16) % 64) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
}

DnsReply reply_of(const std::string& name, int first, int records) {
  DnsReply r{.qname = name};
  for (int i = 0; i < records; ++i)
    r.answers.push_back(dns_a(name, addr_of(first + i).c_str(), 300));
  return r;
}

// The map's memory as the kernel accounts it (fdinfo "memlock:").
long long memlock_of(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  long long value = -1;
  while (in >> key) {
    if (key == "memlock:") {
      in >> value;
      break;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return value;
}

DatapathPlan base_plan() {
  DatapathPlan p{.mark_mask = 0x0ff00000};
  p.uplinks = {DatapathUplink{.id = 1, .mark = 1u << 20, .table = 201, .live = true},
               DatapathUplink{.id = 2, .mark = 2u << 20, .table = 202, .live = true}};
  return p;
}

int run(uint32_t repeat, int rounds) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "dns_bench must run as root (BPF)\n");
    return 1;
  }
  std::string pin_dir = "/sys/fs/bpf/ps-dnsbench-" + std::to_string(getpid());
  struct RemovePins {
    std::string dir;
    ~RemovePins() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_pins{pin_dir};
  auto dp = Datapath::open(pin_dir);
  if (!dp) {
    std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
    return 1;
  }
  ps_bench_empty* empty = ps_bench_empty__open_and_load();
  if (empty == nullptr) {
    std::fprintf(stderr, "load empty program failed\n");
    return 1;
  }
  const int empty_fd = bpf_program__fd(empty->progs.ps_empty);
  const int dns_fd = (*dp)->dns_program_fd();
  const int cls_fd = (*dp)->program_fd();

  std::printf("dns_bench: DNS learning costs via BPF_PROG_TEST_RUN\n");
  std::printf("machine: %s, %s, %ld CPUs online\n", bench::first_line_of("uname -sr").c_str(),
              bench::first_line_of("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("repeat %u per measurement, %d rounds, median [min..max]\n\n", repeat, rounds);

  // ---- 1. per reply -------------------------------------------------------
  DatapathPlan plan = base_plan();
  plan.classes = {
      DatapathClass{
          .name = "dom", .match = {MatchEntry{.domain = {"*.bench.example"}}}, .members = {{2, 1}}},
      DatapathClass{.name = "rest", .members = {{1, 1}}}};
  if (auto r = (*dp)->program(plan); !r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  struct Frame {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  const std::vector<Frame> frames = {
      {"empty TC program", {}},
      {"UDP from port 5353 (not a DNS reply)", testing::build(testing::Frame{.src = "10.1.0.1",
                                                                             .dst = "10.1.0.2",
                                                                             .proto = IPPROTO_UDP,
                                                                             .sport = 5353,
                                                                             .dport = 33333,
                                                                             .payload = 64})},
      {"reply, 8 A records, no domain", dns_frame(build_dns(reply_of("www.other.example", 0, 8)))},
      {"reply, 1 A record, domain", dns_frame(build_dns(reply_of("a.bench.example", 0, 1)))},
      {"reply, 8 A records, domain", dns_frame(build_dns(reply_of("b.bench.example", 100, 8)))},
      {"reply, 32 A records, domain", dns_frame(build_dns(reply_of("c.bench.example", 200, 32)))},
  };
  std::vector<std::vector<double>> per(frames.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < frames.size(); ++k) {
      size_t i = (k + static_cast<size_t>(round)) % frames.size();
      if (i == 0) {
        per[i].push_back(time_run(empty_fd, frames[1].bytes, repeat));
      } else {
        per[i].push_back(time_run(dns_fd, frames[i].bytes, repeat));
      }
    }
  }
  std::printf("1. per reply (ps_dns_learn on LAN egress):\n");
  const double floor = stats(per[0]).median;
  for (size_t i = 0; i < frames.size(); ++i) {
    Stats s = stats(per[i]);
    std::printf("   %-42s %6.0f [%.0f..%.0f] ns  (+%.0f over the empty program)\n", frames[i].name,
                s.median, s.min, s.max, s.median - floor);
  }

  // ---- 2. first packet: 100,000 learned vs 100,000 prefixes --------------
  constexpr int kCount = 100000;
  const uint32_t first_count = 5000;
  // (a) domains: 100,000 addresses learned from 3,125 replies of 32.
  for (int i = 0; i < kCount; i += 32) {
    auto f = dns_frame(build_dns(reply_of("n" + std::to_string(i) + ".bench.example", i, 32)));
    auto r = test_run(dns_fd, f, 0, 0);
    if (!r)
      throw std::runtime_error(r.error().to_string());
  }
  auto learned = (*dp)->learned_addresses();
  if (!learned)
    throw std::runtime_error(learned.error().to_string());
  std::printf(
      "\n2. first packet of a new flow (classified, uplink chosen, entry written; median of %u "
      "new 5-tuples per round), %zu addresses learned vs %d dst prefixes:\n",
      first_count, learned->size(), kCount);
  const auto target = testing::build(testing::Frame{
      .src = "10.9.9.9", .dst = addr_of(kCount - 7), .proto = IPPROTO_TCP, .dport = 443});
  // New flows: a source address per round, a source port per packet.
  int flow_round = 0;
  auto first_packets = [&] {
    std::vector<double> one;
    const std::string src = "10.9." + std::to_string(flow_round++) + ".9";
    for (uint32_t i = 0; i < first_count; ++i) {
      auto f = testing::build(testing::Frame{.src = src,
                                             .dst = addr_of(kCount - 7 - static_cast<int>(i % 5)),
                                             .proto = IPPROTO_TCP,
                                             .sport = static_cast<uint16_t>(1024 + i),
                                             .dport = 443});
      one.push_back(time_run(cls_fd, f, 1));
    }
    return stats(one).median;
  };
  std::vector<double> dom, pre;
  for (int round = 0; round < rounds; ++round)
    dom.push_back(first_packets());
  auto sim = (*dp)->simulate(target, 0, 0, false);
  const bool dom_ok = sim && sim->class_id == 0u;
  // (b) the same packet against 100,000 /32 prefixes (no domain entries).
  DatapathPlan prefixes = base_plan();
  MatchEntry m{.proto = IPPROTO_TCP};
  for (int i = 0; i < kCount; ++i)
    m.dst.push_back(*Prefix::parse(addr_of(i) + "/32"));
  prefixes.classes = {DatapathClass{.name = "pfx", .match = {m}, .members = {{2, 1}}},
                      DatapathClass{.name = "rest", .members = {{1, 1}}}};
  if (auto r = (*dp)->program(prefixes); !r)
    throw std::runtime_error(r.error().to_string());
  for (int round = 0; round < rounds; ++round)
    pre.push_back(first_packets());
  sim = (*dp)->simulate(target, 0, 0, false);
  const bool pre_ok = sim && sim->class_id == 0u;
  Stats d = stats(dom), p = stats(pre);
  std::printf("   learned from DNS (100,000 addresses)     %6.0f [%.0f..%.0f] ns  (+%.0f)%s\n",
              d.median, d.min, d.max, d.median - floor, dom_ok ? "" : "  WRONG CLASS");
  std::printf("   dst prefixes (100,000 /32, today's path) %6.0f [%.0f..%.0f] ns  (+%.0f)%s\n",
              p.median, p.min, p.max, p.median - floor, pre_ok ? "" : "  WRONG CLASS");
  std::printf("   domains / prefixes (above the floor): %.2f x  %s\n",
              (d.median - floor) / (p.median - floor),
              d.median <= p.median ? "no worse: ok" : "worse");

  // ---- 3. memory at 262,144 learned addresses ----------------------------
  int fd = bpf_obj_get((pin_dir + "/ps_dnsaddr_d1").c_str());
  if (fd < 0)
    throw std::runtime_error("open ps_dnsaddr_d1");
  std::vector<ps_dns_addr_key> keys;
  std::vector<ps_dns_addr_key> k(4096);
  std::vector<ps_dns_addr> v(4096);
  // Empty it first (lookup-and-delete in batches).
  uint64_t batch = 0;
  bool first = true;
  for (;;) {
    uint32_t n = 4096;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &batch, &batch, k.data(),
                                              v.data(), &n, &opts);
    first = false;
    if (err != 0)
      break;
  }
  const long long empty_mem = memlock_of(fd);
  for (uint32_t i = 0; i < PS_DNS_MAX_ADDRS; ++i) {
    ps_dns_addr_key key{.family = 4, .addr = {htonl(0x0a000000u + i), 0, 0, 0}};
    ps_dns_addr val{
        .expires = ~0ULL, .refreshed = 0, .pattern = 1, .name = 1, .prio = 0, .ttl = 60};
    if (bpf_map_update_elem(fd, &key, &val, BPF_NOEXIST) != 0)
      throw std::runtime_error("fill ps_dnsaddr_d1 at " + std::to_string(i) + ": " +
                               std::strerror(errno));
  }
  const long long full_mem = memlock_of(fd);
  auto before = (*dp)->read_counters();
  auto extra = dns_frame(build_dns(reply_of("z.bench.example", 500000, 1)));
  if (auto r = (*dp)->program(plan); !r)
    throw std::runtime_error(r.error().to_string());
  if (auto r = test_run(dns_fd, extra, 0, 0); !r)
    throw std::runtime_error(r.error().to_string());
  auto after = (*dp)->read_counters();
  close(fd);
  std::printf(
      "\n3. memory of ps_dnsaddr_d1 (fdinfo memlock): empty %lld bytes, with %u "
      "addresses %lld bytes (%.1f MiB, %.0f bytes/address)\n",
      empty_mem, PS_DNS_MAX_ADDRS, full_mem, static_cast<double>(full_mem) / (1 << 20),
      static_cast<double>(full_mem - empty_mem) / PS_DNS_MAX_ADDRS);
  if (before && after) {
    std::printf("   one more answer when full: counted as full %llu -> %llu\n",
                static_cast<unsigned long long>(before->dns.full),
                static_cast<unsigned long long>(after->dns.full));
  }
  ps_bench_empty__destroy(empty);
  (void)(*dp)->unpin();
  return 0;
}

}  // namespace
}  // namespace pathsteer

int main(int argc, char** argv) {
  uint32_t repeat = 20000;
  int rounds = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: dns_bench [--repeat N] [--rounds N]\n");
      return 2;
    }
  }
  try {
    return pathsteer::run(repeat, std::max(rounds, 1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dns_bench: %s\n", e.what());
    return 1;
  }
}
