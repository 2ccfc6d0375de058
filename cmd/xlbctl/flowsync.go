package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"xlb/control/flowsync"
)

func flowSyncCommand() *cli.Command {
	return &cli.Command{
		Name:  "flowsync",
		Usage: "flow sync between directors: peers, keys, flows sent/applied, drops by reason (asks the running xlbd)",
		Action: func(c *cli.Context) error {
			status, err := liveStatus(c, "flow sync")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, status.FlowSync)
			}
			if len(status.FlowSync) == 0 {
				fmt.Fprintln(c.App.Writer, "flow sync is off (no VRRP instance, --flow-sync=false, or no key): `xlbd check-config` says which and how to turn it on")
				return nil
			}
			t := newTable(c.App.Writer, "INTERFACE", "GROUP", "SOURCE", "PEERS", "KEY IDS", "SYNCED", "SENT", "RECEIVED", "APPLIED", "REPLACED", "DROPS")
			for _, s := range status.FlowSync {
				peers := strings.Join(s.Peers, ",")
				if peers == "" {
					peers = "on-link"
				}
				t.row(s.Interface, s.Group, s.Source, peers, fmt.Sprint(s.KeyIDs), fmt.Sprint(s.Synced), fmt.Sprint(s.Sent),
					fmt.Sprint(s.Received), fmt.Sprint(s.Applied), fmt.Sprint(s.Replaced), drops(s))
			}
			return t.flush()
		},
	}
}

// drops lists the non-zero drop counters, reason=count, sorted by reason.
func drops(s flowsync.Status) string {
	var out []string
	for r, n := range s.Dropped {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s=%d", r, n))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
