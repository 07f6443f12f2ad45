#include "netlink/socket.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <map>

#include "netlink/codec.h"

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRxBufferSize = 64 * 1024;
constexpr int kDumpAttempts = 3;

struct Ack {
  int err_no = 0;
  std::string message;
};

int collect_ack_attr(const nlattr* attr, void* data) {
  if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
    static_cast<Ack*>(data)->message = mnl_attr_get_str(attr);
  }
  return MNL_CB_OK;
}

// Reads an NLMSG_ERROR (or the int of an NLMSG_DONE) and its extack TLVs.
Ack parse_ack(const nlmsghdr* nlh) {
  Ack ack;
  size_t payload = mnl_nlmsg_get_payload_len(nlh);
  size_t tlv_offset = 0;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    if (payload < sizeof(nlmsgerr))
      return Ack{.err_no = EBADMSG, .message = "short ack"};
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    ack.err_no = -e->error;
    tlv_offset = sizeof(nlmsgerr);
    if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
      tlv_offset += e->msg.nlmsg_len - sizeof(nlmsghdr);
    }
  } else {  // NLMSG_DONE
    if (payload < sizeof(int))
      return ack;
    ack.err_no = -*static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
    tlv_offset = sizeof(int);
  }
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) != 0 && MNL_ALIGN(tlv_offset) < payload) {
    mnl_attr_parse(nlh, tlv_offset, collect_ack_attr, &ack);
  }
  return ack;
}

Result<void> set_int_opt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
    return system_error(std::string("netlink socket: setsockopt ") + what, errno);
  }
  return ok();
}

const char* op_name(Change::Op op) {
  switch (op) {
    case Change::Op::kAdd:
      return "add";
    case Change::Op::kDelete:
      return "delete";
    case Change::Op::kReplace:
      return "replace";
  }
  return "?";
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string Change::to_string() const {
  std::string s = op_name(op);
  s += " ";
  s += std::visit([](const auto& o) { return o.to_string(); }, object);
  return s;
}

Result<NetlinkSocket> NetlinkSocket::open(Options options) {
  Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!fd.valid())
    return system_error("netlink socket: socket(NETLINK_ROUTE)", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    return system_error("netlink socket: bind", errno);
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK"); !r) {
    return r.take_error();
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK"); !r) {
    return r.take_error();
  }
  // FORCE needs CAP_NET_ADMIN, which the daemon has; plain SO_RCVBUF is capped
  // by rmem_max but still better than the default.
  if (!set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, options.rcvbuf_bytes, "SO_RCVBUFFORCE")) {
    (void)set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUF, options.rcvbuf_bytes, "SO_RCVBUF");
  }
  NetlinkSocket s(std::move(fd), options);
  s.rx_.resize(kRxBufferSize);
  return s;
}

Result<size_t> NetlinkSocket::recv_until(Clock::time_point deadline) {
  while (true) {
    ssize_t n = recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) {
      if (static_cast<size_t>(n) > rx_.size()) {
        return system_error("netlink socket: reply truncated", EMSGSIZE);
      }
      return static_cast<size_t>(n);
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return system_error("netlink socket: recv", errno);
    }
    pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    int rc = poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno != EINTR)
      return system_error("netlink socket: poll", errno);
    if (rc == 0)
      return system_error("netlink socket: no reply from the kernel", ETIMEDOUT);
  }
}

Result<void> NetlinkSocket::dump_once(uint16_t type, int family,
                                      const std::function<void(const nlmsghdr*)>& on_msg,
                                      bool* interrupted, const std::string& what) {
  *interrupted = false;
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
  uint32_t seq = nlh->nlmsg_seq;

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_.get(), nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return system_error(what + ": send", errno);
  }
  auto deadline = Clock::now() + options_.timeout;
  while (true) {
    auto n = recv_until(deadline);
    if (!n) {
      Error e = n.take_error();
      e.context = what + ": " + e.context;
      return e;
    }
    int len = static_cast<int>(*n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_seq != seq)
        continue;  // a late answer to an earlier request
      if ((m->nlmsg_flags & NLM_F_DUMP_INTR) != 0)
        *interrupted = true;
      if (m->nlmsg_type == NLMSG_DONE) {
        Ack ack = parse_ack(m);
        if (ack.err_no != 0)
          return system_error(what, ack.err_no, ack.message);
        return ok();
      }
      if (m->nlmsg_type == NLMSG_ERROR) {
        Ack ack = parse_ack(m);
        return system_error(what, ack.err_no != 0 ? ack.err_no : EPROTO, ack.message);
      }
      on_msg(m);
    }
  }
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
  if (pending.empty())
    return i;

  auto fail_pending = [&](int err_no, const std::string& why) {
    for (auto& [seq, idx] : pending) {
      out[idx].result = system_error(out[idx].change.to_string() + ": " + why, err_no);
    }
    pending.clear();
  };

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent =
        sendto(fd_.get(), tx.data(), used, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    fail_pending(errno, "netlink send");
    return i;
  }

  auto deadline = Clock::now() + options_.timeout;
  bool overrun = false;
  while (!pending.empty()) {
    // rtnetlink handles the whole send before sendmsg returns, so after an
    // overrun every ack that survived is already queued: drain without waiting.
    auto n = recv_until(overrun ? Clock::now() : deadline);
    if (!n) {
      if (n.error().err_no == ENOBUFS) {
        overrun = true;
        continue;
      }
      if (overrun) {
        fail_pending(ENOBUFS, "ack lost (netlink receive buffer overrun); state unknown");
      } else {
        fail_pending(n.error().err_no, n.error().context);
      }
      break;
    }
    int len = static_cast<int>(*n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_type != NLMSG_ERROR)
        continue;
      auto it = pending.find(m->nlmsg_seq);
      if (it == pending.end())
        continue;  // an answer to a request that timed out earlier
      Ack ack = parse_ack(m);
      if (ack.err_no != 0) {
        out[it->second].result =
            system_error(out[it->second].change.to_string(), ack.err_no, ack.message);
      }
      pending.erase(it);
    }
  }
  return i;
}

}  // namespace pathsteer
