package health

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"xlb/health/kadefaults"
)

// simClock is a simulated clock for a Monitor: every wait returns at once
// with the time moved on by its length, and a simulated check moves it by
// what the check would have taken. A Monitor runs in one goroutine, so the
// schedule it produces is exact and takes no real time.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func newSimClock() *simClock { return &simClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *simClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch, func() {}
}

// dyingServer answers checks until the simulated time reaches diesAt; after
// that every attempt hangs until its timeout (a server that vanished from the
// network), which it simulates by moving the clock by the attempt's timeout.
type dyingServer struct {
	clock   *simClock
	timeout time.Duration
	diesAt  time.Time
	calls   []time.Time
	// stop, when set, is called once the server has answered stopAfter
	// checks, to end the run.
	stopAfter int
	stop      func()
}

func (s *dyingServer) Check(ctx context.Context) Result {
	now := s.clock.Now()
	s.calls = append(s.calls, now)
	if s.stop != nil && len(s.calls) > s.stopAfter {
		s.stop()
	}
	if now.Before(s.diesAt) {
		return okResult("answered")
	}
	s.clock.advance(s.timeout)
	return failResult(fmt.Errorf("%w: no answer", ErrTimeout))
}

// TestKeepalivedTimeToDown runs each checker kind's default Timing through
// the Monitor on a simulated clock: a server that answers the first check and
// then vanishes must be marked down exactly when keepalived would mark it.
// The expected figures are worked out by hand from keepalived's checker code
// (the *_epilog / *_final functions of check_*.c), not from the table, so a
// wrong table entry fails here.
func TestKeepalivedTimeToDown(t *testing.T) {
	const loop = 60 * time.Second
	cases := []struct {
		keyword string
		want    time.Duration
		why     string
	}{
		{"TCP_CHECK", 71 * time.Second, "60 s delay_loop + 5 s timeout + 1 s delay_before_retry + 5 s retry"},
		{"HTTP_GET", 73 * time.Second, "60 + 5 + 3 s delay_before_retry + 5"},
		{"SSL_GET", 73 * time.Second, "as HTTP_GET"},
		{"MISC_CHECK", 120 * time.Second, "60 s delay_loop + 60 s misc_timeout (= delay_loop), retry 0"},
		{"DNS_CHECK", 260 * time.Second, "60 + 5, then 3 retries each a delay_loop later: 3 x (60 + 5)"},
		{"SMTP_CHECK", 71 * time.Second, "as TCP_CHECK"},
		{"PING_CHECK", 71 * time.Second, "as TCP_CHECK"},
		{"UDP_CHECK", 71 * time.Second, "as TCP_CHECK (require_reply: a timeout is a failure)"},
		{"MYSQL_CHECK", 71 * time.Second, "xlb's own: as TCP_CHECK"},
	}
	for _, tc := range cases {
		t.Run(tc.keyword, func(t *testing.T) {
			tm, err := KeepalivedTiming(tc.keyword, 0)
			if err != nil {
				t.Fatal(err)
			}
			clk := newSimClock()
			start := clk.Now()
			// Dead one nanosecond after the first (good) check.
			srv := &dyingServer{clock: clk, timeout: tm.Timeout, diesAt: start.Add(time.Nanosecond)}
			m, err := NewMonitor("rs", srv, tm, 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.clock = clk
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var down *Verdict
			m.Run(ctx, func(v Verdict) {
				if !v.Up {
					down = &v
					cancel()
				}
				if clk.Now().Sub(start) > time.Hour {
					cancel()
				}
			})
			if down == nil {
				t.Fatalf("never marked down (%d checks)", len(srv.calls))
			}
			if got := down.At.Sub(srv.diesAt) + time.Nanosecond; got != tc.want {
				t.Fatalf("marked down %v after the server died, keepalived takes %v (%s); checks at %v",
					got, tc.want, tc.why, offsets(start, srv.calls))
			}
			if bound := tm.WorstCaseDown(); tc.want > bound {
				t.Errorf("WorstCaseDown %v is below the measured %v", bound, tc.want)
			}
			if loop != tm.Interval {
				t.Errorf("interval %v, want keepalived's delay_loop %v", tm.Interval, loop)
			}
		})
	}
}

func offsets(start time.Time, at []time.Time) string {
	var b strings.Builder
	for _, a := range at {
		fmt.Fprintf(&b, " %v", a.Sub(start))
	}
	return b.String()
}

// TestKeepalivedTimingTable pins the values of the table against keepalived's
// differences the issue names: HTTP_GET waits 3 s before a retry, MISC_CHECK
// does not retry, DNS_CHECK retries 3 times a delay_loop apart.
func TestKeepalivedTimingTable(t *testing.T) {
	for _, kw := range kadefaults.Keywords() {
		tm, err := KeepalivedTiming(kw, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := tm.Validate(); err != nil {
			t.Errorf("%s: %v", kw, err)
		}
		if d, _ := kadefaults.For(kw); d.Source == "" {
			t.Errorf("%s: no source cited", kw)
		}
	}
	http, _ := KeepalivedTiming("HTTP_GET", 0)
	misc, _ := KeepalivedTiming("MISC_CHECK", 30*time.Second)
	dns, _ := KeepalivedTiming("DNS_CHECK", 30*time.Second)
	switch {
	case http.DelayBeforeRetry != 3*time.Second:
		t.Errorf("HTTP_GET delay_before_retry %v, keepalived 3 s", http.DelayBeforeRetry)
	case misc.Retry != 0 || misc.Timeout != 30*time.Second:
		t.Errorf("MISC_CHECK retry %d timeout %v, keepalived 0 and the delay_loop", misc.Retry, misc.Timeout)
	case dns.Retry != 3 || dns.DelayBeforeRetry != 30*time.Second:
		t.Errorf("DNS_CHECK retry %d delay %v, keepalived 3 and the delay_loop", dns.Retry, dns.DelayBeforeRetry)
	}
	if _, err := KeepalivedTiming("BFD_CHECK", 0); err == nil {
		t.Error("unknown keyword accepted")
	}
}

// TestKeepalivedDeadAtStart: keepalived gives a server found dead by its
// first check no retries (retry_it starts at retry), and none while it is
// down; only SMTP_CHECK restarts its retries every round. The schedule of
// checks and the down verdict are compared with keepalived's, worked out by
// hand (delay_loop 60 s).
func TestKeepalivedDeadAtStart(t *testing.T) {
	cases := []struct {
		keyword string
		downAt  time.Duration
		calls   []time.Duration
	}{
		{"TCP_CHECK", 5 * time.Second, []time.Duration{0, 65 * time.Second, 130 * time.Second}},
		{"HTTP_GET", 5 * time.Second, []time.Duration{0, 65 * time.Second, 130 * time.Second}},
		{"DNS_CHECK", 5 * time.Second, []time.Duration{0, 65 * time.Second, 130 * time.Second}},
		{"MISC_CHECK", 60 * time.Second, []time.Duration{0, 120 * time.Second, 240 * time.Second}},
		// 0 fails at 5 s, the retry at 6 s fails at 11 s: down; next round at 71 s.
		{"SMTP_CHECK", 11 * time.Second, []time.Duration{0, 6 * time.Second, 71 * time.Second, 77 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.keyword, func(t *testing.T) {
			tm, err := KeepalivedTiming(tc.keyword, 0)
			if err != nil {
				t.Fatal(err)
			}
			clk := newSimClock()
			start := clk.Now()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := &dyingServer{clock: clk, timeout: tm.Timeout, diesAt: start, stopAfter: len(tc.calls), stop: cancel}
			m, err := NewMonitor("rs", srv, tm, 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.clock = clk
			downAt := time.Duration(-1)
			m.Run(ctx, func(v Verdict) {
				if !v.Up && downAt < 0 {
					downAt = v.At.Sub(start)
				}
			})
			if downAt != tc.downAt {
				t.Errorf("down at %v, keepalived at %v", downAt, tc.downAt)
			}
			if got, want := offsets(start, srv.calls[:min(len(srv.calls), len(tc.calls))]), offsets(start, atOffsets(start, tc.calls)); got != want {
				t.Errorf("checks at%s, keepalived at%s", got, want)
			}
		})
	}
}

func atOffsets(start time.Time, d []time.Duration) []time.Time {
	out := make([]time.Time, len(d))
	for i, x := range d {
		out[i] = start.Add(x)
	}
	return out
}
