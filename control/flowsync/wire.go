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
// IPVS's 224.0.0.81), which write them into their own flow tables. Flows are
// named by service and backend address, never by id: the directors' ids need
// not agree.
//
// A datagram changes the flow table, so the network must not be able to
// forge one (see Syncer.handle for every receive check): each is
// authenticated with HMAC-SHA256 under a shared key, carries its sender's
// address, start time (epoch), sequence number and send time against replay,
// and is sent with TTL 255 so a receiver can require that it was not routed
// (GTSM, RFC 5082), as VRRP does (RFC 5798 section 5.1.1.3).
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
	Sender netip.Addr // the IPv4 source address the datagram must come from
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
	magic     = "XLBS"
	version   = 2
	headerLen = 40 // magic 4, version 1, kind 1, key id 1, entries 1, sender 4, epoch 8, seq 8, sent-at 8, count 4
	entryLen  = 20 // client ip, vip, client port, vip port, proto, 3 pad, backend ip
	macLen    = sha256.Size
	// MaxEntries fits a datagram in 1400 bytes: no fragmentation on any
	// Ethernet segment, also with a VLAN tag or a tunnel's overhead.
	MaxEntries = (1400 - headerLen - macLen) / entryLen
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

// Seal encodes m and appends its HMAC under k.
func Seal(k *Key, m Message) ([]byte, error) {
	if len(m.Entries) > MaxEntries {
		return nil, fmt.Errorf("flowsync: %d entries, want at most %d", len(m.Entries), MaxEntries)
	}
	if !m.Sender.Is4() {
		return nil, fmt.Errorf("flowsync: sender %v is not IPv4", m.Sender)
	}
	b := make([]byte, headerLen+len(m.Entries)*entryLen, headerLen+len(m.Entries)*entryLen+macLen)
	copy(b, magic)
	b[4] = version
	b[5] = byte(m.Kind)
	b[6] = k.ID
	b[7] = byte(len(m.Entries))
	s := m.Sender.As4()
	copy(b[8:12], s[:])
	binary.BigEndian.PutUint64(b[12:], m.Epoch)
	binary.BigEndian.PutUint64(b[20:], m.Seq)
	binary.BigEndian.PutUint64(b[28:], uint64(m.SentAt))
	binary.BigEndian.PutUint32(b[36:], m.Count)
	for i, e := range m.Entries {
		if !e.Flow.Client.Addr().Is4() || !e.Flow.VIP.Addr().Is4() || !e.Backend.Is4() {
			return nil, fmt.Errorf("flowsync: entry %d: addresses must be IPv4", i)
		}
		p := b[headerLen+i*entryLen:]
		c, v, be := e.Flow.Client.Addr().As4(), e.Flow.VIP.Addr().As4(), e.Backend.As4()
		copy(p[0:4], c[:])
		copy(p[4:8], v[:])
		binary.BigEndian.PutUint16(p[8:], e.Flow.Client.Port())
		binary.BigEndian.PutUint16(p[10:], e.Flow.VIP.Port())
		p[12] = byte(e.Flow.Proto)
		copy(p[16:20], be[:])
	}
	return k.sum(b), nil
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
	if b[4] != version {
		return Message{}, fmt.Errorf("%w: %d", ErrVersion, b[4])
	}
	n := int(b[7])
	if len(b) != headerLen+n*entryLen+macLen {
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
	m := Message{
		Kind:   Kind(b[5]),
		Sender: netip.AddrFrom4([4]byte(b[8:12])),
		Epoch:  binary.BigEndian.Uint64(b[12:]),
		Seq:    binary.BigEndian.Uint64(b[20:]),
		SentAt: int64(binary.BigEndian.Uint64(b[28:])),
		Count:  binary.BigEndian.Uint32(b[36:]),
	}
	if m.Kind < KindFlows || m.Kind > KindBulkEnd {
		return Message{}, fmt.Errorf("%w: %d", ErrKind, m.Kind)
	}
	if n > 0 && m.Kind != KindFlows && m.Kind != KindBulk {
		return Message{}, fmt.Errorf("%w: %d entries in a kind %d datagram", ErrCount, n, m.Kind)
	}
	m.Entries = make([]Entry, n)
	for i := range m.Entries {
		p := b[headerLen+i*entryLen:]
		proto := lb.Protocol(p[12])
		if proto != lb.TCP && proto != lb.UDP {
			return Message{}, fmt.Errorf("%w: protocol %d", ErrEntry, p[12])
		}
		m.Entries[i] = Entry{
			Flow: loader.FlowKey{
				Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[0:4])), binary.BigEndian.Uint16(p[8:])),
				VIP:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[4:8])), binary.BigEndian.Uint16(p[10:])),
				Proto:  proto,
			},
			Backend: netip.AddrFrom4([4]byte(p[16:20])),
		}
	}
	return m, nil
}

// macOf is a fresh HMAC-SHA256 under secret.
func macOf(secret []byte) hash.Hash { return hmac.New(sha256.New, secret) }
