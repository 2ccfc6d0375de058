package vrrp

import (
	"context"
	"fmt"

	"xlb/control/script"
)

// execRunner runs a track script through the shared script runner: its own
// process group, killed with everything it started when ctx (the script's
// timeout) ends; output capped and discarded. It runs as the script's user,
// else the policy's script_user, and under enable_script_security an
// insecure script fails.
type execRunner struct{ policy script.Policy }

func (r execRunner) RunScript(ctx context.Context, s Script) error {
	cmd, _, err := r.policy.Prepare(script.Cmd{Argv: s.Command, KillLeftovers: true}, s.User, s.Group)
	if err != nil {
		return fmt.Errorf("track script not run: %w", err)
	}
	return script.Run(ctx, cmd).Err
}
