// BenchClassifier: the benchmark variants of the classifier (built from the
// same pipeline with compile-time flags, bpf/kern/classifier_bench.bpf.c),
// for benchmarks and tests only; the product program has no benchmark branch.
//
// Contract: open() loads the variants against the maps a Datapath pinned in
// pin_dir (they share them by name), so a variant's run classifies with the
// Datapath's rules and writes its flow table. Call it after Datapath::open().
// Not thread-safe; needs CAP_BPF.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

struct ps_classifier_bench;

namespace pathsteer {

class BenchClassifier {
 public:
  enum class Flows {
    kFresh,           // every packet's flow key salted with a random value, so each
                      // packet is a new flow's first (lookup misses, full
                      // classification, entry written; a full LRU evicts)
    kFreshNoInsert,   // the same, but the entry is not written
    kForget,          // the packet's own 5-tuple, but a found entry is ignored: each
                      // packet is classified and its entry written (replaced) anew,
                      // with the caches as warm as for a repeated packet
    kForgetNoInsert,  // the same, but the entry is not written
    kStale,           // the packet's own entry is found but looks classified in an
                      // older epoch: each packet is reclassified, as a flow's first
                      // packet after a plan change
  };

  static Result<std::unique_ptr<BenchClassifier>> open(const std::string& pin_dir);
  ~BenchClassifier();
  BenchClassifier(const BenchClassifier&) = delete;
  BenchClassifier& operator=(const BenchClassifier&) = delete;

  // The variant's program, for BPF_PROG_TEST_RUN.
  int program_fd(Flows flows) const;

 private:
  explicit BenchClassifier(ps_classifier_bench* skel) : skel_(skel) {}
  ps_classifier_bench* skel_ = nullptr;  // owned
};

}  // namespace pathsteer
