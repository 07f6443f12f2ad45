/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * redirect mode: the next hop in the chosen uplink's routing table
 * (bpf_fib_lookup with a table id, Linux 6.5+) and bpf_redirect_neigh to it.
 * Any failure leaves the packet to the stack (it is marked already) and says
 * why, so it is counted.
 */
#ifndef PS_LIB_FIB_H
#define PS_LIB_FIB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/parse.h"

/* Our own names: the 6.1 uapi headers lack the newer flags and the tbid field. */
#define PS_FIB_LOOKUP_DIRECT (1U << 0)
#define PS_FIB_LOOKUP_SKIP_NEIGH (1U << 2)
#define PS_FIB_LOOKUP_TBID (1U << 3)
#define PS_FIB_FLAGS (PS_FIB_LOOKUP_DIRECT | PS_FIB_LOOKUP_TBID | PS_FIB_LOOKUP_SKIP_NEIGH)
#define PS_AF_INET 2
#define PS_AF_INET6 10

/* struct bpf_fib_lookup as of Linux 6.5 (the tbid union), same layout. */
struct ps_fib_params {
	__u8 family;
	__u8 l4_protocol;
	__be16 sport;
	__be16 dport;
	__u16 tot_len;
	__u32 ifindex;
	union {
		__u8 tos;
		__be32 flowinfo;
		__u32 rt_metric;
	};
	union {
		__be32 ipv4_src;
		__u32 ipv6_src[4];
	};
	union {
		__be32 ipv4_dst;
		__u32 ipv6_dst[4];
	};
	union {
		struct {
			__be16 h_vlan_proto;
			__be16 h_vlan_tci;
		};
		__u32 tbid;
	};
	__u8 smac[6];
	__u8 dmac[6];
};
_Static_assert(sizeof(struct ps_fib_params) == 64, "struct bpf_fib_lookup layout");

/* The forwarding the stack would have done: one hop less. */
static __always_inline void ps_decrement_ttl(struct __sk_buff *skb, const struct ps_pkt *pkt)
{
	__u8 ttl = pkt->ttl - 1;

	if (pkt->family == PS_FAMILY_IPV4) {
		__be16 old_word = bpf_htons((__u16)pkt->ttl << 8 | pkt->proto);
		__be16 new_word = bpf_htons((__u16)ttl << 8 | pkt->proto);

		bpf_l3_csum_replace(skb, pkt->l3_off + 10, old_word, new_word, 2);
		bpf_skb_store_bytes(skb, pkt->l3_off + 8, &ttl, 1, 0);
	} else {
		bpf_skb_store_bytes(skb, pkt->l3_off + 7, &ttl, 1, 0);
	}
}

/*
 * Returns the ifindex redirected to (> 0), or minus the reason (a ps_gcnt) the
 * packet falls back to its mark. Not inlined: its lookup parameters then live
 * in its own frame, not in the pipeline's beside the classifier's (the
 * verifier allows 512 bytes for a chain of calls).
 */
static __noinline long ps_redirect(struct __sk_buff *skb, const struct ps_pkt *pkt,
				   const struct ps_uplink *up, __u32 features)
{
	struct ps_fib_params p = {};
	struct bpf_redir_neigh nh = {};
	long rc;

	if (!(features & PS_FEAT_FIB_TBID)) {
		return -(long)PS_GCNT_FB_NO_FEATURE;
	}
	if (pkt->vlan || skb->vlan_present) {
		return -(long)PS_GCNT_FB_VLAN;
	}
	if (pkt->ttl <= 1) {
		return -(long)PS_GCNT_FB_TTL;
	}
	p.l4_protocol = pkt->proto;
	p.sport = pkt->sport;
	p.dport = pkt->dport;
	p.ifindex = skb->ingress_ifindex;
	p.tbid = READ_ONCE(up->table);
	if (pkt->family == PS_FAMILY_IPV4) {
		p.family = PS_AF_INET;
		p.tos = pkt->tos;
		p.ipv4_src = pkt->saddr[0];
		p.ipv4_dst = pkt->daddr[0];
	} else {
		p.family = PS_AF_INET6;
		__builtin_memcpy(p.ipv6_src, pkt->saddr, sizeof(p.ipv6_src));
		__builtin_memcpy(p.ipv6_dst, pkt->daddr, sizeof(p.ipv6_dst));
	}
	/* tot_len 0: the kernel checks the skb itself against the egress MTU
	 * (GSO-aware), answering FRAG_NEEDED when it does not fit. */
	rc = bpf_fib_lookup(skb, (struct bpf_fib_lookup *)&p, sizeof(p), PS_FIB_FLAGS);
	if (rc < 0) {
		return -(long)PS_GCNT_FB_FIB_ERROR;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		return -(long)(PS_GCNT_FB_FIB + (rc > PS_FIB_RET_MAX ? PS_FIB_RET_MAX : rc));
	}
	/* The lookup left the gateway (or the destination, when on-link) in *_dst. */
	nh.nh_family = p.family;
	if (p.family == PS_AF_INET)
		nh.ipv4_nh = p.ipv4_dst;
	else
		__builtin_memcpy(nh.ipv6_nh, p.ipv6_dst, sizeof(nh.ipv6_nh));
	if (bpf_redirect_neigh(p.ifindex, &nh, sizeof(nh), 0) != TC_ACT_REDIRECT) {
		return -(long)PS_GCNT_FB_REDIRECT;
	}
	ps_decrement_ttl(skb, pkt);
	return p.ifindex;
}

#endif /* PS_LIB_FIB_H */
