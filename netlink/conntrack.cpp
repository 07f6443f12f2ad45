#include "netlink/conntrack.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "common/event_loop.h"
#include "netlink/nl_io.h"

namespace pathsteer {
namespace {

constexpr char kLabel[] = "conntrack socket";
constexpr int kWorkerNice = 10;
// A delete is a header plus an original tuple (< 128 bytes for IPv6), zone and id.
constexpr size_t kMaxDeleteSize = 512;
constexpr size_t kMaxRawTuple = 256;

constexpr uint16_t ct_msg(uint8_t type) {
  return static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
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
  if (proto[CTA_PROTO_NUM] == nullptr || mnl_attr_get_payload_len(proto[CTA_PROTO_NUM]) < 1)
    return std::nullopt;
  t.protocol = mnl_attr_get_u8(proto[CTA_PROTO_NUM]);
  t.src_port = get_be16(proto[CTA_PROTO_SRC_PORT]);
  t.dst_port = get_be16(proto[CTA_PROTO_DST_PORT]);
  return t;
}

struct ParsedEntry {
  ConntrackEntry entry;
  AttrTable<CTA_MAX> attrs;
  bool has_id = false;  // a CTA_ID of 4 bytes: entry.id is the kernel's
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
  if (const nlattr* a = p.attrs[CTA_ID]; a != nullptr && mnl_attr_get_payload_len(a) >= 4) {
    p.entry.id = ntohl(mnl_attr_get_u32(a));
    p.has_id = true;
  }
  p.entry.zone = get_be16(p.attrs[CTA_ZONE]);
  return p;
}

std::string endpoint(const IpAddr& a, uint16_t port, bool has_ports) {
  std::string s = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  if (has_ports)
    s += ":" + std::to_string(port);
  return s;
}

}  // namespace

std::optional<ConntrackEntry> parse_conntrack_entry(const nlmsghdr* nlh) {
  auto p = parse_entry(nlh);
  if (!p)
    return std::nullopt;
  return p->entry;
}

struct ConntrackSocket::Victim {
  int family = AF_UNSPEC;
  std::vector<uint8_t> tuple;  // the CTA_TUPLE_ORIG attribute, header included
  std::vector<uint8_t> zone;   // the CTA_ZONE attribute, or empty
  uint32_t id_be = 0;          // CTA_ID as the kernel sent it
  bool has_id = false;
  std::string name;  // for error contexts
};

std::string ConntrackTuple::to_string() const {
  const char* name = ip_proto_name(protocol);
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
  auto fd = nlio::open_socket(NETLINK_NETFILTER, "NETLINK_NETFILTER", options.rcvbuf_bytes, kLabel);
  if (!fd)
    return fd.take_error();
  ConntrackSocket s(std::move(*fd), options);
  s.rx_.resize(nlio::kRxBufferSize);
  return s;
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
  return nlio::dump(fd_.get(), rx_, nlh, options_.timeout, nlio::DumpTimeout::kPerDatagram, kLabel,
                    what, on_msg);
}

Result<std::vector<ConntrackEntry>> ConntrackSocket::dump() {
  std::vector<ConntrackEntry> out;
  auto r = dump_raw([&](const nlmsghdr* m) {
    if (auto e = parse_conntrack_entry(m))
      out.push_back(*e);
  });
  if (!r)
    return r.take_error();
  return out;
}

Result<uint32_t> ConntrackSocket::entries() {
  alignas(nlmsghdr) char req[64] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = ct_msg(IPCTNL_MSG_CT_GET_STATS);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  const uint32_t seq = nlh->nlmsg_seq = seq_++;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  if (int err = nlio::send_to_kernel(fd_.get(), nlh, nlh->nlmsg_len); err != 0)
    return system_error(std::string(kLabel) + ": send stats request", err);
  std::optional<uint32_t> count;
  auto deadline = nlio::Clock::now() + options_.timeout;
  while (true) {  // the reply, then the ack
    auto n = nlio::recv_until(fd_.get(), rx_, deadline, kLabel);
    if (!n)
      return n.take_error();
    int len = static_cast<int>(*n);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(rx_.data()); nlio::message_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_seq != seq)
        continue;  // an answer to an earlier, timed-out request
      if (m->nlmsg_type == NLMSG_ERROR) {
        nlio::Ack ack = nlio::parse_ack(m);
        if (ack.err_no != 0)
          return system_error("conntrack stats", ack.err_no, ack.message);
        if (!count)
          return system_error("conntrack stats: no entry count in the reply", EPROTO);
        return *count;
      }
      if (m->nlmsg_type != ct_msg(IPCTNL_MSG_CT_GET_STATS))
        continue;
      const nlattr* tb[CTA_STATS_GLOBAL_MAX + 1] = {};
      mnl_attr_parse(
          m, sizeof(nfgenmsg),
          [](const nlattr* a, void* data) {
            auto** t = static_cast<const nlattr**>(data);
            if (mnl_attr_type_valid(a, CTA_STATS_GLOBAL_MAX) > 0)
              t[mnl_attr_get_type(a)] = a;
            return MNL_CB_OK;
          },
          tb);
      if (tb[CTA_STATS_GLOBAL_ENTRIES] != nullptr &&
          mnl_attr_get_payload_len(tb[CTA_STATS_GLOBAL_ENTRIES]) >= 4)
        count = ntohl(mnl_attr_get_u32(tb[CTA_STATS_GLOBAL_ENTRIES]));
    }
  }
}

Result<ConntrackFlushReport> ConntrackSocket::delete_matching(const ConntrackFilter& f) {
  ConntrackFlushReport report;
  if (f.empty())
    return report;
  // The dump walks the hash every namespace shares (10-30 ms even when ours
  // is empty); the counter is ours alone.
  if (auto n = entries(); n && *n == 0)
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
             .has_id = p->has_id,
             .name = p->entry.to_string()};
    if (const nlattr* z = p->attrs[CTA_ZONE])
      v.zone = copy_attr(z);
    if (v.has_id)
      v.id_be = htonl(p->entry.id);
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
  nlio::send_batch(
      fd_.get(), rx_, tx.data(), used, std::move(pending), options_.timeout, kLabel,
      [&](size_t idx, const nlio::Ack& ack) {
        if (ack.err_no == 0) {
          ++report.deleted;
        } else if (ack.err_no == ENOENT) {
          ++report.already_gone;
        } else {
          fail(victims[idx], ack.err_no, "", ack.message);
        }
      },
      [&](size_t idx, int err_no, const std::string& why) {
        fail(victims[idx], err_no, ": " + why);
      });
  return i;
}

ConntrackWorker::ConntrackWorker(EventLoop& loop, ConntrackSocket::Options options)
    : loop_(loop), options_(options) {
  // A thread inherits its creator's signal mask. With a signal unblocked here
  // the kernel could deliver the daemon's SIGTERM (meant for its signalfd) to
  // this thread, and the default action kills the process.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

ConntrackWorker::~ConntrackWorker() {
  *alive_ = false;  // results still queued on the loop are dropped
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_one();
  thread_.join();
}

void ConntrackWorker::submit(std::string key, ConntrackFilter filter, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto queued =
        std::find_if(queue_.begin(), queue_.end(), [&](const Request& r) { return r.key == key; });
    if (queued != queue_.end()) {
      queued->filter = std::move(filter);
      queued->done = std::move(done);
    } else {
      queue_.push_back(
          Request{.key = std::move(key), .filter = std::move(filter), .done = std::move(done)});
    }
  }
  cv_.notify_one();
}

void ConntrackWorker::run() {
  // Below the loop thread: on a shared CPU its wakeups must not wait for us.
  // (A dump in the kernel is not preempted, so the table walk can still hold
  // a CPU the loop shares for its 10-30 ms; entries() skips it when empty.)
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kWorkerNice);
  for (;;) {
    Request req;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_)
        return;
      req = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<ConntrackFlushReport> result = [&]() -> Result<ConntrackFlushReport> {
      auto ct = ConntrackSocket::open(options_);
      if (!ct)
        return ct.take_error();
      return ct->delete_matching(req.filter);
    }();
    // alive_ is read on the loop thread only, where the destructor sets it.
    loop_.post([alive = alive_, done = std::move(req.done), result = std::move(result)] {
      if (*alive)
        done(result);
    });
  }
}

}  // namespace pathsteer
