/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pathsteer TC classifier (clsact ingress, direct action).
 *
 * Parses the packet; a live flow entry of the current epoch gives its uplink
 * at once; otherwise the packet is classified (lib/classify.h), its class
 * picks an uplink (sticky: a flow keeps a live uplink across policy changes;
 * with source affinity a new flow follows its source's previous one) and the
 * flow entry is written. Mark mode sets the owned skb->mark bits;
 * redirect mode also forwards to the uplink's next hop (lib/fib.h), falling
 * back to the mark. Never drops; never modifies a packet it cannot parse or
 * classify.
 *
 * Every non-redirect path returns TC_ACT_UNSPEC, not TC_ACT_OK: on clsact, OK
 * ends the filter chain, while UNSPEC lets filters of other tenants at later
 * priorities still see the packet (with no further filter it passes).
 */
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

	return bpf_map_lookup_elem(&ps_upl_v3, &key);
}

static __always_inline const struct ps_class *ps_class(__u32 act_gen, __u32 id)
{
	__u32 key = act_gen * PS_MAX_CLASSES + (id & (PS_MAX_CLASSES - 1));

	if (id >= PS_MAX_CLASSES)
		return NULL;
	return bpf_map_lookup_elem(&ps_cls_v3, &key);
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

SEC("tc")
int ps_classifier(struct __sk_buff *skb)
{
	struct ps_verdict vd = {.class_id = PS_NO_CLASS, .uplink_id = PS_NO_UPLINK};
	__u32 zero = 0, flags, state, gen, act_gen, epoch, mask, salt = 0;
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
		PS_COUNT(ps_gcnt_v3, PS_GCNT_NOT_IP);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	if (res != PS_PARSE_OK) {
		PS_COUNT(ps_gcnt_v3, PS_GCNT_PARSE_ERROR);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	if (pkt.fragment)
		PS_COUNT(ps_gcnt_v3, PS_GCNT_FRAGMENT);
	if (pkt.ports_unknown)
		PS_COUNT(ps_gcnt_v3, PS_GCNT_NO_PORTS);
	if (pkt.ip_options)
		PS_COUNT(ps_gcnt_v3, PS_GCNT_IP_OPTIONS);
	if (pkt.vlan)
		PS_COUNT(ps_gcnt_v3, PS_GCNT_VLAN);

	cfg = bpf_map_lookup_elem(&ps_cfg_v3, &zero);
	if (!cfg)
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	/* The one word a flip changes; everything else is per half. */
	state = READ_ONCE(cfg->state);
	gen = PS_STATE_RULE_GEN(state);
	act_gen = PS_STATE_ACT_GEN(state);
	epoch = PS_STATE_EPOCH(state);
	ai = &cfg->act[act_gen];
	flags = READ_ONCE(cfg->flags);
	if (flags & PS_CFG_F_BENCH_FRESH_FLOW)
		salt = bpf_get_prandom_u32();

	now = bpf_jiffies64();
	ps_flow_key(&pkt, &key, salt);

	/* Established, the common case: the per-CPU copy (lib/flow.h) when it
	 * is as good as the LRU entry; dry runs read only the LRU table. */
	sl = dry ? NULL : ps_fcache_slot(&key);
	if (sl && !(flags & (PS_CFG_F_BENCH_FORGET | PS_CFG_F_BENCH_STALE)) &&
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
	if (flags & PS_CFG_F_BENCH_FORGET)
		fl = NULL;
	entry = fl;
	if (fl && now - READ_ONCE(fl->last_seen) > READ_ONCE(ai->flow_idle_jiffies)) {
		PS_COUNT(ps_gcnt_v3, PS_GCNT_FLOW_EXPIRED);
		fl = NULL;
	}

	if (fl)
		st = ps_flow_state_read(fl);
	if (flags & PS_CFG_F_BENCH_STALE)
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
				PS_COUNT(ps_gcnt_v3, PS_GCNT_FLOW_RECHOSEN);
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
		PS_COUNT(ps_gcnt_v3, PS_GCNT_FLOW_HIT);
	} else {
		__u32 keep = fl ? st.uplink_id : PS_NO_UPLINK;

		vd.class_id = ps_classify(skb, &pkt, gen, &cfg->gen[gen]);
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
					PS_COUNT(ps_gcnt_v3, PS_GCNT_FLOW_RECHOSEN);
				vd.uplink_id =
				    ps_pick_member(cls, vd.class_id, &pkt,
						   ps_flow_hash(&key, pkt.family), now, dry);
				up = vd.uplink_id != PS_NO_UPLINK ? ps_uplink(act_gen, vd.uplink_id)
								  : NULL;
			}
		}
		PS_COUNT(ps_gcnt_v3, fl ? PS_GCNT_FLOW_RECLASS : PS_GCNT_FLOW_NEW);
		if (dry || (flags & PS_CFG_F_BENCH_NO_INSERT)) {
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
		} else {
			nf.last_seen = now;
			nf.epoch = epoch;
			nf.class_id = vd.class_id;
			nf.uplink_id = vd.uplink_id;
			if (ps_flow_update(&pkt, &key, &nf) != 0)
				PS_COUNT(ps_gcnt_v3, PS_GCNT_FLOW_FULL);
		}
	}

	if (vd.class_id >= PS_MAX_CLASSES) {
		PS_COUNT(ps_gcnt_v3, PS_GCNT_UNCLASSIFIED);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	PS_COUNT(ps_ccnt_v3, vd.class_id);
	mask = READ_ONCE(ai->mark_mask);

	if (up && vd.uplink_id != PS_NO_UPLINK) {
		int ret;

		PS_COUNT(ps_ucnt_v3, vd.uplink_id);
		skb->mark = (skb->mark & ~mask) | (READ_ONCE(up->mark) & mask);
		if (READ_ONCE(ai->mode) != PS_MODE_REDIRECT)
			return ps_finish(skb, &vd, TC_ACT_UNSPEC);
		ret =
		    ps_redirect(skb, &pkt, up, READ_ONCE(cfg->features), &vd.redirect, &vd.reason);
		if (ret == TC_ACT_REDIRECT) {
			PS_COUNT(ps_gcnt_v3, PS_GCNT_REDIRECTED);
			return ps_finish(skb, &vd, TC_ACT_REDIRECT);
		}
		PS_COUNT(ps_gcnt_v3, vd.reason);
		return ps_finish(skb, &vd, TC_ACT_UNSPEC);
	}
	vd.uplink_id = PS_NO_UPLINK;
	if (!cls)
		cls = ps_class(act_gen, vd.class_id);
	if (cls && (READ_ONCE(cls->flags) & PS_CLASS_F_SET_MARK)) {
		/* No live member (last_resort) or a class with a fixed mark. */
		PS_COUNT(ps_gcnt_v3, PS_GCNT_NO_MEMBER);
		skb->mark = (skb->mark & ~mask) | (READ_ONCE(cls->mark) & mask);
	}
	return ps_finish(skb, &vd, TC_ACT_UNSPEC);
}

/*
 * Feature probe, run once by the loader through BPF_PROG_TEST_RUN: returns 1
 * when bpf_fib_lookup accepts a table id (Linux 6.5+), 0 when the kernel
 * rejects the flags (-EINVAL). Never attached.
 */
SEC("tc")
int ps_probe_fib_tbid(struct __sk_buff *skb)
{
	struct ps_fib_params p = {
	    .family = PS_AF_INET,
	    .ifindex = 1,
	    .ipv4_dst = bpf_htonl(0x7f000001),
	    .tbid = 255, /* local */
	};
	long rc = bpf_fib_lookup(skb, (struct bpf_fib_lookup *)&p, sizeof(p), PS_FIB_FLAGS);

	return rc == -22 /* EINVAL */ ? 0 : 1;
}

/* Run twice by the loader, some time apart: jiffies per second (HZ). */
SEC("tc")
int ps_probe_jiffies(struct __sk_buff *skb)
{
	return (__u32)bpf_jiffies64();
}

/* DNS learning on LAN egress (issue 17): its own program, maps and counters. */
#include "lib/dns_learn.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
