package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
)

func macsCommand() *cli.Command {
	return &cli.Command{
		Name:  "macs",
		Usage: "backend and peer-director MACs: source, last confirmed, failed attempts, refusals (asks the running xlbd)",
		Description: "A MAC with failed attempts is the last known one, kept: xlbd never drops a backend's MAC because\n" +
			"ARP went unanswered. \"unresolved\" means no MAC has been known yet. REFUSED counts answers no backend\n" +
			"may have (broadcast, multicast, zero, a VRRP virtual MAC, our own, another director's).",
		Action: func(c *cli.Context) error {
			status, err := liveStatus(c, "MAC tracking")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, status.MACs)
			}
			t := newTable(c.App.Writer, "INTERFACE", "ADDRESS", "ROLE", "MAC", "SOURCE", "CONFIRMED", "FAILED", "LAST ERROR")
			for _, m := range status.MACs {
				for _, a := range m.Addresses {
					role, mac, confirmed, lastErr := "backend", a.MAC, "-", a.LastError
					if a.Peer {
						role = "peer director"
					}
					if mac == "" {
						mac = "unresolved"
					}
					if !a.Confirmed.IsZero() {
						confirmed = a.Confirmed.Format(time.RFC3339)
					}
					if lastErr == "" {
						lastErr = "-"
					}
					t.row(m.Interface, a.IP.String(), role, mac, a.Source, confirmed, strconv.Itoa(a.Failures), lastErr)
				}
			}
			if err := t.flush(); err != nil {
				return err
			}
			for _, m := range status.MACs {
				fmt.Fprintf(c.App.Writer, "%s: refused %s; changed %d; attempts %d, failed %d\n",
					m.Interface, dropsText(m.Refused), m.Changes, m.Attempts, m.Failures)
			}
			return nil
		},
	}
}
