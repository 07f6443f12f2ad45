/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow table (one LRU hash per family, keyed by the 5-tuple) and the
 * weighted choice of a class member for a new flow. Lifecycle in
 * docs/DATAPLANE.md; the entry layout in pathsteer_abi.h.
 */
#ifndef PS_LIB_FLOW_H
#define PS_LIB_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"

union ps_flow_key {
	struct ps_flow4_key v4;
	struct ps_flow6_key v6;
	__u64 w[5]; /* for the cache's compare; a v4 key leaves w[2..4] zero */
};

/* Fills the key for pkt's family; salt (benchmarks only) perturbs the ports. */
static __always_inline void ps_flow_key(const struct ps_pkt *pkt, union ps_flow_key *key,
					__u32 salt)
{
	__u16 sport = pkt->sport ^ (__u16)salt;
	__u16 dport = pkt->dport ^ (__u16)(salt >> 16);

	if (pkt->family == PS_FAMILY_IPV4) {
		key->v4.saddr = pkt->saddr[0];
		key->v4.daddr = pkt->daddr[0];
		key->v4.sport = sport;
		key->v4.dport = dport;
		key->v4.proto = pkt->proto;
	} else {
		__builtin_memcpy(key->v6.saddr, pkt->saddr, sizeof(key->v6.saddr));
		__builtin_memcpy(key->v6.daddr, pkt->daddr, sizeof(key->v6.daddr));
		key->v6.sport = sport;
		key->v6.dport = dport;
		key->v6.proto = pkt->proto;
	}
}

/*
 * One call site per map: the verifier then turns each lookup into a direct
 * (for the LRU hash: inlined) call. A map pointer that may be either map
 * leaves the generic helper and an indirect call, which costs far more.
 */
static __always_inline struct ps_flow *ps_flow_lookup(const struct ps_pkt *pkt,
						      const union ps_flow_key *key)
{
	struct ps_flow *fl;

	if (pkt->family == PS_FAMILY_IPV4) {
		fl = bpf_map_lookup_elem(&ps_flow4_v4, &key->v4);
		/* Keeps clang from merging the two calls into one with a
		 * selected map pointer. */
		asm volatile("" ::: "memory");
		return fl;
	}
	return bpf_map_lookup_elem(&ps_flow6_v4, &key->v6);
}

static __always_inline long ps_flow_update(const struct ps_pkt *pkt, const union ps_flow_key *key,
					   const struct ps_flow *value)
{
	long ret;

	if (pkt->family == PS_FAMILY_IPV4) {
		ret = bpf_map_update_elem(&ps_flow4_v4, &key->v4, value, BPF_ANY);
		asm volatile("" ::: "memory"); /* as in ps_flow_lookup */
		return ret;
	}
	return bpf_map_update_elem(&ps_flow6_v4, &key->v6, value, BPF_ANY);
}

/*
 * Per-CPU direct-mapped cache of established flows in front of the LRU table
 * (map ps_fcache, not pinned: it is only ever a copy). A slot holds a copy of
 * an LRU entry taken at an established hit (never at an insert: user space
 * may delete entries it never saw used, e.g. tests between cases), tagged by
 * the full key. A packet may use the copy instead of the LRU lookup only when
 * the LRU path would give the same answer and write nothing:
 *  - same epoch: every flip (plan, health) bumps it, so a copy never outlives
 *    the plan it was made under, and uplink liveness cannot change under it;
 *  - now - last_seen <= touch_jiffies and <= flow_idle_jiffies: the LRU entry's
 *    own last_seen is at least the copied one (only the program writes it, and
 *    only forward), so the LRU path would neither expire nor refresh it.
 * Hence an active flow goes to the LRU at least once per touch_jiffies per
 * CPU: its last_seen stays fresh and the LRU's reference bit set, so the
 * cache changes neither expiry nor what the LRU evicts first.
 */
#define PS_FCACHE_SLOTS 8192 /* per CPU; 64 B each */

struct ps_fcache_slot {
	union ps_flow_key key;
	__u64 last_seen; /* the LRU entry's, when copied */
	__u32 epoch;
	__u16 class_id;
	__u16 uplink_id;
	__u8 family; /* 0: empty slot */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_FCACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct ps_fcache_slot);
} ps_fcache SEC(".maps");

/* Two multiplies: the slot index only needs to spread flows, not resist an
 * adversary (a collision costs one LRU lookup, as without the cache). */
static __always_inline __u32 ps_fcache_index(const union ps_flow_key *key)
{
	__u64 h = key->w[0] ^ key->w[2] ^ key->w[4];
	__u64 l = key->w[1] ^ key->w[3];

	h = (h ^ (l * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
	return (__u32)(h >> 32) & (PS_FCACHE_SLOTS - 1);
}

static __always_inline struct ps_fcache_slot *ps_fcache_slot(const union ps_flow_key *key)
{
	__u32 index = ps_fcache_index(key);

	return bpf_map_lookup_elem(&ps_fcache, &index);
}

static __always_inline int ps_fcache_match(const struct ps_fcache_slot *s,
					   const union ps_flow_key *key, __u8 family)
{
	if (s->family != family || s->key.w[0] != key->w[0] || s->key.w[1] != key->w[1])
		return 0;
	return family == PS_FAMILY_IPV4 ||
	       (s->key.w[2] == key->w[2] && s->key.w[3] == key->w[3] && s->key.w[4] == key->w[4]);
}

static __always_inline void ps_fcache_fill(struct ps_fcache_slot *s, const union ps_flow_key *key,
					   __u8 family, __u64 last_seen, __u32 epoch,
					   __u16 class_id, __u16 uplink_id)
{
	s->key = *key;
	s->family = family;
	s->last_seen = last_seen;
	s->epoch = epoch;
	s->class_id = class_id;
	s->uplink_id = uplink_id;
}

/*
 * An entry's epoch, class_id and uplink_id share one aligned 64-bit word
 * (struct ps_flow): the program reads and writes them whole, so a packet on
 * one CPU never sees another CPU's new epoch with an old class or uplink
 * (aligned 64-bit accesses are single-copy atomic on x86-64 and arm64).
 */
struct ps_flow_state {
	__u32 epoch;
	__u16 class_id;
	__u16 uplink_id;
};

_Static_assert(__builtin_offsetof(struct ps_flow, epoch) % 8 == 0 &&
		   sizeof(struct ps_flow_state) == 8 &&
		   __builtin_offsetof(struct ps_flow, uplink_id) ==
		       __builtin_offsetof(struct ps_flow, epoch) + 6,
	       "epoch, class_id, uplink_id: one aligned 64-bit word");

static __always_inline struct ps_flow_state ps_flow_state_read(const struct ps_flow *fl)
{
	struct ps_flow_state st;
	__u64 w = READ_ONCE(*(const __u64 *)&fl->epoch);

	__builtin_memcpy(&st, &w, sizeof(st));
	return st;
}

static __always_inline void ps_flow_state_write(struct ps_flow *fl, __u32 epoch, __u16 class_id,
						__u16 uplink_id)
{
	struct ps_flow_state st = {.epoch = epoch, .class_id = class_id, .uplink_id = uplink_id};
	__u64 w;

	__builtin_memcpy(&w, &st, sizeof(w));
	WRITE_ONCE(*(__u64 *)&fl->epoch, w);
}

/* murmur3's finaliser: every input bit affects every output bit. */
static __always_inline __u32 ps_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 ps_flow_hash(const union ps_flow_key *key, __u8 family)
{
	__u32 a, b, ports, proto;

	if (family == PS_FAMILY_IPV4) {
		a = key->v4.saddr;
		b = key->v4.daddr;
		ports = (__u32)key->v4.sport << 16 | key->v4.dport;
		proto = key->v4.proto;
	} else {
		a = key->v6.saddr[0] ^ key->v6.saddr[1] ^ key->v6.saddr[2] ^ key->v6.saddr[3];
		b = key->v6.daddr[0] ^ key->v6.daddr[1] ^ key->v6.daddr[2] ^ key->v6.daddr[3];
		ports = (__u32)key->v6.sport << 16 | key->v6.dport;
		proto = key->v6.proto;
	}
	return ps_mix32(ps_mix32(ps_mix32(ps_mix32(a) ^ b) ^ ports) ^ proto);
}

/* The member for a flow hashing to h: the first whose running weight exceeds
 * h % total (so member i gets weight_i / total of the flows). */
static __always_inline __u32 ps_choose_member(const struct ps_class *cls, __u32 h)
{
	__u32 total = READ_ONCE(cls->total_weight);
	__u32 count = READ_ONCE(cls->member_count);
	__u32 i, pick;

	if (total == 0 || count == 0)
		return PS_NO_UPLINK;
	pick = h % total;
	for (i = 0; i < PS_MAX_MEMBERS; i++) {
		if (i >= count)
			break;
		if (pick < cls->members[i].cum_weight)
			return cls->members[i].uplink_id;
	}
	return PS_NO_UPLINK;
}

static __always_inline int ps_is_member(const struct ps_class *cls, __u32 id)
{
	__u32 count = READ_ONCE(cls->member_count);
	__u32 i;

	for (i = 0; i < PS_MAX_MEMBERS; i++) {
		if (i >= count)
			break;
		if (cls->members[i].uplink_id == id)
			return 1;
	}
	return 0;
}

/*
 * The member for a new flow (or one whose uplink went down): the weighted
 * choice by the flow's hash, or, for a class with source affinity, the member
 * the source's last new flow took while it is still a member (the caller
 * checks liveness through `live`: an uplink that is not live is never a
 * member of the active generation, see ps_uplink). Dry runs write nothing.
 */
static __always_inline __u32 ps_pick_member(const struct ps_class *cls, __u32 class_id,
					    const struct ps_pkt *pkt, __u32 h, __u64 now, int dry)
{
	__u32 tmo = READ_ONCE(cls->affinity_jiffies);
	struct ps_aff_key k = {};
	struct ps_aff na = {};
	struct ps_aff *a;
	__u32 id;

	if (!tmo)
		return ps_choose_member(cls, h);
	k.class_id = class_id;
	k.family = pkt->family;
	__builtin_memcpy(k.saddr, pkt->saddr, sizeof(k.saddr));
	a = bpf_map_lookup_elem(&ps_aff_v4, &k);
	if (a && now - READ_ONCE(a->last_seen) <= tmo) {
		id = READ_ONCE(a->uplink_id);
		if (id != PS_NO_UPLINK && ps_is_member(cls, id)) {
			if (!dry)
				WRITE_ONCE(a->last_seen, now);
			return id;
		}
	}
	id = ps_choose_member(cls, h);
	if (!dry && id != PS_NO_UPLINK) {
		na.last_seen = now;
		na.uplink_id = id;
		bpf_map_update_elem(&ps_aff_v4, &k, &na, BPF_ANY);
	}
	return id;
}

/*
 * Whether the packet's source may create one more flow entry (struct ps_src
 * in pathsteer_abi.h); counts it if so, counts the refused packet if not.
 * Shared counters are updated with atomic adds; the window rollover races
 * benignly (two CPUs may both roll it: the count restarts a little low).
 */
static __always_inline int ps_src_admit(const struct ps_pkt *pkt, __u32 quota, __u64 now,
					__u64 window)
{
	struct ps_src_key k = {.family = pkt->family};
	struct ps_src *s, ns = {};

	if (!quota)
		return 1;
	__builtin_memcpy(k.addr, pkt->saddr, sizeof(k.addr));
	s = bpf_map_lookup_elem(&ps_srcq_v4, &k);
	if (!s) {
		ns.window_start = now;
		ns.flows = 1;
		bpf_map_update_elem(&ps_srcq_v4, &k, &ns, BPF_NOEXIST);
		return 1;
	}
	if (now - READ_ONCE(s->window_start) > window) {
		/* A new window; one idle window more and the previous is empty too. */
		__u32 cur = READ_ONCE(s->flows);

		WRITE_ONCE(s->prev_flows, now - READ_ONCE(s->window_start) > 2 * window ? 0 : cur);
		WRITE_ONCE(s->flows, 0);
		WRITE_ONCE(s->window_start, now);
	}
	if (READ_ONCE(s->flows) + READ_ONCE(s->prev_flows) >= quota) {
		__sync_fetch_and_add(&s->over_quota, 1);
		return 0;
	}
	__sync_fetch_and_add(&s->flows, 1);
	return 1;
}

#endif /* PS_LIB_FLOW_H */
