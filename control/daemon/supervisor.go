package daemon

import (
	"context"
	"sync"
)

// supervisor keeps one run per key: started when its key appears, restarted
// when its config changes, stopped when its key goes. checkSet (a monitor per
// real server) and the VRRP announcer (an instance per vrrp_instance) are
// both one.
//
// No lock is held while a run stops: a run slow to stop (a notify script, a
// check stuck in its timeout) delays only its own replacement, never readers
// nor the start of other keys.
type supervisor[K comparable, C, V any] struct {
	// start prepares the run of key with cfg: it returns the run's value
	// (what readers see) and its body, which runs until ctx is done.
	start func(key K, cfg C) (V, func(ctx context.Context), error)
	// same says whether a running config may stay as it is.
	same func(a, b C) bool

	syncMu sync.Mutex // one sync at a time; readers never wait on it
	mu     sync.Mutex
	runs   map[K]*run[C, V]
}

type run[C, V any] struct {
	cfg    C
	val    V
	cancel context.CancelFunc
	done   chan struct{}
}

func newSupervisor[K comparable, C, V any](start func(K, C) (V, func(context.Context), error), same func(a, b C) bool) *supervisor[K, C, V] {
	return &supervisor[K, C, V]{start: start, same: same, runs: map[K]*run[C, V]{}}
}

// sync makes the runs match want. New keys start at once; removed and changed
// ones are stopped together, and a changed key's new run starts only once its
// old run has ended (two VRRP instances of one router must never overlap).
// It returns the keys whose start failed, with the error.
func (s *supervisor[K, C, V]) sync(ctx context.Context, want map[K]C) map[K]error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	failed := map[K]error{}
	var stopping []*run[C, V]
	var restart []K
	s.mu.Lock()
	for k, r := range s.runs {
		cfg, ok := want[k]
		if ok && s.same(r.cfg, cfg) {
			r.cfg = cfg // equal for the run, maybe not for readers
			continue
		}
		r.cancel()
		stopping = append(stopping, r)
		delete(s.runs, k)
		if ok {
			restart = append(restart, k)
		}
	}
	restarting := map[K]bool{}
	for _, k := range restart {
		restarting[k] = true
	}
	for k, cfg := range want {
		if _, running := s.runs[k]; running || restarting[k] {
			continue
		}
		if err := s.launch(ctx, k, cfg); err != nil {
			failed[k] = err
		}
	}
	s.mu.Unlock()

	for _, r := range stopping {
		<-r.done
	}
	if len(restart) == 0 {
		return failed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range restart {
		if err := s.launch(ctx, k, want[k]); err != nil {
			failed[k] = err
		}
	}
	return failed
}

// launch starts key's run; s.mu is held.
func (s *supervisor[K, C, V]) launch(ctx context.Context, k K, cfg C) error {
	val, body, err := s.start(k, cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &run[C, V]{cfg: cfg, val: val, cancel: cancel, done: make(chan struct{})}
	s.runs[k] = r
	go func() {
		defer close(r.done)
		body(rctx)
	}()
	return nil
}

// get is key's running value.
func (s *supervisor[K, C, V]) get(k K) (V, C, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[k]
	if !ok {
		var v V
		var c C
		return v, c, false
	}
	return r.val, r.cfg, true
}

// each calls fn for every run, outside the lock.
func (s *supervisor[K, C, V]) each(fn func(k K, cfg C, v V)) {
	type entry struct {
		k K
		c C
		v V
	}
	s.mu.Lock()
	all := make([]entry, 0, len(s.runs))
	for k, r := range s.runs {
		all = append(all, entry{k, r.cfg, r.val})
	}
	s.mu.Unlock()
	for _, e := range all {
		fn(e.k, e.c, e.v)
	}
}

// stopAll stops every run and waits for them all to end.
func (s *supervisor[K, C, V]) stopAll() {
	s.sync(context.Background(), nil)
}
