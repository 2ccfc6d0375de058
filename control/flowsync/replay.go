package flowsync

import (
	"net/netip"
	"time"
)

// replayWindow is how many datagrams may arrive out of order (IPsec's
// anti-replay window, RFC 4303 section 3.4.3): one sender's flow and bulk
// datagrams leave from two goroutines and can swap places.
const replayWindow = 64

// peerSeq is the replay state of one sender: the epoch (its start time) and
// the sequence numbers seen in it.
type peerSeq struct {
	epoch uint64
	top   uint64 // highest sequence number accepted
	seen  uint64 // bit i: top-i was accepted
}

// Replay refuses a datagram seen before. A sender that restarts picks a
// larger epoch (its start time), which resets its sequence; an older epoch
// is a replay. A receiver that restarts has no state: the send-time window
// then bounds what an old capture can replay to the last MaxSkew.
type Replay struct {
	MaxSkew time.Duration
	peers   map[netip.Addr]*peerSeq
}

// ReplayVerdict is why a datagram passed or not.
type ReplayVerdict string

// Replay verdicts.
const (
	Fresh    ReplayVerdict = ""
	Replayed ReplayVerdict = "replay"
	Stale    ReplayVerdict = "stale" // send time outside the window: an old capture, or clocks apart
)

// NewReplay keeps replay state; maxSkew bounds how far a datagram's send time
// may be from now (directors' clocks must agree that well: NTP).
func NewReplay(maxSkew time.Duration) *Replay {
	return &Replay{MaxSkew: maxSkew, peers: map[netip.Addr]*peerSeq{}}
}

// Check tells whether m is fresh; it records nothing (Accept does, once every
// other check passed, so a datagram refused later can be sent again).
func (r *Replay) Check(m Message, now time.Time) ReplayVerdict {
	if d := now.Sub(time.UnixMilli(m.SentAt)); d > r.MaxSkew || d < -r.MaxSkew {
		return Stale
	}
	p := r.peers[m.Sender]
	switch {
	case m.Seq == 0:
		return Replayed
	case p == nil || m.Epoch > p.epoch:
		return Fresh
	case m.Epoch < p.epoch:
		return Replayed
	case m.Seq > p.top:
		return Fresh
	case p.top-m.Seq >= replayWindow:
		return Replayed
	case p.seen&(1<<(p.top-m.Seq)) != 0:
		return Replayed
	}
	return Fresh
}

// Accept records m as seen; m passed Check.
func (r *Replay) Accept(m Message) {
	p := r.peers[m.Sender]
	if p == nil || m.Epoch > p.epoch {
		p = &peerSeq{epoch: m.Epoch}
		r.peers[m.Sender] = p
	}
	switch {
	case m.Seq > p.top:
		shift := m.Seq - p.top
		if shift >= replayWindow {
			p.seen = 0
		} else {
			p.seen <<= shift
		}
		p.seen |= 1
		p.top = m.Seq
	default:
		p.seen |= 1 << (p.top - m.Seq)
	}
}
