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
	return &Monitor{server: server, checker: c, timing: t, weight: weight, log: log.With("server", server)}, nil
}

// Run checks until ctx is done, then returns; no goroutine it started
// outlives it. report is called from Run's goroutine, in order: first with the
// initial state (up, or down with Alpha) so the caller needs no rule of its
// own, then only when the state changes: up/down, or the weight while up.
func (m *Monitor) Run(ctx context.Context, report func(Verdict)) {
	t := m.timing
	cur := Verdict{Server: m.server, Up: !t.Alpha, Reason: "initial state", At: time.Now(), Initial: true}
	if cur.Up {
		cur.Weight = m.weight
	} else {
		cur.Reason = "initial state (alpha): down until checked"
	}
	report(cur)

	if t.Stagger > 0 && !sleep(ctx, rand.N(t.Stagger)) {
		return
	}
	dynWeight := m.weight
	good, bad := 0, 0
	for {
		res, lat := m.round(ctx)
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
			next.Latency, next.At, next.Initial = lat, time.Now(), false
			m.log.Info("real server state changed", "up", next.Up, "weight", next.Weight, "reason", next.Reason)
			report(next)
			cur = next
		}
		if !sleep(ctx, t.Interval) {
			return
		}
	}
}

// round makes up to 1+Retry attempts and returns the first success, or the
// last failure with the number of attempts in its reason.
func (m *Monitor) round(ctx context.Context) (Result, time.Duration) {
	t := m.timing
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, t.Timeout)
		start := time.Now()
		res := m.checker.Check(actx)
		lat := time.Since(start)
		cancel()
		if res.OK || ctx.Err() != nil {
			return res, lat
		}
		if attempt > t.Retry {
			if attempt > 1 {
				res.Reason = fmt.Sprintf("%d attempts failed, last: %s", attempt, res.Reason)
			}
			return res, lat
		}
		m.log.Debug("check failed, retrying", "attempt", attempt, "reason", res.Reason)
		if !sleep(ctx, t.DelayBeforeRetry) {
			return res, lat
		}
	}
}

// sleep waits d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
