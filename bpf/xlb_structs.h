/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Structs shared with Go. bpf2go generates their Go twins (-type), so this
 * file is the single definition; loader tests assert the sizes. Addresses and
 * ports are kept in network byte order, exactly as they sit in the packet.
 *
 * Both address families, one program (Katran's is_ipv6 flag): every
 * function that touches a flow takes the flow key of either family and a
 * flag that is constant where it is inlined, so each family gets its own
 * copy of the path with its own maps. The hash maps are per family, Cilium's
 * lb4_/lb6_ split: an IPv4 flow key stays 16 bytes (xlb_flow_key) and an IPv6
 * one is 40 (xlb_flow_key6). One 40-byte key for both families (Katran's
 * flow_key, xvs's 16-byte addresses) made the IPv4 known-flow path 24%
 * slower here (the flow table hashes and compares every key byte: 33 -> 41
 * ns, loader/bench_test.go), and IPv4's cost must not rise. The per-family
 * keys keep IPv4's layout exactly, so the upgrade from an IPv4-only build
 * copies its services and flows as they are.
 *
 * Where an address of either family is stored beside others (a backend, a
 * flow event for flow sync) it is Katran's union of one IPv4 word and four
 * IPv6 words, with the family beside it: IPv4 sits in the first word with
 * the other three zero, and the family tells it from the IPv6 address with
 * the same first word and zeros after it. Service ids, backend ids, the
 * Maglev tables and every counter are shared by both families. */
#pragma once

#include <linux/types.h>

/* An address of either family: IPv4 in v4 (== v6[0]), v6[1..3] zero.
 * v6 comes first so that Go's twin (which keeps a union's first member)
 * can hold both. */
union xlb_addr {
	__be32 v6[4];
	__be32 v4;
};

/* The family of a backend's or a flow event's address. IPv4 is 0: backends
 * carried from the IPv4-only layout are IPv4. */
enum xlb_family {
	XLB_FAMILY_IPV4 = 0,
	XLB_FAMILY_IPV6 = 1,
};

/* A virtual IPv4 service: VIP, port and IP protocol. */
struct xlb_service_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

/* A virtual IPv6 service. */
struct xlb_service_key6 {
	union xlb_addr vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

enum xlb_service_flags {
	/* Hash only the client address: source-IP affinity (sh, persistence). */
	XLB_SVC_HASH_SRC = 1 << 0,
};

struct xlb_service {
	__u32 id;
	__u32 flags;
	/* Which of the service's two Maglev slots is live (0 or 1). Go fills the
	 * other slot, then flips this index: the program never sees a
	 * half-written table. */
	__u32 slot;
};

enum xlb_backend_state {
	XLB_BACKEND_UNUSED = 0, /* no backend at this id */
	XLB_BACKEND_ACTIVE = 1, /* takes new and existing flows */
	XLB_BACKEND_DRAINED = 2, /* weight 0: keeps its flows, takes no new ones */
	XLB_BACKEND_DOWN = 3, /* failed: its flows are re-picked */
};

/* A real server of one service; it is of the service's family. */
struct xlb_backend {
	union xlb_addr ip;
	__u8 mac[6];
	__u8 state; /* enum xlb_backend_state */
	__u8 family; /* enum xlb_family, the service's */
	/* The service this backend id belongs to: a flow is only kept on a
	 * backend of its own service, so a reused id never mis-forwards. */
	__u32 service_id;
};

/* An IPv4 connection as the client sent it. */
struct xlb_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* An IPv6 connection as the client sent it. */
struct xlb_flow_key6 {
	union xlb_addr saddr;
	union xlb_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct xlb_flow {
	__u32 backend_id;
};

/* A flow the program recorded (new, or re-picked off a failed backend): the
 * daemon sends these to the other director, so that after a failover it
 * forwards every established connection to the same backend. */
struct xlb_flow_event {
	union xlb_addr saddr;
	union xlb_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family; /* enum xlb_family */
	__u8 pad[2];
	__u32 backend_id;
};

struct xlb_counter {
	__u64 packets;
	__u64 bytes;
};

/* Why a frame was not forwarded. XLB_REASON_MAX must stay last. */
enum xlb_reason {
	XLB_PASS_OTHER_MAC = 0,  /* not addressed to our interface's MAC */
	XLB_PASS_NOT_IP = 1,     /* neither IPv4 nor IPv6: ARP, double VLAN tags, ... */
	XLB_PASS_MALFORMED = 2,  /* truncated or invalid headers: the stack decides */
	/* IPv4 fragment or IPv6 fragment header: the stack's, see README; also
	 * a packet-too-big quoting a later fragment (it names no ports) */
	XLB_PASS_FRAGMENT = 3,
	XLB_PASS_NO_SERVICE = 4, /* not a VIP:port/proto of ours */
	/* ICMP or ICMPv6 that is not frag-needed / packet-too-big about a
	 * service flow: echo, neighbour discovery, ... */
	XLB_PASS_ICMP = 5,
	XLB_DROP_NO_BACKEND = 6, /* a service packet with no usable backend */
	/* IPv6 extension headers not walked, in a frame or in the packet a
	 * packet-too-big quotes: a chain longer than XLB_IPV6_MAX_EXT_HDRS, or a
	 * routing header with segments left (the destination is not the final
	 * one) */
	XLB_PASS_IPV6_EXT = 7,
	XLB_REASON_MAX = 8,
};

/* What happened to flows, counted per CPU (packets; bytes of the packet
 * that did it). XLB_FLOW_STAT_MAX must stay last. */
enum xlb_flow_stat {
	XLB_FLOW_OPENED = 0,   /* an opening packet put a flow in the new-flow table */
	XLB_FLOW_RECORDED = 1, /* a flow's next packet moved it into the flow table */
	XLB_FLOW_LIMITED = 2,  /* ... but this CPU's insert budget was spent: not moved */
	XLB_FLOW_UNTRACKED = 3, /* no flow and no opening (TCP without SYN): Maglev pick, no entry */
	XLB_FLOW_REPICKED = 4, /* a known flow's backend went away: moved to the pick */
	XLB_FLOW_STAT_MAX = 5,
};

/* This CPU's flow-table inserts in the current window. */
struct xlb_insert_window {
	__u64 start_ns; /* bpf_ktime_get_ns() when the window opened */
	__u32 inserts;
	__u32 pad;
};

/* Per-attachment settings, fixed at load time in .rodata. */
struct xlb_config {
	__u8 mac[6]; /* the attached interface's own MAC */
	__u8 flow_events; /* 1: report recorded flows in xlb_flow_events */
	__u8 pad;
	/* Seed of the flow hash: per deployment, the same on both directors (they
	 * must pick alike), unknown outside so nobody can aim flows at a backend. */
	__u32 hash_seed;
	/* Flow-table inserts each CPU may make per window (XLB_INSERT_WINDOW_NS). */
	__u32 inserts_per_window;
};
