/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-packet pipeline of the TC classifier (see classifier.bpf.c): parse,
 * flow table, classification, member choice, mark or redirect.
 */
#ifndef PS_LIB_STEER_H
#define PS_LIB_STEER_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/compiler.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/classify.h"
#include "lib/flow.h"
#include "lib/fib.h"

/* Benchmark variants (classifier_bench.bpf.c only; never in the product). */
#define PS_BENCH_FRESH (1U << 0)     /* every packet is a new flow (random ports in the key) */
#define PS_BENCH_NO_INSERT (1U << 1) /* new flows' entries not written */
#define PS_BENCH_FORGET (1U << 2)    /* a found entry is ignored: classified, written anew */
#define PS_BENCH_STALE (1U << 3)     /* a found entry looks classified in an older epoch */

struct ps_verdict {
	__u32 class_id;
	__u32 uplink_id;
	__u32 redirect;
	__u32 reason;
	__u32 established;
};

/* Test runs for explain: report, but leave the flow table as it was. */
static __always_inline int ps_dry(const struct __sk_buff *skb)
{
	return skb->cb[4] == PS_SIM_DRY_MAGIC;
}

static __always_inline int ps_finish(struct __sk_buff *skb, const struct ps_verdict *vd, int ret)
{
	if (skb->cb[4] == PS_SIM_MAGIC || skb->cb[4] == PS_SIM_DRY_MAGIC) {
		skb->cb[PS_SIM_CB_CLASS] = vd->class_id;
		skb->cb[PS_SIM_CB_UPLINK] = vd->uplink_id;
		skb->cb[PS_SIM_CB_REDIRECT] = vd->redirect;
		skb->cb[PS_SIM_CB_REASON] = vd->reason;
		skb->cb[4] = vd->established ? PS_SIM_OUT_ESTABLISHED : PS_SIM_OUT_NEW;
	}
	return ret;
}

static __always_inline const struct ps_uplink *ps_uplink(__u32 act_gen, __u32 id)
{
	__u32 key = act_gen * PS_MAX_UPLINKS + (id & (PS_MAX_UPLINKS - 1));

	return bpf_map_lookup_elem(&ps_upl_v4, &key);
}

static __always_inline const struct ps_class *ps_class(__u32 act_gen, __u32 id)
{
	__u32 key = act_gen * PS_MAX_CLASSES + (id & (PS_MAX_CLASSES - 1));

	if (id >= PS_MAX_CLASSES)
		return NULL;
	return bpf_map_lookup_elem(&ps_cls_v4, &key);
}

static __always_inline int ps_uplink_live(const struct ps_uplink *up)
{
	return up && (READ_ONCE(up->flags) & PS_UPLINK_F_LIVE);
}

/* Counts a packet, except in explain's dry runs (they report, nothing more). */
#define PS_COUNT(map, index)                                                                       \
	do {                                                                                       \
		if (!dry)                                                                          \
			ps_count(&(map), (index), skb->len);                                       \
	} while (0)

/*
 * The whole per-packet pipeline. `bench` is a compile-time constant: 0 in the
 * product program (classifier.bpf.c), so every PS_BENCH_* branch is compiled
 * out; the benchmark object (classifier_bench.bpf.c) builds one program per
 * variant from this same code.
 */
static __always_inline int ps_steer(struct __sk_buff *skb, const __u32 bench)
{
	struct ps_verdict vd = {.class_id = PS_NO_CLASS, .uplink_id = PS_NO_UPLINK};
	__u32 zero = 0, state, gen, act_gen, epoch, mask, salt = 0;
	const struct ps_config *cfg;
	const struct ps_act_info *ai;
	const struct ps_class *cls = NULL;
	const struct ps_uplink *up = NULL;
	union ps_flow_key key = {};
	struct ps_pkt pkt = {};
	struct ps_flow *fl, *entry, nf;
	struct ps_flow_state st = {};
	struct ps_fcache_slot *sl;
	const int dry = ps_dry(skb);
	__u64 now;
	int res;

	res = ps_parse(skb, &pkt);
	if (res == PS_PARSE_NOT_IP) {
		PS_COUNT(ps_gcnt_v4, PS_GCNT_NOT_IP);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	if (res != PS_PARSE_OK) {
		PS_COUNT(ps_gcnt_v4, PS_GCNT_PARSE_ERROR);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	if (pkt.fragment)
		PS_COUNT(ps_gcnt_v4, PS_GCNT_FRAGMENT);
	if (pkt.ports_unknown)
		PS_COUNT(ps_gcnt_v4, PS_GCNT_NO_PORTS);
	if (pkt.ip_options)
		PS_COUNT(ps_gcnt_v4, PS_GCNT_IP_OPTIONS);
	if (pkt.vlan)
		PS_COUNT(ps_gcnt_v4, PS_GCNT_VLAN);
	/* Never routed, so never steered: no class, no flow entry (a LAN's
	 * multicast chatter would otherwise fill its sources' flow quota) and no
	 * redirect (a hop limit of 1 counted as a redirect fallback). */
	if (ps_link_scope_dst(&pkt)) {
		PS_COUNT(ps_gcnt_v4, PS_GCNT_LINK_SCOPE);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}

	cfg = bpf_map_lookup_elem(&ps_cfg_v4, &zero);
	if (!cfg)
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	/* The one word a flip changes; everything else is per half. */
	state = READ_ONCE(cfg->state);
	gen = PS_STATE_RULE_GEN(state);
	act_gen = PS_STATE_ACT_GEN(state);
	epoch = PS_STATE_EPOCH(state);
	ai = &cfg->act[act_gen];
	if (bench & PS_BENCH_FRESH)
		salt = bpf_get_prandom_u32();

	now = bpf_jiffies64();
	ps_flow_key(&pkt, &key, salt);

	/* Established, the common case: the per-CPU copy (lib/flow.h) when it
	 * is as good as the LRU entry; dry runs read only the LRU table. */
	sl = dry ? NULL : ps_fcache_slot(&key);
	if (sl && !(bench & (PS_BENCH_FORGET | PS_BENCH_STALE)) &&
	    ps_fcache_match(sl, &key, pkt.family) && sl->epoch == epoch &&
	    now - sl->last_seen <= READ_ONCE(ai->touch_jiffies) &&
	    now - sl->last_seen <= READ_ONCE(ai->flow_idle_jiffies)) {
		vd.class_id = sl->class_id;
		vd.uplink_id = sl->uplink_id;
		vd.established = 1;
		if (vd.uplink_id == PS_NO_UPLINK)
			goto established;
		up = ps_uplink(act_gen, vd.uplink_id);
		if (ps_uplink_live(up))
			goto established;
		/* Cannot happen within an epoch; the LRU path decides. */
		vd.established = 0;
		up = NULL;
	}

	fl = ps_flow_lookup(&pkt, &key);
	if (bench & PS_BENCH_FORGET)
		fl = NULL;
	entry = fl;
	if (fl && now - READ_ONCE(fl->last_seen) > READ_ONCE(ai->flow_idle_jiffies)) {
		PS_COUNT(ps_gcnt_v4, PS_GCNT_FLOW_EXPIRED);
		fl = NULL;
	}
	PS_BARRIER_VAR(fl);
	if (fl)
		st = ps_flow_state_read(fl);
	if (bench & PS_BENCH_STALE)
		st.epoch = epoch - 1;
	if (fl && st.epoch == epoch) {
		/* Established: no classification. */
		vd.class_id = st.class_id;
		vd.uplink_id = st.uplink_id;
		vd.established = 1;
		if (vd.uplink_id != PS_NO_UPLINK) {
			up = ps_uplink(act_gen, vd.uplink_id);
			if (!ps_uplink_live(up)) {
				/* Its uplink went down: choose again among the live members. */
				cls = ps_class(act_gen, vd.class_id);
				vd.uplink_id =
				    cls ? ps_pick_member(cls, vd.class_id, &pkt,
							 ps_flow_hash(&key, pkt.family), now, dry)
					: PS_NO_UPLINK;
				up = vd.uplink_id != PS_NO_UPLINK ? ps_uplink(act_gen, vd.uplink_id)
								  : NULL;
				if (!dry)
					ps_flow_state_write(fl, epoch, vd.class_id, vd.uplink_id);
				PS_COUNT(ps_gcnt_v4, PS_GCNT_FLOW_RECHOSEN);
			}
		} else {
			cls = ps_class(act_gen, vd.class_id);
		}
		if (now - fl->last_seen > READ_ONCE(ai->touch_jiffies) && !dry)
			fl->last_seen = now;
		if (sl)
			ps_fcache_fill(sl, &key, pkt.family, READ_ONCE(fl->last_seen), epoch,
				       vd.class_id, vd.uplink_id);
	established:
		PS_COUNT(ps_gcnt_v4, PS_GCNT_FLOW_HIT);
	} else {
		__u32 keep = fl ? st.uplink_id : PS_NO_UPLINK;

		vd.class_id = ps_classify(skb, &pkt, gen, READ_ONCE(cfg->gen[gen].fields));
		cls = ps_class(act_gen, vd.class_id);
		if (cls && (READ_ONCE(cls->flags) & PS_CLASS_F_SET_MARK) &&
		    READ_ONCE(cls->member_count)) {
			/* Sticky: a flow seen before keeps its uplink while it is live. */
			up = keep != PS_NO_UPLINK ? ps_uplink(act_gen, keep) : NULL;
			if (ps_uplink_live(up)) {
				vd.uplink_id = keep;
				vd.established = 1;
			} else {
				if (keep != PS_NO_UPLINK)
					PS_COUNT(ps_gcnt_v4, PS_GCNT_FLOW_RECHOSEN);
				vd.uplink_id =
				    ps_pick_member(cls, vd.class_id, &pkt,
						   ps_flow_hash(&key, pkt.family), now, dry);
				up = vd.uplink_id != PS_NO_UPLINK ? ps_uplink(act_gen, vd.uplink_id)
								  : NULL;
			}
		}
		PS_COUNT(ps_gcnt_v4, fl ? PS_GCNT_FLOW_RECLASS : PS_GCNT_FLOW_NEW);
		if (dry || (bench & PS_BENCH_NO_INSERT)) {
			/* explain, benchmarks: nothing written */
		} else if (entry) {
			/*
			 * Reclassified or expired: rewrite the entry in place. An
			 * LRU update would pop a new node and free the old one
			 * (~+185 ns), for every active flow after each flip. The
			 * epoch, class and uplink change in one 64-bit store
			 * (lib/flow.h), so another CPU sees the old entry or the
			 * new one.
			 */
			WRITE_ONCE(entry->last_seen, now);
			ps_flow_state_write(entry, epoch, vd.class_id, vd.uplink_id);
		} else if (!ps_src_admit(&pkt, READ_ONCE(ai->flow_quota), now,
					 READ_ONCE(ai->flow_idle_jiffies))) {
			/* Over its share of the table: steered, not pinned. */
			PS_COUNT(ps_gcnt_v4, PS_GCNT_OVER_QUOTA);
		} else {
			nf.last_seen = now;
			nf.epoch = epoch;
			nf.class_id = vd.class_id;
			nf.uplink_id = vd.uplink_id;
			if (ps_flow_update(&pkt, &key, &nf) != 0)
				PS_COUNT(ps_gcnt_v4, PS_GCNT_FLOW_FULL);
		}
	}

	if (vd.class_id >= PS_MAX_CLASSES) {
		PS_COUNT(ps_gcnt_v4, PS_GCNT_UNCLASSIFIED);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	PS_COUNT(ps_ccnt_v4, vd.class_id);
	mask = READ_ONCE(ai->mark_mask);

	if (up && vd.uplink_id != PS_NO_UPLINK) {
		long ret;

		PS_COUNT(ps_ucnt_v4, vd.uplink_id);
		skb->mark = (skb->mark & ~mask) | (READ_ONCE(up->mark) & mask);
		if (READ_ONCE(ai->mode) != PS_MODE_REDIRECT)
			return ps_finish(skb, &vd, TC_ACT_UNSPEC);
		ret = ps_redirect(skb, &pkt, up, READ_ONCE(cfg->features));
		if (ret > 0) {
			vd.redirect = ret;
			PS_COUNT(ps_gcnt_v4, PS_GCNT_REDIRECTED);
			return ps_finish(skb, &vd, TC_ACT_REDIRECT);
		}
		vd.reason = -ret;
		PS_COUNT(ps_gcnt_v4, vd.reason);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	vd.uplink_id = PS_NO_UPLINK;
	if (!cls)
		cls = ps_class(act_gen, vd.class_id);
	if (cls && (READ_ONCE(cls->flags) & PS_CLASS_F_SET_MARK)) {
		/* No live member (last_resort) or a class with a fixed mark. */
		PS_COUNT(ps_gcnt_v4, PS_GCNT_NO_MEMBER);
		skb->mark = (skb->mark & ~mask) | (READ_ONCE(cls->mark) & mask);
	}
	return ps_finish(skb, &vd, TC_ACT_UNSPEC);
}

#endif /* PS_LIB_STEER_H */
