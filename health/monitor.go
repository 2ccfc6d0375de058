package health

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Verdict is a change of a real server's state.
type Verdict struct {
	Server  string
	Up      bool
	Weight  int // the configured weight, or the one an exec check asked for; 0 when down
	Reason  string
	Latency time.Duration // of the attempt that decided
	At      time.Time
	// Initial marks the first verdict of a Run: the starting state (up, or
	// down with Alpha) before any check, not a change seen by one.
	Initial bool
}

// Monitor checks one real server with one Checker on Timing's schedule.
type Monitor struct {
	server  string
	checker Checker
	timing  Timing
	weight  int
	log     *slog.Logger
	clock   clock
}

// Watcher is implemented by a Checker that learns of changes by itself (a
// FILE_CHECK watches its file with inotify, as keepalived does). Watch is
// called once when Run starts; a value on the channel starts the next round
// at once instead of after the interval. Watch must close the channel once
// ctx is done and its goroutines have ended (Run waits for that); closing it
// early means the watch failed, and the interval still applies, so the
// monitor falls back to polling.
type Watcher interface {
	Watch(ctx context.Context) <-chan struct{}
}

// clock is the time source of a Monitor; tests replace it to run keepalived's
// minute-long schedules in no time.
type clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a stop
	// function releasing it early.
	After(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// NewMonitor validates timing and returns a monitor for server (a name used in
// verdicts and logs) whose weight while up is weight, unless the checker asks
// for another.
func NewMonitor(server string, c Checker, t Timing, weight int, log *slog.Logger) (*Monitor, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("monitor %s: %w", server, err)
	}
	if c == nil {
		return nil, fmt.Errorf("monitor %s: nil checker", server)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{server: server, checker: c, timing: t, weight: weight, log: log.With("server", server), clock: realClock{}}, nil
}

// Run checks until ctx is done, then returns; no goroutine it started
// outlives it. report is called from Run's goroutine, in order: first with the
// initial state (up, or down with Alpha) so the caller needs no rule of its
// own, then only when the state changes: up/down, or the weight while up.
func (m *Monitor) Run(ctx context.Context, report func(Verdict)) {
	t := m.timing
	cur := Verdict{Server: m.server, Up: !t.Alpha, Reason: "initial state", At: m.clock.Now(), Initial: true}
	if cur.Up {
		cur.Weight = m.weight
	} else {
		cur.Reason = "initial state (alpha): down until checked"
	}
	report(cur)

	var changed <-chan struct{}
	if w, ok := m.checker.(Watcher); ok {
		changed = w.Watch(ctx)
		defer func(ch <-chan struct{}) {
			for range ch {
			}
		}(changed)
	}
	if t.Stagger > 0 && !m.sleep(ctx, rand.N(t.Stagger), nil) {
		return
	}
	dynWeight := m.weight
	good, bad := 0, 0
	for first := true; ; first = false {
		retries := t.Retry
		if !t.RetryWhileDown && (first || !cur.Up) {
			retries = 0
		}
		res, lat := m.round(ctx, retries)
		if ctx.Err() != nil {
			return
		}
		if res.OK {
			good, bad = good+1, 0
			if res.WeightSet {
				dynWeight = res.Weight
			} else {
				dynWeight = m.weight
			}
		} else {
			good, bad = 0, bad+1
		}
		next := cur
		switch {
		case !cur.Up && good >= t.Rise:
			next.Up, next.Weight = true, dynWeight
			next.Reason = fmt.Sprintf("%d good round(s): %s", good, res.Reason)
		case cur.Up && bad >= t.Fall:
			next.Up, next.Weight = false, 0
			next.Reason = fmt.Sprintf("%d failed round(s): %s", bad, res.Reason)
		case cur.Up && res.OK && dynWeight != cur.Weight:
			next.Weight = dynWeight
			next.Reason = "weight changed: " + res.Reason
		}
		if next.Up != cur.Up || next.Weight != cur.Weight {
			next.Latency, next.At, next.Initial = lat, m.clock.Now(), false
			m.log.Info("real server state changed", "up", next.Up, "weight", next.Weight, "reason", next.Reason)
			report(next)
			cur = next
		}
		if !m.sleep(ctx, t.Interval, &changed) {
			return
		}
	}
}

// round makes up to 1+retries attempts and returns the first success, or the
// last failure with the number of attempts in its reason.
func (m *Monitor) round(ctx context.Context, retries int) (Result, time.Duration) {
	t := m.timing
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, t.Timeout)
		start := m.clock.Now()
		res := m.checker.Check(actx)
		lat := m.clock.Now().Sub(start)
		cancel()
		if res.OK || ctx.Err() != nil {
			return res, lat
		}
		if attempt > retries {
			if attempt > 1 {
				res.Reason = fmt.Sprintf("%d attempts failed, last: %s", attempt, res.Reason)
			}
			return res, lat
		}
		m.log.Debug("check failed, retrying", "attempt", attempt, "reason", res.Reason)
		if !m.sleep(ctx, t.DelayBeforeRetry, nil) {
			return res, lat
		}
	}
}

// sleep waits d, or less when *changed delivers, and reports false when ctx
// ended the wait. A closed *changed is set to nil so it cannot spin.
func (m *Monitor) sleep(ctx context.Context, d time.Duration, changed *<-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	var wake <-chan struct{}
	if changed != nil {
		wake = *changed
	}
	fired, stop := m.clock.After(d)
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-fired:
		return true
	case _, ok := <-wake:
		if !ok {
			*changed = nil
		}
		return ctx.Err() == nil
	}
}
