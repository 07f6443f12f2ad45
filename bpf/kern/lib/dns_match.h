/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The classifier's one contact with DNS learning: the dst field's bitmap
 * index for a packet whose destination was learned from a DNS answer. The
 * dst tries give lpm_index (rules whose `dst` holds, plus rules with neither
 * `dst` nor `domain`); for a live learned address the loader's ps_dnsbm_d1
 * gives that set plus the rules naming the address's owner pattern. Anything
 * missing (no domain rules in this generation, address unknown or expired,
 * pattern no longer in the policy) leaves lpm_index unchanged.
 */
#ifndef PS_LIB_DNS_MATCH_H
#define PS_LIB_DNS_MATCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/compiler.h"
#include "lib/dns_maps.h"
#include "lib/parse.h"

static __always_inline __u32 ps_dns_dst_index(__u32 gen, const struct ps_pkt *pkt, __u32 lpm_index)
{
	struct ps_dns_addr_key key = {.family = pkt->family};
	struct ps_dns_bm_key bk = {.gen = gen, .lpm_bitmap = lpm_index};
	const struct ps_dns_config *cfg;
	const struct ps_dns_addr *a;
	const __u32 *b;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&ps_dnscfg_d1, &zero);
	if (!cfg || !(READ_ONCE(cfg->gens) & (1U << (gen & 1))))
		return lpm_index;
	__builtin_memcpy(key.addr, pkt->daddr, sizeof(key.addr));
	a = bpf_map_lookup_elem(&ps_dnsaddr_d1, &key);
	if (!a || bpf_jiffies64() > READ_ONCE(a->expires))
		return lpm_index;
	bk.pattern = READ_ONCE(a->pattern);
	b = bpf_map_lookup_elem(&ps_dnsbm_d1, &bk);
	return b ? *b : lpm_index;
}

#endif /* PS_LIB_DNS_MATCH_H */
