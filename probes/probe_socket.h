// Socket plumbing every probe session uses (probes/session.h): set-up of a
// probe socket, addresses, kernel receive timestamps and CLOCK_REALTIME in ns.
// Internal to probes/; no state.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "common/net.h"
#include "common/result.h"

namespace pathsteer {

int64_t realtime_ns();              // CLOCK_REALTIME (one vDSO call)
timespec to_timespec(int64_t ns);   // ns >= 0
int64_t kernel_rx_ns(msghdr& msg);  // SCM_TIMESTAMPNS of a received message; 0 if absent

// A msghdr for recvmsg()/recvmmsg() of one datagram into `iov`, with the
// source address into `from` and ancillary data into `control`.
msghdr receive_header(sockaddr_storage& from, iovec& iov, std::span<char> control);

// `a`:port as a sockaddr; an IPv6 link-local address is scoped to `ifindex`.
socklen_t to_sockaddr(const IpAddr& a, uint16_t port, unsigned ifindex, sockaddr_storage& out);
// Address and port of a sockaddr from recvmsg().
std::pair<IpAddr, uint16_t> from_sockaddr(const sockaddr_storage& s);

// setsockopt of an int; the error names `what`.
Result<void> set_int_opt(int fd, int level, int opt, int value, const std::string& what);

// What every probe socket gets: SO_BINDTODEVICE `ifname` (ENODEV: the
// interface is missing), SO_MARK `fwmark` unless 0, SO_TIMESTAMPNS, and on
// IPv4 IP_PMTUDISC_DO (DF). Errors are prefixed with `ctx`.
Result<void> prepare_socket(int fd, const std::string& ifname, uint32_t fwmark,
                            const std::string& ctx);

// A 4 MiB receive buffer for sockets whose replies wait up to one slack for
// the next timer wakeup: SO_RCVBUFFORCE (CAP_NET_ADMIN), else SO_RCVBUF
// (silently capped at net.core.rmem_max).
Result<void> grow_receive_buffer(int fd, const std::string& ctx);

}  // namespace pathsteer
