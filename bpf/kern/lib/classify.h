/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Classification without a rule scan (Linear Bit Vector Search): one lookup
 * per field in use gives the bitmap of rules that field admits; the first set
 * bit of their AND is the first matching rule in policy order. The cost is a
 * fixed number of lookups plus at most PS_BM_WORDS word ANDs, whatever the
 * number of rules and prefixes; each bitmap's summary word (`nonzero`, as in
 * Baboescu and Varghese's Aggregated Bit Vectors) skips the words where some
 * field admits no rule, so usually one or two words are ANDed.
 */
#ifndef PS_LIB_CLASSIFY_H
#define PS_LIB_CLASSIFY_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/dns_match.h"

#define PS_BM_ALL 0  /* every rule of the generation */
#define PS_BM_NONE 1 /* no rule: an LPM miss */

static __always_inline const struct ps_bitmap *ps_bitmap(__u32 gen, __u32 index)
{
	__u32 key = gen * PS_MAX_BITMAPS + (index & (PS_MAX_BITMAPS - 1));

	return bpf_map_lookup_elem(&ps_bits_v3, &key);
}

static __always_inline __u32 ps_array_index(void *map, __u32 key)
{
	const __u32 *v = bpf_map_lookup_elem(map, &key);

	return v ? *v : PS_BM_NONE;
}

/* Separate call sites per trie (see ps_flow_lookup): direct calls, not the
 * generic helper. */
static __always_inline __u32 ps_prefix4_index(void *map, __u32 gen, __u32 addr)
{
	struct ps_lpm4_key k = {.prefixlen = 64, .gen = gen, .addr = addr};
	const __u32 *v = bpf_map_lookup_elem(map, &k);

	return v ? *v : PS_BM_NONE;
}

static __always_inline __u32 ps_prefix6_index(void *map, __u32 gen, const __u32 *addr)
{
	struct ps_lpm6_key k = {.prefixlen = 160, .gen = gen};
	const __u32 *v;

	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	v = bpf_map_lookup_elem(map, &k);
	return v ? *v : PS_BM_NONE;
}

/* Index of the lowest set bit of a non-zero v (BPF has no ctz instruction):
 * the population count of the bits below it. Branch-free, so the verifier
 * walks one path through it, not one per bit. */
static __always_inline __u32 ps_ctz64(__u64 v)
{
	__u64 x = (v & -v) - 1;

	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56);
}

/* A field not in use keeps its bitmap at PS_BM_ALL (a no-op in the AND). */
#define PS_FIELD_BITMAP(var, field, index_expr)                                                    \
	do {                                                                                       \
		if (fields & (field)) {                                                            \
			var = ps_bitmap(gen, (index_expr));                                        \
			if (!var)                                                                  \
				return PS_NO_CLASS;                                                \
		}                                                                                  \
	} while (0)

/* Returns the class id of the first rule of generation gen that matches, or
 * PS_NO_CLASS. */
static __always_inline __u32 ps_classify(struct __sk_buff *skb, const struct ps_pkt *pkt, __u32 gen,
					 const struct ps_gen_info *gi)
{
	const struct ps_bitmap *all, *b_iif, *b_src, *b_dst, *b_proto, *b_sport, *b_dport, *b_dscp;
	__u32 fields = READ_ONCE(gi->fields);
	__u32 i, w;
	__u64 cand;

	all = ps_bitmap(gen, PS_BM_ALL);
	if (!all)
		return PS_NO_CLASS;
	b_iif = b_src = b_dst = b_proto = b_sport = b_dport = b_dscp = all;

	if (fields & PS_FIELD_IIF) {
		/* An array (inlined, no call) for the usual small ifindexes; the
		 * hash only for the rest. */
		__u32 ifindex = skb->ingress_ifindex, b;

		if (ifindex < PS_IIF_SLOTS) {
			b = ps_array_index(&ps_iifa_v3, gen * PS_IIF_SLOTS + ifindex);
		} else {
			struct ps_iif_key key = {.gen = gen, .ifindex = ifindex};
			const __u32 *v = bpf_map_lookup_elem(&ps_iif_v3, &key);

			b = v ? *v : READ_ONCE(gi->iif_default);
		}
		b_iif = ps_bitmap(gen, b);
		if (!b_iif)
			return PS_NO_CLASS;
	}
	if (pkt->family == PS_FAMILY_IPV4) {
		PS_FIELD_BITMAP(b_src, PS_FIELD_SRC,
				ps_prefix4_index(&ps_src4_v3, gen, pkt->saddr[0]));
		PS_FIELD_BITMAP(
		    b_dst, PS_FIELD_DST,
		    ps_dns_dst_index(gen, pkt, ps_prefix4_index(&ps_dst4_v3, gen, pkt->daddr[0])));
	} else {
		PS_FIELD_BITMAP(b_src, PS_FIELD_SRC,
				ps_prefix6_index(&ps_src6_v3, gen, pkt->saddr));
		PS_FIELD_BITMAP(
		    b_dst, PS_FIELD_DST,
		    ps_dns_dst_index(gen, pkt, ps_prefix6_index(&ps_dst6_v3, gen, pkt->daddr)));
	}
	PS_FIELD_BITMAP(b_proto, PS_FIELD_PROTO,
			ps_array_index(&ps_proto_v3, gen * 256 + pkt->proto));
	PS_FIELD_BITMAP(b_dscp, PS_FIELD_DSCP,
			ps_array_index(&ps_dscp_v3, gen * 64 + (pkt->dscp & 63)));
	PS_FIELD_BITMAP(b_sport, PS_FIELD_SPORT,
			ps_array_index(&ps_sport_v3,
				       gen * PS_PORT_SLOTS + (pkt->has_ports ? bpf_ntohs(pkt->sport)
									     : PS_PORT_NONE)));
	PS_FIELD_BITMAP(b_dport, PS_FIELD_DPORT,
			ps_array_index(&ps_dport_v3,
				       gen * PS_PORT_SLOTS + (pkt->has_ports ? bpf_ntohs(pkt->dport)
									     : PS_PORT_NONE)));

	/* Aggregated bit vectors: only words non-zero in every field's bitmap
	 * can hold a match, usually one or two of the PS_BM_WORDS. */
	cand = all->nonzero & b_iif->nonzero & b_src->nonzero & b_dst->nonzero & b_proto->nonzero &
	       b_dscp->nonzero & b_sport->nonzero & b_dport->nonzero;
	for (i = 0; i < PS_BM_WORDS; i++) {
		__u64 v;

		if (!cand)
			break;
		w = ps_ctz64(cand) & (PS_BM_WORDS - 1);
		cand &= cand - 1;
		v = all->w[w] & b_iif->w[w] & b_src->w[w] & b_dst->w[w] & b_proto->w[w] &
		    b_dscp->w[w] & b_sport->w[w] & b_dport->w[w];
		if (v) {
			__u32 key = gen * PS_MAX_RULES + w * 64 + ps_ctz64(v);
			const __u32 *cls = bpf_map_lookup_elem(&ps_rcls_v3, &key);

			return cls ? *cls : PS_NO_CLASS;
		}
	}
	return PS_NO_CLASS;
}

#endif /* PS_LIB_CLASSIFY_H */
