package vrrp

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// stallClock is a fakeClock whose Run loop can be stopped on its way to the
// select, as a loaded host stops a process: while it stands still, the test
// queues adverts and moves time past a deadline. The timer armed after
// that is already due, as a real one is after a stall.
type stallClock struct {
	*fakeClock
	stalled chan struct{} // Run is stopped
	resume  chan struct{} // closed: Run never stops again
}

func (c *stallClock) NewTimer(d time.Duration) Timer {
	asked := c.Now()
	select {
	case c.stalled <- struct{}{}:
		<-c.resume
	case <-c.resume:
	}
	t := c.fakeClock.NewTimer(d - c.Now().Sub(asked))
	c.set(c.Now()) // fires t if it is due
	return t
}

// pollTransport is a fakeTransport whose receive goroutine never gets a
// packet (it is starved) while packets wait in its socket, which only
// TryReceive reads. received reports each call of Receive.
type pollTransport struct {
	*fakeTransport
	received chan struct{}
	socket   chan Packet // nil: no Poller
}

func (p *pollTransport) Receive() (Packet, error) {
	select {
	case p.received <- struct{}{}:
	case <-p.done:
	}
	return p.fakeTransport.Receive()
}

type pollingTransport struct{ *pollTransport }

func (p pollingTransport) TryReceive() (Packet, bool) {
	select {
	case pk := <-p.socket:
		return pk, true
	default:
		return Packet{}, false
	}
}

// TestStalledBackupHearsWaitingAdvert: a backup that wakes from a stall
// with its Master_Down_Interval expired and a live master's advert already
// received handles the advert first and stays BACKUP, sending nothing.
// Before, Run's select picked the timer or the packet at random; 50 rounds
// would all pass by chance with probability 2^-50.
func TestStalledBackupHearsWaitingAdvert(t *testing.T) {
	for _, where := range []string{"queued by the receive goroutine", "still in the socket"} {
		t.Run(where, func(t *testing.T) {
			cfg := baseConfig()
			ft := newFakeTransport()
			pt := &pollTransport{fakeTransport: ft, received: make(chan struct{}, 1)}
			var tr Transport = pt
			if where == "still in the socket" {
				pt.socket = make(chan Packet, 1)
				tr = pollingTransport{pt}
			}
			clock := &stallClock{fakeClock: &fakeClock{now: t0}, stalled: make(chan struct{}), resume: make(chan struct{})}
			in, err := New(cfg, Options{Transport: tr, Actions: &fakeActions{}, Links: fakeLinks{}, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- in.Run(ctx) }()
			t.Cleanup(func() {
				close(clock.resume)
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			wait := func(ch <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(5 * time.Second):
					t.Fatalf("timed out waiting for %s", what)
				}
			}
			wait(pt.received, "the receive goroutine")
			mdi := masterDownInterval(cfg.Version, cfg.Priority, cfg.AdvertInterval)
			deadline := t0.Add(mdi)
			const rounds = 50
			for round := range rounds {
				wait(clock.stalled, fmt.Sprintf("Run's loop in round %d", round))
				if st := in.Status(); st.State != StateBackup || st.Counters.AdvertsReceived != uint64(round) {
					t.Fatalf("round %d: state %v after %d adverts received, want BACKUP after %d", round, st.State, st.Counters.AdvertsReceived, round)
				}
				if s := ft.take(); len(s) != 0 {
					t.Fatalf("round %d: backup sent %+v", round, s)
				}
				adv := advertFrom(cfg, addrPeer, 200, nil)
				if pt.socket != nil {
					pt.socket <- adv
				} else {
					ft.rx <- adv
					wait(pt.received, "the advert to be queued") // Receive again: it went into Run's queue
				}
				now := deadline.Add(time.Millisecond)
				clock.set(now)
				deadline = now.Add(mdi)
				clock.resume <- struct{}{}
			}
			wait(clock.stalled, "Run's loop")
			if st := in.Status(); st.State != StateBackup || st.Counters.AdvertsReceived != rounds || st.MasterAddr != addrPeer.String() {
				t.Fatalf("after %d rounds: %+v", rounds, st)
			}
			if s := ft.take(); len(s) != 0 {
				t.Fatalf("backup sent %+v", s)
			}
		})
	}
}
