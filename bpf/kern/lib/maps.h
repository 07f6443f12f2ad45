/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map definitions; layouts and roles are documented in pathsteer_abi.h. */
#ifndef PS_LIB_MAPS_H
#define PS_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

#define PS_ARRAY_MAP(name, entries, value_type)                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, entries);                                                      \
		__type(key, __u32);                                                                \
		__type(value, value_type);                                                         \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} name SEC(".maps")

#define PS_PERCPU_ARRAY_MAP(name, entries)                                                         \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, entries);                                                      \
		__type(key, __u32);                                                                \
		__type(value, struct ps_counter);                                                  \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} name SEC(".maps")

/* LPM tries must not be preallocated; nodes are allocated as prefixes arrive. */
#define PS_LPM_MAP(name, key_type)                                                                 \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                               \
		__uint(max_entries, 2 * PS_MAX_PREFIXES);                                          \
		__type(key, key_type);                                                             \
		__type(value, __u32);                                                              \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                              \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} name SEC(".maps")

/* One LRU shared by all CPUs. BPF_F_NO_COMMON_LRU would give each possible CPU
 * its own list of PS_FLOW_ENTRIES / possible-CPUs entries: the flows of a LAN
 * NIC with one queue (one CPU) would then evict each other while most of the
 * table stood empty. */
#define PS_FLOW_MAP(name, key_type)                                                                \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                                               \
		__uint(max_entries, PS_FLOW_ENTRIES);                                              \
		__type(key, key_type);                                                             \
		__type(value, struct ps_flow);                                                     \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} name SEC(".maps")

PS_ARRAY_MAP(ps_cfg_v4, 1, struct ps_config);
PS_ARRAY_MAP(ps_free_v4, PS_GENERATIONS, struct ps_free_bitmaps);
PS_ARRAY_MAP(ps_bmh_v4, PS_GENERATIONS *PS_MAX_BITMAPS, struct ps_bitmap);
PS_ARRAY_MAP(ps_bmw_v4, PS_GENERATIONS *PS_MAX_BM_WORDS, __u64);
PS_ARRAY_MAP(ps_rcls_v4, PS_GENERATIONS *PS_MAX_RULES, __u32);
PS_ARRAY_MAP(ps_proto_v4, PS_GENERATIONS * 256, __u32);
PS_ARRAY_MAP(ps_dscp_v4, PS_GENERATIONS * 64, __u32);
PS_ARRAY_MAP(ps_iifa_v4, PS_GENERATIONS *PS_IIF_SLOTS, __u32);
PS_ARRAY_MAP(ps_sport_v4, PS_GENERATIONS *PS_PORT_SLOTS, __u32);
PS_ARRAY_MAP(ps_dport_v4, PS_GENERATIONS *PS_PORT_SLOTS, __u32);
PS_ARRAY_MAP(ps_cls_v4, PS_GENERATIONS *PS_MAX_CLASSES, struct ps_class);
PS_ARRAY_MAP(ps_upl_v4, PS_GENERATIONS *PS_MAX_UPLINKS, struct ps_uplink);

PS_LPM_MAP(ps_src4_v4, struct ps_lpm4_key);
PS_LPM_MAP(ps_dst4_v4, struct ps_lpm4_key);
PS_LPM_MAP(ps_src6_v4, struct ps_lpm6_key);
PS_LPM_MAP(ps_dst6_v4, struct ps_lpm6_key);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_GENERATIONS * 1024);
	__type(key, struct ps_iif_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_iif_v4 SEC(".maps");

PS_FLOW_MAP(ps_flow4_v4, struct ps_flow4_key);
PS_FLOW_MAP(ps_flow6_v4, struct ps_flow6_key);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PS_AFF_ENTRIES);
	__type(key, struct ps_aff_key);
	__type(value, struct ps_aff);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_aff_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PS_SRC_ENTRIES);
	__type(key, struct ps_src_key);
	__type(value, struct ps_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_srcq_v4 SEC(".maps");

PS_PERCPU_ARRAY_MAP(ps_ccnt_v4, PS_MAX_CLASSES);
PS_PERCPU_ARRAY_MAP(ps_ucnt_v4, PS_MAX_UPLINKS);
PS_PERCPU_ARRAY_MAP(ps_gcnt_v4, PS_GCNT_MAX);

/* Per-CPU values: no atomics needed. */
static __always_inline void ps_count(void *map, __u32 index, __u32 bytes)
{
	struct ps_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

#endif /* PS_LIB_MAPS_H */
