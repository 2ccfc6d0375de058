package vrrp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScriptRiseFall: keepalived's counter, result by result.
func TestScriptRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		results    string // + success, - failure
		states     string // verdict after each: u unknown, g good, f failing
	}{
		{"first success decides", 3, 3, false, "+", "g"},
		{"first failure decides", 3, 3, false, "-", "f"},
		{"fall 3 needs 3 failures in a row", 1, 3, false, "+--+---", "ggggggf"},
		{"rise 2 needs 2 successes in a row", 2, 1, false, "-+-++", "ffffg"},
		{"init_fail needs rise successes", 2, 1, true, "++", "fg"},
		{"init_fail, rise 1", 1, 1, true, "+-", "gf"},
		{"a failure resets the rise count", 3, 1, true, "++-+++", "fffffg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Script{Name: "chk", Command: []string{"x"}, Rise: tc.rise, Fall: tc.fall, InitFail: tc.initFail}.withDefaults("VI_1")
			if err != nil {
				t.Fatal(err)
			}
			tr := newScriptTracker(s)
			var got strings.Builder
			for _, r := range tc.results {
				tr.observe(r == '+')
				got.WriteByte(tr.state.String()[0])
			}
			if got.String() != tc.states {
				t.Fatalf("results %s gave %s, want %s", tc.results, got.String(), tc.states)
			}
		})
	}
}

func TestScriptDefaultsAndValidation(t *testing.T) {
	s, err := Script{Name: "chk", Command: []string{"x"}}.withDefaults("VI_1")
	if err != nil || s.Interval != time.Second || s.Timeout != time.Second || s.Rise != 1 || s.Fall != 1 {
		t.Fatalf("defaults %+v, %v: want interval 1s, timeout = interval, rise 1, fall 1", s, err)
	}
	s, _ = Script{Name: "chk", Command: []string{"x"}, Interval: 5 * time.Second}.withDefaults("VI_1")
	if s.Timeout != 5*time.Second {
		t.Fatalf("timeout %v, want the interval", s.Timeout)
	}
	for _, bad := range []Script{
		{Command: []string{"x"}},
		{Name: "chk"},
		{Name: "chk", Command: []string{"x"}, Weight: 254},
		{Name: "chk", Command: []string{"x"}, Weight: -254},
		{Name: "chk", Command: []string{"x"}, Rise: -1},
	} {
		cfg := baseConfig()
		cfg.TrackScripts = []Script{bad}
		if err := cfg.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: want a config error, got %v", bad, err)
		}
	}
}

// trackSim is a sim whose instance tracks scripts; results are fed as Run
// would feed them.
func trackSim(t *testing.T, prio uint8, scripts ...Script) *sim {
	cfg := baseConfig()
	cfg.Priority = prio
	cfg.TrackScripts = scripts
	return newSim(t, cfg)
}

func (s *sim) script(i int, ok bool) {
	s.in.step(func(now time.Time) { s.in.handleScript(now, scriptResult{i, ok}) })
}

// TestTrackScriptWeights: a negative weight lowers the priority while the
// script fails, a positive one raises it while it succeeds; a master
// advertises the change at once; the owner is never moved.
func TestTrackScriptWeights(t *testing.T) {
	minus := Script{Name: "minus", Command: []string{"x"}, Weight: -60}
	plus := Script{Name: "plus", Command: []string{"x"}, Weight: 20}
	s := trackSim(t, 100, minus, plus)
	s.start()
	if p := s.in.Status().Priority; p != 100 {
		t.Fatalf("priority %d with both scripts unknown, want 100", p)
	}
	s.at(masterDownInterval(2, 100, time.Second))
	s.wantState(StateMaster)
	s.tr.take()
	s.script(0, false)
	if p := s.in.Status().Priority; p != 40 {
		t.Fatalf("priority %d with minus failing, want 40", p)
	}
	if sent := s.tr.take(); len(sent) != 1 || sent[0].adv.Priority != 40 {
		t.Fatalf("master sent %+v, want one advert at 40 at once", sent)
	}
	s.script(1, true)
	s.script(0, true)
	st := s.in.Status()
	if st.Priority != 120 || st.Scripts[0].State != ScriptGood || st.Scripts[1].State != ScriptGood || st.Scripts[0].Fails != 1 {
		t.Fatalf("priority %d scripts %+v, want 120 with both good", st.Priority, st.Scripts)
	}
	// A peer at 110 now loses; at 130 wins.
	s.recv(advertFrom(baseConfig(), addrPeer, 110, nil))
	s.wantState(StateMaster)
	s.recv(advertFrom(baseConfig(), addrPeer, 130, nil))
	s.wantState(StateBackup)

	owner := trackSim(t, PriorityOwner, minus)
	owner.start()
	owner.script(0, false)
	if p := owner.in.Status().Priority; p != PriorityOwner {
		t.Fatalf("owner priority %d with a failing script, want 255 (keepalived leaves the owner alone)", p)
	}
	floor := trackSim(t, 50, minus, Script{Name: "m2", Command: []string{"x"}, Weight: -60})
	floor.start()
	floor.script(0, false)
	floor.script(1, false)
	if p := floor.in.Status().Priority; p != 1 {
		t.Fatalf("priority %d, want clamped to 1", p)
	}
}

// TestTrackScriptWeightZeroFaults: weight 0 means FAULT while the script
// fails (priority 0 sent, VIPs removed) and BACKUP again once it rises.
func TestTrackScriptWeightZeroFaults(t *testing.T) {
	s := trackSim(t, 100, Script{Name: "chk", Command: []string{"x"}, Rise: 2})
	s.start()
	s.at(masterDownInterval(2, 100, time.Second))
	s.wantState(StateMaster)
	s.tr.take()
	s.script(0, false)
	s.wantState(StateFault)
	if sent := s.tr.take(); len(sent) != 1 || sent[0].adv.Priority != 0 {
		t.Fatalf("sent %+v, want one priority 0 advert", sent)
	}
	if vips, _, _ := s.act.snapshot(); vips {
		t.Fatal("VIPs kept in FAULT")
	}
	s.script(0, true)
	s.wantState(StateFault) // rise 2
	s.script(0, true)
	s.wantState(StateBackup)
	if c := s.changes[len(s.changes)-1]; !strings.Contains(c.Reason, "track_script chk") {
		t.Fatalf("reason %q does not name the script", c.Reason)
	}
}

// TestTrackScriptInitFailStartsInFault: init_fail with weight 0 starts the
// instance in FAULT, before any run.
func TestTrackScriptInitFailStartsInFault(t *testing.T) {
	s := trackSim(t, PriorityOwner, Script{Name: "chk", Command: []string{"x"}, InitFail: true})
	s.start()
	s.wantState(StateFault)
	s.script(0, true)
	s.wantState(StateMaster)
}

// countingRunner answers from a function and counts concurrent runs.
type countingRunner struct {
	mu   sync.Mutex
	runs map[string]int
	ok   func(argv []string) bool
}

func (r *countingRunner) RunScript(ctx context.Context, s Script) error {
	argv := s.Command
	r.mu.Lock()
	r.runs[argv[0]]++
	r.mu.Unlock()
	if r.ok(argv) {
		return nil
	}
	return errors.New("exit status 1")
}

// TestRunScriptsOnTheClock: Run runs each script once before it starts (so
// a failing weight-0 script starts the instance in FAULT), then every
// Interval on its clock.
func TestRunScriptsOnTheClock(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	cfg.TrackScripts = []Script{{Name: "chk", Command: []string{"chk"}, Interval: 2 * time.Second}}
	var healthy sync.Mutex
	good := false
	r := &countingRunner{runs: map[string]int{}, ok: func([]string) bool { healthy.Lock(); defer healthy.Unlock(); return good }}
	clock := &fakeClock{now: t0}
	in, err := New(cfg, Options{Transport: newFakeTransport(), Actions: &fakeActions{}, Links: fakeLinks{}, Clock: clock, Scripts: r})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitFor(t, func() bool { return in.Status().State == StateFault })
	healthy.Lock()
	good = true
	healthy.Unlock()
	waitFor(t, func() bool { return clock.pendingAt(t0.Add(2 * time.Second)) })
	clock.set(t0.Add(2 * time.Second))
	waitFor(t, func() bool { return in.Status().State == StateMaster })
	r.mu.Lock()
	runs := r.runs["chk"]
	r.mu.Unlock()
	if runs != 2 {
		t.Fatalf("script ran %d times, want 2 (at start and after one interval)", runs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestExecRunnerTimeout: the real runner reports exit status and kills a
// script (and its children) at the timeout.
func TestExecRunnerTimeout(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ok")
	r := execRunner{}
	if err := r.RunScript(t.Context(), Script{Command: []string{"/bin/sh", "-c", "test -f " + flag}}); err == nil {
		t.Fatal("test -f on a missing file succeeded")
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.RunScript(t.Context(), Script{Command: []string{"/bin/sh", "-c", "test -f " + flag}}); err != nil {
		t.Fatalf("test -f on a present file: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	pidFile := filepath.Join(dir, "pid")
	start := time.Now()
	err := r.RunScript(ctx, Script{Command: []string{"/bin/sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}})
	if err == nil || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("a 30s script under a 200ms timeout: err %v after %v", err, time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	stat := "/proc/" + strings.TrimSpace(string(b)) + "/stat"
	waitFor(t, func() bool {
		// Gone, or a zombie waiting for init: killed either way.
		st, err := os.ReadFile(stat)
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}
