package bench

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"xlb/test/testutil"
)

// attachXDP attaches prog natively to ifname inside ns until b ends and
// returns the link, so a benchmark can swap programs atomically.
func attachXDP(b testing.TB, ns *testutil.NetNS, ifname string, prog *ebpf.Program) link.Link {
	b.Helper()
	var l link.Link
	err := ns.Do(func() error {
		iface, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		b.Fatalf("attach XDP to %s in %s: %v", ifname, ns.Name, err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// tcpFrame is a 60-byte Ethernet frame (64 on the wire with the FCS) carrying
// a TCP ACK from src:sport to dst:dport. The IPv4 checksum is valid.
func tcpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16) []byte {
	return tcpFrameFlags(srcMAC, dstMAC, src, dst, sport, dport, 0x10) // ACK: an established connection's packet
}

// tcpFrameFlags is tcpFrame with the TCP flags byte given (0x02: SYN).
func tcpFrameFlags(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8] = 64
	ip[9] = 6
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	return f
}
