// Package flowsync keeps the flow tables of directors in step, so a director
// failover keeps every established connection on its backend, like the IPVS
// connection-sync daemon keepalived users run (lvs_sync_daemon).
//
// Maglev alone makes every director pick the same backend for a new flow, but
// a flow keeps its backend while the tables change (a backend fails and
// returns, a weight changes, fo fails back): its backend is then no longer
// the table's pick, and only the director that saw it knows where it lives.
// The XDP program reports every flow it records in a ring; the daemon sends
// these to the other directors (UDP multicast on the shared segment, like
// IPVS's 224.0.0.81, or over IPv6 a link-local group such as ff02::81 from
// the interface's link-local address), which write them into their own flow tables. Flows are
// named by service and backend address, never by id: the directors' ids need
// not agree.
//
// A datagram changes the flow table, so the network must not be able to
// forge one (see Syncer.handle for every receive check): each is
// authenticated with HMAC-SHA256 under a shared key, carries its sender's
// address, start time (epoch), sequence number and send time against replay,
// and is sent with TTL (IPv6: hop limit) 255 so a receiver can require that
// it was not routed (GTSM, RFC 5082), as VRRP does (RFC 5798 sections
// 5.1.1.3 and 5.1.2.3).
//
// Wire versions. Version 2 carries IPv4 flows (20-byte entries). Version 3
// adds a family byte after the version-2 header and carries the flows of
// that family (IPv6: 56-byte entries, MaxEntries6 per datagram). A director
// reads both and sends version 2 for every datagram version 2 can say (all
// IPv4 flows, bulk requests, dump ends), version 3 only for IPv6 flows. So
// during a rolling upgrade a director of the release before IPv6 still
// reads everything the upgraded one sends about IPv4, and the upgraded one
// reads everything the old one sends; a version-3 datagram reaching the old
// director is dropped there as malformed (unsupported version) and counted.
// That can only be IPv6 flows, which the old director could not hold anyway:
// in practice none, since an older xlbd refuses a configuration with an IPv6
// service, so a pair carries IPv6 services only once both are upgraded.
// Version 1 (unauthenticated) is refused by both. Version 4 is version 3 with
// a 16-byte sender: every datagram sent over IPv6 (flow sync on an IPv6
// group, from the interface's link-local address) is version 4, whatever
// the family of its flows; only directors that speak IPv6 transport send or
// need it.
package flowsync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"

	"xlb/lb"
	"xlb/loader"
)

// Entry is one synced flow.
type Entry struct {
	Flow    loader.FlowKey
	Backend netip.Addr
}

// Kind is what a datagram asks.
type Kind uint8

// Datagram kinds.
const (
	// KindFlows carries flows this director just recorded.
	KindFlows Kind = 1
	// KindBulkRequest asks every peer for its whole table (a director that
	// joins: restart, new director).
	KindBulkRequest Kind = 2
	// KindBulk carries part of a table dump answering a request.
	KindBulk Kind = 3
	// KindBulkEnd closes a table dump.
	KindBulkEnd Kind = 4
)

// Message is a datagram's content. Sender, Epoch, Seq and SentAt are what
// the receiver's replay check uses; all of it is authenticated.
type Message struct {
	Kind   Kind
	Sender netip.Addr // the source address the datagram must come from (its family is the transport's; flows may be either)
	Epoch  uint64     // the sender's start time (Unix ns): larger after a restart
	Seq    uint64     // per epoch, from 1, one per datagram
	SentAt int64      // Unix ms
	// Count is, in a KindBulkRequest, the pace asked for (datagrams per
	// second, 0: the responder's own); in a KindBulkEnd, how many KindBulk
	// datagrams the dump sent, so the joiner can tell whether it lost some.
	Count   uint32
	Entries []Entry
}

const (
	magic = "XLBS"
	// version2 is IPv4 only; version3 adds the family byte; version4 has
	// an IPv6 sender.
	version2 = 2
	version3 = 3
	version4 = 4
	// headerLen: magic 4, version 1, kind 1, key id 1, entries 1, sender 4,
	// epoch 8, seq 8, sent-at 8, count 4; version 3 appends family 1 and
	// 3 reserved (zero) bytes; version 4 is version 3 with a 16-byte sender.
	headerLen  = 40
	header3Len = headerLen + 4
	header4Len = header3Len + 12
	senderOff  = 8
	// entryLen and entry6Len: client ip, vip, client port, vip port, proto,
	// 3 pad, backend ip.
	entryLen  = 4 + 4 + 2 + 2 + 1 + 3 + 4
	entry6Len = 16 + 16 + 2 + 2 + 1 + 3 + 16
	macLen    = sha256.Size
	// MaxEntries (IPv4) and MaxEntries6 fit a datagram in 1400 bytes: no
	// fragmentation on any Ethernet segment, also with a VLAN tag or a
	// tunnel's overhead.
	MaxEntries  = (1400 - headerLen - macLen) / entryLen
	MaxEntries6 = (1400 - header3Len - macLen) / entry6Len
)

// Address families of version 3 (the IP version numbers).
const (
	family4 = 4
	family6 = 6
)

// Receive errors: each is a counted drop reason (see Reason).
var (
	ErrShort   = errors.New("datagram too short")
	ErrMagic   = errors.New("not a flow-sync datagram")
	ErrVersion = errors.New("unsupported flow-sync version")
	ErrCount   = errors.New("entry count does not match length")
	ErrEntry   = errors.New("invalid entry")
	ErrKind    = errors.New("unknown datagram kind")
	ErrKeyID   = errors.New("unknown key id")
	ErrMAC     = errors.New("authentication failed")
)

// Seal encodes m and appends its HMAC under k: version 4 from an IPv6
// sender, else version 2 unless its entries are IPv6 (see the package
// comment). All entries are of one family, each entry's addresses too.
func Seal(k *Key, m Message) ([]byte, error) {
	is6, err := Family(m.Entries)
	if err != nil {
		return nil, err
	}
	if !m.Sender.Is4() && !(m.Sender.Is6() && !m.Sender.Is4In6()) {
		return nil, fmt.Errorf("flowsync: sender %v is not an IPv4 or IPv6 address", m.Sender)
	}
	fam := byte(family4)
	if is6 {
		fam = family6
	}
	return seal(k, m, version(m.Sender.Is6(), is6), fam)
}

// version is the wire version a datagram from a sender of that family,
// with entries of that family, is sent as.
func version(sender6, is6 bool) byte {
	switch {
	case sender6:
		return version4
	case is6:
		return version3
	}
	return version2
}

// Capacity is how many entries of a family (is6) one datagram from a
// sender of a family (sender6) carries: MaxEntries or MaxEntries6 from an
// IPv4 sender, a few fewer IPv4 ones from an IPv6 sender (its longer
// header).
func Capacity(sender6, is6 bool) int {
	fam := byte(family4)
	if is6 {
		fam = family6
	}
	return layout(version(sender6, is6), fam).maxN
}

// Family says whether entries are IPv6 (false: IPv4, or none), or why they
// cannot share a datagram.
func Family(entries []Entry) (is6 bool, err error) {
	for i, e := range entries {
		addrs := []netip.Addr{e.Flow.Client.Addr(), e.Flow.VIP.Addr(), e.Backend}
		v6 := addrs[0].Is6()
		for _, a := range addrs {
			if a.Is4() == v6 || a.Is4In6() {
				return false, fmt.Errorf("flowsync: entry %d: client %s, VIP %s and backend %s are not one family", i, addrs[0], addrs[1], addrs[2])
			}
		}
		if i > 0 && v6 != is6 {
			return false, fmt.Errorf("flowsync: entry %d: IPv4 and IPv6 flows in one datagram", i)
		}
		is6 = v6
	}
	return is6, nil
}

// seal encodes m as version ver (family fam) and appends its HMAC under k.
func seal(k *Key, m Message, ver, fam byte) ([]byte, error) {
	f := layout(ver, fam)
	hlen, elen := f.hlen, f.elen
	if len(m.Entries) > f.maxN {
		return nil, fmt.Errorf("flowsync: %d entries, want at most %d", len(m.Entries), f.maxN)
	}
	b := make([]byte, hlen+len(m.Entries)*elen, hlen+len(m.Entries)*elen+macLen)
	copy(b, magic)
	b[4] = ver
	b[5] = byte(m.Kind)
	b[6] = k.ID
	b[7] = byte(len(m.Entries))
	copy(b[senderOff:], m.Sender.AsSlice())
	p := b[senderOff+f.slen:]
	binary.BigEndian.PutUint64(p, m.Epoch)
	binary.BigEndian.PutUint64(p[8:], m.Seq)
	binary.BigEndian.PutUint64(p[16:], uint64(m.SentAt))
	binary.BigEndian.PutUint32(p[24:], m.Count)
	if ver != version2 {
		p[28] = fam
	}
	alen := 4
	if fam == family6 {
		alen = 16
	}
	for i, e := range m.Entries {
		if (fam == family6) != e.Backend.Is6() {
			return nil, fmt.Errorf("flowsync: entry %d: not of family %d", i, fam)
		}
		p := b[hlen+i*elen:]
		copy(p, e.Flow.Client.Addr().AsSlice())
		copy(p[alen:], e.Flow.VIP.Addr().AsSlice())
		p = p[2*alen:]
		binary.BigEndian.PutUint16(p, e.Flow.Client.Port())
		binary.BigEndian.PutUint16(p[2:], e.Flow.VIP.Port())
		p[4] = byte(e.Flow.Proto)
		copy(p[8:], e.Backend.AsSlice())
	}
	return k.sum(b), nil
}

// format is a version's layout for one family: header, sender and entry
// lengths, and the entry limit.
type format struct {
	hlen, slen, elen, maxN int
}

// layout is ver's format for entries of family fam.
func layout(ver, fam byte) format {
	f := format{hlen: header3Len, slen: 4, elen: entryLen}
	switch ver {
	case version2:
		f.hlen = headerLen
	case version4:
		f.hlen, f.slen = header4Len, 16
	}
	if fam == family6 {
		f.elen = entry6Len
	}
	f.maxN = (1400 - f.hlen - macLen) / f.elen
	return f
}

// Open checks a datagram's framing and HMAC (under whichever of ring's keys
// its key id names) and only then decodes it: nothing unauthenticated is
// parsed beyond the fixed header. Anything wrong is an error, never a panic.
func Open(ring *Keyring, b []byte) (Message, error) {
	if len(b) < headerLen+macLen {
		return Message{}, ErrShort
	}
	if string(b[:4]) != magic {
		return Message{}, ErrMagic
	}
	ver, fam := b[4], byte(family4)
	switch ver {
	case version2:
	case version3, version4:
		f := layout(ver, fam)
		if len(b) < f.hlen+macLen {
			return Message{}, ErrShort
		}
		fam = b[f.hlen-4]
		if fam != family4 && fam != family6 {
			return Message{}, fmt.Errorf("%w: address family %d", ErrEntry, fam)
		}
	default:
		return Message{}, fmt.Errorf("%w: %d", ErrVersion, ver)
	}
	f := layout(ver, fam)
	hlen, elen := f.hlen, f.elen
	n := int(b[7])
	if len(b) != hlen+n*elen+macLen {
		return Message{}, fmt.Errorf("%w: %d entries in %d bytes", ErrCount, n, len(b))
	}
	k := ring.byID(b[6])
	if k == nil {
		return Message{}, fmt.Errorf("%w: %d", ErrKeyID, b[6])
	}
	body, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	if !k.verify(body, mac) {
		return Message{}, ErrMAC
	}
	if ver != version2 && (b[hlen-3] != 0 || b[hlen-2] != 0 || b[hlen-1] != 0) {
		return Message{}, fmt.Errorf("%w: reserved bytes set", ErrEntry)
	}
	sender, _ := netip.AddrFromSlice(b[senderOff : senderOff+f.slen])
	p := b[senderOff+f.slen:]
	m := Message{
		Kind:   Kind(b[5]),
		Sender: sender,
		Epoch:  binary.BigEndian.Uint64(p),
		Seq:    binary.BigEndian.Uint64(p[8:]),
		SentAt: int64(binary.BigEndian.Uint64(p[16:])),
		Count:  binary.BigEndian.Uint32(p[24:]),
	}
	if sender.Is4In6() {
		return Message{}, fmt.Errorf("%w: IPv4-mapped sender", ErrEntry)
	}
	if m.Kind < KindFlows || m.Kind > KindBulkEnd {
		return Message{}, fmt.Errorf("%w: %d", ErrKind, m.Kind)
	}
	if n > 0 && m.Kind != KindFlows && m.Kind != KindBulk {
		return Message{}, fmt.Errorf("%w: %d entries in a kind %d datagram", ErrCount, n, m.Kind)
	}
	addr := func(p []byte) netip.Addr {
		if fam == family6 {
			return netip.AddrFrom16([16]byte(p))
		}
		return netip.AddrFrom4([4]byte(p))
	}
	alen := 4
	if fam == family6 {
		alen = 16
	}
	m.Entries = make([]Entry, n)
	for i := range m.Entries {
		p := b[hlen+i*elen:]
		client, vip := addr(p), addr(p[alen:])
		p = p[2*alen:]
		proto := lb.Protocol(p[4])
		if proto != lb.TCP && proto != lb.UDP {
			return Message{}, fmt.Errorf("%w: protocol %d", ErrEntry, p[4])
		}
		e := Entry{
			Flow: loader.FlowKey{
				Client: netip.AddrPortFrom(client, binary.BigEndian.Uint16(p)),
				VIP:    netip.AddrPortFrom(vip, binary.BigEndian.Uint16(p[2:])),
				Proto:  proto,
			},
			Backend: addr(p[8:]),
		}
		// An IPv4-mapped IPv6 address names no flow the data plane keeps:
		// IPv4 flows travel as IPv4.
		if client.Is4In6() || vip.Is4In6() || e.Backend.Is4In6() {
			return Message{}, fmt.Errorf("%w: IPv4-mapped address in an IPv6 entry", ErrEntry)
		}
		m.Entries[i] = e
	}
	return m, nil
}

// macOf is a fresh HMAC-SHA256 under secret.
func macOf(secret []byte) hash.Hash { return hmac.New(sha256.New, secret) }
