package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/urfave/cli/v2"

	"xlb/control/maglev"
)

type shareRow struct {
	Interface string  `json:"interface"`
	Service   string  `json:"service"`
	BackendID uint32  `json:"backend_id"`
	Backend   string  `json:"backend"`
	Slots     int     `json:"slots"`
	Share     float64 `json:"share"`
}

func maglevCommand() *cli.Command {
	return &cli.Command{
		Name:  "maglev",
		Usage: "each backend's share of its service's live Maglev table (where new flows go)",
		Action: func(c *cli.Context) error {
			planes, done, err := openPinned(c)
			if err != nil {
				return err
			}
			defer done()
			var rows []shareRow
			for _, a := range planes {
				keys, _, err := sortedServices(a.dp)
				if err != nil {
					return err
				}
				backends, err := a.dp.Backends()
				if err != nil {
					return err
				}
				for _, k := range keys {
					table, err := a.dp.MaglevTable(k)
					if err != nil {
						return err
					}
					shares := maglev.Shares(table)
					ids := slices.Sorted(maps.Keys(shares))
					for _, id := range ids {
						name := "(none: no usable backend)"
						if id != 0 {
							name = backends[id].IP.String()
						}
						rows = append(rows, shareRow{Interface: a.ifname, Service: k.String(), BackendID: id, Backend: name,
							Slots: int(shares[id]*float64(len(table)) + 0.5), Share: shares[id]})
					}
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			t := newTable(c.App.Writer, "SERVICE", "BACKEND", "ID", "SLOTS", "SHARE")
			for _, r := range rows {
				t.row(r.Service, r.Backend, fmt.Sprint(r.BackendID), fmt.Sprint(r.Slots), fmt.Sprintf("%.2f%%", r.Share*100))
			}
			return t.flush()
		},
	}
}
