package health

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Notify runs a real server's notify_up / notify_down scripts when its state
// changes, as keepalived's do_rs_notifies (check/ipwrapper.c) does: on a
// change of up/down only (not for the starting state, not when only the
// weight changes), with no arguments. Scripts run in the background so a slow
// one never delays the checks; each runs in a process group of its own that
// is killed, with everything it started, after Timeout. The environment also
// carries XLB_SERVER, XLB_STATE (UP or DOWN) and XLB_REASON.
type Notify struct {
	Up, Down []string      // argv [notify_up, notify_down]; nil: none
	Timeout  time.Duration // default DefaultNotifyTimeout
	Log      *slog.Logger

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
	argv, state := n.Down, "DOWN"
	if v.Up {
		argv, state = n.Up, "UP"
	}
	if !changed || v.Initial || len(argv) == 0 {
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
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out := &limitedBuffer{max: outputLimit}
		cmd, err := runGroup(sctx, argv, env, out)
		code := -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		switch {
		case sctx.Err() != nil && errors.Is(sctx.Err(), context.DeadlineExceeded):
			log.Warn("notify script killed after its timeout", "server", v.Server, "state", state, "script", argv[0], "timeout", timeout, "output", out.String())
		case err != nil:
			log.Warn("notify script failed", "server", v.Server, "state", state, "script", argv[0], "exit", strconv.Itoa(code), "error", err, "output", out.String())
		default:
			log.Info("notify script ran", "server", v.Server, "state", state, "script", argv[0])
		}
	}()
}

// Wait returns when every script started so far has ended.
func (n *Notify) Wait() { n.wg.Wait() }
