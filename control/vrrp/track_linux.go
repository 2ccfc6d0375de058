package vrrp

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// execRunner runs a track script as a child process, output discarded.
type execRunner struct{}

func (execRunner) RunScript(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Its own process group, so a timeout kills whatever the script started
	// too, as keepalived does (kill(-pid, SIGKILL)).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd.Run()
}
