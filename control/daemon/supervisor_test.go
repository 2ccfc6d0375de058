package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeRuns records what a supervisor does with its runs.
type fakeRuns struct {
	mu       sync.Mutex
	started  []string // "key=cfg"
	running  map[string]int
	overlap  bool // a key had two live runs at once
	slowStop map[string]chan struct{}
	failCfg  string
}

func newFakeRuns() *fakeRuns {
	return &fakeRuns{running: map[string]int{}, slowStop: map[string]chan struct{}{}}
}

func (f *fakeRuns) start(key, cfg string) (string, func(context.Context), error) {
	if cfg == f.failCfg {
		return "", nil, errors.New("refused")
	}
	f.mu.Lock()
	f.started = append(f.started, key+"="+cfg)
	f.running[key]++
	if f.running[key] > 1 {
		f.overlap = true
	}
	release := f.slowStop[key]
	f.mu.Unlock()
	return cfg, func(ctx context.Context) {
		<-ctx.Done()
		if release != nil {
			<-release
		}
		f.mu.Lock()
		f.running[key]--
		f.mu.Unlock()
	}, nil
}

func (f *fakeRuns) snapshot() ([]string, map[string]int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	running := map[string]int{}
	for k, n := range f.running {
		if n != 0 {
			running[k] = n
		}
	}
	return slices.Clone(f.started), running, f.overlap
}

func sameString(a, b string) bool { return a == b }

func TestSupervisorStartsRestartsStops(t *testing.T) {
	f := newFakeRuns()
	s := newSupervisor(f.start, sameString)
	ctx := context.Background()
	s.sync(ctx, map[string]string{"a": "1", "b": "1"})
	s.sync(ctx, map[string]string{"a": "1", "b": "2", "c": "1"}) // b changed, c new
	s.sync(ctx, map[string]string{"b": "2", "c": "1"})           // a removed
	started, running, overlap := f.snapshot()
	slices.Sort(started)
	if want := []string{"a=1", "b=1", "b=2", "c=1"}; !slices.Equal(started, want) {
		t.Fatalf("started %v, want %v (an unchanged run is not restarted)", started, want)
	}
	if len(running) != 2 || running["b"] != 1 || running["c"] != 1 {
		t.Fatalf("running %v, want b and c once each", running)
	}
	if overlap {
		t.Fatal("a changed key's new run started before the old one ended")
	}
	if v, _, ok := s.get("b"); !ok || v != "2" {
		t.Fatalf("get(b) = %q, %v: want the restarted run's value", v, ok)
	}
	s.stopAll()
	if _, running, _ := f.snapshot(); len(running) != 0 {
		t.Fatalf("runs left after stopAll: %v", running)
	}
}

func TestSupervisorReportsFailedStarts(t *testing.T) {
	f := newFakeRuns()
	f.failCfg = "bad"
	s := newSupervisor(f.start, sameString)
	failed := s.sync(context.Background(), map[string]string{"a": "ok", "b": "bad"})
	if len(failed) != 1 || failed["b"] == nil {
		t.Fatalf("failed = %v, want b only", failed)
	}
	if _, _, ok := s.get("b"); ok {
		t.Fatal("a run that failed to start is listed")
	}
	// The failed key is tried again on the next sync.
	f.failCfg = ""
	if failed := s.sync(context.Background(), map[string]string{"a": "ok", "b": "bad"}); len(failed) != 0 {
		t.Fatalf("second sync failed %v", failed)
	}
	s.stopAll()
}

// A run that is slow to stop (a notify script, a check in its timeout) holds
// up neither readers nor the start of another key.
func TestSupervisorSlowStopBlocksNoOne(t *testing.T) {
	f := newFakeRuns()
	release := make(chan struct{})
	f.slowStop["slow"] = release
	s := newSupervisor(f.start, sameString)
	ctx := context.Background()
	s.sync(ctx, map[string]string{"slow": "1"})

	synced := make(chan struct{})
	go func() {
		defer close(synced)
		s.sync(ctx, map[string]string{"new": "1"}) // removes slow, adds new
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, ok := s.get("new"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new key did not start while another run was slow to stop")
		}
		time.Sleep(time.Millisecond)
	}
	n := 0
	s.each(func(string, string, string) { n++ }) // would deadlock if the lock were held
	if n != 1 {
		t.Fatalf("each saw %d runs, want only the new one", n)
	}
	select {
	case <-synced:
		t.Fatal("sync returned before the removed run had stopped")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-synced:
	case <-time.After(5 * time.Second):
		t.Fatal("sync did not return once the slow run stopped")
	}
	if _, running, _ := f.snapshot(); running["slow"] != 0 || running["new"] != 1 {
		t.Fatalf("running %v", running)
	}
	s.stopAll()
}
