/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reference programs for bench/classifier_bench, timed in the same run as the
 * classifier:
 *  - ps_empty: does nothing (the floor);
 *  - ps_ref_miss, ps_ref_insert: the flow-table work any first packet of a new
 *    flow must do, and nothing else: an LRU hash of the classifier's size, key
 *    and value (lib/maps.h), a random 5-tuple looked up (a miss), and for
 *    ps_ref_insert then written. Filled first, the table's memory is far
 *    larger than the caches, as on a busy gateway;
 *  - ps_ref_replace: one fixed 5-tuple looked up and written again each run,
 *    as the classifier does in the warm first-packet case: the kernel's own
 *    cost of an LRU write with warm caches.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, PS_FLOW_ENTRIES);
  __type(key, struct ps_flow4_key);
  __type(value, struct ps_flow);
} ps_ref_flows SEC(".maps");

SEC("tc")
int ps_empty(struct __sk_buff* skb) {
  return TC_ACT_UNSPEC;
}

static __always_inline int ps_ref(int random, int insert) {
  struct ps_flow4_key k = {
      .saddr = random ? bpf_get_prandom_u32() : 0x0909090a,
      .daddr = 0x0109a8c0,
      .sport = 0x409c,
      .dport = 0xbb01,
      .proto = 6,
  };
  struct ps_flow v = {.uplink_id = 1};

  if ((!bpf_map_lookup_elem(&ps_ref_flows, &k) || !random) && insert) {
    v.last_seen = bpf_jiffies64();
    bpf_map_update_elem(&ps_ref_flows, &k, &v, BPF_ANY);
  }
  return TC_ACT_UNSPEC;
}

SEC("tc")
int ps_ref_miss(struct __sk_buff* skb) {
  return ps_ref(1, 0);
}

SEC("tc")
int ps_ref_insert(struct __sk_buff* skb) {
  return ps_ref(1, 1);
}

SEC("tc")
int ps_ref_replace(struct __sk_buff* skb) {
  return ps_ref(0, 1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
