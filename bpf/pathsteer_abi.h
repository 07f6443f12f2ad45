/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pathsteer data-plane ABI: every map key and value shared by the BPF
 * classifier and its user-space loader (bpf/datapath.cpp, bpf/pins.cpp).
 * Plain C, included by both sides; nothing else may know these layouts.
 * docs/DATAPLANE.md explains the design; this header is the contract.
 *
 * Versioning (pinned maps outlive the daemon):
 *  - ps_config.magic = PS_ABI_MAGIC, .layout = PS_ABI_LAYOUT and
 *    .abi_version = PS_ABI_VERSION of the loader that initialised the maps.
 *  - Compatible additions (using reserved fields, which are written as zero)
 *    bump PS_ABI_VERSION; a loader refuses pinned state with our magic and a
 *    newer abi_version, or a newer layout's config map in the pin dir.
 *  - An incompatible layout change bumps PS_ABI_LAYOUT, which is part of every
 *    map name ("_v4"), so old and new layouts never share a pinned map.
 *
 * Two kinds of generation, both selected by ps_config.state (one 32-bit word,
 * the only word a flip changes):
 *  - the rule generation R (bit 0): the match structure (field maps, bitmap
 *    pool, rule -> class); rewritten only when the match rules change;
 *  - the action generation A (bit 1): per-class actions, per-uplink state, the
 *    mark mask and the mode; rewritten on every plan change (health moves).
 *  - epoch (bits 2..31): incremented by every flip. A flow entry remembers the
 *    epoch it was classified in; a packet of a flow from an older epoch is
 *    classified again (its uplink is kept while live: stickiness).
 *
 * Maps (pinned by name under the daemon's --pin-dir; g = rule gen, a = action gen):
 *  ps_cfg_v4   ARRAY[1]                   struct ps_config
 *  ps_free_v4  ARRAY[2]                   struct ps_free_bitmaps, index g: per field, the
 *                                         rules that leave it free
 *  ps_bmh_v4   ARRAY[2*PS_MAX_BITMAPS]    struct ps_bitmap, index g*PS_MAX_BITMAPS + b: the
 *                                         distinct "listed" rule sets (b = 0: empty)
 *  ps_bmw_v4   ARRAY[2*PS_MAX_BM_WORDS]   __u64, index g*PS_MAX_BM_WORDS + i: their
 *                                         non-zero words (struct ps_bitmap says where)
 *  ps_rcls_v4  ARRAY[2*PS_MAX_RULES]      __u32 class id of rule r, index g*PS_MAX_RULES + r
 *  ps_src4_v4  LPM_TRIE  struct ps_lpm4_key -> __u32 b (rules listing a prefix that covers
 *  ps_dst4_v4  LPM_TRIE                      the key's; a miss: b = 0)
 *  ps_src6_v4  LPM_TRIE  struct ps_lpm6_key -> __u32 b
 *  ps_dst6_v4  LPM_TRIE
 *  ps_proto_v4 ARRAY[2*256]               __u32 b, index g*256 + IP protocol
 *  ps_dscp_v4  ARRAY[2*64]                __u32 b, index g*64 + DSCP
 *  ps_sport_v4 ARRAY[2*PS_PORT_SLOTS]     __u32 b, index g*PS_PORT_SLOTS + port;
 *  ps_dport_v4                            slot PS_PORT_NONE: packets without ports
 *  ps_iifa_v4  ARRAY[2*PS_IIF_SLOTS]      __u32 b, index g*PS_IIF_SLOTS + ifindex, for
 *                                         ifindexes below PS_IIF_SLOTS
 *  ps_iif_v4   HASH  struct ps_iif_key -> __u32 b, for larger ifindexes (a miss: b = 0)
 *  ps_cls_v4   ARRAY[2*PS_MAX_CLASSES]    struct ps_class, index a*PS_MAX_CLASSES + class id
 *  ps_upl_v4   ARRAY[2*PS_MAX_UPLINKS]    struct ps_uplink, index a*PS_MAX_UPLINKS + uplink id
 *  ps_flow4_v4 LRU_HASH  struct ps_flow4_key -> struct ps_flow   (never reset by updates)
 *  ps_flow6_v4 LRU_HASH  struct ps_flow6_key -> struct ps_flow
 *  ps_aff_v4   LRU_HASH  struct ps_aff_key -> struct ps_aff   (source affinity; never reset)
 *  ps_srcq_v4  LRU_HASH  struct ps_src_key -> struct ps_src   (flow-table share per source)
 *  ps_ccnt_v4  PERCPU_ARRAY[PS_MAX_CLASSES] struct ps_counter, by class id of the active gen
 *  ps_ucnt_v4  PERCPU_ARRAY[PS_MAX_UPLINKS] struct ps_counter, by uplink id
 *  ps_gcnt_v4  PERCPU_ARRAY[PS_GCNT_MAX]  struct ps_counter, by enum ps_gcnt
 * Not pinned, kernel-only (a cache of copies of flow entries): ps_fcache,
 * PERCPU_ARRAY of struct ps_fcache_slot (lib/flow.h).
 *
 * Classification (Linear Bit Vector Search, docs/DATAPLANE.md): for every
 * field in use (gen[g].fields) the rules it admits for the packet's value are
 * free[field] | listed(value), listed(value) being the bitmap its lookup map
 * names; the AND over the fields has the matching rules, and its lowest set
 * bit is the first matching rule in policy order. The dst field admits
 * free | listed(prefix) (lib/classify.h: ps_dst_listed is the one place a
 * further dst-side set would be OR-ed in).
 *
 * Update protocol (atomic for packets): write the inactive half of every map
 * that changes, then write ps_config with the inactive half's gen[]/act[]
 * info (state unchanged), then write ps_config again with only state changed.
 * A packet reads state once and uses only the halves it names.
 */
#ifndef PATHSTEER_ABI_H
#define PATHSTEER_ABI_H

#include <linux/types.h>

/* Kernel naming, not the C++ house style. */
/* NOLINTBEGIN(readability-identifier-naming) */

#define PS_ABI_MAGIC 0x70537465 /* "pSte" */
#define PS_ABI_VERSION 5        /* 5: layout 4 (16,384 rules, sparse bitmaps, no bench flags) */
#define PS_ABI_LAYOUT 4         /* the "_v4" in map names */

#define PS_CONFIG_MAP "ps_cfg_v4"
#define PS_MAP_PREFIX "ps_"
#define PS_MAP_SUFFIX "_v4"

#define PS_GENERATIONS 2
#define PS_MAX_RULES 16384               /* match entries per generation */
#define PS_MAX_CLASSES 8192              /* per generation: 4,096 and the planner's own */
#define PS_MAX_UPLINKS 256               /* uplink ids 1..254; 0 = none */
#define PS_MAX_MEMBERS 16                /* uplinks a class chooses among */
#define PS_MAX_BITMAPS 65536             /* distinct listed rule sets per generation */
#define PS_MAX_BM_WORDS 262144           /* their stored (non-zero) words per generation */
#define PS_MAX_PREFIXES 1048576          /* per trie and generation */
#define PS_BM_WORDS (PS_MAX_RULES / 64)  /* 256 words of rules */
#define PS_BM_SUMMARY (PS_BM_WORDS / 64) /* 4 summary words */
#define PS_FIELDS 8                      /* PS_FIELD_* bit numbers (7 in use) */
#define PS_PORT_SLOTS 65537
#define PS_PORT_NONE 65536
#define PS_FLOW_ENTRIES 262144 /* per family */
#define PS_IIF_SLOTS 4096      /* ingress ifindexes looked up in an array, not a hash */
#define PS_AFF_ENTRIES 65536   /* (class, source address) pairs remembered for affinity */
#define PS_SRC_ENTRIES 65536   /* sources whose flow-table share is counted */

#define PS_NO_CLASS 0xffff
#define PS_NO_UPLINK 0

/* ps_config.state */
#define PS_STATE_RULE_GEN(s) ((s)&1)
#define PS_STATE_ACT_GEN(s) (((s) >> 1) & 1)
#define PS_STATE_EPOCH(s) ((s) >> 2)
#define PS_STATE_MAKE(rule_gen, act_gen, epoch) \
  (((rule_gen)&1) | (((act_gen)&1) << 1) | ((epoch) << 2))

/* ps_gen_info.fields: the fields some rule constrains; others are not looked up.
 * PS_F_* are their bit numbers (and the index in struct ps_free_bitmaps). */
#define PS_F_IIF 0
#define PS_F_SRC 1
#define PS_F_DST 2
#define PS_F_PROTO 3
#define PS_F_SPORT 4
#define PS_F_DPORT 5
#define PS_F_DSCP 6
#define PS_FIELD_IIF (1U << PS_F_IIF)
#define PS_FIELD_SRC (1U << PS_F_SRC)
#define PS_FIELD_DST (1U << PS_F_DST)
#define PS_FIELD_PROTO (1U << PS_F_PROTO)
#define PS_FIELD_SPORT (1U << PS_F_SPORT)
#define PS_FIELD_DPORT (1U << PS_F_DPORT)
#define PS_FIELD_DSCP (1U << PS_F_DSCP)

struct ps_gen_info { /* one rule generation */
  __u32 rule_count;  /* rules 0..rule_count-1 exist */
  __u32 unused;      /* zero */
  __u32 fields;      /* PS_FIELD_* */
  __u32 unused2;     /* zero (an unnamed ifindex is listed by no rule: bitmap 0) */
  __u32 class_count;
  __u32 reserved[3];
};

#define PS_MODE_MARK 0
#define PS_MODE_REDIRECT 1

struct ps_act_info {       /* one action generation */
  __u32 mark_mask;         /* the skb->mark bits we own */
  __u32 mode;              /* PS_MODE_*; the loader writes MARK without PS_FEAT_FIB_TBID */
  __u32 flow_idle_s;       /* a flow unseen this long is classified anew */
  __u32 flow_idle_jiffies; /* the same in jiffies (the loader measures HZ) */
  __u32 touch_jiffies;     /* refresh a flow's last_seen at most this often (1 s) */
  __u32 flow_quota;        /* new flow entries one source may create per flow_idle window
                            * pair (ps_srcq_v4); 0: no limit */
  __u32 reserved[2];
};

/* ps_config.features, probed by the loader at open(). */
#define PS_FEAT_FIB_TBID (1U << 0) /* bpf_fib_lookup with BPF_FIB_LOOKUP_TBID */

struct ps_config {
  __u32 magic;       /* PS_ABI_MAGIC once initialised by a loader */
  __u32 abi_version; /* PS_ABI_VERSION of the loader that initialised it */
  __u32 layout;      /* PS_ABI_LAYOUT */
  __u32 state;       /* PS_STATE_MAKE(rule gen, action gen, epoch): the flip word */
  __u32 features;    /* PS_FEAT_* */
  __u32 flags;       /* none defined; zero */
  __u32 hz;          /* jiffies per second, as measured by the loader */
  struct ps_gen_info gen[PS_GENERATIONS];
  struct ps_act_info act[PS_GENERATIONS];
  __u32 reserved[7];
};

/*
 * A listed rule set, stored sparse (Aggregated Bit Vectors with a two-level
 * summary): bit b of summary[s] is set iff word w = s*64 + b of the set is
 * non-zero; bit s of `top` iff summary[s] != 0. Only the non-zero words are
 * stored, in ascending order, at ps_bmw_v4[g*PS_MAX_BM_WORDS + base + ...]:
 * word w is at base + rank[s] + (set bits of summary[s] below b), rank[s]
 * being the number of stored words before summary word s.
 */
struct ps_bitmap {
  __u64 summary[PS_BM_SUMMARY];
  __u32 base;
  __u32 top;
  __u16 rank[PS_BM_SUMMARY];
};

/* Per field (PS_F_*), the rules that leave it free, stored dense (one value
 * per generation; all rules for a field no rule constrains). */
struct ps_free_bitmaps {
  __u32 top[PS_FIELDS];
  __u64 summary[PS_FIELDS][PS_BM_SUMMARY];
  __u64 w[PS_FIELDS][PS_BM_WORDS]; /* bit r of w[f][r/64]: rule r */
};

/* LPM keys: prefixlen counts the 32 generation bits plus the address prefix. */
struct ps_lpm4_key {
  __u32 prefixlen;
  __u32 gen;
  __u32 addr; /* network order */
};

struct ps_lpm6_key {
  __u32 prefixlen;
  __u32 gen;
  __u32 addr[4]; /* network order */
};

struct ps_iif_key {
  __u32 gen;
  __u32 ifindex;
};

/* ps_class.flags */
#define PS_CLASS_F_SET_MARK (1U << 0) /* without it the class leaves skb->mark alone */

struct ps_member {
  __u32 uplink_id;
  __u32 cum_weight; /* running sum of weights up to and including this member */
};

/* A class's action. With members, a new flow takes member i where
 * hash % total_weight < members[i].cum_weight (first such i); without members
 * (all down: last_resort, or a fixed mark) the class sets `mark`.
 * With affinity_jiffies != 0 a new flow first looks its source address up in
 * ps_aff_v4: an entry of this class refreshed within affinity_jiffies whose
 * uplink is a member and live gives the uplink (and is refreshed); otherwise
 * the weighted choice is made and written there. */
struct ps_class {
  __u32 flags;        /* PS_CLASS_F_* */
  __u32 mark;         /* the class's mark when it has no members */
  __u32 member_count; /* <= PS_MAX_MEMBERS */
  __u32 total_weight; /* members[member_count-1].cum_weight */
  struct ps_member members[PS_MAX_MEMBERS];
  __u32 affinity_jiffies; /* 0: no source affinity */
  __u32 reserved[3];
};

/* ps_uplink.flags */
#define PS_UPLINK_F_LIVE (1U << 0) /* may carry flows; a flow on a non-live uplink is re-chosen */

struct ps_uplink {
  __u32 flags;   /* PS_UPLINK_F_* */
  __u32 mark;    /* inside the act gen's mark_mask */
  __u32 table;   /* routing table id (redirect mode looks up the next hop there) */
  __u32 ifindex; /* the uplink's interface (0: unknown) */
  __u32 reserved[4];
};

/* Flow keys: ports are 0 for packets without ports (non-first fragments,
 * protocols other than TCP/UDP), addresses and ports in network order. */
struct ps_flow4_key {
  __u32 saddr;
  __u32 daddr;
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 pad[3];
};

struct ps_flow6_key {
  __u32 saddr[4];
  __u32 daddr[4];
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 pad[3];
};

struct ps_flow {
  __u64 last_seen; /* bpf_jiffies64() (inlined, unlike a clock read), refreshed at
                    * most every touch_jiffies */
  __u32 epoch;     /* PS_STATE_EPOCH when the flow was last classified */
  __u16 class_id;  /* PS_NO_CLASS: unclassified */
  __u16 uplink_id; /* PS_NO_UPLINK: the class had no member */
};

/* Source affinity: the class id and the source address (IPv4 in saddr[0],
 * the other words zero), network order. */
struct ps_aff_key {
  __u32 class_id;
  __u32 family; /* 4 or 6 */
  __u32 saddr[4];
};

struct ps_aff {
  __u64 last_seen; /* bpf_jiffies64() of the source's last new flow in the class */
  __u32 uplink_id; /* where that flow went */
  __u32 reserved;
};

/*
 * Flow-table fairness: a source (LAN address) may create act.flow_quota flow
 * entries per two windows of flow_idle_jiffies (the current and the previous
 * one; an entry idle longer is expired anyway). Beyond it, its new flows are
 * classified at every packet and never written, so it cannot evict others'
 * entries (an LRU gives no eviction callback to count entries down; creations
 * in the last two idle windows bound what a source holds that is still live).
 */
struct ps_src_key {
  __u32 family;  /* 4 or 6 */
  __u32 addr[4]; /* IPv4 in addr[0], the other words zero; network order */
};

struct ps_src {
  __u64 window_start; /* bpf_jiffies64() when the current window began */
  __u32 flows;        /* entries created in the current window */
  __u32 prev_flows;   /* ... in the previous window */
  __u64 over_quota;   /* packets of new flows refused an entry */
};

struct ps_counter {
  __u64 packets;
  __u64 bytes;
};

/* Global counters. PS_GCNT_FB_*: why a redirect-mode packet was marked instead. */
enum ps_gcnt {
  PS_GCNT_PARSE_ERROR = 0,    /* truncated or malformed IP packet: untouched */
  PS_GCNT_NOT_IP = 1,         /* EtherType neither IPv4 nor IPv6: untouched */
  PS_GCNT_UNCLASSIFIED = 2,   /* parsed, no rule matched: untouched */
  PS_GCNT_FRAGMENT = 3,       /* non-first fragment: classified without ports */
  PS_GCNT_NO_PORTS = 4,       /* IPv6 extension chain not followed to its end: no ports */
  PS_GCNT_IP_OPTIONS = 5,     /* IPv4 with options (classified normally) */
  PS_GCNT_VLAN = 6,           /* in-band 802.1Q/802.1ad tag (classified normally) */
  PS_GCNT_FLOW_NEW = 7,       /* no flow entry: classified, entry created */
  PS_GCNT_FLOW_HIT = 8,       /* live flow entry of the current epoch used */
  PS_GCNT_FLOW_RECLASS = 9,   /* entry of an older epoch: classified again */
  PS_GCNT_FLOW_RECHOSEN = 10, /* entry's uplink not live: a new member chosen */
  PS_GCNT_FLOW_EXPIRED = 11,  /* entry idle beyond flow_idle_s: treated as new */
  PS_GCNT_FLOW_FULL = 12,     /* flow entry could not be written (passed on anyway) */
  PS_GCNT_NO_MEMBER = 13,     /* class without a live member: its own mark (last_resort) */
  PS_GCNT_REDIRECTED = 14,    /* redirect mode: bpf_redirect_neigh to the uplink */
  PS_GCNT_FB_NO_FEATURE = 15, /* redirect mode without kernel support: marked */
  PS_GCNT_FB_VLAN = 16,       /* tagged frame: marked (a redirect would keep the tag) */
  PS_GCNT_FB_TTL = 17,        /* TTL/hop limit <= 1: marked, the stack sends the ICMP error */
  PS_GCNT_FB_REDIRECT = 18,   /* bpf_redirect_neigh refused: marked */
  PS_GCNT_FB_FIB_ERROR = 19,  /* bpf_fib_lookup returned < 0: marked */
  PS_GCNT_FB_FIB = 20,        /* + BPF_FIB_LKUP_RET_* (1..15): lookup failed that way */
  PS_GCNT_OVER_QUOTA = 36,    /* new flow of a source over its quota: classified, not written */
  PS_GCNT_LINK_SCOPE = 37,    /* to multicast, broadcast or link-local: never routed, untouched */
  PS_GCNT_MAX = 40,
};

#define PS_FIB_RET_MAX 15

/* BPF_PROG_TEST_RUN only: a frame whose skb->cb[4] is PS_SIM_MAGIC gets its
 * verdict written to cb[0..3] (real traffic never carries it). */
#define PS_SIM_MAGIC 0x5053494d /* "PSIM" */
#define PS_SIM_CB_CLASS 0       /* class id, or PS_NO_CLASS */
#define PS_SIM_CB_UPLINK 1      /* uplink id, or PS_NO_UPLINK */
#define PS_SIM_CB_REDIRECT 2    /* ifindex redirected to, or 0 */
#define PS_SIM_CB_REASON 3      /* ps_gcnt of the fallback taken, or 0 */
/* PS_SIM_DRY_MAGIC instead: the same, but the flow table is neither written
 * nor touched (explain must not pin a flow) and no counter moves. Either way cb[4] comes back as
 * PS_SIM_OUT_ESTABLISHED when a live flow entry decided the verdict. */
#define PS_SIM_DRY_MAGIC 0x50534459 /* "PSDY" */
#define PS_SIM_OUT_NEW 0
#define PS_SIM_OUT_ESTABLISHED 1

/*
 * ---- DNS-learned destinations (DESIGN §10; docs/DATAPLANE.md "Domains") ----
 * Independent of the classifier's layout above: own map names (suffix "_d1",
 * PS_DNS_LAYOUT), own config map, own counters. The program ps_dns_learn
 * (lib/dns_learn.h) runs on clsact egress of every LAN interface, parses DNS
 * replies (UDP source port 53) and writes the addresses of matching names
 * into ps_dnsaddr_d1 before it returns, i.e. before the reply leaves. The
 * classifier consults them at one place (lib/dns_match.h): a learned
 * destination's dst bitmap index is replaced by the one that adds the rules
 * naming its domain.
 *
 * Maps:
 *  ps_dnscfg_d1  ARRAY[1]   struct ps_dns_config
 *  ps_dnsname_d1 HASH       struct ps_dns_name_key -> struct ps_dns_name: the policy's
 *                           domain patterns (filled by the loader)
 *  ps_dnsaddr_d1 HASH       struct ps_dns_addr_key -> struct ps_dns_addr: learned addresses
 *                           (PS_DNS_MAX_ADDRS; full: counted, never evicting silently)
 *  ps_dnsbm_d1   HASH       struct ps_dns_bm_key -> __u32 bitmap index (rule generation g):
 *                           the dst bitmap of an address learned for `pattern` whose dst
 *                           trie lookup gave `lpm_bitmap`
 *  ps_dnscnt_d1  PERCPU_ARRAY[PS_DCNT_MAX] struct ps_counter, by enum ps_dcnt
 * Not pinned, kernel-only: ps_dnsscr, PERCPU_ARRAY[1] of the parser's scratch
 * (the message copy and the parse state; lib/dns_learn.h).
 *
 * Names are matched by hash (both sides use the functions below): a label's
 * hash folds its length byte and its bytes lowercased (ASCII); a name's
 * suffix hash folds label hashes from the rightmost label leftwards. Pattern
 * "a.example" is the key ps_dns_hash_mix(H(a.example), PS_DNS_KIND_EXACT);
 * "*.example" is ps_dns_hash_mix(H(example), PS_DNS_KIND_BELOW) and matches a
 * name with at least one label before "example".
 */
#define PS_DNS_LAYOUT 1
#define PS_DNS_MAGIC 0x70534e53 /* "pSNS" */
#define PS_DNS_VERSION 1
#define PS_DNS_MAX_ADDRS 262144 /* learned addresses, both families together */
#define PS_DNS_MAX_PATTERNS 65536
#define PS_DNS_MAX_BM 131072 /* (pattern, dst bitmap) pairs, both rule generations */
#define PS_DNS_NO_PRIO 0xffffffff

#define PS_DNS_HASH_SEED 0xcbf29ce484222325ULL
#define PS_DNS_KIND_EXACT 1
#define PS_DNS_KIND_BELOW 2

static inline __u64 ps_dns_hash_byte(__u64 h, __u8 c) {
  return (h ^ c) * 0x100000001b3ULL;
}

static inline __u64 ps_dns_hash_mix(__u64 h, __u64 v) {
  h ^= v;
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

/* ps_dns_config.gens: bit g set when rule generation g has domain entries
 * (without it the classifier skips the learned-address lookup). */
struct ps_dns_config {
  __u32 magic;     /* PS_DNS_MAGIC once initialised */
  __u32 version;   /* PS_DNS_VERSION */
  __u32 min_ttl_s; /* a learned address lives max(TTL, min_ttl_s) + grace_s */
  __u32 grace_s;
  __u32 hz;        /* jiffies per second (ps_config.hz) */
  __u32 gens;      /* bit g: rule generation g has domain entries */
  __u32 max_ttl_s; /* TTLs above are taken as this (no overflow) */
  __u32 reserved[9];
};

struct ps_dns_name_key {
  __u64 pattern; /* ps_dns_hash_mix(suffix hash, PS_DNS_KIND_*) */
};

struct ps_dns_name {
  __u32 prio; /* the first rule naming the pattern (policy order; lower wins) */
  __u32 reserved;
};

/* IPv4 in addr[0], the other words zero; network order. */
struct ps_dns_addr_key {
  __u32 family; /* 4 or 6 */
  __u32 addr[4];
};

struct ps_dns_addr {
  __u64 expires;   /* bpf_jiffies64() after which the address is no destination */
  __u64 refreshed; /* bpf_jiffies64() of the last answer carrying it */
  __u64 pattern;   /* the owner: the best (lowest prio) pattern the answer matched */
  __u64 name;      /* suffix hash of the question name (max_addrs_per_name groups) */
  __u32 prio;      /* the owner pattern's prio when written */
  __u32 ttl;       /* the record's TTL, seconds */
};

struct ps_dns_bm_key {
  __u64 pattern;
  __u32 gen;
  __u32 lpm_bitmap;
};

/* DNS counters (packets; bytes are the reply's). */
enum ps_dcnt {
  PS_DCNT_REPLIES = 0,    /* UDP replies from port 53 parsed (answers seen) */
  PS_DCNT_LEARNED = 1,    /* addresses written that were not learned before */
  PS_DCNT_REFRESHED = 2,  /* addresses learned before, expiry pushed out */
  PS_DCNT_FULL = 3,       /* address not written: ps_dnsaddr_d1 full */
  PS_DCNT_NO_MATCH = 4,   /* a well-formed reply naming no pattern */
  PS_DCNT_TRUNCATED = 5,  /* TC bit: the client retries over TCP (not learned here) */
  PS_DCNT_NOT_ANSWER = 6, /* not a standard query response, or rcode != 0 */
  PS_DCNT_EVICTED = 7,    /* written by the loader: expired or over max_addrs_per_name */
  PS_DCNT_SKIPPED_RR = 8, /* records of other types in the chain (counted, ignored) */
  /* parse failures: the reply is passed, the maps are untouched */
  PS_DCNT_ERR_SHORT = 16,    /* a record or name runs past the message */
  PS_DCNT_ERR_LOOP = 17,     /* compression pointer not strictly backwards, or too many */
  PS_DCNT_ERR_NAME = 18,     /* a name over 255 bytes or with a reserved label type */
  PS_DCNT_ERR_COUNT = 19,    /* qdcount != 1, or more answers than PS_DNS_PARSE_RR */
  PS_DCNT_ERR_CLASS = 20,    /* a class other than IN */
  PS_DCNT_ERR_RDATA = 21,    /* an A/AAAA record of the wrong length */
  PS_DCNT_ERR_CHAIN = 22,    /* longer CNAME chain, or more addresses, than parsed */
  PS_DCNT_ERR_BIG = 23,      /* a message larger than PS_DNS_MSG_MAX */
  PS_DCNT_ERR_FRAGMENT = 24, /* an IP fragment (cannot be parsed whole) */
  PS_DCNT_MAX = 32,
};

#define PS_DNS_MSG_MAX 4096   /* bytes of a DNS message parsed */
#define PS_DNS_PARSE_RR 64    /* answer records parsed */
#define PS_DNS_PARSE_ADDRS 32 /* addresses learned from one reply */
#define PS_DNS_PARSE_CHAIN 8  /* names in one chain: the question and CNAME targets */
#define PS_DNS_PARSE_JUMPS 16 /* compression pointers followed in one name */

/* ---- end of DNS-learned destinations ---- */

/* NOLINTEND(readability-identifier-naming) */

#endif /* PATHSTEER_ABI_H */
