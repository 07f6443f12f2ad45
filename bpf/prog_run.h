// BPF_PROG_TEST_RUN for the loader (bpf/datapath.cpp): one frame through a TC
// program with the simulation protocol of bpf/pathsteer_abi.h (PS_SIM_*: the
// verdict comes back in skb->cb), and the feature probes open() runs on the
// probe programs of the embedded object. Internal to bpf/.
//
// Contract: each run is one synchronous syscall on this thread against the
// live maps (a run of the classifier counts and writes flows like a packet
// unless `dry`); errors are kSystem naming the frame size. Needs CAP_BPF.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"

namespace pathsteer {

// The program's context after the run (mark, cb[]) and its return value.
struct RunOutput {
  __sk_buff ctx{};
  int retval = 0;
};

// skb->mark = mark_in; ingress_ifindex > 0 sets skb_iif only (the device
// stays the namespace's loopback). `dry`: PS_SIM_DRY_MAGIC instead of
// PS_SIM_MAGIC, so the flow table, caches and counters are left as they were.
Result<RunOutput> test_run(int prog_fd, std::span<const uint8_t> frame, uint32_t mark_in,
                           int ingress_ifindex, bool dry = false);

// Whether the kernel's bpf_fib_lookup takes a table id (Linux 6.5+), from the
// ps_probe_fib_tbid program.
Result<bool> probe_fib_table_lookup(int probe_fd);

// The kernel's jiffies per second (100, 250, 300 or 1000), from the
// ps_probe_jiffies program; takes about 60 ms.
Result<uint32_t> measure_hz(int probe_fd);

// The kernel's jiffies now, low 32 bits, from the ps_probe_jiffies program.
Result<uint32_t> read_jiffies(int probe_fd);

// The name of a fallback reason (a PS_GCNT_FB_* counter index, also what a
// simulated verdict reports): "vlan", "fib-no-neigh", ..., or
// "fib-code-<n>" for a fib result this binary has no name for.
std::string fallback_label(uint32_t reason);

}  // namespace pathsteer
