package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

func vrrpCommand() *cli.Command {
	return &cli.Command{
		Name:  "vrrp",
		Usage: "VRRP instances: state, priority, master, counters (asks the running xlbd)",
		Action: func(c *cli.Context) error {
			status, err := liveStatus(c, "VRRP state")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, status.VRRP)
			}
			t := newTable(c.App.Writer, "INSTANCE", "INTERFACE", "VRID", "VERSION", "STATE", "SINCE", "PRIORITY", "MASTER", "ADVERTS SENT/RECV", "DROPS", "MISMATCH")
			for _, s := range status.VRRP {
				master := s.MasterAddr
				if master == "" {
					master = "-"
				}
				mismatch := "-"
				if len(s.Mismatches) > 0 {
					var rs []string
					for _, m := range s.Mismatches {
						rs = append(rs, m.Reason)
					}
					mismatch = strings.Join(rs, ",")
				}
				t.row(s.Name, s.Interface, fmt.Sprint(s.VRID), fmt.Sprint(s.Version), s.State.String(),
					s.Since.Format(time.RFC3339), fmt.Sprintf("%d (base %d)", s.Priority, s.BasePriority), master,
					fmt.Sprintf("%d/%d", s.Counters.AdvertsSent, s.Counters.AdvertsReceived), dropsText(s.Counters.Drops), mismatch)
			}
			if err := t.flush(); err != nil {
				return err
			}
			// Below the table, one line per reason: a peer configured
			// differently on the same VRID whose adverts are dropped means
			// two masters.
			for _, s := range status.VRRP {
				if s.SyncGroup != "" {
					fmt.Fprintf(c.App.Writer, "%s sync group %s: %s\n", s.Name, s.SyncGroup, s.SyncGroupState)
				}
				for _, sc := range s.Scripts {
					fmt.Fprintf(c.App.Writer, "%s track_script %s: %s (weight %d, %d runs, %d failed)\n",
						s.Name, sc.Name, sc.State, sc.Weight, sc.Runs, sc.Fails)
				}
				for _, m := range s.Mismatches {
					effect := "used"
					if m.LastDropped {
						effect = "dropped, split brain likely"
					}
					fmt.Fprintf(c.App.Writer, "WARNING %s (VRID %d): %d adverts from a differently configured peer (%s): %s: last from %s at %s: %s\n",
						s.Name, s.VRID, m.Count, effect, m.Reason, m.LastFrom, m.LastAt.Format(time.RFC3339), m.LastDetail)
				}
			}
			return nil
		},
	}
}

// dropsText is the total with its non-zero reasons: "0", or "4 (dest 2, ttl 2)".
func dropsText(drops map[string]uint64) string {
	var total uint64
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(drops)) {
		if n := drops[r]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
