/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing: Ethernet (+ one 802.1Q/802.1ad tag), IPv4 (options skipped),
 * IPv6 (extension headers followed), TCP/UDP ports.
 *
 * What cannot be read is never guessed: a truncated or malformed header makes
 * the packet PS_PARSE_MALFORMED (passed untouched). A non-first fragment, or
 * an IPv6 extension chain longer than we follow, is parsed without ports
 * (has_ports = 0): classified by addresses, protocol and DSCP only.
 */
#ifndef PS_LIB_PARSE_H
#define PS_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define PS_IP_OFFSET 0x1fff
#define PS_IP6_FRAG_OFFSET 0xfff8
#define PS_V6_EXT_MAX 6 /* extension headers followed before giving up on ports */
/* Direct packet access is used below this offset (the verifier needs a bound). */
#define PS_DIRECT_MAX_OFF 2048

/* The kernel's struct vlan_hdr is not uapi. */
struct ps_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct ps_ext_hdr {
	__u8 nexthdr;
	__u8 len;
};

struct ps_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/* What classification and forwarding need from a packet. Addresses and ports
 * in network order; IPv4 in saddr[0]/daddr[0] with the other words zero. */
struct ps_pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport; /* valid if has_ports, else 0 */
	__be16 dport;
	__u16 l3_off; /* offset of the IP header */
	__u8 family;  /* PS_FAMILY_IPV4 / PS_FAMILY_IPV6 */
	__u8 proto;   /* upper-layer protocol (after IPv6 extension headers) */
	__u8 dscp;
	__u8 ttl; /* TTL / hop limit */
	__u8 tos; /* full IPv4 TOS / IPv6 traffic class */
	__u8 has_ports;
	__u8 vlan;     /* an in-band tag was skipped */
	__u8 fragment; /* non-first fragment */
	__u8 ip_options;
	__u8 ports_unknown; /* IPv6 extension chain not followed to its end */
};

#define PS_FAMILY_IPV4 4
#define PS_FAMILY_IPV6 6

/* A destination no router forwards: IPv4 multicast, limited broadcast and
 * 169.254/16; IPv6 multicast (ff00::/8) and link-local (fe80::/10). MLD and
 * IGMP reports (hop limit 1), mDNS and SSDP are of these. */
static __always_inline int ps_link_scope_dst(const struct ps_pkt *pkt)
{
	__u32 d = bpf_ntohl(pkt->daddr[0]);

	if (pkt->family == PS_FAMILY_IPV4)
		return (d >> 28) == 0xe || d == 0xffffffff || (d >> 16) == 0xa9fe;
	return (d >> 24) == 0xff || (d >> 22) == (0xfe80 >> 6);
}

enum ps_parse_result {
	PS_PARSE_OK,
	PS_PARSE_NOT_IP,
	PS_PARSE_MALFORMED,
};

/*
 * Copies sizeof(*dst) bytes at off into *dst: straight from the linear area
 * when they lie inside it (the common case, no helper call), else with
 * bpf_skb_load_bytes, which also reaches paged data and fails past skb->len
 * (that is how truncation is detected). A struct assignment, not memcpy, so
 * clang emits word loads (unaligned packet loads are fine for the JIT).
 */
#define PS_LOAD(skb, off, dst)                                                                     \
	({                                                                                         \
		void *__data = (void *)(long)(skb)->data;                                          \
		void *__end = (void *)(long)(skb)->data_end;                                       \
		__u32 __off = (off);                                                               \
		int __ret = 0;                                                                     \
		if (__off < PS_DIRECT_MAX_OFF && __data + __off + sizeof(*(dst)) <= __end)         \
			*(dst) = *(typeof(dst))(__data + __off);                                   \
		else                                                                               \
			__ret = bpf_skb_load_bytes(skb, __off, dst, sizeof(*(dst)));               \
		__ret;                                                                             \
	})

static __always_inline int ps_parse_ports(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	struct ps_ports {
		__be16 sport;
		__be16 dport;
	} ports;

	if (pkt->proto != IPPROTO_TCP && pkt->proto != IPPROTO_UDP)
		return PS_PARSE_OK;
	if (PS_LOAD(skb, off, &ports) < 0)
		return PS_PARSE_MALFORMED;
	pkt->sport = ports.sport;
	pkt->dport = ports.dport;
	pkt->has_ports = 1;
	return PS_PARSE_OK;
}

static __always_inline int ps_parse_ipv4(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	struct iphdr ip;
	__u32 ihl;

	if (PS_LOAD(skb, off, &ip) < 0)
		return PS_PARSE_MALFORMED;
	ihl = ip.ihl;
	if (ip.version != 4 || ihl < 5 || bpf_ntohs(ip.tot_len) < ihl * 4)
		return PS_PARSE_MALFORMED;
	pkt->family = PS_FAMILY_IPV4;
	pkt->proto = ip.protocol;
	pkt->saddr[0] = ip.saddr;
	pkt->daddr[0] = ip.daddr;
	pkt->tos = ip.tos;
	pkt->dscp = ip.tos >> 2;
	pkt->ttl = ip.ttl;
	pkt->ip_options = ihl > 5;
	/* Only the first fragment carries the L4 header. */
	if (ip.frag_off & bpf_htons(PS_IP_OFFSET)) {
		pkt->fragment = 1;
		return PS_PARSE_OK;
	}
	return ps_parse_ports(skb, off + ihl * 4, pkt);
}

static __always_inline int ps_parse_ipv6(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	struct ipv6hdr ip6;
	__u8 nh;
	int i;

	if (PS_LOAD(skb, off, &ip6) < 0)
		return PS_PARSE_MALFORMED;
	if (ip6.version != 6)
		return PS_PARSE_MALFORMED;
	pkt->family = PS_FAMILY_IPV6;
	__builtin_memcpy(pkt->saddr, &ip6.saddr, sizeof(pkt->saddr));
	__builtin_memcpy(pkt->daddr, &ip6.daddr, sizeof(pkt->daddr));
	pkt->tos = (ip6.priority << 4) | (ip6.flow_lbl[0] >> 4);
	pkt->dscp = pkt->tos >> 2;
	pkt->ttl = ip6.hop_limit;
	nh = ip6.nexthdr;
	off += sizeof(ip6);

	for (i = 0; i < PS_V6_EXT_MAX; i++) {
		struct ps_ext_hdr ext;
		struct ps_frag_hdr frag;

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (PS_LOAD(skb, off, &ext) < 0)
				return PS_PARSE_MALFORMED;
			nh = ext.nexthdr;
			off += (ext.len + 1) * 8;
			break;
		case IPPROTO_AH:
			if (PS_LOAD(skb, off, &ext) < 0)
				return PS_PARSE_MALFORMED;
			nh = ext.nexthdr;
			off += (ext.len + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (PS_LOAD(skb, off, &frag) < 0)
				return PS_PARSE_MALFORMED;
			nh = frag.nexthdr;
			off += sizeof(frag);
			if (frag.frag_off & bpf_htons(PS_IP6_FRAG_OFFSET)) {
				pkt->proto = nh;
				pkt->fragment = 1;
				return PS_PARSE_OK;
			}
			break;
		default:
			pkt->proto = nh;
			return ps_parse_ports(skb, off, pkt);
		}
	}
	/* Still inside the extension chain: the upper layer is unknown. */
	pkt->proto = nh;
	pkt->ports_unknown = 1;
	return PS_PARSE_OK;
}

static __always_inline int ps_parse(struct __sk_buff *skb, struct ps_pkt *pkt)
{
	__u32 off = sizeof(struct ethhdr);
	__be16 proto;

	if (PS_LOAD(skb, __builtin_offsetof(struct ethhdr, h_proto), &proto) < 0)
		return PS_PARSE_MALFORMED;
	/* Usually the tag is already in skb->vlan_tci by the time TC ingress
	 * runs; an in-band one appears only with VLAN offload off. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct ps_vlan_hdr vlan;

		if (PS_LOAD(skb, off, &vlan) < 0)
			return PS_PARSE_MALFORMED;
		proto = vlan.encap_proto;
		off += sizeof(vlan);
		pkt->vlan = 1;
	}
	pkt->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP))
		return ps_parse_ipv4(skb, off, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return ps_parse_ipv6(skb, off, pkt);
	return PS_PARSE_NOT_IP;
}

#endif /* PS_LIB_PARSE_H */
