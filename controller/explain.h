// explain (DESIGN §8, §9): a 5-tuple in; the class, uplink, mark/table and
// reasons out. The class and mark come from running the loaded classifier on
// a crafted frame (DataplanePort::simulate, BPF_PROG_TEST_RUN) against the
// live maps, so the answer cannot disagree with the data plane; the plan only
// names what the mark means (which uplink and table) and why the class is
// there (its reason code). The crafted packet never creates or refreshes a
// flow entry; if a live entry for the 5-tuple exists, the answer is that
// flow's pinned uplink.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/dataplane_port.h"
#include "bpf/packet_builder.h"
#include "controller/planner.h"

namespace pathsteer {

struct ExplainQuery {
  testing::Frame frame;
  std::string iif;  // the LAN interface it arrives on ("": the policy's first)
};

struct ExplainAnswer {
  ExplainQuery query;
  bool established = false;             // a live flow entry decided (the flow is pinned)
  uint32_t mark = 0;                    // the owned bits after the classifier
  std::optional<PlannedClass> klass;    // nullopt: no class matched
  std::optional<PlannedUplink> uplink;  // nullopt: last_resort, or left unmarked
  std::string action;                   // "mark", "redirect", "last_resort", "unclassified"
  std::vector<std::string> reasons;     // human-readable, in order
  // The domain whose learned address decided the class ("" if none did).
  std::string domain;
};

ExplainAnswer explain_answer(const ExplainQuery& query, const SimulateResult& sim,
                             const DesiredState& plan, uint32_t mark_mask);

}  // namespace pathsteer
