package health

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	scripts "xlb/control/script"
)

// Notify runs a real server's notify_up / notify_down scripts when its state
// changes, as keepalived's do_rs_notifies (check/ipwrapper.c) does: on a
// change of up/down only (not for the starting state, not when only the
// weight changes), with no arguments. Scripts run in the background so a slow
// one never delays the checks, queued per server on Queue so that two quick
// changes run their scripts in the order they happened; each runs in a
// process group of its own that is killed, with everything it started, after
// Timeout. The environment also carries XLB_SERVER, XLB_STATE (UP or DOWN)
// and XLB_REASON.
type Notify struct {
	Up, Down scripts.Command // [notify_up, notify_down], each as its own user or Policy's; zero: none
	Timeout  time.Duration   // default DefaultNotifyTimeout
	Log      *slog.Logger
	Policy   scripts.Policy // script_user, enable_script_security
	// Queue orders the scripts per server (Verdict.Server), also across
	// the Notify a reload replaces; nil: a queue of this Notify's own.
	Queue *scripts.Queue

	mu    sync.Mutex
	known bool
	up    bool
	wg    sync.WaitGroup
}

// DefaultNotifyTimeout bounds a notify script. keepalived does not bound
// them; xlb does, so a hung script cannot pile up processes at each change.
const DefaultNotifyTimeout = 30 * time.Second

// Verdict is meant to be called with every Verdict of a Monitor, in order;
// it starts the script the change calls for. ctx ends running scripts early.
func (n *Notify) Verdict(ctx context.Context, v Verdict) {
	n.mu.Lock()
	changed := n.known && v.Up != n.up
	n.known, n.up = true, v.Up
	n.mu.Unlock()
	if changed && !v.Initial {
		n.run(ctx, v)
	}
}

// Start takes v as the starting state and runs its script although nothing
// changed: for the one start keepalived notifies, a service starting without
// quorum while it has a sorry server (update_quorum_state in
// check/ipwrapper.c, "Starting with quorum down").
func (n *Notify) Start(ctx context.Context, v Verdict) {
	n.mu.Lock()
	n.known, n.up = true, v.Up
	n.mu.Unlock()
	n.run(ctx, v)
}

// run queues v's script behind the server's earlier ones.
func (n *Notify) run(ctx context.Context, v Verdict) {
	c, state := n.Down, "DOWN"
	if v.Up {
		c, state = n.Up, "UP"
	}
	if c.IsZero() {
		return
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultNotifyTimeout
	}
	log := n.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := []string{"XLB_SERVER=" + v.Server, "XLB_STATE=" + state, "XLB_REASON=" + v.Reason}
	n.mu.Lock()
	if n.Queue == nil {
		n.Queue = scripts.NewQueue(log.With("scripts", "real server notify"))
	}
	q := n.Queue
	n.mu.Unlock()
	n.wg.Add(1)
	// The monitor's ctx, not the queue's: stopping the monitor kills its
	// scripts.
	q.Add("real server "+v.Server, "notify "+state, func(context.Context) {
		defer n.wg.Done()
		log := log.With("server", v.Server, "state", state, "script", c.Argv[0])
		cmd, warning, err := n.Policy.Prepare(scripts.Cmd{Argv: c.Argv, Env: env, Timeout: timeout}, c.User, c.Group)
		if err != nil {
			log.Error("notify script not run", "error", err)
			return
		}
		if warning != nil {
			log.Warn("notify script runs though insecure (enable_script_security is off)", "reason", warning)
		}
		switch r := scripts.Run(ctx, cmd); {
		case r.TimedOut && ctx.Err() == nil:
			log.Warn("notify script killed after its timeout", "timeout", timeout, "output", r.Summary())
		case r.Err != nil:
			log.Warn("notify script failed", "exit", strconv.Itoa(r.Exit), "error", r.Err, "output", r.Summary())
		default:
			log.Info("notify script ran")
		}
	})
}

// Wait returns when every script started so far has ended.
func (n *Notify) Wait() { n.wg.Wait() }
