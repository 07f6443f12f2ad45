// KernelPort: the part of the kernel the reconcilers need — read pathsteer's
// kinds of objects back, and apply a list of changes. NetlinkSocket is the real
// one; FakeKernel (netlink/fake_kernel.h) is the in-memory one unit tests use.
//
// Contract every implementation keeps:
//  * dump_rules / dump_routes(family): AF_INET, AF_INET6 or AF_UNSPEC (both);
//    every table (ids >= 256 exact); objects as the kernel reports them.
//    An error means nothing is known about that family's state.
//  * apply(changes): one ChangeResult per change, in order; a failure never
//    stops the rest (a batch is not a transaction). A failed change carries
//    kind kSystem, the kernel's errno, context = change.to_string() and the
//    extack text in kernel_message.
//  * Not thread-safe; used from the event-loop thread only.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "netlink/types.h"

namespace pathsteer {

struct Change {
  // kAdd: NLM_F_CREATE|NLM_F_EXCL (fails with EEXIST if present).
  // kInsert: rules only, NLM_F_CREATE without NLM_F_EXCL. The kernel then skips
  //   its duplicate scan, which walks every fib rule per add (quadratic in a
  //   large install), and an identical rule already present would be doubled.
  //   For the reconciler, right after a dump showed the rule absent; the next
  //   pass deletes any duplicate of ours. On a route it acts as kAdd.
  // kReplace: routes only, NLM_F_CREATE|NLM_F_REPLACE on (table, dst, metric).
  //   fib rules have no replace; a kReplace of a Rule fails with EOPNOTSUPP.
  // kDelete: removes exactly the object named (protocol, gateway, oif, selectors
  //   are all sent, so a foreign object with the same key is not hit).
  enum class Op { kAdd, kInsert, kDelete, kReplace };
  Op op = Op::kAdd;
  std::variant<Rule, Route> object;

  std::string to_string() const;  // "add rule inet pref 10000 ..."
  friend bool operator==(const Change&, const Change&) = default;
};

struct ChangeResult {
  Change change;
  // On failure: kind kSystem, err_no from the kernel's ack (or ETIMEDOUT /
  // ENOBUFS when the ack never came), context = change.to_string(),
  // kernel_message = extack text.
  Result<void> result;
};

class KernelPort {
 public:
  virtual ~KernelPort() = default;

  virtual Result<std::vector<Rule>> dump_rules(int family) = 0;
  virtual Result<std::vector<Route>> dump_routes(int family) = 0;
  virtual std::vector<ChangeResult> apply(const std::vector<Change>& changes) = 0;

 protected:
  KernelPort() = default;
  KernelPort(const KernelPort&) = default;
  KernelPort(KernelPort&&) = default;
  KernelPort& operator=(const KernelPort&) = default;
  KernelPort& operator=(KernelPort&&) = default;
};

}  // namespace pathsteer
