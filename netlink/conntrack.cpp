#include "netlink/conntrack.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace pathsteer {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRxBufferSize = 64 * 1024;
// A delete is a header plus an original tuple (< 128 bytes for IPv6), zone and id.
constexpr size_t kMaxDeleteSize = 512;
constexpr size_t kMaxRawTuple = 256;

constexpr uint16_t ct_msg(uint8_t type) {
  return static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
}

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
    return system_error(std::string("conntrack socket: setsockopt ") + what, errno);
  }
  return ok();
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Indexes the attributes of one nest (or of a message payload) by type.
template <size_t N>
struct AttrTable {
  std::array<const nlattr*, N + 1> at{};
  const nlattr* operator[](int type) const { return at[static_cast<size_t>(type)]; }
};

template <size_t N>
int index_attr(const nlattr* attr, void* data) {
  auto* t = static_cast<AttrTable<N>*>(data);
  int type = mnl_attr_get_type(attr);
  if (type >= 0 && static_cast<size_t>(type) <= N) {
    t->at[static_cast<size_t>(type)] = attr;
  }
  return MNL_CB_OK;
}

template <size_t N>
AttrTable<N> parse_nest(const nlattr* nest) {
  AttrTable<N> t;
  mnl_attr_parse_nested(nest, index_attr<N>, &t);
  return t;
}

bool get_addr(const nlattr* attr, int family, IpAddr* out) {
  size_t len = family == AF_INET ? 4 : 16;
  if (attr == nullptr || mnl_attr_get_payload_len(attr) < len)
    return false;
  out->family = family;
  std::memcpy(out->bytes.data(), mnl_attr_get_payload(attr), len);
  return true;
}

uint16_t get_be16(const nlattr* attr) {
  if (attr == nullptr || mnl_attr_get_payload_len(attr) < 2)
    return 0;
  return ntohs(mnl_attr_get_u16(attr));
}

std::optional<ConntrackTuple> parse_tuple(const nlattr* nest, int family) {
  if (nest == nullptr)
    return std::nullopt;
  auto tuple = parse_nest<CTA_TUPLE_MAX>(nest);
  if (tuple[CTA_TUPLE_IP] == nullptr || tuple[CTA_TUPLE_PROTO] == nullptr)
    return std::nullopt;
  auto ip = parse_nest<CTA_IP_MAX>(tuple[CTA_TUPLE_IP]);
  ConntrackTuple t;
  bool v4 = family == AF_INET;
  if (!get_addr(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], family, &t.src) ||
      !get_addr(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], family, &t.dst)) {
    return std::nullopt;
  }
  auto proto = parse_nest<CTA_PROTO_MAX>(tuple[CTA_TUPLE_PROTO]);
  if (proto[CTA_PROTO_NUM] == nullptr)
    return std::nullopt;
  t.protocol = mnl_attr_get_u8(proto[CTA_PROTO_NUM]);
  t.src_port = get_be16(proto[CTA_PROTO_SRC_PORT]);
  t.dst_port = get_be16(proto[CTA_PROTO_DST_PORT]);
  return t;
}

struct ParsedEntry {
  ConntrackEntry entry;
  AttrTable<CTA_MAX> attrs;
};

std::optional<ParsedEntry> parse_entry(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != ct_msg(IPCTNL_MSG_CT_NEW) ||
      mnl_nlmsg_get_payload_len(nlh) < sizeof(nfgenmsg)) {
    return std::nullopt;
  }
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  ParsedEntry p;
  p.entry.family = nfg->nfgen_family;
  if (p.entry.family != AF_INET && p.entry.family != AF_INET6)
    return std::nullopt;
  mnl_attr_parse(nlh, sizeof(nfgenmsg), index_attr<CTA_MAX>, &p.attrs);
  auto orig = parse_tuple(p.attrs[CTA_TUPLE_ORIG], p.entry.family);
  auto reply = parse_tuple(p.attrs[CTA_TUPLE_REPLY], p.entry.family);
  if (!orig || !reply)
    return std::nullopt;
  p.entry.original = *orig;
  p.entry.reply = *reply;
  if (const nlattr* a = p.attrs[CTA_MARK]; a != nullptr && mnl_attr_get_payload_len(a) >= 4)
    p.entry.mark = ntohl(mnl_attr_get_u32(a));
  if (const nlattr* a = p.attrs[CTA_ID]; a != nullptr && mnl_attr_get_payload_len(a) >= 4)
    p.entry.id = ntohl(mnl_attr_get_u32(a));
  p.entry.zone = get_be16(p.attrs[CTA_ZONE]);
  return p;
}

const char* proto_name(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_GRE:
      return "gre";
  }
  return nullptr;
}

std::string endpoint(const IpAddr& a, uint16_t port, bool has_ports) {
  std::string s = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  if (has_ports)
    s += ":" + std::to_string(port);
  return s;
}

}  // namespace

struct ConntrackSocket::Victim {
  int family = AF_UNSPEC;
  std::vector<uint8_t> tuple;  // the CTA_TUPLE_ORIG attribute, header included
  std::vector<uint8_t> zone;   // the CTA_ZONE attribute, or empty
  uint32_t id_be = 0;          // CTA_ID as the kernel sent it
  bool has_id = false;
  std::string name;  // for error contexts
};

std::string ConntrackTuple::to_string() const {
  const char* name = proto_name(protocol);
  std::string s = name != nullptr ? name : "proto " + std::to_string(protocol);
  bool ports = protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP ||
               protocol == IPPROTO_UDPLITE || protocol == IPPROTO_DCCP;
  return s + " " + endpoint(src, src_port, ports) + " -> " + endpoint(dst, dst_port, ports);
}

std::string ConntrackEntry::to_string() const {
  std::string s = "conntrack " + family_name(family) + " " + original.to_string() + " reply " +
                  reply.src.to_string() + " -> " + reply.dst.to_string();
  if (mark != 0) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%x", mark);
    s += " mark ";
    s += buf;
  }
  if (zone != 0)
    s += " zone " + std::to_string(zone);
  return s;
}

bool ConntrackFilter::matches(const ConntrackEntry& e) const {
  if (std::find(reply_dst.begin(), reply_dst.end(), e.reply.dst) != reply_dst.end())
    return true;
  return mark && (e.mark & mark->second) == mark->first;
}

Result<ConntrackSocket> ConntrackSocket::open(Options options) {
  Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
  if (!fd.valid())
    return system_error("conntrack socket: socket(NETLINK_NETFILTER)", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    return system_error("conntrack socket: bind", errno);
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK"); !r) {
    return r.take_error();
  }
  if (auto r = set_int_opt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK"); !r) {
    return r.take_error();
  }
  // Each ack is its own skb; a full batch of them must fit (FORCE needs
  // CAP_NET_ADMIN, which deleting needs anyway).
  if (!set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, options.rcvbuf_bytes, "SO_RCVBUFFORCE")) {
    (void)set_int_opt(fd.get(), SOL_SOCKET, SO_RCVBUF, options.rcvbuf_bytes, "SO_RCVBUF");
  }
  ConntrackSocket s(std::move(fd), options);
  s.rx_.resize(kRxBufferSize);
  return s;
}

Result<size_t> ConntrackSocket::recv_until(Clock::time_point deadline) {
  while (true) {
    ssize_t n = recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) {
      if (static_cast<size_t>(n) > rx_.size()) {
        return system_error("conntrack socket: reply truncated", EMSGSIZE);
      }
      return static_cast<size_t>(n);
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return system_error("conntrack socket: recv", errno);
    }
    pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    int rc = poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno != EINTR)
      return system_error("conntrack socket: poll", errno);
    if (rc == 0)
      return system_error("conntrack socket: no reply from the kernel", ETIMEDOUT);
  }
}

Result<void> ConntrackSocket::dump_raw(const std::function<void(const nlmsghdr*)>& on_msg) {
  const std::string what = "dump conntrack table";
  alignas(nlmsghdr) char req[64] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = ct_msg(IPCTNL_MSG_CT_GET);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq_++;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;  // both IPv4 and IPv6
  nfg->version = NFNETLINK_V0;
  uint32_t seq = nlh->nlmsg_seq;

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_.get(), nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return system_error(what + ": send", errno);
  }
  while (true) {
    auto n = recv_until(Clock::now() + options_.timeout);
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

Result<std::vector<ConntrackEntry>> ConntrackSocket::dump() {
  std::vector<ConntrackEntry> out;
  auto r = dump_raw([&](const nlmsghdr* m) {
    if (auto p = parse_entry(m))
      out.push_back(p->entry);
  });
  if (!r)
    return r.take_error();
  return out;
}

Result<ConntrackFlushReport> ConntrackSocket::delete_matching(const ConntrackFilter& f) {
  ConntrackFlushReport report;
  if (f.empty())
    return report;
  std::vector<Victim> victims;
  auto copy_attr = [](const nlattr* a) {
    const auto* p = reinterpret_cast<const uint8_t*>(a);
    return std::vector<uint8_t>(p, p + a->nla_len);
  };
  auto r = dump_raw([&](const nlmsghdr* m) {
    auto p = parse_entry(m);
    if (!p)
      return;
    ++report.examined;
    if (!f.matches(p->entry))
      return;
    Victim v{.family = p->entry.family,
             .tuple = copy_attr(p->attrs[CTA_TUPLE_ORIG]),
             .zone = {},
             .id_be = 0,
             .has_id = p->attrs[CTA_ID] != nullptr,
             .name = p->entry.to_string()};
    if (const nlattr* z = p->attrs[CTA_ZONE])
      v.zone = copy_attr(z);
    if (v.has_id)
      v.id_be = mnl_attr_get_u32(p->attrs[CTA_ID]);
    victims.push_back(std::move(v));
  });
  if (!r)
    return r.take_error();
  size_t next = 0;
  while (next < victims.size()) {
    next = delete_chunk(victims, next, report);
  }
  return report;
}

size_t ConntrackSocket::delete_chunk(const std::vector<Victim>& victims, size_t begin,
                                     ConntrackFlushReport& report) {
  auto fail = [&](const Victim& v, int err_no, const std::string& why, std::string kmsg = {}) {
    ++report.failed;
    if (!report.first_error)
      report.first_error = system_error("delete " + v.name + why, err_no, std::move(kmsg));
  };

  std::vector<char> tx(options_.batch_messages * kMaxDeleteSize);
  size_t used = 0;
  std::map<uint32_t, size_t> pending;  // seq -> index into victims
  size_t i = begin;
  for (; i < victims.size() && i - begin < options_.batch_messages; ++i) {
    const Victim& v = victims[i];
    // Without a tuple the kernel would flush the whole table: never send that.
    if (v.tuple.size() <= sizeof(nlattr) || v.tuple.size() > kMaxRawTuple) {
      fail(v, EINVAL, ": unusable original tuple in the dump");
      continue;
    }
    nlmsghdr* nlh = mnl_nlmsg_put_header(tx.data() + used);
    nlh->nlmsg_type = ct_msg(IPCTNL_MSG_CT_DELETE);
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = seq_++;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = static_cast<uint8_t>(v.family);
    nfg->version = NFNETLINK_V0;
    for (const auto* raw : {&v.tuple, &v.zone}) {
      if (raw->empty())
        continue;
      std::memcpy(mnl_nlmsg_get_payload_tail(nlh), raw->data(), raw->size());
      nlh->nlmsg_len += MNL_ALIGN(raw->size());
    }
    if (v.has_id)
      mnl_attr_put_u32(nlh, CTA_ID, v.id_be);
    used += NLMSG_ALIGN(nlh->nlmsg_len);
    pending[nlh->nlmsg_seq] = i;
  }
  if (pending.empty())
    return i;

  auto fail_pending = [&](int err_no, const std::string& why) {
    for (auto& [seq, idx] : pending)
      fail(victims[idx], err_no, ": " + why);
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
    // nfnetlink handles the whole send before sendmsg returns, so after an
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
      if (ack.err_no == 0) {
        ++report.deleted;
      } else if (ack.err_no == ENOENT) {
        ++report.already_gone;
      } else {
        fail(victims[it->second], ack.err_no, "", ack.message);
      }
      pending.erase(it);
    }
  }
  return i;
}

}  // namespace pathsteer
