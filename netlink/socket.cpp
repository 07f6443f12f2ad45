#include "netlink/socket.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>

#include <cerrno>
#include <map>

#include "netlink/codec.h"
#include "netlink/nl_io.h"

namespace pathsteer {
namespace {

constexpr char kLabel[] = "netlink socket";

constexpr int kDumpAttempts = 3;

const char* op_name(Change::Op op) {
  switch (op) {
    case Change::Op::kAdd:
    case Change::Op::kInsert:
      return "add";
    case Change::Op::kDelete:
      return "delete";
    case Change::Op::kReplace:
      return "replace";
  }
  return "?";
}

}  // namespace

std::string Change::to_string() const {
  std::string s = op_name(op);
  s += " ";
  s += std::visit([](const auto& o) { return o.to_string(); }, object);
  return s;
}

Result<NetlinkSocket> NetlinkSocket::open(Options options) {
  auto fd = nlio::open_socket(NETLINK_ROUTE, "NETLINK_ROUTE", options.rcvbuf_bytes, kLabel);
  if (!fd)
    return fd.take_error();
  NetlinkSocket s(std::move(*fd), options);
  s.rx_.resize(nlio::kRxBufferSize);
  return s;
}

Result<void> NetlinkSocket::dump_once(uint16_t type, int family,
                                      const std::function<void(const nlmsghdr*)>& on_msg,
                                      bool* interrupted, const std::string& what) {
  alignas(nlmsghdr) char req[128] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq_++;
  // Every rtnetlink family header starts with the family byte; send the
  // header the kernel expects for `type` so strict checking would accept it.
  size_t header = sizeof(rtgenmsg);
  switch (type) {
    case RTM_GETLINK:
      header = sizeof(ifinfomsg);
      break;
    case RTM_GETADDR:
      header = sizeof(ifaddrmsg);
      break;
    case RTM_GETROUTE:
      header = sizeof(rtmsg);
      break;
    case RTM_GETRULE:
      header = sizeof(fib_rule_hdr);
      break;
  }
  auto* fam = static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(nlh, header));
  fam[0] = static_cast<uint8_t>(family);
  return nlio::dump(fd_.get(), rx_, nlh, options_.timeout, nlio::DumpTimeout::kWholeDump, kLabel,
                    what, on_msg, interrupted);
}

template <typename T, typename Parse>
Result<std::vector<T>> NetlinkSocket::dump(uint16_t type, int family, Parse parse,
                                           const char* what) {
  std::string context = std::string("dump ") + what + " " + family_name(family);
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    std::vector<T> out;
    bool interrupted = false;
    auto r = dump_once(
        type, family,
        [&](const nlmsghdr* m) {
          if (auto v = parse(m))
            out.push_back(std::move(*v));
        },
        &interrupted, context);
    if (!r)
      return r.take_error();
    if (!interrupted)
      return out;
  }
  return system_error(context + ": interrupted by concurrent changes", EAGAIN);
}

Result<std::vector<Link>> NetlinkSocket::dump_links() {
  return dump<Link>(RTM_GETLINK, AF_UNSPEC, nlcodec::parse_link, "links");
}

Result<std::vector<Address>> NetlinkSocket::dump_addresses(int family) {
  return dump<Address>(RTM_GETADDR, family, nlcodec::parse_address, "addresses");
}

Result<std::vector<Route>> NetlinkSocket::dump_routes(int family) {
  return dump<Route>(RTM_GETROUTE, family, nlcodec::parse_route, "routes");
}

Result<std::vector<Rule>> NetlinkSocket::dump_rules(int family) {
  return dump<Rule>(RTM_GETRULE, family, nlcodec::parse_rule, "rules");
}

std::vector<ChangeResult> NetlinkSocket::apply(const std::vector<Change>& changes) {
  std::vector<ChangeResult> out;
  out.reserve(changes.size());
  size_t next = 0;
  while (next < changes.size()) {
    next = apply_chunk(changes, next, out);
  }
  return out;
}

size_t NetlinkSocket::apply_chunk(const std::vector<Change>& changes, size_t begin,
                                  std::vector<ChangeResult>& out) {
  std::vector<char> tx(options_.batch_bytes + nlcodec::kMaxRequestSize);
  size_t used = 0;
  std::map<uint32_t, size_t> pending;  // seq -> index into out
  size_t i = begin;
  for (; i < changes.size(); ++i) {
    if (i > begin &&
        (used + nlcodec::kMaxRequestSize > tx.size() || i - begin >= options_.batch_messages)) {
      break;
    }
    const Change& c = changes[i];
    out.push_back(ChangeResult{.change = c, .result = ok()});
    const bool is_rule = std::holds_alternative<Rule>(c.object);
    uint16_t flags = NLM_F_ACK;
    uint16_t type = 0;
    switch (c.op) {
      case Change::Op::kAdd:
        flags |= NLM_F_CREATE | NLM_F_EXCL;
        type = is_rule ? RTM_NEWRULE : RTM_NEWROUTE;
        break;
      case Change::Op::kInsert:
        flags |= NLM_F_CREATE | (is_rule ? 0 : NLM_F_EXCL);
        type = is_rule ? RTM_NEWRULE : RTM_NEWROUTE;
        break;
      case Change::Op::kReplace:
        flags |= NLM_F_CREATE | NLM_F_REPLACE;
        type = is_rule ? RTM_NEWRULE : RTM_NEWROUTE;
        break;
      case Change::Op::kDelete:
        type = is_rule ? RTM_DELRULE : RTM_DELROUTE;
        break;
    }
    if (is_rule && c.op == Change::Op::kReplace) {
      out.back().result = system_error(
          c.to_string() + ": fib rules cannot be replaced; delete and add", EOPNOTSUPP);
      continue;
    }
    uint32_t seq = seq_++;
    nlmsghdr* nlh =
        is_rule ? nlcodec::put_rule(tx.data() + used, type, flags, seq, std::get<Rule>(c.object))
                : nlcodec::put_route(tx.data() + used, type, flags, seq, std::get<Route>(c.object));
    used += NLMSG_ALIGN(nlh->nlmsg_len);
    pending[seq] = out.size() - 1;
  }
  nlio::send_batch(
      fd_.get(), rx_, tx.data(), used, std::move(pending), options_.timeout, kLabel,
      [&](size_t idx, const nlio::Ack& ack) {
        if (ack.err_no != 0)
          out[idx].result = system_error(out[idx].change.to_string(), ack.err_no, ack.message);
      },
      [&](size_t idx, int err_no, const std::string& why) {
        out[idx].result = system_error(out[idx].change.to_string() + ": " + why, err_no);
      });
  return i;
}

}  // namespace pathsteer
