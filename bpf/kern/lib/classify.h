/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Classification: first matching flattened rule of the active generation. */
#ifndef PS_LIB_CLASSIFY_H
#define PS_LIB_CLASSIFY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"

#define PS_NO_CLASS ((__u32)-1)

static __always_inline int ps_prefix_matches(const struct ps_prefix *p, const __u32 *addr)
{
	return ((addr[0] & p->mask[0]) == p->addr[0]) && ((addr[1] & p->mask[1]) == p->addr[1]) &&
	       ((addr[2] & p->mask[2]) == p->addr[2]) && ((addr[3] & p->mask[3]) == p->addr[3]);
}

static __always_inline int ps_rule_matches(const struct ps_rule *r, const struct ps_pkt *pkt)
{
	if (r->family != PS_FAMILY_ANY && r->family != pkt->family)
		return 0;
	if (r->proto != 0 && r->proto != pkt->proto)
		return 0;
	if (r->flags & PS_RULE_F_PORTS) {
		if (!pkt->has_ports)
			return 0;
		if (pkt->sport < r->sport_lo || pkt->sport > r->sport_hi)
			return 0;
		if (pkt->dport < r->dport_lo || pkt->dport > r->dport_hi)
			return 0;
	}
	return ps_prefix_matches(&r->src, pkt->saddr) && ps_prefix_matches(&r->dst, pkt->daddr);
}

struct ps_scan_ctx {
	const struct ps_pkt *pkt;
	__u32 base;	/* first rule index of the active generation */
	__u32 class_id; /* out: PS_NO_CLASS until a rule matches */
};

/* bpf_loop callback: the verifier checks the body once instead of unrolling
 * PS_MAX_RULES iterations. Returns 1 to stop the loop. */
static long ps_scan_rule(__u32 index, void *data)
{
	struct ps_scan_ctx *ctx = data;
	__u32 key = ctx->base + index;
	const struct ps_rule *r = bpf_map_lookup_elem(&ps_rules_v1, &key);

	if (!r)
		return 1;
	if (!ps_rule_matches(r, ctx->pkt))
		return 0;
	ctx->class_id = r->class_id;
	return 1;
}

/* Returns the class id of the first matching rule of generation gen, or
 * PS_NO_CLASS. */
static __always_inline __u32 ps_classify(const struct ps_pkt *pkt, __u32 gen, __u32 rule_count)
{
	struct ps_scan_ctx ctx = {
	    .pkt = pkt,
	    .base = gen * PS_MAX_RULES,
	    .class_id = PS_NO_CLASS,
	};

	if (rule_count > PS_MAX_RULES)
		rule_count = PS_MAX_RULES;
	bpf_loop(rule_count, ps_scan_rule, &ctx, 0);
	return ctx.class_id;
}

#endif /* PS_LIB_CLASSIFY_H */
