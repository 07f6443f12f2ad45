#include <bpf/libbpf.h>

#include <cerrno>
#include <string>

#include "bpf/datapath.h"
#include "ps_classifier.skel.h"

namespace pathsteer {

namespace {

bpf_tc_hook hook_of(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_hook ingress_hook(int ifindex) {
  return hook_of(ifindex, BPF_TC_INGRESS);
}

// ENOENT: no such filter; EINVAL: no clsact qdisc (the kernel's answer for a
// missing parent). Either way nothing of ours is attached.
int detach_ours(bpf_tc_hook hook) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  int err = bpf_tc_detach(&hook, &opts);
  return err == -ENOENT || err == -EINVAL ? 0 : err;
}

}  // namespace

Result<void> Datapath::attach(int ifindex) {
  bpf_tc_hook hook = ingress_hook(ifindex);
  // libbpf creates clsact with NLM_F_EXCL: EEXIST means someone (maybe us) has one.
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    return system_error("create clsact qdisc on ifindex " + std::to_string(ifindex), -err);
  }
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = bpf_program__fd(skel_->progs.ps_classifier);
  opts.flags = BPF_TC_F_REPLACE;
  if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
    return system_error("attach classifier to ingress of ifindex " + std::to_string(ifindex), -err);
  }
  // DNS learning: replies to the LAN's clients leave through its egress.
  bpf_tc_hook egress = hook_of(ifindex, BPF_TC_EGRESS);
  opts.prog_fd = bpf_program__fd(skel_->progs.ps_dns_learn);
  opts.prog_id = 0;
  if (int err = bpf_tc_attach(&egress, &opts); err != 0) {
    return system_error("attach DNS learning to egress of ifindex " + std::to_string(ifindex),
                        -err);
  }
  return ok();
}

Result<void> Datapath::detach(int ifindex) {
  if (int err = detach_ours(ingress_hook(ifindex)); err != 0) {
    return system_error("detach classifier from ingress of ifindex " + std::to_string(ifindex),
                        -err);
  }
  if (int err = detach_ours(hook_of(ifindex, BPF_TC_EGRESS)); err != 0) {
    return system_error("detach DNS learning from egress of ifindex " + std::to_string(ifindex),
                        -err);
  }
  return ok();
}

}  // namespace pathsteer
