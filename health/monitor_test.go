package health

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// noLeak fails t if, once every later cleanup has run, more goroutines exist
// than when it was called. Tests using it must not be parallel.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// runMonitor runs m until t ends and returns its verdicts, buffered n deep.
func runMonitor(t *testing.T, m *Monitor, n int) <-chan Verdict {
	ctx, cancel := context.WithCancel(context.Background())
	verdicts := make(chan Verdict, n)
	done := make(chan struct{})
	go func() {
		m.Run(ctx, func(v Verdict) { verdicts <- v })
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return verdicts
}

// scripted is a Checker whose n-th call (from 1) returns script(n). At call
// stop it cancels the monitor instead, so a run covers an exact number of
// checks.
type scripted struct {
	script func(n int) Result
	stop   int
	cancel context.CancelFunc

	mu    sync.Mutex
	calls int
	at    []time.Time
}

func (s *scripted) Check(ctx context.Context) Result {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	if n >= s.stop {
		s.cancel()
		return Result{Reason: "stopped"}
	}
	return s.script(n)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type seen struct {
	Verdict
	call int // checks made when the verdict came
}

func runScripted(t *testing.T, tm Timing, weight, stop int, script func(int) Result) ([]seen, *scripted) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc := &scripted{script: script, stop: stop, cancel: cancel}
	m, err := NewMonitor("rs1", sc, tm, weight, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []seen
	m.Run(ctx, func(v Verdict) { got = append(got, seen{v, sc.count()}) })
	if sc.count() != stop {
		t.Fatalf("monitor stopped after %d checks, want %d (deadline hit?)", sc.count(), stop)
	}
	return got, sc
}

func fastTiming() Timing {
	return Timing{Interval: time.Millisecond, Timeout: time.Second, Retry: 0, Rise: 1, Fall: 1}
}

var (
	good = Result{OK: true, Reason: "fine"}
	bad  = Result{Reason: "broken", Err: ErrConnect}
)

func TestMonitorStateChanges(t *testing.T) {
	type want struct {
		up     bool
		weight int
		call   int
		reason string
	}
	cases := []struct {
		name   string
		timing func(*Timing)
		stop   int
		script func(n int) Result
		want   []want
	}{
		{
			name:   "starts up and falls after Fall bad rounds",
			timing: func(tm *Timing) { tm.Fall = 3 },
			stop:   10,
			script: func(n int) Result { return map[bool]Result{true: good, false: bad}[n <= 2] },
			want:   []want{{up: true, weight: 10}, {up: false, call: 5, reason: "3 failed round(s): broken"}},
		},
		{
			name:   "alpha starts down and rises after Rise good rounds",
			timing: func(tm *Timing) { tm.Alpha, tm.Rise = true, 3 },
			stop:   10,
			script: func(int) Result { return good },
			want:   []want{{up: false, reason: "alpha"}, {up: true, weight: 10, call: 3, reason: "3 good round(s)"}},
		},
		{
			name:   "flapping shorter than Fall reports nothing",
			timing: func(tm *Timing) { tm.Fall = 2 },
			stop:   30,
			script: func(n int) Result { return map[bool]Result{true: good, false: bad}[n%2 == 0] },
			want:   []want{{up: true, weight: 10}},
		},
		{
			name:   "a bad round breaks the rise streak",
			timing: func(tm *Timing) { tm.Alpha, tm.Rise = true, 3 },
			stop:   20,
			script: func(n int) Result { return map[bool]Result{true: bad, false: good}[n == 2 || n == 5] },
			want:   []want{{up: false}, {up: true, weight: 10, call: 8}},
		},
		{
			name:   "a retry that succeeds keeps the server up",
			timing: func(tm *Timing) { tm.Retry = 2 },
			stop:   13,
			// Round 1 is call 1; rounds 2-3 are two failures then a
			// success. Round 4 is calls 8, 9, 10, all failing; then one
			// call per round while down.
			script: func(n int) Result { return map[bool]Result{true: good, false: bad}[n == 1 || n == 4 || n == 7] },
			want:   []want{{up: true, weight: 10}, {up: false, call: 10, reason: "1 failed round(s): 3 attempts failed, last: broken"}},
		},
		{
			name:   "dead at start: down after one attempt, as keepalived",
			timing: func(tm *Timing) { tm.Retry = 2 },
			stop:   6,
			script: func(int) Result { return bad },
			want:   []want{{up: true, weight: 10}, {up: false, call: 1, reason: "1 failed round(s): broken"}},
		},
		{
			name:   "RetryWhileDown (SMTP_CHECK) retries in the first round too",
			timing: func(tm *Timing) { tm.Retry, tm.RetryWhileDown = 2, true },
			stop:   8,
			script: func(int) Result { return bad },
			want:   []want{{up: true, weight: 10}, {up: false, call: 3, reason: "3 attempts failed"}},
		},
		{
			name: "dynamic weight changes are reported, exit 0 restores the weight",
			stop: 6,
			script: func(n int) Result {
				switch n {
				case 1:
					return bad
				case 2, 3:
					return Result{OK: true, Weight: 7, WeightSet: true}
				case 4:
					return Result{OK: true, Weight: 0, WeightSet: true}
				}
				return good
			},
			want: []want{{up: true, weight: 10}, {up: false, call: 1}, {up: true, weight: 7, call: 2}, {up: true, weight: 0, call: 4}, {up: true, weight: 10, call: 5}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := fastTiming()
			if tc.timing != nil {
				tc.timing(&tm)
			}
			got, _ := runScripted(t, tm, 10, tc.stop, tc.script)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d verdicts %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Up != w.up || g.Weight != w.weight || g.call != w.call || !strings.Contains(g.Reason, w.reason) || g.Server != "rs1" ||
					g.Initial != (i == 0) {
					t.Errorf("verdict %d = {up %v weight %d call %d reason %q}, want {up %v weight %d call %d reason ~%q}",
						i, g.Up, g.Weight, g.call, g.Reason, w.up, w.weight, w.call, w.reason)
				}
			}
		})
	}
}

func TestMonitorRetryDelayAndAttemptTimeout(t *testing.T) {
	tm := fastTiming()
	tm.Retry, tm.DelayBeforeRetry, tm.Timeout, tm.Interval = 1, 50*time.Millisecond, 300*time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deadlines []time.Duration
	var starts []time.Time
	m, err := NewMonitor("rs", CheckerFunc(func(actx context.Context) Result {
		starts = append(starts, time.Now())
		d, ok := actx.Deadline()
		if !ok {
			t.Error("attempt context has no deadline")
		}
		deadlines = append(deadlines, time.Until(d))
		switch len(starts) {
		case 1:
			return good
		case 4:
			cancel()
		}
		return bad
	}), tm, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Run(ctx, func(Verdict) {})
	for i, d := range deadlines {
		if d > tm.Timeout || d < tm.Timeout-100*time.Millisecond {
			t.Errorf("attempt %d had %v left, want about %v", i+1, d, tm.Timeout)
		}
	}
	// Attempt 1 passes; attempts 2-3 are a round with its retry; attempt 4
	// is the next round, made without a retry delay before it.
	if gap := starts[2].Sub(starts[1]); gap < tm.DelayBeforeRetry {
		t.Errorf("the retry came %v after the failure, before delay_before_retry %v", gap, tm.DelayBeforeRetry)
	}
	if gap := starts[3].Sub(starts[2]); gap >= tm.DelayBeforeRetry {
		t.Errorf("the round after the down verdict came %v later: a retry delay, want only the %v interval", gap, tm.Interval)
	}
}

// goodThenBad passes its first call and fails every later one.
func goodThenBad() func(context.Context) Result {
	var mu sync.Mutex
	n := 0
	return func(context.Context) Result {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return good
		}
		return bad
	}
}

// CheckerFunc adapts a function for tests.
type CheckerFunc func(ctx context.Context) Result

func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

func TestMonitorCancelStopsEverything(t *testing.T) {
	cases := []struct {
		name   string
		timing func(*Timing)
		check  func(ctx context.Context) Result
		checks int // checks expected before the cancel lands
	}{
		{
			name:   "during a check",
			timing: func(tm *Timing) { tm.Timeout = time.Hour },
			check:  func(ctx context.Context) Result { <-ctx.Done(); return bad },
			checks: 1,
		},
		{
			name:   "during the interval",
			timing: func(tm *Timing) { tm.Interval = time.Hour },
			check:  func(context.Context) Result { return good },
			checks: 1,
		},
		{
			name:   "during a retry delay",
			timing: func(tm *Timing) { tm.Retry, tm.DelayBeforeRetry = 5, time.Hour },
			// Up after the first check; the second fails and waits to retry.
			check:  goodThenBad(),
			checks: 2,
		},
		{
			name:   "during the start-up stagger",
			timing: func(tm *Timing) { tm.Stagger = time.Hour },
			check:  func(context.Context) Result { return good },
			checks: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			noLeak(t)
			tm := fastTiming()
			tc.timing(&tm)
			var mu sync.Mutex
			calls := 0
			m, err := NewMonitor("rs", CheckerFunc(func(ctx context.Context) Result {
				mu.Lock()
				calls++
				mu.Unlock()
				return tc.check(ctx)
			}), tm, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				m.Run(ctx, func(Verdict) {})
				close(done)
			}()
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.checks {
				t.Errorf("%d checks ran, want %d", calls, tc.checks)
			}
		})
	}
}

func TestTimingValidate(t *testing.T) {
	cases := map[string]func(*Timing){
		"zero interval":      func(tm *Timing) { tm.Interval = 0 },
		"zero timeout":       func(tm *Timing) { tm.Timeout = 0 },
		"negative retry":     func(tm *Timing) { tm.Retry = -1 },
		"negative delay":     func(tm *Timing) { tm.DelayBeforeRetry = -time.Second },
		"zero rise":          func(tm *Timing) { tm.Rise = 0 },
		"zero fall":          func(tm *Timing) { tm.Fall = 0 },
		"negative stagger":   func(tm *Timing) { tm.Stagger = -1 },
		"default is allowed": nil,
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			tm := DefaultTiming()
			if mut == nil {
				if err := tm.Validate(); err != nil {
					t.Fatalf("defaults rejected: %v", err)
				}
				return
			}
			mut(&tm)
			_, err := NewMonitor("rs", CheckerFunc(func(context.Context) Result { return good }), tm, 1, nil)
			if !errors.Is(err, ErrTiming) {
				t.Fatalf("got %v, want ErrTiming", err)
			}
		})
	}
}

func TestDefaultTimingIsKeepalived(t *testing.T) {
	got := DefaultTiming()
	want := Timing{Interval: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Fall: 1}
	if got != want {
		t.Fatalf("DefaultTiming() = %+v, want keepalived's %+v", got, want)
	}
	// One round of two timed-out attempts plus the interval.
	if w := got.WorstCaseDown(); w != 60*time.Second+2*5*time.Second+time.Second {
		t.Fatalf("WorstCaseDown() = %v", w)
	}
}
