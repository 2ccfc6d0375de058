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

/* Bytes of the flow-event ring (a power of two, a multiple of the page size):
 * 256 KiB hold ~10k events between two reads by the daemon. */
#ifndef XLB_FLOW_EVENTS_BYTES
#define XLB_FLOW_EVENTS_BYTES (256 * 1024)
#endif

/* Fixed seed of the flow hash: both directors must pick the same backend for
 * the same flow, so nothing host-specific may enter the hash. */
#define XLB_HASH_SEED 0x9e3779b9u

#define XLB_ICMP_DEST_UNREACH 3
#define XLB_ICMP_FRAG_NEEDED  4

/* IPv4 fragment bits (in the kernel's net/ip.h, not in the uapi headers). */
#define XLB_IP_MF     0x2000
#define XLB_IP_OFFSET 0x1FFF
