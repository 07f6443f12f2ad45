#include "netlink/nl_io.h"

#include <libmnl/libmnl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace pathsteer::nlio {
namespace {

int collect_ack_attr(const nlattr* attr, void* data) {
  // The message only if it ends with its NUL inside the attribute.
  if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
      mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
    static_cast<Ack*>(data)->message = mnl_attr_get_str(attr);
  }
  return MNL_CB_OK;
}

Result<void> set_int_opt(int fd, int level, int name, int value, const std::string& label,
                         const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
    return system_error(label + ": setsockopt " + what, errno);
  }
  return ok();
}

// The kernel sends 0 or a negative errno; anything else (INT_MIN cannot even
// be negated) is a protocol error.
int errno_of(int kernel_error) {
  return kernel_error <= 0 && kernel_error >= -4095 ? -kernel_error : EPROTO;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Result<Fd> open_socket(int protocol, const char* protocol_name, int rcvbuf_bytes,
                       const std::string& label) {
  Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
  if (!fd.valid())
    return system_error(label + ": socket(" + protocol_name + ")", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    return system_error(label + ": bind", errno);
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, 1, label, "NETLINK_EXT_ACK");
      !r) {
    return r.take_error();
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, 1, label, "NETLINK_CAP_ACK");
      !r) {
    return r.take_error();
  }
  // Each ack is its own skb; a full batch of them must fit. FORCE needs
  // CAP_NET_ADMIN (which writing needs anyway); plain SO_RCVBUF is capped by
  // rmem_max but still better than the default.
  if (!set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf_bytes, label, "SO_RCVBUFFORCE")) {
    (void)set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUF, rcvbuf_bytes, label, "SO_RCVBUF");
  }
  return fd;
}

Ack parse_ack(const nlmsghdr* nlh) {
  Ack ack;
  size_t payload = mnl_nlmsg_get_payload_len(nlh);
  size_t tlv_offset = 0;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    if (payload < sizeof(nlmsgerr))
      return Ack{.err_no = EBADMSG, .message = "short ack"};
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    ack.err_no = errno_of(e->error);
    tlv_offset = sizeof(nlmsgerr);
    if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
      // The echoed request's length, bounded by what was received of it.
      size_t echoed = e->msg.nlmsg_len;
      if (echoed < sizeof(nlmsghdr) || echoed > payload - offsetof(nlmsgerr, msg))
        return ack;
      tlv_offset += echoed - sizeof(nlmsghdr);
    }
  } else {  // NLMSG_DONE
    if (payload < sizeof(int))
      return ack;
    ack.err_no = errno_of(*static_cast<const int*>(mnl_nlmsg_get_payload(nlh)));
    tlv_offset = sizeof(int);
  }
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) != 0 && MNL_ALIGN(tlv_offset) < payload) {
    mnl_attr_parse(nlh, tlv_offset, collect_ack_attr, &ack);
  }
  return ack;
}

int send_to_kernel(int fd, const void* buf, size_t len) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, buf, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? errno : 0;
}

Result<size_t> recv_until(int fd, std::vector<char>& rx, Clock::time_point deadline,
                          const std::string& label) {
  while (true) {
    ssize_t n = recv(fd, rx.data(), rx.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) {
      if (static_cast<size_t>(n) > rx.size()) {
        return system_error(label + ": reply truncated", EMSGSIZE);
      }
      return static_cast<size_t>(n);
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return system_error(label + ": recv", errno);
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int rc = poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno != EINTR)
      return system_error(label + ": poll", errno);
    if (rc == 0)
      return system_error(label + ": no reply from the kernel", ETIMEDOUT);
  }
}

Result<void> dump(int fd, std::vector<char>& rx, const nlmsghdr* request,
                  std::chrono::milliseconds timeout, DumpTimeout scope, const std::string& label,
                  const std::string& what, const std::function<void(const nlmsghdr*)>& on_msg,
                  bool* interrupted) {
  if (interrupted != nullptr)
    *interrupted = false;
  const uint32_t seq = request->nlmsg_seq;
  if (int err = send_to_kernel(fd, request, request->nlmsg_len); err != 0) {
    return system_error(what + ": send", err);
  }
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (scope == DumpTimeout::kPerDatagram)
      deadline = Clock::now() + timeout;
    auto n = recv_until(fd, rx, deadline, label);
    if (!n) {
      Error e = n.take_error();
      e.context = what + ": " + e.context;
      return e;
    }
    int len = static_cast<int>(*n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx.data()); message_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_seq != seq)
        continue;  // a late answer to an earlier request
      if ((m->nlmsg_flags & NLM_F_DUMP_INTR) != 0 && interrupted != nullptr)
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

void send_batch(int fd, std::vector<char>& rx, const char* tx, size_t len,
                std::map<uint32_t, size_t> pending, std::chrono::milliseconds timeout,
                const std::string& label, const std::function<void(size_t, const Ack&)>& on_ack,
                const std::function<void(size_t, int, const std::string&)>& on_lost) {
  if (pending.empty())
    return;
  auto fail_pending = [&](int err_no, const std::string& why) {
    for (auto& [seq, idx] : pending)
      on_lost(idx, err_no, why);
    pending.clear();
  };
  if (int err = send_to_kernel(fd, tx, len); err != 0) {
    fail_pending(err, "netlink send");
    return;
  }

  auto deadline = Clock::now() + timeout;
  bool overrun = false;
  while (!pending.empty()) {
    // rtnetlink and nfnetlink handle the whole send before sendmsg returns, so
    // after an overrun every ack that survived is already queued: drain
    // without waiting.
    auto n = recv_until(fd, rx, overrun ? Clock::now() : deadline, label);
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
    int n_len = static_cast<int>(*n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx.data()); message_ok(m, n_len);
         m = mnl_nlmsg_next(m, &n_len)) {
      if (m->nlmsg_type != NLMSG_ERROR)
        continue;
      auto it = pending.find(m->nlmsg_seq);
      if (it == pending.end())
        continue;  // an answer to a request that timed out earlier
      on_ack(it->second, parse_ack(m));
      pending.erase(it);
    }
  }
}

}  // namespace pathsteer::nlio
