package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"xlb/control/config"
	scripts "xlb/control/script"
)

func init() {
	Register(config.CheckExec, func(r config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		c := r.Check
		return NewExec(ExecConfig{Command: c.Exec.Command, Dynamic: c.Exec.Dynamic, Env: TargetEnv(target),
			User: c.Exec.User, Group: c.Exec.Group, Policy: scripts.Policy{Security: c.Exec.Secure}})
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
	// User runs the command (MISC_CHECK's user, else script_user); Policy
	// says who runs it when User is "" and whether an insecure script is
	// refused (enable_script_security).
	User   string
	Group  string // with User: its group ("": User's primary group)
	Policy scripts.Policy
}

// TargetEnv tells a MISC_CHECK command what it checks, so one script serves
// every real server: XLB_TARGET is host:port as a dialer takes it
// ("[fd00::11]:3306" for IPv6), XLB_TARGET_ADDRESS and XLB_TARGET_PORT its
// parts (connect_ip and connect_port applied, as for every check kind).
func TargetEnv(target string) []string {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil
	}
	return []string{"XLB_TARGET=" + target, "XLB_TARGET_ADDRESS=" + host, "XLB_TARGET_PORT=" + port}
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

// Check runs the command once.
func (c *ExecChecker) Check(ctx context.Context) Result {
	start := time.Now()
	name := c.cfg.Command[0]
	cmd, _, err := c.cfg.Policy.Prepare(scripts.Cmd{Argv: c.cfg.Command, Env: c.cfg.Env, KillLeftovers: true}, c.cfg.User, c.cfg.Group)
	if err != nil {
		return failResult(fmt.Errorf("%w: %s not run: %w", ErrExitStatus, name, err))
	}
	r := scripts.Run(ctx, cmd)
	output := r.Output
	if ctx.Err() != nil {
		return failResult(fmt.Errorf("%w: %s: %w", ErrExitStatus, name,
			timeoutOr(ctx, start, errors.New("process group killed"+withOutput(output)))))
	}
	code := r.Exit
	switch {
	case code == 0:
		return okResult(name + " exited 0" + withOutput(output))
	case code == -1:
		return failResult(fmt.Errorf("%w: %w%s", ErrExitStatus, r.Err, withOutput(output)))
	case code >= 2 && c.cfg.Dynamic:
		r := okResult(fmt.Sprintf("%s exited %d: weight %d%s", name, code, code-2, withOutput(output)))
		r.Weight, r.WeightSet = code-2, true
		return r
	}
	return failResult(fmt.Errorf("%w: %s exited %d%s", ErrExitStatus, name, code, withOutput(output)))
}

func withOutput(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}
