/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing. Every access is bounds-checked against data_end; a frame
 * that ends early is reported as malformed and left to the stack. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "xlb_consts.h"
#include "xlb_structs.h"

struct xlb_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* ICMP and ICMPv6 header up to the quoted packet (linux/icmp.h drags in
 * libc headers); the two share this layout. */
struct xlb_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;
};

/* The two port fields that open both a TCP and a UDP header. */
struct xlb_ports {
	__be16 src;
	__be16 dst;
};

/* The opening of every IPv6 extension header the walk follows (RFC 8200
 * 4.3-4.6): the next header, then the length in 8-byte units beyond the
 * first 8 (the fragment header has a reserved byte there: it is 8 bytes). */
struct xlb_ipv6_ext {
	__u8 nexthdr;
	__u8 len;
	union {
		struct {
			__u8 routing_type;
			__u8 segments_left;
		}; /* routing header */
		__be16 frag_off; /* fragment header: offset, 2 reserved bits, M */
	};
};

enum xlb_parse_result {
	XLB_PARSE_OK = 0,
	XLB_PARSE_MALFORMED,
	XLB_PARSE_FRAGMENT,
	XLB_PARSE_OTHER_L4,
	XLB_PARSE_IPV6_EXT,
};

/* Ethernet, then at most one 802.1Q/802.1ad tag. Returns the L3 header with
 * *proto its EtherType (the caller dispatches on it), or NULL with *res
 * saying why. */
static __always_inline void *parse_l2(void *data, void *data_end, __be16 *proto_out,
				      enum xlb_parse_result *res)
{
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__be16 proto;

	if (l3 > data_end) {
		*res = XLB_PARSE_MALFORMED;
		return NULL;
	}
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct xlb_vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > data_end) {
			*res = XLB_PARSE_MALFORMED;
			return NULL;
		}
		proto = vlan->proto;
		l3 = vlan + 1;
	}
	*proto_out = proto;
	return l3;
}

/* Validates an IPv4 header (options allowed) and returns the L4 header that
 * follows it. A fragment is reported before any L4 access: only the first
 * fragment carries ports. */
static __always_inline void *parse_ipv4(struct iphdr *ip, void *data_end,
					enum xlb_parse_result *res)
{
	__u32 ihl_bytes;
	void *l4;

	if ((void *)(ip + 1) > data_end) {
		*res = XLB_PARSE_MALFORMED;
		return NULL;
	}
	ihl_bytes = ip->ihl * 4;
	if (ip->version != 4 || ihl_bytes < sizeof(*ip)) {
		*res = XLB_PARSE_MALFORMED;
		return NULL;
	}
	l4 = (void *)ip + ihl_bytes;
	if (l4 > data_end) {
		*res = XLB_PARSE_MALFORMED;
		return NULL;
	}
	if (ip->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)) {
		*res = XLB_PARSE_FRAGMENT;
		return NULL;
	}
	*res = XLB_PARSE_OK;
	return l4;
}

static __always_inline int ipv6_ext_hdr(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_FRAGMENT;
}

/* Validates an IPv6 header and walks its extension headers, at most
 * XLB_IPV6_MAX_EXT_HDRS of them, to the L4 header: returns it with *l4proto
 * its protocol. A fragment header ends the walk (XLB_PARSE_FRAGMENT: only
 * the first fragment carries ports, the stack reassembles) unless first_frag
 * is set and it is the first fragment (offset 0), as does a routing header
 * with segments left (the destination address is not the final one) or a
 * chain longer than the bound (XLB_PARSE_IPV6_EXT). Every header must be
 * whole within the frame.
 *
 * Both the frame's own header (first_frag 0) and the packet a packet-too-big
 * quotes (first_frag 1, see icmp6_key) go through this one walk; every
 * caller passes first_frag as a constant, so the frame's walk has no
 * fragment-offset test at all. */
static __always_inline void *parse_ipv6(struct ipv6hdr *ip6, void *data_end, int first_frag,
					__u8 *l4proto, enum xlb_parse_result *res)
{
	struct xlb_ipv6_ext *ext;
	void *p = ip6 + 1;
	__u8 next;
	int i;

	if (p > data_end || ip6->version != 6) {
		*res = XLB_PARSE_MALFORMED;
		return NULL;
	}
	next = ip6->nexthdr;
#pragma unroll
	for (i = 0; i <= XLB_IPV6_MAX_EXT_HDRS; i++) {
		if (!ipv6_ext_hdr(next)) {
			*l4proto = next;
			*res = XLB_PARSE_OK;
			return p;
		}
		if (i == XLB_IPV6_MAX_EXT_HDRS)
			break;
		ext = p;
		if ((void *)(ext + 1) > data_end) {
			*res = XLB_PARSE_MALFORMED;
			return NULL;
		}
		if (next == IPPROTO_FRAGMENT) {
			if (!first_frag || (ext->frag_off & bpf_htons(XLB_IP6_OFFSET))) {
				*res = XLB_PARSE_FRAGMENT;
				return NULL;
			}
			next = ext->nexthdr;
			p += 8;
		} else {
			if (next == IPPROTO_ROUTING && ext->segments_left) {
				*res = XLB_PARSE_IPV6_EXT;
				return NULL;
			}
			next = ext->nexthdr;
			p += (ext->len + 1) * 8;
		}
		if (p > data_end) {
			*res = XLB_PARSE_MALFORMED;
			return NULL;
		}
	}
	/* One more extension header than the bound walks. */
	*res = XLB_PARSE_IPV6_EXT;
	return NULL;
}

/* Fills the ports of a TCP or UDP header, requiring the whole fixed header
 * (20 bytes for TCP, 8 for UDP) to be present. */
static __always_inline enum xlb_parse_result
parse_ports(__u8 proto, void *l4, void *data_end, struct xlb_ports *ports)
{
	if (proto == IPPROTO_TCP) {
		if (l4 + 20 > data_end)
			return XLB_PARSE_MALFORMED;
	} else if (proto == IPPROTO_UDP) {
		if (l4 + 8 > data_end)
			return XLB_PARSE_MALFORMED;
	} else {
		return XLB_PARSE_OTHER_L4;
	}
	*ports = *(struct xlb_ports *)l4;
	return XLB_PARSE_OK;
}
