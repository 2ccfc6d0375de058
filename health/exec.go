package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckExec, func(c *config.Check, _ string, _ *slog.Logger) (Checker, error) {
		argv := c.Exec.Command
		if c.Exec.User != "" {
			// keepalived's MISC_CHECK "user": runuser drops to the user; the
			// whole process group is still killed on timeout.
			argv = append([]string{"runuser", "-u", c.Exec.User, "--"}, argv...)
		}
		return NewExec(ExecConfig{Command: argv, Dynamic: c.Exec.Dynamic})
	})
}

// ExecConfig is keepalived's MISC_CHECK: run a command; exit 0 is up, 1 is
// down. With Dynamic (misc_dynamic), exit 2-255 is up with weight code-2, and
// exit 0 restores the configured weight; without it any non-zero exit is down.
//
// The command runs in a process group of its own. When the attempt times out
// the whole group is killed, so a script's children never outlive the check;
// whatever the command leaves running after it exits is killed too.
type ExecConfig struct {
	Command []string // program and arguments [misc_path], not run through a shell
	Dynamic bool     // [misc_dynamic]
	Env     []string // extra KEY=VALUE pairs on top of the daemon's environment
}

// ExecChecker implements ExecConfig.
type ExecChecker struct{ cfg ExecConfig }

// NewExec validates cfg.
func NewExec(cfg ExecConfig) (*ExecChecker, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("exec check: empty command")
	}
	return &ExecChecker{cfg: cfg}, nil
}

// outputLimit bounds how much of the command's output is kept for the reason.
const outputLimit = 512

// Check runs the command once.
func (c *ExecChecker) Check(ctx context.Context) Result {
	start := time.Now()
	out := &limitedBuffer{max: outputLimit}
	cmd, err := runGroup(ctx, c.cfg.Command, c.cfg.Env, out)
	name := c.cfg.Command[0]
	output := out.String()
	if ctx.Err() != nil {
		return failResult(fmt.Errorf("%w: %s: %w", ErrExitStatus, name,
			timeoutOr(ctx, start, errors.New("process group killed"+withOutput(output)))))
	}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	switch {
	case code == 0:
		return okResult(name + " exited 0" + withOutput(output))
	case code == -1 && cmd.ProcessState == nil:
		return failResult(fmt.Errorf("%w: %s: %w", ErrExitStatus, name, err))
	case code == -1:
		return failResult(fmt.Errorf("%w: %s: %s%s", ErrExitStatus, name, cmd.ProcessState, withOutput(output)))
	case code >= 2 && c.cfg.Dynamic:
		r := okResult(fmt.Sprintf("%s exited %d: weight %d%s", name, code, code-2, withOutput(output)))
		r.Weight, r.WeightSet = code-2, true
		return r
	}
	return failResult(fmt.Errorf("%w: %s exited %d%s", ErrExitStatus, name, code, withOutput(output)))
}

// runGroup runs argv in a process group of its own with env added to the
// daemon's environment, output to out. When ctx ends the whole group is
// killed, and whatever the command leaves running after it exits is killed
// too, so nothing it started outlives the call.
func runGroup(ctx context.Context, argv, env []string, out io.Writer) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if len(env) > 0 {
		cmd.Env = append(cmd.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that inherited stdout would otherwise hold Wait until it exits.
	cmd.WaitDelay = 200 * time.Millisecond
	err := cmd.Run()
	if cmd.Process != nil {
		// The group id stays reserved while any member lives, so this reaches
		// only what the command left behind (ESRCH when nothing is left).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return cmd, err
}

func withOutput(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}

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
