package vrrp

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Pacing is keepalived's delay between the gratuitous ARPs (and between the
// unsolicited neighbour advertisements) sent on one interface, for switches
// that cannot take a flood of them (keepalived.conf(5), "VRRP gratuitous ARP
// and unsolicited neighbour advert delay group(s)").
//
// As in keepalived (vrrp_if.c set_default_garp_delay, vrrp_parser.c
// garp_group_*_handler): an interface named in a garp_group takes the
// group's intervals, and the group's interfaces share one pace, so packets
// on any of them are spaced as if they were one link; any other interface
// has a pace of its own at the global vrrp_garp_interval and
// vrrp_gna_interval. An interval of 0 sends back to back.
type Pacing struct {
	GARPInterval time.Duration // vrrp_garp_interval
	GNAInterval  time.Duration // vrrp_gna_interval
	Groups       []GARPGroup
}

// GARPGroup is one garp_group. No interface is in two groups (the config
// package keeps the first, as keepalived does).
type GARPGroup struct {
	GARPInterval time.Duration
	GNAInterval  time.Duration
	Interfaces   []string
}

// laneKey names the pace a VIP's packets join: a group's or an
// interface's, for one family (keepalived keeps the ARP and the NA pace
// apart).
type laneKey struct {
	name string // "if NAME" or "group IF1,IF2"
	v6   bool
}

// laneFor says which pace the packets for an address on dev join and its
// interval (keepalived's IF_BASE_IFP(ipaddress->ifp)->garp_delay).
func (p Pacing) laneFor(dev string, v6 bool) (laneKey, time.Duration) {
	pick := func(garp, gna time.Duration) time.Duration {
		if v6 {
			return gna
		}
		return garp
	}
	for _, g := range p.Groups {
		if slices.Contains(g.Interfaces, dev) {
			return laneKey{"group " + strings.Join(g.Interfaces, ","), v6}, pick(g.GARPInterval, g.GNAInterval)
		}
	}
	return laneKey{"if " + dev, v6}, pick(p.GARPInterval, p.GNAInterval)
}

// paceSender is what sends a paced packet: the instance that queued it.
type paceSender interface {
	sendPaced(v VIP)
}

// paced is one address with packets still to send (keepalived's
// ip_address_t with garp_gna_pending).
type paced struct {
	owner   paceSender
	vip     VIP
	pending int
}

// lane is one pace: at most one packet per interval, addresses taken in
// turn (vrrp_scheduler.c vrrp_arp_thread: the first address of the list
// sends one, then goes to the back while it has more).
type lane struct {
	interval time.Duration
	next     time.Time // no packet before this; zero: none sent yet
	queue    []*paced
	running  bool          // a drain goroutine serves the lane
	wake     chan struct{} // tells it the queue changed
}

// add queues n packets for v of owner. An address already waiting keeps its
// place and waits for max(its count, n), as keepalived's
// send_gratuitous_arp raises garp_gna_pending up to the burst's repeat.
func (l *lane) add(owner paceSender, v VIP, n int) {
	for _, e := range l.queue {
		if e.owner == owner && e.vip == v {
			e.pending = max(e.pending, n)
			return
		}
	}
	l.queue = append(l.queue, &paced{owner: owner, vip: v, pending: n})
}

// pop returns the address whose packet is due at now, moving it to the back
// if it has more; otherwise how long until one is due (0 with ok false: the
// queue is empty).
func (l *lane) pop(now time.Time) (e paced, wait time.Duration, ok bool) {
	if len(l.queue) == 0 {
		return paced{}, 0, false
	}
	if now.Before(l.next) {
		return paced{}, l.next.Sub(now), false
	}
	first := l.queue[0]
	l.queue = l.queue[1:]
	first.pending--
	if first.pending > 0 {
		l.queue = append(l.queue, first)
	}
	return *first, 0, true
}

// cancel drops owner's packets (keepalived's vrrp_remove_delayed_arp when
// an instance leaves MASTER).
func (l *lane) cancel(owner paceSender) bool {
	n := len(l.queue)
	l.queue = slices.DeleteFunc(l.queue, func(e *paced) bool { return e.owner == owner })
	return len(l.queue) != n
}

// Pacer spaces the gratuitous ARPs and unsolicited neighbour advertisements
// of every instance that shares it (Options.Pacer), per Pacing. A daemon
// has one for all its instances, so instances on one interface are paced
// together, as keepalived paces them per interface.
type Pacer struct {
	clock Clock
	mu    sync.Mutex
	cfg   Pacing
	lanes map[laneKey]*lane
}

// NewPacer returns a Pacer with no pacing until Configure; a nil clock is
// the real one.
func NewPacer(clock Clock) *Pacer {
	if clock == nil {
		clock = realClock{}
	}
	return &Pacer{clock: clock, lanes: map[laneKey]*lane{}}
}

// Configure sets the intervals (on start and every reload). Packets already
// queued keep their lane, which takes a changed interval when the next
// packet joins it.
func (p *Pacer) Configure(cfg Pacing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
}

// direct reports whether v's packets go out at once (no pace, or an
// interval of 0). dev is v's interface.
func (p *Pacer) direct(dev string, v VIP) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, d := p.cfg.laneFor(dev, v.Prefix.Addr().Is6())
	return d <= 0
}

// queue adds n packets for v (on dev) from owner to its lane and makes
// sure a goroutine serves the lane.
func (p *Pacer) queue(owner paceSender, dev string, v VIP, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key, interval := p.cfg.laneFor(dev, v.Prefix.Addr().Is6())
	l := p.lanes[key]
	if l == nil {
		l = &lane{wake: make(chan struct{}, 1)}
		p.lanes[key] = l
	}
	l.interval = interval
	l.add(owner, v, n)
	if !l.running {
		l.running = true
		go p.drain(l)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// cancel drops every packet owner still has queued.
func (p *Pacer) cancel(owner paceSender) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lanes {
		if l.cancel(owner) {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
}

// drain serves a lane until its queue is empty. It sends without p.mu held
// (the sender takes its instance's lock, which is held while queueing),
// and starts the interval when the send has returned, as keepalived sets
// garp_next_time after send_arp, so no two packets are closer than it.
func (p *Pacer) drain(l *lane) {
	for {
		p.mu.Lock()
		e, wait, ok := l.pop(p.clock.Now())
		if !ok && wait == 0 {
			// The lane stays, with the time of its last packet, so the
			// next burst keeps the interval too.
			l.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if !ok {
			t := p.clock.NewTimer(wait)
			select {
			case <-t.C():
			case <-l.wake:
			}
			t.Stop()
			continue
		}
		e.owner.sendPaced(e.vip)
		p.mu.Lock()
		l.next = p.clock.Now().Add(l.interval)
		p.mu.Unlock()
	}
}
