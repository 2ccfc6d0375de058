package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"xlb/loader"
)

type rateRow struct {
	Interface string  `json:"interface"`
	What      string  `json:"what"`
	Name      string  `json:"name"`
	PPS       float64 `json:"packets_per_second"`
	BPS       float64 `json:"bits_per_second"`
}

// snapshot is every counter of one data plane at one moment.
type snapshot map[string]loader.Counter

func takeSnapshot(dp *loader.Dataplane) (snapshot, error) {
	s := snapshot{}
	keys, svcs, err := sortedServices(dp)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		c, err := dp.ServiceCounter(svcs[k].ID)
		if err != nil {
			return nil, err
		}
		s["service\x00"+k.String()] = c
	}
	backends, err := dp.Backends()
	if err != nil {
		return nil, err
	}
	for id, b := range backends {
		c, err := dp.BackendCounter(id)
		if err != nil {
			return nil, err
		}
		s[fmt.Sprintf("backend\x00%s (id %d)", b.IP, id)] = c
	}
	reasons, err := dp.ReasonCounters()
	if err != nil {
		return nil, err
	}
	for r, c := range reasons {
		s["reason\x00"+r.String()] = c
	}
	return s, nil
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "packet and bit rates per service, backend and pass/drop reason over an interval",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "measure over this long"},
		},
		Action: func(c *cli.Context) error {
			iv := c.Duration("interval")
			if iv <= 0 {
				return fmt.Errorf("--interval must be positive, got %s", iv)
			}
			planes, done, err := openPinned(c)
			if err != nil {
				return err
			}
			defer done()
			before := make([]snapshot, len(planes))
			for i, a := range planes {
				if before[i], err = takeSnapshot(a.dp); err != nil {
					return err
				}
			}
			start := time.Now()
			time.Sleep(iv)
			var rows []rateRow
			for i, a := range planes {
				after, err := takeSnapshot(a.dp)
				if err != nil {
					return err
				}
				secs := time.Since(start).Seconds()
				for _, key := range sortedKeys(after) {
					d := after[key]
					b := before[i][key]
					what, name, _ := strings.Cut(key, "\x00")
					rows = append(rows, rateRow{Interface: a.ifname, What: what, Name: name,
						PPS: float64(d.Packets-b.Packets) / secs, BPS: float64(d.Bytes-b.Bytes) * 8 / secs})
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			t := newTable(c.App.Writer, "INTERFACE", "KIND", "NAME", "PPS", "BITS/S")
			for _, r := range rows {
				t.row(r.Interface, r.What, r.Name, fmt.Sprintf("%.1f", r.PPS), fmt.Sprintf("%.0f", r.BPS))
			}
			return t.flush()
		},
	}
}

func sortedKeys(s snapshot) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
