// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* Programs of the packet-rate benchmark, none of them part of xlb.
 *
 * traffic_gen runs through BPF_PROG_RUN in live-frames mode on the client's
 * eth0: XDP_TX there transmits the frame out of eth0. It gives every frame
 * the next of gen_flows source ports, so the director sees many flows; with
 * gen_spoof, also a source address of its own in 10.0.0.0/8, as a flood
 * from forged addresses looks.
 *
 * traffic_fwd is the baseline director: the reflector's work (rewrite the
 * MACs, XDP_TX) plus the one check any L2 forwarder on a bridge needs (the
 * frame is addressed to us), sending to one fixed backend MAC.
 *
 * traffic_count runs on the backends' eth0: it counts the IPv4 frames that
 * reach them and drops them, so the stack's cost is not part of the rate. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 gen_flows = 1;
volatile const __u16 gen_base_port = 1024;
volatile const __u8 gen_spoof = 0;
volatile const __u8 fwd_own_mac[ETH_ALEN];
volatile const __u8 fwd_backend_mac[ETH_ALEN];

__u64 gen_seq;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} count_pkts SEC(".maps");

SEC("xdp")
int traffic_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > data_end)
		return XDP_ABORTED;
	__u64 seq = __sync_fetch_and_add(&gen_seq, 1);
	/* The TCP checksum is left stale on purpose: traffic_count drops the
	 * frames before anything checks it, and xlb never reads it. */
	tcp->source = bpf_htons(gen_base_port + (__u16)(seq % gen_flows));
	if (gen_spoof) {
		/* Knuth's multiplicative hash spreads consecutive frames over the
		 * /8; the IPv4 checksum is recomputed so the frame stays valid. */
		__u16 *w = (__u16 *)ip;
		__u32 sum = 0;

		ip->saddr = bpf_htonl(0x0a000000 | (((__u32)seq * 2654435761u) >> 8));
		ip->check = 0;
		for (int i = 0; i < 10; i++)
			sum += w[i];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip->check = ~sum;
	}
	return XDP_TX;
}

SEC("xdp")
int traffic_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	for (int i = 0; i < ETH_ALEN; i++)
		if (eth->h_dest[i] != fwd_own_mac[i])
			return XDP_PASS;
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = fwd_backend_mac[i];
		eth->h_source[i] = fwd_own_mac[i];
	}
	return XDP_TX;
}

SEC("xdp")
int traffic_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 key = 0;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	__u64 *n = bpf_map_lookup_elem(&count_pkts, &key);
	if (n)
		*n += 1;
	return XDP_DROP;
}
