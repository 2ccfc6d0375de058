// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* xlb's XDP entry point: direct-routing (DSR) load balancing by MAC rewrite.
 *
 * A frame addressed to this interface's MAC whose IPv4 or IPv6 destination,
 * port and protocol form a configured service is sent back out (XDP_TX) to a backend on
 * the same L2 segment, with only its Ethernet addresses changed. The backend
 * holds the VIP locally and answers the client directly. Everything else is
 * passed to the stack untouched and counted by reason. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_consts.h"
#include "xlb_structs.h"
#include "xlb_maps.h"
#include "xlb_parse.h"
#include "xlb_hash.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before the program is loaded; constant for the verifier,
 * so the MAC comparison costs no map lookup. */
volatile const struct xlb_config xlb_cfg = {};

/* BTF only carries types that some object uses, and these are used only as
 * values or ring records; this anchor lets bpf2go generate them (-type). */
struct xlb_types {
	enum xlb_reason reason;
	enum xlb_backend_state backend_state;
	enum xlb_service_flags service_flags;
	enum xlb_flow_stat flow_stat;
	enum xlb_family family;
	struct xlb_flow_event flow_event;
	struct xlb_insert_window insert_window;
};
volatile const struct xlb_types xlb_types_anchor = {};

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xlb_counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int verdict(enum xlb_reason reason, int action, __u64 bytes)
{
	count(&xlb_reasons, reason, bytes);
	return action;
}

static __always_inline int mac_is_ours(const __u8 *mac)
{
	/* Two loads instead of memcmp: clang-14 emits a libcall for it. */
	return *(const __u32 *)mac == *(const volatile __u32 *)xlb_cfg.mac &&
	       *(const __u16 *)(mac + 4) == *(const volatile __u16 *)(xlb_cfg.mac + 4);
}

/* Both families go through the functions below: key is a struct
 * xlb_flow_key (IPv4) or xlb_flow_key6 (IPv6) and v6 says which. Every call
 * passes v6 as a constant, so after inlining each family has its own path
 * with its own maps and nothing of the other (Katran's is_ipv6). */
#define FLOWS(v6)     ((v6) ? (void *)&xlb_flows6 : (void *)&xlb_flows)
#define NEW_FLOWS(v6) ((v6) ? (void *)&xlb_new_flows6 : (void *)&xlb_new_flows)

static __always_inline int addr6_same(const union xlb_addr *a, const union xlb_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] && a->v6[2] == b->v6[2] &&
	       a->v6[3] == b->v6[3];
}

/* Whether service id sid is (still) the service flow key is addressed to. */
static __always_inline int owns(__u32 sid, const void *key, int v6)
{
	if (v6) {
		const struct xlb_flow_key6 *k = key;
		struct xlb_service_key6 *o = bpf_map_lookup_elem(&xlb_service_keys6, &sid);

		return o && o->port == k->dport && o->proto == k->proto && addr6_same(&o->vip, &k->daddr);
	} else {
		const struct xlb_flow_key *k = key;
		struct xlb_service_key *o = bpf_map_lookup_elem(&xlb_service_keys, &sid);

		return o && o->vip == k->daddr && o->port == k->dport && o->proto == k->proto;
	}
}

/* The backend an entry of a flow table (xlb_flows or xlb_new_flows, or
 * their IPv6 twins) puts a flow on, if it may stay there: the backend is up
 * or drained (drained backends keep their flows) and still belongs to the
 * service the flow is addressed to. *found is set when the table has an
 * entry for the flow, followed or not. The fast path: no service lookup, no
 * clock read. */
static __always_inline struct xlb_backend *
flow_backend(void *table, const void *key, int v6, __u32 *id, int *found)
{
	struct xlb_flow *flow = bpf_map_lookup_elem(table, key);
	struct xlb_backend *b;

	if (!flow)
		return NULL;
	*found = 1;
	b = bpf_map_lookup_elem(&xlb_backends, &flow->backend_id);
	if (!b || (b->state != XLB_BACKEND_ACTIVE && b->state != XLB_BACKEND_DRAINED))
		return NULL;
	if (!owns(b->service_id, key, v6))
		return NULL;
	*id = flow->backend_id;
	return b;
}

/* The Maglev pick for a flow from the service's live table. */
static __always_inline struct xlb_backend *
maglev_pick(const struct xlb_service *svc, const void *key, int v6, __u32 *id)
{
	__u32 table_key = svc->id * 2 + (svc->slot & 1);
	__u32 seed = xlb_cfg.hash_seed;
	struct xlb_backend *b;
	__u32 slot, *bid;
	void *table;

	table = bpf_map_lookup_elem(&xlb_maglev, &table_key);
	if (!table)
		return NULL;
	if (v6)
		slot = svc->flags & XLB_SVC_HASH_SRC ? xlb_src_hash6(key, seed) : xlb_flow_hash6(key, seed);
	else
		slot = svc->flags & XLB_SVC_HASH_SRC ? xlb_src_hash(key, seed) : xlb_flow_hash(key, seed);
	slot %= XLB_MAGLEV_SIZE;
	bid = bpf_map_lookup_elem(table, &slot);
	if (!bid)
		return NULL;
	b = bpf_map_lookup_elem(&xlb_backends, bid);
	/* Go rebuilds a table before it marks a backend down; this check only
	 * covers the moment between the two writes. */
	if (!b || b->service_id != svc->id || b->state != XLB_BACKEND_ACTIVE)
		return NULL;
	*id = *bid;
	return b;
}

static __always_inline int forward(struct ethhdr *eth, const struct xlb_backend *b,
				   __u32 backend_id, __u64 bytes)
{
	/* The frame was addressed to us (mac_is_ours), so its destination is
	 * our MAC: it becomes the source. */
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, b->mac, ETH_ALEN);
	count(&xlb_service_stats, b->service_id, bytes);
	count(&xlb_backend_stats, backend_id, bytes);
	return XDP_TX;
}

/* What a packet may do to the flow tables, by what it is in its connection.
 * A flow enters xlb_new_flows on an opening packet and xlb_flows on the next
 * one: a forged source never sends that (the backend's answer goes to the
 * forged address), so floods from random sources stay out of xlb_flows. */
enum xlb_role {
	XLB_ROLE_NONE = 0,        /* ICMP errors, TCP RST, SYN-ACK: record nothing */
	XLB_ROLE_OPENS = 1 << 0,  /* a TCP SYN (no ACK) or a UDP datagram */
	XLB_ROLE_FOLLOWS = 1 << 1, /* a later TCP segment or a UDP datagram */
};

/* UDP has no handshake: every datagram may open a flow, and one that
 * follows an opened flow records it, so a UDP flow is kept once it sent two
 * datagrams; single-datagram flows (a DNS query) never take a place. */
static __always_inline __u32 flow_role(__u8 proto, void *l4, void *data_end)
{
	__u8 *flags = l4 + 13;

	if (proto != IPPROTO_TCP)
		return XLB_ROLE_OPENS | XLB_ROLE_FOLLOWS;
	if ((void *)(flags + 1) > data_end || *flags & XLB_TCP_RST)
		return XLB_ROLE_NONE;
	if (*flags & XLB_TCP_SYN)
		return *flags & XLB_TCP_ACK ? XLB_ROLE_NONE : XLB_ROLE_OPENS;
	return XLB_ROLE_FOLLOWS;
}

/* Takes one insert from this CPU's budget; 0 when the window's is spent.
 * The only clock read of the program, on the second packet of a flow. */
static __always_inline int take_insert(void)
{
	__u32 zero = 0;
	struct xlb_insert_window *w = bpf_map_lookup_elem(&xlb_insert_budget, &zero);
	__u64 now;

	if (!w)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - w->start_ns >= XLB_INSERT_WINDOW_NS) {
		w->start_ns = now;
		w->inserts = 0;
	}
	if (w->inserts >= xlb_cfg.inserts_per_window)
		return 0;
	w->inserts++;
	return 1;
}

/* The flow-sync record of a flow: both families in one layout. */
static __always_inline void flow_event(struct xlb_flow_event *ev, const void *key, int v6)
{
	if (v6) {
		const struct xlb_flow_key6 *k = key;

		ev->saddr = k->saddr;
		ev->daddr = k->daddr;
		ev->sport = k->sport;
		ev->dport = k->dport;
		ev->proto = k->proto;
		ev->family = XLB_FAMILY_IPV6;
	} else {
		const struct xlb_flow_key *k = key;

		ev->saddr.v4 = k->saddr;
		ev->daddr.v4 = k->daddr;
		ev->sport = k->sport;
		ev->dport = k->dport;
		ev->proto = k->proto;
	}
}

/* Writes flow key -> backend id into the flow table and reports it for flow
 * sync. */
static __always_inline void record(const void *key, int v6, __u32 id)
{
	struct xlb_flow nf = { .backend_id = id };

	bpf_map_update_elem(FLOWS(v6), key, &nf, BPF_ANY);
	if (xlb_cfg.flow_events) {
		struct xlb_flow_event ev = { .backend_id = id };

		flow_event(&ev, key, v6);
		if (bpf_ringbuf_output(&xlb_flow_events, &ev, sizeof(ev), 0))
			count(&xlb_flow_events_lost, 0, 1);
	}
}

/* Moves an opened flow into xlb_flows, within this CPU's insert budget. */
static __always_inline void promote(const void *key, int v6, __u32 id, __u64 bytes)
{
	if (!take_insert()) {
		count(&xlb_flow_stats, XLB_FLOW_LIMITED, bytes);
		return;
	}
	record(key, v6, id);
	bpf_map_delete_elem(NEW_FLOWS(v6), key);
	count(&xlb_flow_stats, XLB_FLOW_RECORDED, bytes);
}

/* Opens flow fk on its pick (b, *id) and returns the backend to forward to.
 * A fresh SYN costs one insert and no lookup; a retransmitted one finds its
 * flow opened and follows it while that backend may take it, so a table
 * change between a SYN and its retransmission splits no handshake. */
static __always_inline struct xlb_backend *open_flow(const void *key, int v6, struct xlb_backend *b,
						     __u32 *id, __u64 bytes)
{
	struct xlb_flow nf = { .backend_id = *id };
	struct xlb_backend *ob;
	int found = 0;
	__u32 oid;

	if (bpf_map_update_elem(NEW_FLOWS(v6), key, &nf, BPF_NOEXIST)) {
		ob = flow_backend(NEW_FLOWS(v6), key, v6, &oid, &found);
		if (ob) {
			*id = oid;
			return ob;
		}
		bpf_map_update_elem(NEW_FLOWS(v6), key, &nf, BPF_ANY);
	}
	count(&xlb_flow_stats, XLB_FLOW_OPENED, bytes);
	return b;
}

/* The service a flow is addressed to. */
static __always_inline struct xlb_service *flow_service(const void *key, int v6)
{
	if (v6) {
		const struct xlb_flow_key6 *k = key;
		struct xlb_service_key6 sk = { .vip = k->daddr, .port = k->dport, .proto = k->proto };

		return bpf_map_lookup_elem(&xlb_services6, &sk);
	} else {
		const struct xlb_flow_key *k = key;
		struct xlb_service_key sk = { .vip = k->daddr, .port = k->dport, .proto = k->proto };

		return bpf_map_lookup_elem(&xlb_services, &sk);
	}
}

/* Forwards a packet of flow key: to its backend if it is a known flow that may
 * stay there, else to the backend its opening packet was given, else to the
 * Maglev pick of its service; its L4 header l4 says what it may record on the
 * way (NULL: an ICMP error about the flow, which records nothing). Not a
 * service: pass, counted as not_ours. No usable backend: drop. */
static __always_inline int balance(struct ethhdr *eth, const void *key, int v6, __u8 proto, void *l4,
				   void *data_end, enum xlb_reason not_ours, __u64 bytes)
{
	struct xlb_service *svc;
	int known = 0, opened = 0;
	struct xlb_backend *b;
	__u32 id, role;

	b = flow_backend(FLOWS(v6), key, v6, &id, &known);
	if (b)
		return forward(eth, b, id, bytes);

	/* The service first: traffic to the director itself (not a service)
	 * then costs what it did before the new-flow table existed, and a
	 * flow's second packet pays the lookup once per connection. */
	svc = flow_service(key, v6);
	if (!svc)
		return verdict(not_ours, XDP_PASS, bytes);

	/* A SYN to a known flow follows it (above) and changes nothing: a forged
	 * SYN must not move an established connection, and a client reusing
	 * its ports reaches a backend that is still up. */
	role = l4 ? flow_role(proto, l4, data_end) : XLB_ROLE_NONE;
	if (!known && (role & XLB_ROLE_FOLLOWS)) {
		b = flow_backend(NEW_FLOWS(v6), key, v6, &id, &opened);
		if (b) {
			promote(key, v6, id, bytes);
			return forward(eth, b, id, bytes);
		}
	}

	b = maglev_pick(svc, key, v6, &id);
	if (!b)
		return verdict(XLB_DROP_NO_BACKEND, XDP_DROP, bytes);
	if (role == XLB_ROLE_NONE)
		return forward(eth, b, id, bytes);
	if (known) {
		/* An established flow whose backend went away: it stays on the
		 * pick from now on. Its entry is rewritten, so nothing is evicted. */
		record(key, v6, id);
		count(&xlb_flow_stats, XLB_FLOW_REPICKED, bytes);
	} else if (opened && (role & XLB_ROLE_FOLLOWS)) {
		promote(key, v6, id, bytes);
	} else if (role & XLB_ROLE_OPENS) {
		b = open_flow(key, v6, b, &id, bytes);
	} else {
		count(&xlb_flow_stats, XLB_FLOW_UNTRACKED, bytes);
	}
	return forward(eth, b, id, bytes);
}

/* What the parsers below conclude: a frame to pass, by reason, or one to
 * balance (fk filled, l4 its L4 header or NULL for an ICMP error). */
#define XLB_BALANCE XLB_REASON_MAX

/* ICMP "fragmentation needed" sent to a VIP quotes a packet the backend sent
 * from VIP:port to the client. It belongs to the backend that owns that flow,
 * so path-MTU discovery keeps working through the director. */
static __always_inline enum xlb_reason icmp4_key(struct iphdr *ip, void *l4, void *data_end,
						 struct xlb_flow_key *fk)
{
	struct xlb_icmphdr *icmp = l4;
	struct xlb_ports ports;
	struct iphdr *inner;

	if ((void *)(icmp + 1) > data_end)
		return XLB_PASS_MALFORMED;
	if (icmp->type != XLB_ICMP_DEST_UNREACH || icmp->code != XLB_ICMP_FRAG_NEEDED)
		return XLB_PASS_ICMP;
	inner = (void *)(icmp + 1);
	if ((void *)(inner + 1) > data_end)
		return XLB_PASS_MALFORMED;
	{
		__u32 ihl_bytes = inner->ihl * 4;
		void *inner_l4 = (void *)inner + ihl_bytes;

		if (inner->version != 4 || ihl_bytes < sizeof(*inner))
			return XLB_PASS_MALFORMED;
		/* Routers quote at least 8 bytes of L4: the ports are all we need. */
		if (inner_l4 + sizeof(ports) > data_end)
			return XLB_PASS_MALFORMED;
		ports = *(struct xlb_ports *)inner_l4;
	}
	if (inner->saddr != ip->daddr ||
	    (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP))
		return XLB_PASS_ICMP;

	/* The quoted packet flows backend -> client: reverse it into the key the
	 * client's packets use. An ICMP error never creates a flow entry. */
	fk->saddr = inner->daddr;
	fk->daddr = inner->saddr;
	fk->sport = ports.dst;
	fk->dport = ports.src;
	fk->proto = inner->protocol;
	return XLB_BALANCE;
}

/* The ports of the TCP or UDP header at l4, or why the frame passes. */
static __always_inline enum xlb_reason l4_ports(__u8 proto, void *l4, void *data_end,
						struct xlb_ports *ports)
{
	enum xlb_parse_result res = parse_ports(proto, l4, data_end, ports);

	if (res == XLB_PARSE_OTHER_L4)
		return XLB_PASS_NO_SERVICE;
	if (res != XLB_PARSE_OK)
		return XLB_PASS_MALFORMED;
	return XLB_BALANCE;
}

/* An IPv4 frame: its flow key, or why it passes. */
static __always_inline enum xlb_reason ipv4_key(struct iphdr *ip, void *data_end,
						struct xlb_flow_key *fk, void **l4_out)
{
	enum xlb_parse_result res;
	enum xlb_reason reason;
	struct xlb_ports ports;
	void *l4;

	l4 = parse_ipv4(ip, data_end, &res);
	if (!l4)
		return res == XLB_PARSE_FRAGMENT ? XLB_PASS_FRAGMENT : XLB_PASS_MALFORMED;
	if (ip->protocol == IPPROTO_ICMP)
		return icmp4_key(ip, l4, data_end, fk);
	reason = l4_ports(ip->protocol, l4, data_end, &ports);
	if (reason != XLB_BALANCE)
		return reason;
	fk->saddr = ip->saddr;
	fk->daddr = ip->daddr;
	fk->sport = ports.src;
	fk->dport = ports.dst;
	fk->proto = ip->protocol;
	*l4_out = l4;
	return XLB_BALANCE;
}

static __always_inline void copy_addr6(union xlb_addr *dst, const struct in6_addr *src)
{
	__builtin_memcpy(dst->v6, src->in6_u.u6_addr32, sizeof(dst->v6));
}

static __always_inline int addr6_eq(const struct in6_addr *a, const struct in6_addr *b)
{
	return a->in6_u.u6_addr32[0] == b->in6_u.u6_addr32[0] &&
	       a->in6_u.u6_addr32[1] == b->in6_u.u6_addr32[1] &&
	       a->in6_u.u6_addr32[2] == b->in6_u.u6_addr32[2] &&
	       a->in6_u.u6_addr32[3] == b->in6_u.u6_addr32[3];
}

/* Why an IPv6 header whose walk (parse_ipv6) found no L4 header passes. */
static __always_inline enum xlb_reason ipv6_pass_reason(enum xlb_parse_result res)
{
	if (res == XLB_PARSE_FRAGMENT)
		return XLB_PASS_FRAGMENT;
	if (res == XLB_PARSE_IPV6_EXT)
		return XLB_PASS_IPV6_EXT;
	return XLB_PASS_MALFORMED;
}

/* ICMPv6 "packet too big" sent to a VIP: IPv6's frag-needed (path-MTU
 * discovery, RFC 8201), handled alike; every other ICMPv6 message
 * (neighbour discovery, echo, ...) is the stack's. The quoted packet's
 * extension headers are walked as a frame's are, with one difference: the
 * fragment header of a first fragment (offset 0) is walked too. Only the
 * source fragments in IPv6, so a quoted fragment is one the backend made of
 * a datagram of the flow; the first fragment carries the whole header chain
 * and the ports (RFC 8200 4.5, RFC 7112), and it is the largest, so it is
 * the one a shrinking path refuses and the backend must hear about. A later
 * fragment names no ports (pass_fragment), a chain over the bound or a
 * routing header still routing (the quoted destination is not the client)
 * names no flow for sure (pass_ipv6_ext), a quote that ends early is
 * malformed: all passed, never guessed at. */
static __always_inline enum xlb_reason icmp6_key(struct ipv6hdr *ip6, void *l4, void *data_end,
						 struct xlb_flow_key6 *fk)
{
	struct xlb_icmphdr *icmp = l4;
	enum xlb_parse_result res;
	struct xlb_ports ports;
	struct ipv6hdr *inner;
	__u8 proto = 0;
	void *inner_l4;

	if ((void *)(icmp + 1) > data_end)
		return XLB_PASS_MALFORMED;
	if (icmp->type != XLB_ICMPV6_PKT_TOOBIG || icmp->code != 0)
		return XLB_PASS_ICMP;
	inner = (void *)(icmp + 1);
	inner_l4 = parse_ipv6(inner, data_end, 1, &proto, &res);
	if (!inner_l4)
		return ipv6_pass_reason(res);
	if (!addr6_eq(&inner->saddr, &ip6->daddr) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return XLB_PASS_ICMP;
	/* Routers quote as much as fits in 1280 bytes (RFC 4443 3.2): the ports
	 * are all we need. */
	if (inner_l4 + sizeof(ports) > data_end)
		return XLB_PASS_MALFORMED;
	ports = *(struct xlb_ports *)inner_l4;

	copy_addr6(&fk->saddr, &inner->daddr);
	copy_addr6(&fk->daddr, &inner->saddr);
	fk->sport = ports.dst;
	fk->dport = ports.src;
	fk->proto = proto;
	return XLB_BALANCE;
}

/* An IPv6 frame: its flow key, or why it passes. */
static __always_inline enum xlb_reason ipv6_key(struct ipv6hdr *ip6, void *data_end,
						struct xlb_flow_key6 *fk, void **l4_out)
{
	enum xlb_parse_result res;
	enum xlb_reason reason;
	struct xlb_ports ports;
	__u8 proto = 0;
	void *l4;

	l4 = parse_ipv6(ip6, data_end, 0, &proto, &res);
	if (!l4)
		return ipv6_pass_reason(res);
	if (proto == IPPROTO_ICMPV6)
		return icmp6_key(ip6, l4, data_end, fk);
	reason = l4_ports(proto, l4, data_end, &ports);
	if (reason != XLB_BALANCE)
		return reason;
	copy_addr6(&fk->saddr, &ip6->saddr);
	copy_addr6(&fk->daddr, &ip6->daddr);
	fk->sport = ports.src;
	fk->dport = ports.dst;
	fk->proto = proto;
	*l4_out = l4;
	return XLB_BALANCE;
}

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct ethhdr *eth = data;
	enum xlb_parse_result res;
	enum xlb_reason reason;
	void *l3, *l4 = NULL;
	__be16 proto = 0;

	if ((void *)(eth + 1) > data_end)
		return verdict(XLB_PASS_MALFORMED, XDP_PASS, bytes);
	/* A bridge floods unknown unicast to every port: only frames sent to us
	 * are ours to forward, or a backup director would forward copies too. */
	if (!mac_is_ours(eth->h_dest))
		return verdict(XLB_PASS_OTHER_MAC, XDP_PASS, bytes);

	l3 = parse_l2(data, data_end, &proto, &res);
	if (!l3)
		return verdict(XLB_PASS_MALFORMED, XDP_PASS, bytes);
	/* An ICMP error (l4 NULL) that is about no service is counted as ICMP. */
	if (proto == bpf_htons(ETH_P_IP)) {
		struct xlb_flow_key fk = {};

		reason = ipv4_key(l3, data_end, &fk, &l4);
		if (reason != XLB_BALANCE)
			return verdict(reason, XDP_PASS, bytes);
		return balance(eth, &fk, 0, fk.proto, l4, data_end,
			       l4 ? XLB_PASS_NO_SERVICE : XLB_PASS_ICMP, bytes);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct xlb_flow_key6 fk = {};

		reason = ipv6_key(l3, data_end, &fk, &l4);
		if (reason != XLB_BALANCE)
			return verdict(reason, XDP_PASS, bytes);
		return balance(eth, &fk, 1, fk.proto, l4, data_end,
			       l4 ? XLB_PASS_NO_SERVICE : XLB_PASS_ICMP, bytes);
	}
	return verdict(XLB_PASS_NOT_IP, XDP_PASS, bytes);
}
