package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"xlb/control/api"
)

type backendRow struct {
	Interface string `json:"interface"`
	Service   string `json:"service"`
	ID        uint32 `json:"id"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	State     string `json:"state"`
	Weight    string `json:"weight"`
	Reason    string `json:"reason"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
}

func backendsCommand() *cli.Command {
	return &cli.Command{
		Name:  "backends",
		Usage: "list real servers: state, weight, MAC, health reason, packets, bytes",
		Description: "State, MAC and counters come from the pinned maps. Weight and the health reason come from\n" +
			"xlbd's control socket and show as \"-\" while xlbd is not running.",
		Action: func(c *cli.Context) error {
			planes, done, err := openPinned(c)
			if err != nil {
				return err
			}
			defer done()
			status, err := daemonStatus(c)
			if err != nil {
				return err
			}
			live := map[uint32]api.Backend{}
			if status != nil {
				for _, s := range status.Services {
					for _, b := range s.Backends {
						live[b.ID] = b
					}
				}
			}
			var rows []backendRow
			for _, a := range planes {
				keys, svcs, err := sortedServices(a.dp)
				if err != nil {
					return err
				}
				backends, err := a.dp.Backends()
				if err != nil {
					return err
				}
				ids := slices.Sorted(maps.Keys(backends))
				for _, k := range keys {
					for _, id := range ids {
						b := backends[id]
						if b.ServiceID != svcs[k].ID {
							continue
						}
						cnt, err := a.dp.BackendCounter(id)
						if err != nil {
							return err
						}
						row := backendRow{Interface: a.ifname, Service: k.String(), ID: id, IP: b.IP.String(), MAC: b.MAC.String(),
							State: b.State.String(), Weight: "-", Reason: "-", Packets: cnt.Packets, Bytes: cnt.Bytes}
						if l, ok := live[id]; ok && l.IP == b.IP {
							row.Weight, row.Reason = strconv.Itoa(int(l.Weight)), l.Reason
							// The map says down; the daemon knows it is
							// only waiting for a first MAC.
							if l.State == "unresolved" {
								row.State = l.State
							}
						}
						rows = append(rows, row)
					}
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			t := newTable(c.App.Writer, "SERVICE", "ID", "BACKEND", "MAC", "STATE", "WEIGHT", "PACKETS", "BYTES", "REASON")
			for _, r := range rows {
				t.row(r.Service, strconv.Itoa(int(r.ID)), r.IP, r.MAC, r.State, r.Weight, fmt.Sprint(r.Packets), humanBytes(r.Bytes), r.Reason)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if status == nil {
				fmt.Fprintln(c.App.ErrWriter, "note: xlbd is not running: weights and health reasons are unknown")
			}
			return nil
		},
	}
}
