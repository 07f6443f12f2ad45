/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pathsteer data-plane ABI: every map key and value shared by the BPF
 * classifier and its user-space loader (bpf/datapath.cpp). Plain C, included
 * by both sides; nothing else may know these layouts.
 *
 * Versioning (pinned maps outlive the daemon):
 *  - PS_ABI_VERSION is stored in ps_config.abi_version. Compatible additions
 *    (using reserved fields, which must be written as zero) bump it; a loader
 *    refuses pinned state with our magic and a newer version.
 *  - An incompatible layout change bumps PS_ABI_LAYOUT, which is part of every
 *    map name, so old and new layouts never share a pinned map.
 *
 * Maps (all pinned by name under the daemon's --pin-dir):
 *  ps_cfg_v1    ARRAY[1]                     struct ps_config
 *  ps_rules_v1  ARRAY[2 * PS_MAX_RULES]      struct ps_rule; generation g owns
 *                                            [g * PS_MAX_RULES, +rule_count[g])
 *  ps_act_v1    ARRAY[2 * PS_MAX_CLASSES]    struct ps_action; index
 *                                            g * PS_MAX_CLASSES + class_id
 *  ps_ccnt_v1   PERCPU_ARRAY[PS_MAX_CLASSES] struct ps_counter, by class_id
 *  ps_gcnt_v1   PERCPU_ARRAY[PS_GCNT_MAX]    struct ps_counter, by enum ps_gcnt
 *
 * Update protocol (atomic for packets): write the inactive generation's
 * rules and actions, then write ps_config with active_gen flipped and its
 * rule_count set. A packet reads active_gen once and uses only that half.
 */
#ifndef PATHSTEER_ABI_H
#define PATHSTEER_ABI_H

#include <linux/types.h>

/* Kernel naming, not the C++ house style. */
/* NOLINTBEGIN(readability-identifier-naming) */

#define PS_ABI_MAGIC 0x70537465 /* "pSte" */
#define PS_ABI_VERSION 1
#define PS_ABI_LAYOUT 1 /* the "_v1" in map names */

#define PS_CONFIG_MAP "ps_cfg_v1"
#define PS_RULES_MAP "ps_rules_v1"
#define PS_ACTIONS_MAP "ps_act_v1"
#define PS_CLASS_COUNTERS_MAP "ps_ccnt_v1"
#define PS_GLOBAL_COUNTERS_MAP "ps_gcnt_v1"

#define PS_GENERATIONS 2
#define PS_MAX_RULES 1024  /* per generation */
#define PS_MAX_CLASSES 256 /* per generation */

/* Address families as stored in rules and parsed packets. */
#define PS_FAMILY_ANY 0
#define PS_FAMILY_IPV4 4
#define PS_FAMILY_IPV6 6

struct ps_config {
  __u32 magic;       /* PS_ABI_MAGIC once initialised by a loader */
  __u32 abi_version; /* PS_ABI_VERSION of the loader that initialised it */
  __u32 active_gen;  /* 0 or 1 */
  __u32 mark_mask;   /* the skb->mark bits we own */
  __u32 rule_count[PS_GENERATIONS];
  __u32 class_count[PS_GENERATIONS];
  __u32 reserved[8];
};

/* An address prefix, network byte order. IPv4 uses addr[0] only. The loader
 * fills mask from len; the program compares (pkt & mask) == addr. */
struct ps_prefix {
  __u32 addr[4];
  __u32 mask[4];
  __u8 len;
  __u8 pad[3];
};

/* The rule constrains ports: a packet without ports (non-TCP/UDP, a non-first
 * fragment) cannot match it. */
#define PS_RULE_F_PORTS (1U << 0)

/* One flattened match: all fields must hold. 0 in family/proto = any. */
struct ps_rule {
  __u32 class_id;
  __u32 flags; /* PS_RULE_F_* */
  __u8 family; /* PS_FAMILY_* */
  __u8 proto;  /* IPPROTO_* */
  __u16 pad;
  __u16 sport_lo; /* host byte order, inclusive */
  __u16 sport_hi;
  __u16 dport_lo;
  __u16 dport_hi;
  struct ps_prefix src;
  struct ps_prefix dst;
  __u32 reserved[4];
};

/* Set (mark & ~mask) | value; without it the class leaves skb->mark alone. */
#define PS_ACTION_F_SET_MARK (1U << 0)

struct ps_action {
  __u32 flags; /* PS_ACTION_F_* */
  __u32 mark;  /* only bits inside ps_config.mark_mask */
  __u32 reserved[2];
};

struct ps_counter {
  __u64 packets;
  __u64 bytes;
};

enum ps_gcnt {
  PS_GCNT_PARSE_ERROR = 0,  /* truncated or malformed IP packet */
  PS_GCNT_NOT_IP = 1,       /* EtherType neither IPv4 nor IPv6 */
  PS_GCNT_UNCLASSIFIED = 2, /* parsed, but no rule matched */
  PS_GCNT_MAX = 8,
};

/* skb->cb slots the classifier writes for test runs (Datapath::simulate):
 * cb[PS_CB_CLASS] = class_id + 1 of the matching class, 0 if none. */
#define PS_CB_CLASS 0

/* NOLINTEND(readability-identifier-naming) */

#endif /* PATHSTEER_ABI_H */
