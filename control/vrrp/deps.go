package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Packet is one received IPv4 or IPv6 datagram of protocol 112.
type Packet struct {
	// Src and Dst carry no zone: link-local addresses are the instance's
	// interface's.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// Payload is the VRRP message (the IP payload).
	Payload []byte
}

// ErrClosed is returned by Transport.Receive after Close.
var ErrClosed = errors.New("vrrp transport closed")

// Transport carries adverts. Implementations: RawTransport (multicast or
// unicast over a raw IP socket) and fakes in tests.
type Transport interface {
	// LocalAddr is the source address of our adverts: it breaks priority
	// ties and enters the v3 checksum.
	LocalAddr() netip.Addr
	// Destinations are the group, or each unicast peer.
	Destinations() []netip.Addr
	Send(dst netip.Addr, msg []byte) error
	// Receive blocks for the next packet; after Close it returns ErrClosed.
	Receive() (Packet, error)
	Close() error
}

// Poller is a Transport that can take a packet its socket already holds
// without waiting (RawTransport): TryReceive returns false when there is
// none. Run uses it to hear the adverts that arrived before it acts on a
// due timer; it may run while Receive blocks in another goroutine.
type Poller interface {
	TryReceive() (Packet, bool)
}

// Rebinder is a Transport or Actions whose sockets are bound to netdevs
// (RawTransport, NetActions): Rebind moves them to the netdevs now carrying
// their interfaces' names where those were deleted and created again;
// moved is false when none was. The instance calls it when a tracked link
// comes up, and again every second while it fails.
type Rebinder interface {
	Rebind() (moved bool, err error)
}

// Notification is what notify scripts and the state callback learn.
type Notification struct {
	Instance string
	State    State
	Priority uint8
}

// Actions are the side effects of state changes. NetActions does them with
// netlink, gratuitous ARP or unsolicited neighbour advertisements, and exec;
// tests record them.
type Actions interface {
	AddVIPs(vips []VIP) error
	RemoveVIPs(vips []VIP) error
	// SendGARP sends one gratuitous ARP for each IPv4 VIP and one
	// unsolicited neighbour advertisement for each IPv6 VIP (keepalived's
	// vrrp_send_update: the garp_* settings govern both).
	SendGARP(vips []VIP) error
	// AddRoutes installs routes, then rules; RemoveRoutes removes rules,
	// then routes. What is already there (or gone) is fine.
	AddRoutes(routes []Route, rules []Rule) error
	RemoveRoutes(routes []Route, rules []Rule) error
	// Notify runs the notify scripts for n; it must not block on them.
	Notify(n Notification)
	Close() error
}

// LinkEvent reports whether a tracked link can carry traffic.
type LinkEvent struct {
	Name string
	Up   bool
}

// LinkWatcher feeds track_interface. Watch first reports the current state of
// every named link, then each change, until done is closed.
type LinkWatcher interface {
	Watch(names []string, done <-chan struct{}) (<-chan LinkEvent, error)
}

// ScriptRunner runs a track script's Command once, as its User and Group; a
// nil error is success. It must give up when ctx is done (the script's
// timeout), killing what it started.
type ScriptRunner interface {
	RunScript(ctx context.Context, s Script) error
}

// Clock is time for Run; tests inject a fake one.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that Run uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
