#include "bpf/prog_run.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/pathsteer_abi.h"
#include "ps_classifier.skel.h"

namespace pathsteer {

namespace {

// A minimal Ethernet + IPv4 frame for the feature probe.
std::vector<uint8_t> probe_frame() {
  std::vector<uint8_t> f(14 + 20, 0);
  f[12] = 0x08;
  f[14] = 0x45;
  f[17] = 20;
  f[22] = 64;
  f[26] = 127;
  f[29] = 1;
  f[30] = 127;
  f[33] = 1;
  return f;
}

constexpr uint32_t kFbFib = PS_GCNT_FB_FIB;

const char* fallback_name(uint32_t reason) {
  switch (reason) {
    case PS_GCNT_FB_NO_FEATURE:
      return "no-kernel-support";
    case PS_GCNT_FB_VLAN:
      return "vlan";
    case PS_GCNT_FB_TTL:
      return "ttl";
    case PS_GCNT_FB_REDIRECT:
      return "redirect";
    case PS_GCNT_FB_FIB_ERROR:
      return "fib-error";
    case kFbFib + BPF_FIB_LKUP_RET_BLACKHOLE:
      return "fib-blackhole";
    case kFbFib + BPF_FIB_LKUP_RET_UNREACHABLE:
      return "fib-unreachable";
    case kFbFib + BPF_FIB_LKUP_RET_PROHIBIT:
      return "fib-prohibit";
    case kFbFib + BPF_FIB_LKUP_RET_NOT_FWDED:
      return "fib-not-forwarded";
    case kFbFib + BPF_FIB_LKUP_RET_FWD_DISABLED:
      return "fib-forwarding-disabled";
    case kFbFib + BPF_FIB_LKUP_RET_UNSUPP_LWT:
      return "fib-unsupported-lwt";
    case kFbFib + BPF_FIB_LKUP_RET_NO_NEIGH:
      return "fib-no-neigh";
    case kFbFib + BPF_FIB_LKUP_RET_FRAG_NEEDED:
      return "fib-frag-needed";
    default:
      return nullptr;
  }
}

}  // namespace

Result<RunOutput> test_run(int prog_fd, std::span<const uint8_t> frame, uint32_t mark_in,
                           int ingress_ifindex, bool dry) {
  RunOutput out;
  out.ctx.mark = mark_in;
  out.ctx.cb[4] = dry ? PS_SIM_DRY_MAGIC : PS_SIM_MAGIC;
  if (ingress_ifindex > 0) {
    // skb_iif only: skb->dev stays the namespace's loopback, so no device is needed.
    out.ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex);
  }
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &out.ctx;
  opts.ctx_size_in = sizeof(out.ctx);
  opts.ctx_out = &out.ctx;
  opts.ctx_size_out = sizeof(out.ctx);
  opts.repeat = 1;
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err != 0) {
    return system_error("run classifier on a " + std::to_string(frame.size()) + "-byte frame",
                        -err);
  }
  out.retval = static_cast<int>(opts.retval);
  return out;
}

Result<bool> probe_fib_table_lookup(int probe_fd) {
  auto probe = test_run(probe_fd, probe_frame(), 0, 0);
  if (!probe) {
    return probe.take_error();
  }
  return probe->retval == 1;
}

// Jiffies per second: two readings of the kernel's jiffies some time apart,
// rounded to the nearest common CONFIG_HZ. The flow table keeps time in
// jiffies because reading them is inlined into the program; a clock read is a
// helper call that costs more than the rest of an established flow's path.
Result<uint32_t> measure_hz(int probe_fd) {
  auto frame = probe_frame();
  auto t0 = std::chrono::steady_clock::now();
  auto j0 = test_run(probe_fd, frame, 0, 0);
  if (!j0) {
    return j0.take_error();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  auto j1 = test_run(probe_fd, frame, 0, 0);
  if (!j1) {
    return j1.take_error();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double estimate =
      (static_cast<uint32_t>(j1->retval) - static_cast<uint32_t>(j0->retval)) / seconds;
  uint32_t best = 100;
  for (uint32_t hz : {100U, 250U, 300U, 1000U}) {
    if (std::abs(estimate - hz) < std::abs(estimate - static_cast<double>(best))) {
      best = hz;
    }
  }
  return best;
}

Result<uint32_t> read_jiffies(int probe_fd) {
  auto j = test_run(probe_fd, probe_frame(), 0, 0);
  if (!j) {
    return j.take_error();
  }
  return static_cast<uint32_t>(j->retval);
}

std::string fallback_label(uint32_t reason) {
  if (const char* name = fallback_name(reason)) {
    return name;
  }
  return "fib-code-" + std::to_string(reason - PS_GCNT_FB_FIB);
}

Result<SimulateResult> Datapath::simulate(std::span<const uint8_t> frame, uint32_t mark_in,
                                          int ingress_ifindex, bool record_flow) const {
  auto run = test_run(bpf_program__fd(skel_->progs.ps_classifier), frame, mark_in, ingress_ifindex,
                      /*dry=*/!record_flow);
  if (!run) {
    return run.take_error();
  }
  const __sk_buff& ctx = run->ctx;
  SimulateResult out;
  out.mark = ctx.mark;
  out.retval = run->retval;
  if (ctx.cb[PS_SIM_CB_CLASS] < PS_MAX_CLASSES) {
    out.class_id = ctx.cb[PS_SIM_CB_CLASS];
  }
  out.uplink_id = ctx.cb[PS_SIM_CB_UPLINK];
  out.established = ctx.cb[4] == PS_SIM_OUT_ESTABLISHED;
  out.redirect_ifindex = static_cast<int>(ctx.cb[PS_SIM_CB_REDIRECT]);
  if (ctx.cb[PS_SIM_CB_REASON] != 0) {
    out.fallback = fallback_label(ctx.cb[PS_SIM_CB_REASON]);
  }
  return out;
}

Result<uint32_t> run_program_repeated(int prog_fd, std::span<const uint8_t> frame,
                                      uint32_t repeat) {
  __sk_buff ctx{};
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = repeat;
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err != 0) {
    return system_error("run program " + std::to_string(repeat) + " times", -err);
  }
  return opts.duration;
}

}  // namespace pathsteer
