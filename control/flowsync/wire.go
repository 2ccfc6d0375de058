// Package flowsync keeps the flow tables of two directors in step, so a
// director failover keeps every established connection on its backend, like
// the IPVS connection-sync daemon keepalived users run (lvs_sync_daemon).
//
// Maglev alone makes both directors pick the same backend for a new flow, but
// a flow keeps its backend while the tables change (a backend fails and
// returns, a weight changes, fo fails back): its backend is then no longer
// the table's pick, and only the director that saw it knows where it lives.
// The XDP program reports every flow it records in a ring; the daemon sends
// these to the peer director (UDP multicast on the shared segment, TTL 1,
// like IPVS's 224.0.0.81), which writes them into its own flow table. Flows
// are named by service and backend address, never by id: the two directors'
// ids need not agree.
package flowsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"xlb/loader"
)

// Entry is one synced flow.
type Entry struct {
	Flow    loader.FlowKey
	Backend netip.Addr
}

const (
	magic      = "XLBS"
	version    = 1
	headerLen  = 8  // magic, version, count, reserved
	entryLen   = 20 // client ip, vip, client port, vip port, proto, 3 pad, backend ip
	MaxEntries = (1400 - headerLen) / entryLen
)

// Decode errors: each is a counted drop reason.
var (
	ErrShort   = errors.New("datagram too short")
	ErrMagic   = errors.New("not a flow-sync datagram")
	ErrVersion = errors.New("unsupported flow-sync version")
	ErrCount   = errors.New("entry count does not match length")
	ErrEntry   = errors.New("invalid entry")
)

// Encode packs up to MaxEntries entries into one datagram.
func Encode(entries []Entry) ([]byte, error) {
	if len(entries) == 0 || len(entries) > MaxEntries {
		return nil, fmt.Errorf("flowsync: %d entries, want 1..%d", len(entries), MaxEntries)
	}
	b := make([]byte, headerLen+len(entries)*entryLen)
	copy(b, magic)
	b[4] = version
	b[5] = byte(len(entries))
	for i, e := range entries {
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
	return b, nil
}

// Decode unpacks a datagram; anything malformed is an error, never a panic.
func Decode(b []byte) ([]Entry, error) {
	if len(b) < headerLen {
		return nil, ErrShort
	}
	if string(b[:4]) != magic {
		return nil, ErrMagic
	}
	if b[4] != version {
		return nil, fmt.Errorf("%w: %d", ErrVersion, b[4])
	}
	n := int(b[5])
	if n == 0 || len(b) != headerLen+n*entryLen {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrCount, n, len(b))
	}
	out := make([]Entry, n)
	for i := range out {
		p := b[headerLen+i*entryLen:]
		proto := loader.Proto(p[12])
		if proto != loader.TCP && proto != loader.UDP {
			return nil, fmt.Errorf("%w: protocol %d", ErrEntry, p[12])
		}
		out[i] = Entry{
			Flow: loader.FlowKey{
				Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[0:4])), binary.BigEndian.Uint16(p[8:])),
				VIP:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[4:8])), binary.BigEndian.Uint16(p[10:])),
				Proto:  proto,
			},
			Backend: netip.AddrFrom4([4]byte(p[16:20])),
		}
	}
	return out, nil
}
