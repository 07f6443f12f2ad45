/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Classification without a rule scan (Linear Bit Vector Search): for every
 * field in use, the rules it admits for the packet's value are the field's
 * free rules (dense, ps_free_v4) OR the rules listing the value (a sparse
 * bitmap named by the field's lookup map); the first set bit of the AND over
 * the fields is the first matching rule in policy order. Two summary levels
 * (`top`: which summary words; `summary`: which words) name the only words
 * that can hold a match, so a packet ANDs one or two of the PS_BM_WORDS words
 * whatever the number of rules and prefixes (docs/DATAPLANE.md).
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

#define PS_BM_NONE 0 /* the empty listed set: a miss, or a value no rule lists */

static __always_inline const struct ps_bitmap *ps_listed(__u32 gen, __u32 index)
{
	__u32 key = gen * PS_MAX_BITMAPS + (index & (PS_MAX_BITMAPS - 1));

	return bpf_map_lookup_elem(&ps_bmh_v4, &key);
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

/* Population count (BPF has no instruction for it). Branch-free, so the
 * verifier walks one path through it, not one per bit. */
static __always_inline __u32 ps_popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56);
}

/* Index of the lowest set bit of a non-zero v. */
static __always_inline __u32 ps_ctz64(__u64 v)
{
	return ps_popcount64((v & -v) - 1);
}

/* Where word w of a sparse bitmap (struct ps_bitmap) is stored, if its
 * summary bit is set (otherwise the word is 0 and the slot another's). */
static __always_inline const __u64 *ps_listed_slot(const struct ps_bitmap *b, __u32 gen, __u32 w)
{
	__u32 s = (w >> 6) & (PS_BM_SUMMARY - 1);
	__u64 below = b->summary[s] & ((1ULL << (w & 63)) - 1);
	__u32 key = b->base + b->rank[s] + ps_popcount64(below);

	key = gen * PS_MAX_BM_WORDS + (key & (PS_MAX_BM_WORDS - 1));
	return bpf_map_lookup_elem(&ps_bmw_v4, &key);
}

/*
 * The dst side: the rules listing a prefix that holds the destination, or,
 * for a destination learned from a DNS answer, that set plus the rules naming
 * the address's domain (one bitmap the loader interned for the pair; see
 * lib/dns_match.h).
 */
static __always_inline __u32 ps_dst_listed(const struct ps_pkt *pkt, __u32 gen)
{
	if (pkt->family == PS_FAMILY_IPV4)
		return ps_dns_dst_index(gen, pkt,
					ps_prefix4_index(&ps_dst4_v4, gen, pkt->daddr[0]));
	return ps_dns_dst_index(gen, pkt, ps_prefix6_index(&ps_dst6_v4, gen, pkt->daddr));
}

static __always_inline __u32 ps_src_listed(const struct ps_pkt *pkt, __u32 gen)
{
	if (pkt->family == PS_FAMILY_IPV4)
		return ps_prefix4_index(&ps_src4_v4, gen, pkt->saddr[0]);
	return ps_prefix6_index(&ps_src6_v4, gen, pkt->saddr);
}

static __always_inline __u32 ps_iif_listed(struct __sk_buff *skb, __u32 gen)
{
	/* An array (inlined, no call) for the usual small ifindexes; the hash
	 * only for the rest. */
	__u32 ifindex = skb->ingress_ifindex;
	struct ps_iif_key key = {.gen = gen};
	const __u32 *v;

	if (ifindex < PS_IIF_SLOTS)
		return ps_array_index(&ps_iifa_v4, gen * PS_IIF_SLOTS + ifindex);
	key.ifindex = ifindex;
	v = bpf_map_lookup_elem(&ps_iif_v4, &key);
	return v ? *v : PS_BM_NONE;
}

/* Each field's listed bitmap for the packet (idx[PS_F_*]; fields not in use
 * are left 0). Not inlined: the lookup keys live in its own frame. */
static __noinline void ps_lookup_fields(struct __sk_buff *skb, const struct ps_pkt *pkt, __u32 gen,
					__u32 fields, __u16 *idx)
{
	if (fields & PS_FIELD_IIF)
		idx[PS_F_IIF] = ps_iif_listed(skb, gen);
	if (fields & PS_FIELD_SRC)
		idx[PS_F_SRC] = ps_src_listed(pkt, gen);
	if (fields & PS_FIELD_DST)
		idx[PS_F_DST] = ps_dst_listed(pkt, gen);
	if (fields & PS_FIELD_PROTO)
		idx[PS_F_PROTO] = ps_array_index(&ps_proto_v4, gen * 256 + pkt->proto);
	if (fields & PS_FIELD_DSCP)
		idx[PS_F_DSCP] = ps_array_index(&ps_dscp_v4, gen * 64 + (pkt->dscp & 63));
	if (fields & PS_FIELD_SPORT)
		idx[PS_F_SPORT] = ps_array_index(
		    &ps_sport_v4,
		    gen * PS_PORT_SLOTS + (pkt->has_ports ? bpf_ntohs(pkt->sport) : PS_PORT_NONE));
	if (fields & PS_FIELD_DPORT)
		idx[PS_F_DPORT] = ps_array_index(
		    &ps_dport_v4,
		    gen * PS_PORT_SLOTS + (pkt->has_ports ? bpf_ntohs(pkt->dport) : PS_PORT_NONE));
}

/* The state of the walk over candidate words (bpf_loop's context). */
struct ps_scan {
	__u64 cand[PS_BM_SUMMARY]; /* candidate words not yet ANDed */
	__u16 idx[PS_FIELDS];	   /* each field's listed bitmap (< PS_MAX_BITMAPS) */
	__u32 gen;
	__u32 rule; /* the first matching rule; PS_MAX_RULES: none */
};

/*
 * One candidate word: the lowest not yet ANDed. A bpf_loop callback, so the
 * verifier checks one word's work, not 256 unrolled iterations of it (an
 * open-coded loop over words and fields went past its 1M-instruction limit);
 * the kernel inlines bpf_loop into a plain loop.
 */
static long ps_scan_word(__u64 n, void *ctx)
{
	struct ps_scan *sc = ctx;
	__u32 f, s, w, gen = sc->gen & 1;
	const struct ps_free_bitmaps *fr = bpf_map_lookup_elem(&ps_free_v4, &gen);
	__u64 v = ~0ULL, c;

	if (!fr)
		return 1;
	if (sc->cand[0])
		s = 0;
	else if (sc->cand[1])
		s = 1;
	else if (sc->cand[2])
		s = 2;
	else if (sc->cand[3])
		s = 3;
	else
		return 1; /* no candidate left: no match */
	c = sc->cand[s & (PS_BM_SUMMARY - 1)];
	w = (s * 64 + ps_ctz64(c)) & (PS_BM_WORDS - 1);
	sc->cand[s & (PS_BM_SUMMARY - 1)] = c & (c - 1);
	for (f = 0; f < PS_FIELDS; f++) {
		const struct ps_bitmap *l = ps_listed(gen, sc->idx[f]);
		__u64 word = fr->w[f][w];

		if (!l)
			return 1;
		/* Most listed sets hold a few rules: the sparse word only
		 * where one is stored. */
		if ((l->summary[s & (PS_BM_SUMMARY - 1)] >> (w & 63)) & 1) {
			const __u64 *slot = ps_listed_slot(l, gen, w);

			if (!slot)
				return 1;
			word |= *slot;
		}
		v &= word;
		if (!v)
			return 0; /* no rule of this word: the next candidate */
	}
	sc->rule = w * 64 + ps_ctz64(v);
	return 1;
}

/*
 * Returns the class id of the first rule of generation gen that matches, or
 * PS_NO_CLASS. A global BPF function: the verifier checks it once, not once
 * per path of the pipeline that reaches it (that went past the 1M-instruction
 * limit), and its frame is its own (seven live bitmap pointers inlined did not
 * fit the 512-byte stack). The fields are walked by index, their bitmaps
 * looked up again where used (an inlined array lookup). A first packet pays
 * one call.
 */
__noinline __u32 ps_classify(struct __sk_buff *skb, const struct ps_pkt *pkt, __u32 gen,
			     __u32 fields)
{
	struct ps_scan sc = {};
	const struct ps_free_bitmaps *fr;
	const struct ps_bitmap *l;
	__u32 f, s, top = (1U << PS_BM_SUMMARY) - 1;

	if (!pkt)
		return PS_NO_CLASS;
	gen &= 1;
	fr = bpf_map_lookup_elem(&ps_free_v4, &gen);
	if (!fr)
		return PS_NO_CLASS;
	ps_lookup_fields(skb, pkt, gen, fields, sc.idx);

	/* Every field takes part, without a branch (one per field would double
	 * the verifier's paths per field and word): a field no rule constrains
	 * has every rule in its free bitmap and bitmap 0 (no rule) listed. */
	/* Summaries: which words can hold a match. (With PS_BM_SUMMARY = 4
	 * summary words, ANDing all of them costs less than branching on the
	 * top level; the top level only masks them.) */
	for (s = 0; s < PS_BM_SUMMARY; s++)
		sc.cand[s] = ~0ULL;
#pragma clang loop unroll(disable)
	for (f = 0; f < PS_FIELDS; f++) {
		l = ps_listed(gen, sc.idx[f]);
		if (!l)
			return PS_NO_CLASS;
		top &= fr->top[f] | l->top;
		for (s = 0; s < PS_BM_SUMMARY; s++)
			sc.cand[s] &= fr->summary[f][s] | l->summary[s];
	}
	for (s = 0; s < PS_BM_SUMMARY; s++)
		if (!((top >> s) & 1))
			sc.cand[s] = 0;

	/* The candidate words in ascending order; the first non-zero AND has
	 * the first matching rule. */
	sc.gen = gen;
	sc.rule = PS_MAX_RULES;
	bpf_loop(PS_BM_WORDS, ps_scan_word, &sc, 0);
	if (sc.rule < PS_MAX_RULES) {
		__u32 key = gen * PS_MAX_RULES + sc.rule;
		const __u32 *cls = bpf_map_lookup_elem(&ps_rcls_v4, &key);

		return cls ? *cls : PS_NO_CLASS;
	}
	return PS_NO_CLASS;
}

#endif /* PS_LIB_CLASSIFY_H */
