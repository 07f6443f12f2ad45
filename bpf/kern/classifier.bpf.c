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
#include "lib/steer.h"

SEC("tc")
int ps_classifier(struct __sk_buff *skb)
{
	return ps_steer(skb, 0);
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
