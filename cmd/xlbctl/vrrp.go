package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

func vrrpCommand() *cli.Command {
	return &cli.Command{
		Name:  "vrrp",
		Usage: "VRRP instances: state, priority, master, counters (asks the running xlbd)",
		Action: func(c *cli.Context) error {
			status, err := daemonStatus(c)
			if err != nil {
				return err
			}
			if status == nil {
				return fmt.Errorf("xlbd is not running (no control socket at %s): VRRP state lives in the daemon", c.String("socket"))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, status.VRRP)
			}
			t := newTable(c.App.Writer, "INSTANCE", "INTERFACE", "VRID", "VERSION", "STATE", "SINCE", "PRIORITY", "MASTER", "ADVERTS SENT/RECV", "DROPS")
			for _, s := range status.VRRP {
				var drops uint64
				for _, n := range s.Counters.Drops {
					drops += n
				}
				master := s.MasterAddr
				if master == "" {
					master = "-"
				}
				t.row(s.Name, s.Interface, fmt.Sprint(s.VRID), fmt.Sprint(s.Version), s.State.String(),
					s.Since.Format(time.RFC3339), fmt.Sprintf("%d (base %d)", s.Priority, s.BasePriority), master,
					fmt.Sprintf("%d/%d", s.Counters.AdvertsSent, s.Counters.AdvertsReceived), fmt.Sprint(drops))
			}
			return t.flush()
		},
	}
}
