package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// ProtoVRRP is the IP protocol number of VRRP.
const ProtoVRRP = 112

// Group is the IPv4 multicast group every VRRP router sends to.
var Group = netip.AddrFrom4([4]byte{224, 0, 0, 18})

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
	maxV3Intvl = 0x0fff
)

// Advert is a decoded VRRP advertisement (IPv4 only). Interval is in the
// version's own unit: whole seconds for v2, centiseconds for v3.
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

// Len is the encoded size of a.
func (a *Advert) Len() int {
	n := headerLen + ipv4Len*len(a.Addrs)
	if a.Version == 2 {
		n += authLen
	}
	return n
}

// ParseAdvert decodes a VRRP message (the IP payload). It checks only the
// structure (version, type, length, address count); the checksum, VRID,
// authentication and interval are the receiver's business. The returned error
// is a DropReason.
func ParseAdvert(b []byte) (Advert, error) {
	var a Advert
	if len(b) < headerLen {
		return a, DropLength
	}
	a.Version = b[0] >> 4
	a.Type = b[0] & 0x0f
	if a.Version != 2 && a.Version != 3 {
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
	want := headerLen + ipv4Len*int(a.Count)
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
		if extra >= 0 && extra%ipv4Len == 0 {
			return a, DropAddrCount
		}
		return a, DropLength
	}
	if a.Count == 0 {
		return a, DropAddrCount
	}
	a.Addrs = make([]netip.Addr, a.Count)
	for i := range a.Addrs {
		off := headerLen + ipv4Len*i
		a.Addrs[i] = netip.AddrFrom4([4]byte(b[off : off+ipv4Len]))
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
	for i, ip := range a.Addrs {
		v4 := ip.As4()
		copy(b[headerLen+ipv4Len*i:], v4[:])
	}
	if a.Version == 2 {
		copy(b[len(b)-authLen:], a.AuthData[:])
	}
	return b
}

// Seal sets the checksum for a message sent from src to dst (v3 covers the
// IPv4 pseudo-header, v2 only the message) and returns the encoding.
func (a *Advert) Seal(src, dst netip.Addr) []byte {
	a.Checksum = 0
	b := a.Marshal()
	a.Checksum = Checksum(a.Version, src, dst, b)
	binary.BigEndian.PutUint16(b[6:8], a.Checksum)
	return b
}

// Checksum computes the VRRP checksum of msg (whose checksum field must be
// zero, or the result is zero when the field is already correct).
func Checksum(version uint8, src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	if version == 3 {
		s, d := src.As4(), dst.As4()
		sum += uint32(binary.BigEndian.Uint16(s[0:2])) + uint32(binary.BigEndian.Uint16(s[2:4]))
		sum += uint32(binary.BigEndian.Uint16(d[0:2])) + uint32(binary.BigEndian.Uint16(d[2:4]))
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
