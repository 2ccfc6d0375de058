package vrrp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Script is a vrrp_script as one instance tracks it (track_script). Its
// semantics are keepalived's (keepalived.conf(5); keepalived/vrrp/
// vrrp_track.c and vrrp_scheduler.c, acassen/keepalived 9cbce3e), so a
// keepalived.conf behaves the same here.
type Script struct {
	Name string
	// Command is the argv; exit status 0 is success, anything else (or
	// being killed at Timeout) is failure.
	Command []string
	// Interval between runs: 0 means 1s (VRRP_SCRIPT_DI).
	Interval time.Duration
	// Timeout kills a run that takes longer: 0 means Interval
	// (vrrp_scheduler.c: "timeout ? timeout : interval").
	Timeout time.Duration
	// Weight, -253..253, is added to the priority while the script
	// succeeds if positive, while it fails if negative. 0 puts the
	// instance in FAULT while the script fails. A track_script's own
	// weight is resolved into this by whoever builds the Config.
	Weight int
	// Rise successes make a failing script good, Fall failures make a good
	// one fail: 0 means 1.
	Rise, Fall int
	// User and Group run the script (vrrp_script's "user USER [GROUP]");
	// "" is the ScriptPolicy's script_user, as keepalived.
	User, Group string
	// InitFail starts the script failing, so it needs Rise successes;
	// without it the first result decides ("one success is enough").
	InitFail bool
}

// maxScriptWeight is keepalived's bound on a script weight.
const maxScriptWeight = 253

func (s Script) withDefaults(instance string) (Script, error) {
	if s.Name == "" || len(s.Command) == 0 || s.Command[0] == "" {
		return s, cfgErr(instance, "track_script %q: want a name and a script", s.Name)
	}
	if s.Weight < -maxScriptWeight || s.Weight > maxScriptWeight {
		return s, cfgErr(instance, "track_script %s: weight %d: want -%d..%d", s.Name, s.Weight, maxScriptWeight, maxScriptWeight)
	}
	if s.Interval < 0 || s.Timeout < 0 || s.Rise < 0 || s.Fall < 0 {
		return s, cfgErr(instance, "track_script %s: interval, timeout, rise and fall cannot be negative", s.Name)
	}
	if s.Interval == 0 {
		s.Interval = time.Second
	}
	if s.Timeout == 0 {
		s.Timeout = s.Interval
	}
	s.Rise, s.Fall = max(s.Rise, 1), max(s.Fall, 1)
	return s, nil
}

// ScriptState is a script's verdict.
type ScriptState uint8

// A script is unknown until its first result, unless InitFail.
const (
	ScriptUnknown ScriptState = iota
	ScriptGood
	ScriptFailing
)

func (s ScriptState) String() string {
	switch s {
	case ScriptUnknown:
		return "unknown"
	case ScriptGood:
		return "good"
	case ScriptFailing:
		return "failing"
	}
	return fmt.Sprintf("ScriptState(%d)", uint8(s))
}

// MarshalText makes ScriptState print as its name in JSON.
func (s ScriptState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote, so xlbctl can decode Status.
func (s *ScriptState) UnmarshalText(b []byte) error {
	for st := ScriptUnknown; st <= ScriptFailing; st++ {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("script state %q: want unknown, good or failing", b)
}

// scriptTracker is keepalived's rise/fall counter for one script: result
// runs from 0 to Rise+Fall-1 and the script is good from Rise up.
type scriptTracker struct {
	s      Script
	result int
	state  ScriptState
	runs   uint64
	fails  uint64
}

func newScriptTracker(s Script) *scriptTracker {
	t := &scriptTracker{s: s, result: s.Rise - 1}
	if s.InitFail {
		t.result, t.state = 0, ScriptFailing
	}
	return t
}

// observe applies one run's outcome as vrrp_script_child_thread does and
// reports whether the verdict changed.
func (t *scriptTracker) observe(ok bool) bool {
	old := t.state
	t.runs++
	if ok {
		if t.result < t.s.Rise-1 {
			t.result++
		} else {
			t.result, t.state = t.s.Rise+t.s.Fall-1, ScriptGood
		}
	} else {
		t.fails++
		if t.result > t.s.Rise {
			t.result--
		} else {
			t.result, t.state = 0, ScriptFailing
		}
	}
	return t.state != old
}

// weight is what the script adds to the priority now.
func (t *scriptTracker) weight() int {
	switch {
	case t.state == ScriptGood && t.s.Weight > 0, t.state == ScriptFailing && t.s.Weight < 0:
		return t.s.Weight
	}
	return 0
}

func (t *scriptTracker) faulty() bool { return t.s.Weight == 0 && t.state == ScriptFailing }

// ScriptStatus is a tracked script in Status.
type ScriptStatus struct {
	Name   string      `json:"name"`
	State  ScriptState `json:"state"`
	Weight int         `json:"weight"`
	Runs   uint64      `json:"runs"`
	Fails  uint64      `json:"fails"`
}

type scriptResult struct {
	i  int
	ok bool
}

// runScripts runs every script once and waits (each bounded by its
// timeout), so the first results decide the starting priority and FAULT,
// as the initial link states do; then it runs each every Interval and sends
// the results until ctx is done.
func (in *Instance) runScripts(ctx context.Context, wg *sync.WaitGroup, out chan<- scriptResult) {
	first := make([]bool, len(in.cfg.TrackScripts))
	var firstWG sync.WaitGroup
	for i, s := range in.cfg.TrackScripts {
		firstWG.Go(func() { first[i] = in.runScript(ctx, s) })
	}
	firstWG.Wait()
	in.mu.Lock()
	for i, ok := range first {
		in.observeScript(i, ok)
	}
	in.mu.Unlock()
	for i, s := range in.cfg.TrackScripts {
		wg.Go(func() {
			for {
				timer := in.clock.NewTimer(s.Interval)
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C():
				}
				ok := in.runScript(ctx, s)
				select {
				case out <- scriptResult{i, ok}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
}

func (in *Instance) runScript(ctx context.Context, s Script) bool {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	err := in.scripts.RunScript(ctx, s)
	if err != nil {
		in.log.Debug("track_script failed", "script", s.Name, "err", err)
	}
	return err == nil
}

// observeScript records a result under the lock and logs a new verdict.
func (in *Instance) observeScript(i int, ok bool) bool {
	t := in.tracks[i]
	if !t.observe(ok) {
		return false
	}
	in.log.Info("vrrp track_script verdict", "script", t.s.Name, "state", t.state, "weight", t.s.Weight)
	return true
}

func (in *Instance) handleScript(now time.Time, r scriptResult) {
	if !in.observeScript(r.i, r.ok) {
		return
	}
	t := in.tracks[r.i]
	if t.s.Weight == 0 {
		in.reassessFault(now, "track_script "+t.s.Name+" failing", "track_script "+t.s.Name+" good")
		return
	}
	in.updatePriority(now)
}

func (in *Instance) scriptWeight() int {
	var w int
	for _, t := range in.tracks {
		w += t.weight()
	}
	return w
}
