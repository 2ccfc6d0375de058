/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps, all pinned by name under the attachment's bpffs directory so that a
 * restarted daemon reopens them and forwarding never stops. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_consts.h"
#include "xlb_structs.h"

/* Services by key, one map per family (see xlb_structs.h). A service id
 * belongs to one of them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct xlb_service_key);
	__type(value, struct xlb_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct xlb_service_key6);
	__type(value, struct xlb_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_services6 SEC(".maps");

/* Service id -> the key that owns it (all zero when the id is free). Known
 * flows are matched by the flow table alone; this array lets them check, at
 * the cost of an inlined array read instead of a hash lookup, that their
 * backend's service still exists and is theirs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_service_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_service_keys SEC(".maps");

/* The same for IPv6 services: an id's entry is all zero in the array of the
 * other family. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_service_key6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_service_keys6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_backends SEC(".maps");

/* One Maglev table: slot -> backend id. */
struct xlb_maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAGLEV_SIZE);
	__type(key, __u32);
	__type(value, __u32);
};

/* Tables by service id * 2 + slot. Inner maps are created by Go on first use,
 * so memory grows with the services configured, not with XLB_MAX_SERVICES. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_MAX_SERVICES * 2);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct xlb_maglev_table);
} xlb_maglev SEC(".maps");

/* The flow table. A shared LRU rather than a per-CPU one: on veth, in generic
 * mode and whenever RSS spreads one flow over queues, packets of one
 * connection run on different CPUs; per-CPU tables would then hold divergent
 * choices, and after a table change one connection could reach two backends.
 * Lookups are lock-free either way; only inserts of new flows share a lock. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_MAX_FLOWS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_flows SEC(".maps");

/* IPv6 flows, of the same size: the loader sizes both alike. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_MAX_FLOWS);
	__type(key, struct xlb_flow_key6);
	__type(value, struct xlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_flows6 SEC(".maps");

/* Flows that sent their opening packet and nothing since. Kept apart from
 * xlb_flows so that a flood of openings from random sources (which never
 * send a second packet: the backend's answer goes to the forged address)
 * evicts only other openings, never an established flow. A flow moves to
 * xlb_flows on its next packet, within the per-CPU insert budget. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_MAX_NEW_FLOWS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_new_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_MAX_NEW_FLOWS);
	__type(key, struct xlb_flow_key6);
	__type(value, struct xlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_new_flows6 SEC(".maps");

/* Per CPU: inserts into xlb_flows in the current window. Katran's idea: when
 * floods of two-packet flows exceed the budget, stop inserting rather than
 * evict established flows. Per CPU, so the count needs no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_insert_window);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_insert_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_FLOW_STAT_MAX);
	__type(key, __u32);
	__type(value, struct xlb_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_flow_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_REASON_MAX);
	__type(key, __u32);
	__type(value, struct xlb_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLB_FLOW_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_flow_events SEC(".maps");

/* Flow events lost because the ring was full (packets = events). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_flow_events_lost SEC(".maps");
