/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Structs shared with Go. bpf2go generates their Go twins (-type), so this
 * file is the single definition; loader tests assert the sizes. Addresses and
 * ports are kept in network byte order, exactly as they sit in the packet. */
#pragma once

#include <linux/types.h>

/* A virtual service: VIP, port and IP protocol. */
struct xlb_service_key {
	__be32 vip;
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

/* XLB_TEST_PREV_ABI builds a test-only object with another layout of the
 * same structs (same sizes, fields moved; a longer flow value; reasons
 * renumbered): loader/upgrade_test.go upgrades from it to this layout, live. */
#ifdef XLB_TEST_PREV_ABI
struct xlb_backend {
	__u32 service_id;
	__u8 mac[6];
	__u8 state;
	__u8 pad;
	__be32 ip;
};
#else
struct xlb_backend {
	__be32 ip;
	__u8 mac[6];
	__u8 state; /* enum xlb_backend_state */
	__u8 pad;
	/* The service this backend id belongs to: a flow is only kept on a
	 * backend of its own service, so a reused id never mis-forwards. */
	__u32 service_id;
};
#endif

/* A connection as the client sent it. */
struct xlb_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct xlb_flow {
#ifdef XLB_TEST_PREV_ABI
	__u32 prev_only;
#endif
	__u32 backend_id;
};

/* A flow the program recorded (new, or re-picked off a failed backend): the
 * daemon sends these to the other director, so that after a failover it
 * forwards every established connection to the same backend. */
struct xlb_flow_event {
	struct xlb_flow_key key;
	__u32 backend_id;
};

struct xlb_counter {
	__u64 packets;
	__u64 bytes;
};

/* Why a frame was not forwarded. XLB_REASON_MAX must stay last. */
enum xlb_reason {
#ifdef XLB_TEST_PREV_ABI
	XLB_PASS_OTHER_MAC = 1,
	XLB_PASS_NOT_IPV4 = 0,
#else
	XLB_PASS_OTHER_MAC = 0,  /* not addressed to our interface's MAC */
	XLB_PASS_NOT_IPV4 = 1,   /* ARP, IPv6, double VLAN tags, ... */
#endif
	XLB_PASS_MALFORMED = 2,  /* truncated or invalid headers: the stack decides */
	XLB_PASS_FRAGMENT = 3,   /* IPv4 fragment: left to the stack, see README */
	XLB_PASS_NO_SERVICE = 4, /* not a VIP:port/proto of ours */
	XLB_PASS_ICMP = 5,       /* ICMP that is not frag-needed about a service flow */
	XLB_DROP_NO_BACKEND = 6, /* a service packet with no usable backend */
	XLB_REASON_MAX = 7,
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
