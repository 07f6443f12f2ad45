// Fuzz target: the netlink decoders (netlink/codec.h, parse_conntrack_entry, nlio::parse_ack).
// The input is one received datagram: it is walked as the sockets walk theirs
// (nlio::message_ok, so nlmsg_len is bounded by the datagram) and every message goes to every
// decoder, each of which must refuse other types. No decoder may read outside its message (the copy
// is exactly the datagram's size, for ASan); a crash, hang, leak or UB is a bug.
#include <libmnl/libmnl.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/codec.h"
#include "netlink/conntrack.h"
#include "netlink/nl_io.h"

using namespace pathsteer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536)
    return 0;
  std::vector<char> datagram(data, data + size);  // nlmsghdr alignment, exact size
  int len = static_cast<int>(size);
  for (auto* m = reinterpret_cast<const nlmsghdr*>(datagram.data()); nlio::message_ok(m, len);
       m = mnl_nlmsg_next(m, &len)) {
    if (auto l = nlcodec::parse_link(m))
      (void)l->to_string();
    if (auto a = nlcodec::parse_address(m))
      (void)a->to_string();
    if (auto r = nlcodec::parse_route(m))
      (void)r->to_string();
    if (auto r = nlcodec::parse_rule(m))
      (void)r->to_string();
    if (auto e = parse_conntrack_entry(m))
      (void)e->to_string();
    if (m->nlmsg_type == NLMSG_ERROR || m->nlmsg_type == NLMSG_DONE)
      (void)nlio::parse_ack(m);
  }
  return 0;
}
