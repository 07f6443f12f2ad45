// Whether the classifier can hold a policy, decided without a kernel.
//
// The daemon programs a policy's classes and match entries through
// compile_rules() (bpf/compile.h); a policy beyond its capacities (classes,
// match entries, prefixes per trie, distinct rule sets, domain patterns) would
// be refused there, after the policy was already taken. check_capacity() runs
// that same compilation up front, with every `iif` name taken as present (the
// worst case), so `pathsteer validate`, `pathsteer fleet put-policy`, a reload
// and PUT /v1/policy all refuse such a policy with the numbers, and the
// running policy stays in force.
#pragma once

#include <string>

#include "common/result.h"
#include "controller/policy.h"

namespace pathsteer {

// kInvalidInput with one diagnostic naming `origin` (the file or etcd key)
// and the capacity exceeded, as compile_rules() words it.
Result<void> check_capacity(const Policy& policy, const std::string& origin);

}  // namespace pathsteer
