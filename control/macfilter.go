package control

import (
	"bytes"
	"net"
)

// Refusal is why a resolved MAC was not taken as a backend's. The data plane
// rewrites the destination MAC of client frames to the backend's and sends
// them back out: a broadcast or multicast MAC floods client traffic to the
// whole segment, our own MAC loops frames back into our own XDP program, and
// another director's MAC makes two directors bounce frames to each other
// forever (XDP_TX never lowers the TTL).
type Refusal int

// Refusals, in the order CheckMAC tests them.
const (
	RefusedNone Refusal = iota
	RefusedMalformed
	RefusedZero
	RefusedBroadcast
	RefusedMulticast
	RefusedVRRP
	RefusedOwn
	RefusedPeer
	numRefusals
)

func (r Refusal) String() string {
	switch r {
	case RefusedNone:
		return "accepted"
	case RefusedMalformed:
		return "malformed"
	case RefusedZero:
		return "zero"
	case RefusedBroadcast:
		return "broadcast"
	case RefusedMulticast:
		return "multicast"
	case RefusedVRRP:
		return "vrrp_virtual_mac"
	case RefusedOwn:
		return "own_interface"
	case RefusedPeer:
		return "peer_director"
	}
	return "unknown"
}

// vrrpVMACPrefix4 and vrrpVMACPrefix6 are the VRRP virtual router MACs
// 00-00-5E-00-01-{VRID} (IPv4) and 00-00-5E-00-02-{VRID} (IPv6) (RFC 5798
// section 7.3): only a director (keepalived with use_vmac, or a router)
// answers with one, never a real server.
var (
	vrrpVMACPrefix4 = []byte{0x00, 0x00, 0x5e, 0x00, 0x01}
	vrrpVMACPrefix6 = []byte{0x00, 0x00, 0x5e, 0x00, 0x02}
)

// CheckMAC decides whether mac may be a backend's. own holds the director's
// interface MACs, peers the other directors' MACs.
func CheckMAC(mac net.HardwareAddr, own, peers []net.HardwareAddr) Refusal {
	switch {
	case len(mac) != 6:
		return RefusedMalformed
	case bytes.Equal(mac, make([]byte, 6)):
		return RefusedZero
	case bytes.Equal(mac, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}):
		return RefusedBroadcast
	case mac[0]&1 != 0: // the I/G bit
		return RefusedMulticast
	case bytes.HasPrefix(mac, vrrpVMACPrefix4), bytes.HasPrefix(mac, vrrpVMACPrefix6):
		return RefusedVRRP
	case containsMAC(own, mac):
		return RefusedOwn
	case containsMAC(peers, mac):
		return RefusedPeer
	}
	return RefusedNone
}

func containsMAC(list []net.HardwareAddr, mac net.HardwareAddr) bool {
	for _, m := range list {
		if bytes.Equal(m, mac) {
			return true
		}
	}
	return false
}
