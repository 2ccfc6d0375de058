package testutil

import (
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TCPFrame is a client's TCP segment to vip in an Ethernet frame to dst: the
// SYN, or with ack a later segment of the connection (a data plane records
// the flow on it). The client's family decides the frame's.
func TCPFrame(dst net.HardwareAddr, client, vip netip.AddrPort, ack bool) []byte {
	var ip interface {
		gopacket.SerializableLayer
		gopacket.NetworkLayer
	}
	ether := layers.EthernetTypeIPv4
	if client.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client.Addr().AsSlice(), DstIP: vip.Addr().AsSlice()}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: client.Addr().AsSlice(), DstIP: vip.Addr().AsSlice()}
		ether = layers.EthernetTypeIPv6
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(client.Port()), DstPort: layers.TCPPort(vip.Port()), SYN: !ack, ACK: ack}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 100}, DstMAC: dst, EthernetType: ether}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
