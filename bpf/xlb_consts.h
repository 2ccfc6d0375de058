/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Sizes and constants shared by the XDP program and the Go control plane.
 * Every size is a macro so a build can override it (-DXLB_MAGLEV_SIZE=...);
 * the Go side reads the sizes back from the loaded object, never from here. */
#pragma once

/* Slots of one Maglev lookup table: a prime, as the Maglev paper requires.
 * 65537 keeps each backend's share within a fraction of a percent of its
 * weight share up to ~1000 backends. */
#ifndef XLB_MAGLEV_SIZE
#define XLB_MAGLEV_SIZE 65537
#endif

/* Services (VIP:port/proto). Service id 0 is never allocated. */
#ifndef XLB_MAX_SERVICES
#define XLB_MAX_SERVICES 1024
#endif

/* Backends, counted per service: the same real server in two services holds
 * two ids. Backend id 0 is never allocated, so a zeroed table slot is empty. */
#ifndef XLB_MAX_BACKENDS
#define XLB_MAX_BACKENDS 4096
#endif

/* Flow table entries; the loader may override max_entries at load time. */
#ifndef XLB_MAX_FLOWS
#define XLB_MAX_FLOWS 1048576
#endif

/* Entries of the new-flow table: flows that sent their opening packet (a TCP
 * SYN, a first UDP datagram) and nothing since. A flood of openings from
 * random sources churns this table only; at 600k openings/s an entry lives
 * ~110 ms, far beyond a client's round trip on the director's segment. */
#ifndef XLB_MAX_NEW_FLOWS
#define XLB_MAX_NEW_FLOWS 65536
#endif

/* Bytes of the flow-event ring (a power of two, a multiple of the page size):
 * 256 KiB hold ~10k events between two reads by the daemon. */
#ifndef XLB_FLOW_EVENTS_BYTES
#define XLB_FLOW_EVENTS_BYTES (256 * 1024)
#endif

/* Nanoseconds of one window of the per-CPU flow-insert budget. */
#define XLB_INSERT_WINDOW_NS 1000000000ull

/* TCP flag bits, as in byte 13 of the header. */
#define XLB_TCP_SYN 0x02
#define XLB_TCP_RST 0x04
#define XLB_TCP_ACK 0x10

#define XLB_ICMP_DEST_UNREACH 3
#define XLB_ICMP_FRAG_NEEDED  4

/* IPv4 fragment bits (in the kernel's net/ip.h, not in the uapi headers). */
#define XLB_IP_MF     0x2000
#define XLB_IP_OFFSET 0x1FFF

/* The offset bits of an IPv6 fragment header's offset field (RFC 8200 4.5);
 * the low three are two reserved bits and M. */
#define XLB_IP6_OFFSET 0xFFF8

/* ICMPv6 "packet too big" (RFC 4443 3.2): the IPv6 path-MTU message. */
#define XLB_ICMPV6_PKT_TOOBIG 2

/* IPv6 extension headers walked before the L4 header (hop-by-hop, routing,
 * destination options; a fragment header ends the walk, except a first
 * fragment's in the packet a packet-too-big quotes). RFC 8200 4.1's
 * recommended order holds at most hop-by-hop, destination options, routing,
 * fragment, authentication, destination options: four walked headers cover
 * every chain a client sends in practice; a longer one is passed and counted
 * (XLB_PASS_IPV6_EXT), never guessed at. */
#ifndef XLB_IPV6_MAX_EXT_HDRS
#define XLB_IPV6_MAX_EXT_HDRS 4
#endif
