package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// ProtoVRRP is the IP protocol number of VRRP.
const ProtoVRRP = 112

// Group is the IPv4 multicast group every VRRP router sends to.
var Group = netip.AddrFrom4([4]byte{224, 0, 0, 18})

// Group6 is the IPv6 one, ff02::12 (RFC 5798 5.1.2.2), keepalived's
// vrrp_mcast_group6 default.
var Group6 = netip.MustParseAddr("ff02::12")

// TypeAdvertisement is the only VRRP message type.
const TypeAdvertisement = 1

// Authentication types of VRRPv2 (RFC 2338; RFC 3768 keeps only the field).
const (
	AuthNone = 0
	AuthPass = 1
	AuthAH   = 2
)

const (
	headerLen  = 8
	authLen    = 8
	maxAddrs   = 255
	ipv4Len    = 4
	ipv6Len    = 16
	maxV3Intvl = 0x0fff
)

// Advert is a decoded VRRP advertisement. Its addresses are all IPv4 or all
// IPv6 (RFC 5798: a virtual router is one family; only v3 carries IPv6).
// Interval is in the version's own unit: whole seconds for v2, centiseconds
// for v3.
type Advert struct {
	Version  uint8
	Type     uint8
	VRID     uint8
	Priority uint8
	// Count is the address count as sent; Parse guarantees len(Addrs) == Count.
	Count    uint8
	AuthType uint8 // v2 only
	// Reserved holds the 4 reserved bits of v3, kept so Marshal reproduces
	// what Parse read (receivers ignore them).
	Reserved uint8
	Interval uint16
	Checksum uint16
	Addrs    []netip.Addr
	AuthData [authLen]byte // v2 only
}

// addrLen is the size of one address in the advert.
func (a *Advert) addrLen() int {
	if len(a.Addrs) > 0 && a.Addrs[0].Is6() {
		return ipv6Len
	}
	return ipv4Len
}

// Len is the encoded size of a.
func (a *Advert) Len() int {
	n := headerLen + a.addrLen()*len(a.Addrs)
	if a.Version == 2 {
		n += authLen
	}
	return n
}

// ParseAdvert decodes a VRRP message (the IP payload) that arrived over IPv6
// when ipv6 is set (its addresses are then 16 bytes), else over IPv4. It
// checks only the structure (version, type, length, address count; v2 is
// IPv4 only); the checksum, VRID, authentication and interval are the
// receiver's business. The returned error is a DropReason.
func ParseAdvert(b []byte, ipv6 bool) (Advert, error) {
	var a Advert
	alen := ipv4Len
	if ipv6 {
		alen = ipv6Len
	}
	if len(b) < headerLen {
		return a, DropLength
	}
	a.Version = b[0] >> 4
	a.Type = b[0] & 0x0f
	if a.Version != 3 && (a.Version != 2 || ipv6) {
		return a, DropVersion
	}
	if a.Type != TypeAdvertisement {
		return a, DropType
	}
	a.VRID = b[1]
	a.Priority = b[2]
	a.Count = b[3]
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = uint16(b[5])
	} else {
		a.Reserved = b[4] >> 4
		a.Interval = binary.BigEndian.Uint16(b[4:6]) & maxV3Intvl
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	want := headerLen + alen*int(a.Count)
	if a.Version == 2 {
		want += authLen
	}
	if len(b) != want {
		// A length that no count explains is a length error; one that a
		// different count would explain means the count field lies.
		extra := len(b) - headerLen
		if a.Version == 2 {
			extra -= authLen
		}
		if extra >= 0 && extra%alen == 0 {
			return a, DropAddrCount
		}
		return a, DropLength
	}
	if a.Count == 0 {
		return a, DropAddrCount
	}
	a.Addrs = make([]netip.Addr, a.Count)
	for i := range a.Addrs {
		off := headerLen + alen*i
		if ipv6 {
			a.Addrs[i] = netip.AddrFrom16([16]byte(b[off : off+alen]))
		} else {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b[off : off+alen]))
		}
	}
	if a.Version == 2 {
		copy(a.AuthData[:], b[want-authLen:])
	}
	return a, nil
}

// Marshal encodes a exactly as its fields say, checksum included; use Seal to
// compute the checksum.
func (a *Advert) Marshal() []byte {
	b := make([]byte, a.Len())
	b[0] = a.Version<<4 | a.Type&0x0f
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = a.Count
	if a.Version == 2 {
		b[4] = a.AuthType
		b[5] = uint8(a.Interval)
	} else {
		binary.BigEndian.PutUint16(b[4:6], uint16(a.Reserved&0x0f)<<12|a.Interval&maxV3Intvl)
	}
	binary.BigEndian.PutUint16(b[6:8], a.Checksum)
	alen := a.addrLen()
	for i, ip := range a.Addrs {
		copy(b[headerLen+alen*i:], ip.AsSlice())
	}
	if a.Version == 2 {
		copy(b[len(b)-authLen:], a.AuthData[:])
	}
	return b
}

// Seal sets the checksum for a message sent from src to dst (v3 covers the
// IPv4 or IPv6 pseudo-header, v2 only the message) and returns the encoding.
func (a *Advert) Seal(src, dst netip.Addr) []byte {
	a.Checksum = 0
	b := a.Marshal()
	a.Checksum = Checksum(a.Version, src, dst, b)
	binary.BigEndian.PutUint16(b[6:8], a.Checksum)
	return b
}

// Checksum computes the VRRP checksum of msg (whose checksum field must be
// zero, or the result is zero when the field is already correct). v3 covers
// the pseudo-header of src's family: RFC 768's for IPv4, RFC 8200 8.1's
// (addresses, 32-bit upper-layer length, next header 112) for IPv6; both sum
// to the same thing once folded.
func Checksum(version uint8, src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	if version == 3 {
		for _, ip := range []netip.Addr{src, dst} {
			b := ip.AsSlice()
			for i := 0; i+1 < len(b); i += 2 {
				sum += uint32(binary.BigEndian.Uint16(b[i:]))
			}
		}
		sum += ProtoVRRP + uint32(len(msg))
	}
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(msg[i:]))
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// passData is keepalived's PASS authentication data: the first 8 bytes of the
// password, zero padded.
func passData(pass string) [authLen]byte {
	var d [authLen]byte
	copy(d[:], pass)
	return d
}
