/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Benchmark and test variants of the classifier, built from the same pipeline
 * (lib/steer.h) with compile-time flags, so the product program carries no
 * benchmark branch. Loaded with the daemon's pin dir, they share its pinned
 * maps (LIBBPF_PIN_BY_NAME); bpf/bench_classifier.h loads them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/steer.h"

/* Every packet a new flow's first: lookup misses, classified, entry written. */
SEC("tc")
int ps_bench_fresh(struct __sk_buff *skb)
{
	return ps_steer(skb, PS_BENCH_FRESH);
}

SEC("tc")
int ps_bench_fresh_no_insert(struct __sk_buff *skb)
{
	return ps_steer(skb, PS_BENCH_FRESH | PS_BENCH_NO_INSERT);
}

/* The packet's own 5-tuple, a found entry ignored: classified and written anew. */
SEC("tc")
int ps_bench_forget(struct __sk_buff *skb)
{
	return ps_steer(skb, PS_BENCH_FORGET);
}

SEC("tc")
int ps_bench_forget_no_insert(struct __sk_buff *skb)
{
	return ps_steer(skb, PS_BENCH_FORGET | PS_BENCH_NO_INSERT);
}

/* The entry is found but looks classified before a flip: reclassified in place. */
SEC("tc")
int ps_bench_stale(struct __sk_buff *skb)
{
	return ps_steer(skb, PS_BENCH_STALE);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
