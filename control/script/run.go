// Package script runs every operator script of xlbd (VRRP notify and track
// scripts, real-server notify_up/notify_down, MISC_CHECK) one way, so that no
// script can freeze the control plane: each runs in a process group of its
// own, a timeout kills the whole group, a child that keeps the output pipe
// open cannot hold up the wait (exec.Cmd.WaitDelay), output is capped, and
// scripts run as keepalived's script_user with enable_script_security's
// checks. Notifications go through a Queue that keeps their order per key
// and never blocks the caller.
package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// OutputLimit bounds the output kept of one run; the rest is read and
// discarded, so a script flooding its stdout neither blocks nor grows xlbd.
const OutputLimit = 512

// waitDelay is how long Wait keeps reading the output pipe after the script
// exited (or its timeout killed it): a child it left in the background with
// the pipe open is then cut off instead of holding the wait.
const waitDelay = 200 * time.Millisecond

// Cmd is one script run.
type Cmd struct {
	Argv    []string      // program and arguments, not run through a shell
	Env     []string      // KEY=VALUE pairs added to the daemon's environment
	Timeout time.Duration // 0: until ctx ends
	// As runs the script as this identity; nil runs it as xlbd itself.
	As *Identity
	// KillLeftovers kills whatever the script left running in its process
	// group once it exits (a check must not leave processes behind; a notify
	// script may start a service on purpose, so notify runs do not set it).
	KillLeftovers bool
}

// Result is how a run ended.
type Result struct {
	Exit     int    // exit status; -1 when the script did not exit by itself
	Output   string // the first OutputLimit bytes of stdout and stderr
	TimedOut bool   // the timeout (or ctx) killed the process group
	Err      error  // nil when the script exited 0
	Elapsed  time.Duration
}

// ErrTimeout is the Err of a run the timeout killed.
var ErrTimeout = errors.New("timed out: process group killed")

// Run runs c and returns when the script has ended, at the latest waitDelay
// after its timeout. It never holds a lock of the caller.
func Run(ctx context.Context, c Cmd) Result {
	start := time.Now()
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return Result{Exit: -1, Err: errors.New("empty command")}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	out := &limitedBuffer{max: OutputLimit}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.As != nil {
		cmd.SysProcAttr.Credential = c.As.credential()
		cmd.Dir = "/"
	}
	cmd.Stdout, cmd.Stderr = out, out
	// The group's id is the script's pid: this reaches everything the script
	// started that stayed in its group, as keepalived's kill(-pid, SIGKILL).
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if cmd.Process != nil && (c.KillLeftovers || ctx.Err() != nil) {
		// The group id stays reserved while any member lives, so this reaches
		// only what the script left behind (ESRCH when nothing is left).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	r := Result{Exit: -1, Output: out.String(), Elapsed: time.Since(start)}
	if cmd.ProcessState != nil {
		r.Exit = cmd.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() != nil && r.Exit != 0:
		r.TimedOut = true
		r.Err = fmt.Errorf("%s: %w after %v", c.Argv[0], ErrTimeout, r.Elapsed.Round(time.Millisecond))
	case errors.Is(err, exec.ErrWaitDelay) && r.Exit == 0:
		// Exited 0; only a background child held the output open.
	case err != nil:
		r.Err = fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	return r
}

// Summary is Output on one line, for a log or a reason.
func (r Result) Summary() string { return strings.Join(strings.Fields(r.Output), " ") }

// limitedBuffer keeps the first max bytes written and discards the rest
// without failing the writer.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
