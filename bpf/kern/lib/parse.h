/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing: Ethernet (+ one 802.1Q/802.1ad tag), IPv4, IPv6, TCP/UDP ports. */
#ifndef PS_LIB_PARSE_H
#define PS_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define PS_IP_MF 0x2000
#define PS_IP_OFFSET 0x1fff

/* The kernel's struct vlan_hdr is not uapi. */
struct ps_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* What classification needs from a packet. Addresses in network order,
 * IPv4 in saddr[0]/daddr[0] with the other words zero. */
struct ps_pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport; /* host order; valid if has_ports */
	__u16 dport;
	__u8 family; /* PS_FAMILY_IPV4 / PS_FAMILY_IPV6 */
	__u8 proto;
	__u8 has_ports;
	__u8 pad;
};

enum ps_parse_result {
	PS_PARSE_OK,
	PS_PARSE_NOT_IP,
	PS_PARSE_MALFORMED,
};

/*
 * bpf_skb_load_bytes rather than direct packet access: at TC ingress the
 * headers may sit outside the linear area, and a copy onto the stack keeps
 * variable offsets (VLAN, IPv4 options) trivial for the verifier. It fails
 * on reads past skb->len, which is how truncation is detected.
 */
static __always_inline int ps_parse_ports(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	__be16 ports[2];

	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
		return PS_PARSE_MALFORMED;
	pkt->sport = bpf_ntohs(ports[0]);
	pkt->dport = bpf_ntohs(ports[1]);
	pkt->has_ports = 1;
	return PS_PARSE_OK;
}

static __always_inline int ps_parse_ipv4(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
		return PS_PARSE_MALFORMED;
	if (ip.version != 4 || ip.ihl < 5)
		return PS_PARSE_MALFORMED;
	pkt->family = PS_FAMILY_IPV4;
	pkt->proto = ip.protocol;
	pkt->saddr[0] = ip.saddr;
	pkt->daddr[0] = ip.daddr;
	/* Only the first fragment carries the L4 header. */
	if (ip.frag_off & bpf_htons(PS_IP_OFFSET))
		return PS_PARSE_OK;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return PS_PARSE_OK;
	return ps_parse_ports(skb, off + ip.ihl * 4, pkt);
}

static __always_inline int ps_parse_ipv6(struct __sk_buff *skb, __u32 off, struct ps_pkt *pkt)
{
	struct ipv6hdr ip6;

	if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0)
		return PS_PARSE_MALFORMED;
	if (ip6.version != 6)
		return PS_PARSE_MALFORMED;
	pkt->family = PS_FAMILY_IPV6;
	pkt->proto = ip6.nexthdr;
	__builtin_memcpy(pkt->saddr, &ip6.saddr, sizeof(pkt->saddr));
	__builtin_memcpy(pkt->daddr, &ip6.daddr, sizeof(pkt->daddr));
	/* No extension-header walk yet: anything else is classified portless. */
	if (ip6.nexthdr != IPPROTO_TCP && ip6.nexthdr != IPPROTO_UDP)
		return PS_PARSE_OK;
	return ps_parse_ports(skb, off + sizeof(ip6), pkt);
}

static __always_inline int ps_parse(struct __sk_buff *skb, struct ps_pkt *pkt)
{
	struct ethhdr eth;
	__u32 off = sizeof(eth);
	__be16 proto;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return PS_PARSE_MALFORMED;
	proto = eth.h_proto;
	/* Usually the tag is already in skb->vlan_tci by the time TC ingress
	 * runs; an in-band one appears only with VLAN offload off. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct ps_vlan_hdr vlan;

		if (bpf_skb_load_bytes(skb, off, &vlan, sizeof(vlan)) < 0)
			return PS_PARSE_MALFORMED;
		proto = vlan.encap_proto;
		off += sizeof(vlan);
	}
	if (proto == bpf_htons(ETH_P_IP))
		return ps_parse_ipv4(skb, off, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return ps_parse_ipv6(skb, off, pkt);
	return PS_PARSE_NOT_IP;
}

#endif /* PS_LIB_PARSE_H */
