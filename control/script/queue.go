package script

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// QueueLimit bounds the notifications waiting per key. Scripts are bounded by
// their timeout, so it fills only while one hangs again and again; then the
// oldest waiting one is dropped (counted and logged): the newest state is
// the one a notify script must hear.
const QueueLimit = 64

// Queue runs jobs one after another per key (a VRRP instance, a real
// server), in the order they were queued, each key on its own goroutine, so
// a hung script of one key delays only that key. Add never blocks. A key's
// queue outlives whoever queued (an instance restarted by a reload keeps its
// order with the notifications of the run before); Stop ends it.
type Queue struct {
	log *slog.Logger
	// ctx is every job's: Stop ends it, killing what still runs.
	ctx     context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	keys    map[string]*keyQueue
	wg      sync.WaitGroup
	dropped atomic.Uint64
	ran     atomic.Uint64
}

type keyQueue struct {
	jobs    []job
	running bool
}

type job struct {
	what string
	run  func(ctx context.Context)
}

// NewQueue makes an empty queue; log receives the drops.
func NewQueue(log *slog.Logger) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Queue{log: log, ctx: ctx, stop: stop, keys: map[string]*keyQueue{}}
}

// Add queues run under key; what names it in a drop's log line. run gets
// a context that Stop ends: a script run with it is then killed.
func (q *Queue) Add(key, what string, run func(ctx context.Context)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.keys[key]
	if k == nil {
		k = &keyQueue{}
		q.keys[key] = k
	}
	if len(k.jobs) >= QueueLimit {
		old := k.jobs[0]
		k.jobs = k.jobs[1:]
		n := q.dropped.Add(1)
		q.log.Error("script queue full: oldest waiting script dropped", "key", key, "dropped", old.what, "dropped_total", n)
	}
	k.jobs = append(k.jobs, job{what: what, run: run})
	if !k.running {
		k.running = true
		q.wg.Add(1)
		go q.drain(key, k)
	}
}

func (q *Queue) drain(key string, k *keyQueue) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(k.jobs) == 0 {
			k.running = false
			delete(q.keys, key)
			q.mu.Unlock()
			return
		}
		j := k.jobs[0]
		k.jobs = k.jobs[1:]
		q.mu.Unlock()
		if q.ctx.Err() != nil {
			n := q.dropped.Add(1)
			q.log.Error("stopping: waiting script dropped", "key", key, "dropped", j.what, "dropped_total", n)
			continue
		}
		j.run(q.ctx)
		q.ran.Add(1)
	}
}

// Stop lets the queued jobs run for up to grace (a daemon's last
// notifications, notify_stop among them), then ends their context: a
// script still running is killed with its process group, and the jobs
// still waiting are dropped, counted and logged. It returns once every job
// has ended, so nothing a script started in its group outlives the caller;
// a job added later is dropped.
func (q *Queue) Stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if q.Wait(ctx) == nil {
		q.stop()
		return
	}
	q.stop()
	q.wg.Wait()
}

// Dropped is how many jobs were dropped so far; Ran how many ran.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Ran is how many jobs have run to their end.
func (q *Queue) Ran() uint64 { return q.ran.Load() }

// Wait returns when every queued job has run, or ctx ends.
func (q *Queue) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
