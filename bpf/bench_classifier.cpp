#include "bpf/bench_classifier.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "ps_classifier_bench.skel.h"

namespace pathsteer {

Result<std::unique_ptr<BenchClassifier>> BenchClassifier::open(const std::string& pin_dir) {
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_dir.c_str();
  ps_classifier_bench* skel = ps_classifier_bench__open_opts(&opts);
  if (skel == nullptr) {
    return system_error("open embedded BPF benchmark classifier", errno);
  }
  std::unique_ptr<BenchClassifier> out(new BenchClassifier(skel));
  if (int err = ps_classifier_bench__load(skel); err != 0) {
    return system_error("load BPF benchmark classifier against the pins in " + pin_dir, -err);
  }
  return out;
}

BenchClassifier::~BenchClassifier() {
  ps_classifier_bench__destroy(skel_);
}

int BenchClassifier::program_fd(Flows flows) const {
  switch (flows) {
    case Flows::kFresh:
      return bpf_program__fd(skel_->progs.ps_bench_fresh);
    case Flows::kFreshNoInsert:
      return bpf_program__fd(skel_->progs.ps_bench_fresh_no_insert);
    case Flows::kForget:
      return bpf_program__fd(skel_->progs.ps_bench_forget);
    case Flows::kForgetNoInsert:
      return bpf_program__fd(skel_->progs.ps_bench_forget_no_insert);
    case Flows::kStale:
      return bpf_program__fd(skel_->progs.ps_bench_stale);
  }
  return -1;
}

}  // namespace pathsteer
