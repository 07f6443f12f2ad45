/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The DNS-learning maps; layouts and roles are documented in pathsteer_abi.h
 * (block "DNS-learned destinations"). */
#ifndef PS_LIB_DNS_MAPS_H
#define PS_LIB_DNS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_dns_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dnscfg_d1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_DNS_MAX_PATTERNS);
	__type(key, struct ps_dns_name_key);
	__type(value, struct ps_dns_name);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dnsname_d1 SEC(".maps");

/* Not preallocated: memory grows with what is learned, not with the bound.
 * Not an LRU: a full table is counted (PS_DCNT_FULL), never evicted silently;
 * the loader expires entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_DNS_MAX_ADDRS);
	__type(key, struct ps_dns_addr_key);
	__type(value, struct ps_dns_addr);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dnsaddr_d1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_DNS_MAX_BM);
	__type(key, struct ps_dns_bm_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dnsbm_d1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_DCNT_MAX);
	__type(key, __u32);
	__type(value, struct ps_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dnscnt_d1 SEC(".maps");

#endif /* PS_LIB_DNS_MAPS_H */
