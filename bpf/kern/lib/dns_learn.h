/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ps_dns_learn: clsact egress of the LAN interfaces. Parses DNS replies (UDP
 * source port 53, IPv4 or IPv6) on their way to a client: the question, the
 * CNAME chain it leads through, and the chain's A/AAAA records. When the
 * question name or a name on the chain matches a domain pattern of the
 * policy, every address of the chain is written to ps_dnsaddr_d1 with the
 * best pattern (the first rule in policy order) as its owner, before the
 * program returns: the reply reaches the client only after its addresses are
 * in the map, so the client's first packet to one cannot overtake it.
 *
 * The whole reply is parsed before anything is written: a malformed or
 * hostile one (truncated, a compression loop, a name over 255 bytes, too
 * many records, a class other than IN) leaves the maps untouched and counts
 * the reason. Every loop has a fixed bound. The reply is never dropped or
 * modified: every path returns TC_ACT_UNSPEC.
 */
#ifndef PS_LIB_DNS_LEARN_H
#define PS_LIB_DNS_LEARN_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pathsteer_abi.h"
#include "lib/compiler.h"
#include "lib/dns_maps.h"
#include "lib/maps.h"
#include "lib/parse.h"

#define PS_DNS_MSG_MASK (PS_DNS_MSG_MAX - 1)
#define PS_DNS_LABELS 128 /* a 255-byte name has at most 127 labels */
#define PS_DNS_HDR_LEN 12
#define PS_DNS_TYPE_A 1
#define PS_DNS_TYPE_CNAME 5
#define PS_DNS_TYPE_AAAA 28
#define PS_DNS_CLASS_IN 1
/* Each step of a name consumes a byte, or follows a pointer. */
#define PS_DNS_NAME_STEPS (256 + 2 * PS_DNS_PARSE_JUMPS)

struct ps_dns_learned {
	__u32 family;
	__u32 addr[4];
	__u32 ttl;
};

/* Per-CPU scratch: the message and the parse state (too big for the stack). */
struct ps_dns_scratch {
	__u8 msg[PS_DNS_MSG_MAX];
	__u64 label[PS_DNS_LABELS]; /* label hashes of the name just read */
	__u64 chain[PS_DNS_PARSE_CHAIN];
	struct ps_dns_learned addrs[PS_DNS_PARSE_ADDRS];
	__u32 len;	    /* message length */
	__u32 nlabels;	    /* of the name just read */
	__u64 name_hash;    /* suffix hash of the whole name just read */
	__u64 best_pattern; /* the owner so far */
	__u32 best_prio;    /* PS_DNS_NO_PRIO: none yet */
	__u32 nchain;
	__u32 naddrs;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_dns_scratch);
} ps_dnsscr SEC(".maps");

static __always_inline void ps_dns_count(__u32 reason, __u32 bytes)
{
	ps_count(&ps_dnscnt_d1, reason, bytes);
}

/*
 * An index masked in the register that then indexes the array: clang drops a
 * mask it can prove redundant after a range check, and the verifier, which
 * tracks the check on another register copy, then rejects the access.
 */
static __always_inline __u64 ps_dns_mask(__u64 v, const __u64 mask)
{
	asm volatile("%[v] &= %[m]" : [v] "+r"(v) : [m] "i"(mask));
	return v;
}

static __always_inline __u8 ps_dns_byte(const struct ps_dns_scratch *s, __u32 off)
{
	return s->msg[ps_dns_mask(off, PS_DNS_MSG_MASK)];
}

static __always_inline __u32 ps_dns_u16(const struct ps_dns_scratch *s, __u32 off)
{
	return ((__u32)ps_dns_byte(s, off) << 8) | ps_dns_byte(s, off + 1);
}

static __always_inline __u32 ps_dns_u32(const struct ps_dns_scratch *s, __u32 off)
{
	return (ps_dns_u16(s, off) << 16) | ps_dns_u16(s, off + 2);
}

struct ps_dns_name_walk {
	struct ps_dns_scratch *s;
	__u64 lh; /* hash of the label being read */
	__u32 pos, end, limit, remaining, total, n, jumps;
	__s32 err;
};

/* One step of a name: a byte of a label, a length byte, or a pointer.
 * Returns 1 when the name ends (err set on failure), 0 to go on. */
static long ps_dns_name_step(__u32 index, void *data)
{
	struct ps_dns_name_walk *w = data;
	struct ps_dns_scratch *s = w->s;
	__u32 pos = w->pos;
	__u8 c;

	if (pos >= s->len || pos >= PS_DNS_MSG_MAX) {
		w->err = -PS_DCNT_ERR_SHORT;
		return 1;
	}
	c = ps_dns_byte(s, pos);
	if (w->remaining) {
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		w->lh = ps_dns_hash_byte(w->lh, c);
		w->pos = pos + 1;
		if (--w->remaining == 0) {
			s->label[ps_dns_mask(w->n, PS_DNS_LABELS - 1)] = w->lh;
			w->n++;
		}
		return 0;
	}
	if (c == 0) {
		if (!w->end)
			w->end = pos + 1;
		return 1;
	}
	if ((c & 0xc0) == 0xc0) {
		__u32 ptr;

		if (pos + 1 >= s->len) {
			w->err = -PS_DCNT_ERR_SHORT;
			return 1;
		}
		ptr = ((c & 0x3f) << 8) | ps_dns_byte(s, pos + 1);
		if (!w->end)
			w->end = pos + 2;
		if (ptr >= w->limit || ++w->jumps > PS_DNS_PARSE_JUMPS) {
			w->err = -PS_DCNT_ERR_LOOP;
			return 1;
		}
		w->limit = ptr;
		w->pos = ptr;
		return 0;
	}
	if (c & 0xc0) {
		w->err = -PS_DCNT_ERR_NAME; /* 0x40, 0x80: label types not in use */
		return 1;
	}
	w->total += c + 1;
	if (w->total > 255 || w->n >= PS_DNS_LABELS - 1) {
		w->err = -PS_DCNT_ERR_NAME;
		return 1;
	}
	w->lh = ps_dns_hash_byte(PS_DNS_HASH_SEED, c);
	w->remaining = c;
	w->pos = pos + 1;
	return 0;
}

/*
 * Reads the name at off: its label hashes into s->label, its hash into
 * s->name_hash. Returns the offset just past the name where it started (past
 * the first pointer if any), or -PS_DCNT_ERR_* . Pointers must go strictly
 * backwards from the previous jump target (so a name cannot loop), at most
 * PS_DNS_PARSE_JUMPS of them. bpf_loop, not a bounded loop: the verifier
 * checks the step once instead of walking every iteration's states.
 */
__noinline int ps_dns_read_name(struct ps_dns_scratch *s, __u32 off)
{
	struct ps_dns_name_walk w = {.s = s, .pos = off, .limit = off, .total = 1};
	__u64 h = PS_DNS_HASH_SEED;
	__u32 i, n;

	if (!s)
		return -PS_DCNT_ERR_SHORT;
	bpf_loop(PS_DNS_NAME_STEPS, ps_dns_name_step, &w, 0);
	if (w.err)
		return w.err;
	if (!w.end)
		return -PS_DCNT_ERR_NAME; /* cannot happen: the steps cover 255 bytes */
	/* The name's hash folds its labels right to left. */
	n = w.n;
	for (i = 0; i < PS_DNS_LABELS; i++) {
		if (i >= n)
			break;
		h = ps_dns_hash_mix(h, s->label[ps_dns_mask(n - 1 - i, PS_DNS_LABELS - 1)]);
	}
	s->nlabels = n;
	s->name_hash = h;
	return w.end;
}

/* Looks up every suffix of the name just read (exact for the whole name,
 * "below" for the proper suffixes) and keeps the best pattern in s. */
__noinline int ps_dns_match_name(struct ps_dns_scratch *s)
{
	__u64 h = PS_DNS_HASH_SEED;
	__u32 n, i;

	if (!s)
		return 0;
	n = s->nlabels;
	for (i = 0; i < PS_DNS_LABELS; i++) {
		struct ps_dns_name_key key;
		const struct ps_dns_name *v;
		__u32 k;

		if (i >= n)
			break;
		k = n - 1 - i; /* the suffix starting at label k */
		h = ps_dns_hash_mix(h, s->label[ps_dns_mask(k, PS_DNS_LABELS - 1)]);
		key.pattern = ps_dns_hash_mix(h, k == 0 ? PS_DNS_KIND_EXACT : PS_DNS_KIND_BELOW);
		v = bpf_map_lookup_elem(&ps_dnsname_d1, &key);
		if (v && v->prio < s->best_prio) {
			s->best_prio = v->prio;
			s->best_pattern = key.pattern;
		}
	}
	return 0;
}

static __always_inline int ps_dns_in_chain(const struct ps_dns_scratch *s, __u64 h)
{
	__u32 i;

	for (i = 0; i < PS_DNS_PARSE_CHAIN; i++) {
		if (i >= s->nchain)
			break;
		if (s->chain[i] == h)
			return 1;
	}
	return 0;
}

/* Parses the answer section from off; returns 0 or -PS_DCNT_ERR_*. */
__noinline int ps_dns_parse_answers(struct ps_dns_scratch *s, __u32 off, __u32 ancount)
{
	__u32 i;

	if (!s)
		return -PS_DCNT_ERR_SHORT;
	for (i = 0; i < PS_DNS_PARSE_RR; i++) {
		__u32 type, class, ttl, rdlen, rdata;
		int next, owned;

		if (i >= ancount)
			break;
		next = ps_dns_read_name(s, off);
		if (next < 0)
			return next;
		owned = ps_dns_in_chain(s, s->name_hash);
		off = next;
		if (off + 10 > s->len)
			return -PS_DCNT_ERR_SHORT;
		type = ps_dns_u16(s, off);
		class = ps_dns_u16(s, off + 2);
		ttl = ps_dns_u32(s, off + 4);
		rdlen = ps_dns_u16(s, off + 8);
		rdata = off + 10;
		if (rdata + rdlen > s->len)
			return -PS_DCNT_ERR_SHORT;
		off = rdata + rdlen;
		if (class != PS_DNS_CLASS_IN)
			return -PS_DCNT_ERR_CLASS;
		if (!owned)
			continue;
		if (type == PS_DNS_TYPE_CNAME) {
			next = ps_dns_read_name(s, rdata);
			if (next < 0)
				return next;
			if ((__u32)next != rdata + rdlen)
				return -PS_DCNT_ERR_RDATA;
			if (s->nchain >= PS_DNS_PARSE_CHAIN)
				return -PS_DCNT_ERR_CHAIN;
			s->chain[ps_dns_mask(s->nchain, PS_DNS_PARSE_CHAIN - 1)] = s->name_hash;
			s->nchain++;
			ps_dns_match_name(s);
		} else if (type == PS_DNS_TYPE_A || type == PS_DNS_TYPE_AAAA) {
			struct ps_dns_learned *a;
			__u32 w, words = type == PS_DNS_TYPE_A ? 1 : 4;

			if (rdlen != words * 4)
				return -PS_DCNT_ERR_RDATA;
			if (s->naddrs >= PS_DNS_PARSE_ADDRS)
				return -PS_DCNT_ERR_CHAIN;
			a = &s->addrs[ps_dns_mask(s->naddrs, PS_DNS_PARSE_ADDRS - 1)];
			a->family = words == 1 ? 4 : 6;
			a->ttl = ttl;
			for (w = 0; w < 4; w++) {
				__u32 v = w < words ? ps_dns_u32(s, rdata + 4 * w) : 0;

				a->addr[w] = bpf_htonl(v);
			}
			s->naddrs++;
		} else {
			ps_dns_count(PS_DCNT_SKIPPED_RR, 0);
		}
	}
	return 0;
}

/* Writes the parsed addresses with the reply's owner; an address the table
 * has no room for is counted as PS_DCNT_FULL. */
static __always_inline void ps_dns_write(struct ps_dns_scratch *s, __u32 bytes)
{
	const struct ps_dns_config *cfg;
	__u64 now = bpf_jiffies64(), hz;
	__u32 zero = 0, i, min_ttl, grace, max_ttl;

	cfg = bpf_map_lookup_elem(&ps_dnscfg_d1, &zero);
	if (!cfg)
		return;
	hz = READ_ONCE(cfg->hz);
	min_ttl = READ_ONCE(cfg->min_ttl_s);
	grace = READ_ONCE(cfg->grace_s);
	max_ttl = READ_ONCE(cfg->max_ttl_s);
	for (i = 0; i < PS_DNS_PARSE_ADDRS; i++) {
		struct ps_dns_addr_key key = {};
		struct ps_dns_addr v = {}, *old;
		const struct ps_dns_learned *a;
		__u32 ttl;

		if (i >= s->naddrs)
			break;
		a = &s->addrs[ps_dns_mask(i, PS_DNS_PARSE_ADDRS - 1)];
		key.family = a->family;
		__builtin_memcpy(key.addr, a->addr, sizeof(key.addr));
		ttl = a->ttl;
		if (ttl > max_ttl)
			ttl = max_ttl;
		if (ttl < min_ttl)
			ttl = min_ttl;
		v.expires = now + ((__u64)ttl + grace) * hz;
		v.refreshed = now;
		v.pattern = s->best_pattern;
		v.name = s->chain[0];
		v.prio = s->best_prio;
		v.ttl = a->ttl;
		old = bpf_map_lookup_elem(&ps_dnsaddr_d1, &key);
		if (old) {
			/* Another live owner earlier in policy order keeps the address. */
			if (READ_ONCE(old->expires) >= now && READ_ONCE(old->prio) < v.prio &&
			    READ_ONCE(old->pattern) != v.pattern) {
				WRITE_ONCE(old->refreshed, now);
				if (v.expires > READ_ONCE(old->expires))
					WRITE_ONCE(old->expires, v.expires);
			} else {
				WRITE_ONCE(old->pattern, v.pattern);
				WRITE_ONCE(old->prio, v.prio);
				WRITE_ONCE(old->name, v.name);
				WRITE_ONCE(old->ttl, v.ttl);
				WRITE_ONCE(old->refreshed, now);
				WRITE_ONCE(old->expires, v.expires);
			}
			ps_dns_count(PS_DCNT_REFRESHED, bytes);
			continue;
		}
		if (bpf_map_update_elem(&ps_dnsaddr_d1, &key, &v, BPF_NOEXIST) == 0)
			ps_dns_count(PS_DCNT_LEARNED, bytes);
		else if (bpf_map_lookup_elem(&ps_dnsaddr_d1, &key))
			ps_dns_count(PS_DCNT_REFRESHED, bytes); /* another CPU wrote it just now */
		else
			ps_dns_count(PS_DCNT_FULL, bytes);
	}
}

/* Offset and length of the UDP payload of a reply from port 53, or -1. */
static __always_inline int ps_dns_locate(struct __sk_buff *skb, __u32 *payload, __u32 *len)
{
	__u32 off = sizeof(struct ethhdr), l4;
	struct udphdr udp;
	__be16 proto;
	__u8 l4proto;

	if (PS_LOAD(skb, __builtin_offsetof(struct ethhdr, h_proto), &proto) < 0)
		return -1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct ps_vlan_hdr vlan;

		if (PS_LOAD(skb, off, &vlan) < 0)
			return -1;
		proto = vlan.encap_proto;
		off += sizeof(vlan);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (PS_LOAD(skb, off, &ip) < 0 || ip.version != 4 || ip.ihl < 5)
			return -1;
		if (ip.protocol != IPPROTO_UDP)
			return -1;
		l4 = off + ip.ihl * 4;
		if (ip.frag_off & bpf_htons(0x3fff)) {
			/* MF or an offset: only a whole reply can be parsed. */
			if (PS_LOAD(skb, l4, &udp) == 0 && udp.source == bpf_htons(53))
				return -2;
			return -1;
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (PS_LOAD(skb, off, &ip6) < 0 || ip6.version != 6)
			return -1;
		l4proto = ip6.nexthdr;
		if (l4proto == IPPROTO_FRAGMENT)
			return -1; /* not followed; rare for replies to a LAN client */
		if (l4proto != IPPROTO_UDP)
			return -1;
		l4 = off + sizeof(ip6);
	} else {
		return -1;
	}
	if (PS_LOAD(skb, l4, &udp) < 0 || udp.source != bpf_htons(53))
		return -1;
	if (bpf_ntohs(udp.len) < sizeof(udp) || l4 + bpf_ntohs(udp.len) > skb->len)
		return -1;
	*payload = l4 + sizeof(udp);
	*len = bpf_ntohs(udp.len) - sizeof(udp);
	return 0;
}

SEC("tc")
int ps_dns_learn(struct __sk_buff *skb)
{
	struct ps_dns_scratch *s;
	__u32 zero = 0, payload = 0, len = 0, flags, qd, an, bytes = skb->len;
	int res;

	res = ps_dns_locate(skb, &payload, &len);
	if (res == -2)
		ps_dns_count(PS_DCNT_ERR_FRAGMENT, bytes);
	if (res < 0)
		return TC_ACT_UNSPEC;
	ps_dns_count(PS_DCNT_REPLIES, bytes);
	if (len > PS_DNS_MSG_MAX) {
		ps_dns_count(PS_DCNT_ERR_BIG, bytes);
		return TC_ACT_UNSPEC;
	}
	if (len < PS_DNS_HDR_LEN) {
		ps_dns_count(PS_DCNT_ERR_SHORT, bytes);
		return TC_ACT_UNSPEC;
	}
	s = bpf_map_lookup_elem(&ps_dnsscr, &zero);
	if (!s)
		return TC_ACT_UNSPEC;
	/* The verifier needs the length bounded in the register it is passed in. */
	len &= PS_DNS_MSG_MAX * 2 - 1;
	if (len > PS_DNS_MSG_MAX || len < PS_DNS_HDR_LEN)
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, payload, s->msg, len) < 0) {
		ps_dns_count(PS_DCNT_ERR_SHORT, bytes);
		return TC_ACT_UNSPEC;
	}
	s->len = len;
	flags = ps_dns_u16(s, 2);
	qd = ps_dns_u16(s, 4);
	an = ps_dns_u16(s, 6);
	/* QR set, opcode QUERY, rcode NOERROR. */
	if (!(flags & 0x8000) || (flags & 0x7800) || (flags & 0x000f)) {
		ps_dns_count(PS_DCNT_NOT_ANSWER, bytes);
		return TC_ACT_UNSPEC;
	}
	if (flags & 0x0200) {
		ps_dns_count(PS_DCNT_TRUNCATED, bytes);
		return TC_ACT_UNSPEC;
	}
	if (qd != 1 || an > PS_DNS_PARSE_RR) {
		ps_dns_count(PS_DCNT_ERR_COUNT, bytes);
		return TC_ACT_UNSPEC;
	}
	s->best_prio = PS_DNS_NO_PRIO;
	s->best_pattern = 0;
	s->nchain = 0;
	s->naddrs = 0;
	res = ps_dns_read_name(s, PS_DNS_HDR_LEN);
	if (res < 0) {
		ps_dns_count(-res, bytes);
		return TC_ACT_UNSPEC;
	}
	if ((__u32)res + 4 > s->len) {
		ps_dns_count(PS_DCNT_ERR_SHORT, bytes);
		return TC_ACT_UNSPEC;
	}
	if (ps_dns_u16(s, res + 2) != PS_DNS_CLASS_IN) {
		ps_dns_count(PS_DCNT_ERR_CLASS, bytes);
		return TC_ACT_UNSPEC;
	}
	s->chain[0] = s->name_hash;
	s->nchain = 1;
	ps_dns_match_name(s);
	res = ps_dns_parse_answers(s, res + 4, an);
	if (res < 0) {
		ps_dns_count(-res & (PS_DCNT_MAX - 1), bytes);
		return TC_ACT_UNSPEC;
	}
	if (s->best_prio == PS_DNS_NO_PRIO) {
		ps_dns_count(PS_DCNT_NO_MATCH, bytes);
		return TC_ACT_UNSPEC;
	}
	ps_dns_write(s, bytes);
	return TC_ACT_UNSPEC;
}

/* Run by the loader through BPF_PROG_TEST_RUN: the 64-bit jiffies the
 * expiries are kept in, in cb[0] (low) and cb[1] (high). Never attached. */
SEC("tc")
int ps_dns_clock(struct __sk_buff *skb)
{
	__u64 now = bpf_jiffies64();

	skb->cb[0] = (__u32)now;
	skb->cb[1] = (__u32)(now >> 32);
	return 0;
}

#endif /* PS_LIB_DNS_LEARN_H */
