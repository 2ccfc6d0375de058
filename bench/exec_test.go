package bench

import (
	"bytes"
	"context"
	"os/exec"
)

// runCtx runs c, killing it when ctx ends, and returns its combined output.
func runCtx(ctx context.Context, c *exec.Cmd) (string, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-ctx.Done():
		_ = c.Process.Kill()
		<-done
		return out.String(), ctx.Err()
	}
}
