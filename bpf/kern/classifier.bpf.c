/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pathsteer TC classifier (clsact ingress, direct action).
 *
 * Parses the packet, finds its class (first matching rule of the active
 * generation) and applies the class's action to the owned skb->mark bits.
 * Never drops and never modifies a packet it cannot parse or classify.
 *
 * Every path returns TC_ACT_UNSPEC, not TC_ACT_OK: on clsact, OK ends the
 * filter chain, while UNSPEC lets filters of other tenants at later
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

SEC("tc")
int ps_classifier(struct __sk_buff *skb)
{
	__u32 zero = 0, gen, mask, rule_count, class_id, act_key;
	const struct ps_config *cfg;
	const struct ps_action *act;
	struct ps_pkt pkt = {};
	int res;

	res = ps_parse(skb, &pkt);
	if (res == PS_PARSE_NOT_IP) {
		ps_count(&ps_gcnt_v1, PS_GCNT_NOT_IP, skb->len);
		return TC_ACT_UNSPEC;
	}
	if (res != PS_PARSE_OK) {
		ps_count(&ps_gcnt_v1, PS_GCNT_PARSE_ERROR, skb->len);
		return TC_ACT_UNSPEC;
	}

	cfg = bpf_map_lookup_elem(&ps_cfg_v1, &zero);
	if (!cfg)
		return TC_ACT_UNSPEC;
	/* Read each field once: user space rewrites the value on a flip. */
	gen = READ_ONCE(cfg->active_gen) & 1;
	mask = READ_ONCE(cfg->mark_mask);
	rule_count = READ_ONCE(cfg->rule_count[gen]);

	class_id = ps_classify(&pkt, gen, rule_count);
	if (class_id >= PS_MAX_CLASSES) {
		ps_count(&ps_gcnt_v1, PS_GCNT_UNCLASSIFIED, skb->len);
		return TC_ACT_UNSPEC;
	}
	ps_count(&ps_ccnt_v1, class_id, skb->len);
	/* Tell BPF_PROG_TEST_RUN callers (explain) which class matched. cb is
	 * per-qdisc scratch at TC: nothing after us reads it. */
	skb->cb[PS_CB_CLASS] = class_id + 1;

	act_key = gen * PS_MAX_CLASSES + class_id;
	act = bpf_map_lookup_elem(&ps_act_v1, &act_key);
	if (act && (act->flags & PS_ACTION_F_SET_MARK))
		skb->mark = (skb->mark & ~mask) | (act->mark & mask);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
