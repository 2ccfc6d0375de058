/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow hash. loader/hash.go is its Go twin (tests check they agree): the
 * control plane uses it to predict picks and to show which backend owns a
 * flow. Each 32-bit word goes through murmur3's finalizer so that flows that
 * differ in one source port bit still land far apart in the table. */
#pragma once

#include <linux/types.h>
#include "xlb_structs.h"

static __always_inline __u32 xlb_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Words are taken as they sit in memory (network byte order read as a
 * little-endian u32): the Go twin does the same. */
static __always_inline __u32 xlb_flow_hash(const struct xlb_flow_key *k, __u32 seed)
{
	__u32 h = seed ^ k->proto;

	h = xlb_mix32(h ^ k->saddr);
	h = xlb_mix32(h ^ k->daddr);
	h = xlb_mix32(h ^ ((__u32)k->sport | ((__u32)k->dport << 16)));
	return h;
}

static __always_inline __u32 xlb_src_hash(const struct xlb_flow_key *k, __u32 seed)
{
	return xlb_mix32(seed ^ k->saddr);
}

/* IPv6: the same, over an address's four words. */
static __always_inline __u32 xlb_addr6_hash(__u32 h, const union xlb_addr *a)
{
	h = xlb_mix32(h ^ a->v6[0]);
	h = xlb_mix32(h ^ a->v6[1]);
	h = xlb_mix32(h ^ a->v6[2]);
	return xlb_mix32(h ^ a->v6[3]);
}

static __always_inline __u32 xlb_flow_hash6(const struct xlb_flow_key6 *k, __u32 seed)
{
	__u32 h = seed ^ k->proto;

	h = xlb_addr6_hash(h, &k->saddr);
	h = xlb_addr6_hash(h, &k->daddr);
	h = xlb_mix32(h ^ ((__u32)k->sport | ((__u32)k->dport << 16)));
	return h;
}

static __always_inline __u32 xlb_src_hash6(const struct xlb_flow_key6 *k, __u32 seed)
{
	return xlb_addr6_hash(seed, &k->saddr);
}
