/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map definitions; layouts and roles are documented in pathsteer_abi.h. */
#ifndef PS_LIB_MAPS_H
#define PS_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_cfg_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_GENERATIONS *PS_MAX_RULES);
	__type(key, __u32);
	__type(value, struct ps_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_rules_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_GENERATIONS *PS_MAX_CLASSES);
	__type(key, __u32);
	__type(value, struct ps_action);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_act_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_MAX_CLASSES);
	__type(key, __u32);
	__type(value, struct ps_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_ccnt_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_GCNT_MAX);
	__type(key, __u32);
	__type(value, struct ps_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_gcnt_v1 SEC(".maps");

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
