package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"xlb/lb"
	"xlb/loader"
)

type serviceRow struct {
	Interface string `json:"interface"`
	Service   string `json:"service"`
	ID        uint32 `json:"id"`
	Balancing string `json:"balancing"`
	Backends  int    `json:"backends"`
	Active    int    `json:"active"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
}

func servicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "list virtual services with their counters",
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
			decided := map[string]string{} // interface + service -> the daemon's balancing
			if status != nil {
				for _, s := range status.Services {
					k := loader.ServiceKey{VIP: s.VIP, Port: s.Port}
					if p, ok := lb.ParseProtocol(s.Protocol); ok {
						k.Proto = p
					}
					decided[s.Interface+" "+k.String()] = s.Balancing
				}
			}
			var rows []serviceRow
			for _, a := range planes {
				keys, svcs, err := sortedServices(a.dp)
				if err != nil {
					return err
				}
				backends, err := a.dp.Backends()
				if err != nil {
					return err
				}
				for _, k := range keys {
					s := svcs[k]
					row := serviceRow{Interface: a.ifname, Service: k.String(), ID: s.ID, Balancing: balancingOf(s).String()}
					if b, ok := decided[a.ifname+" "+k.String()]; ok {
						row.Balancing = b
					}
					for _, b := range backends {
						if b.ServiceID == s.ID {
							row.Backends++
							if b.State == loader.BackendActive {
								row.Active++
							}
						}
					}
					cnt, err := a.dp.ServiceCounter(s.ID)
					if err != nil {
						return err
					}
					row.Packets, row.Bytes = cnt.Packets, cnt.Bytes
					rows = append(rows, row)
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			t := newTable(c.App.Writer, "INTERFACE", "SERVICE", "ID", "BALANCING", "BACKENDS", "ACTIVE", "PACKETS", "BYTES")
			for _, r := range rows {
				t.row(r.Interface, r.Service, strconv.Itoa(int(r.ID)), r.Balancing, strconv.Itoa(r.Backends),
					strconv.Itoa(r.Active), fmt.Sprint(r.Packets), humanBytes(r.Bytes))
			}
			return t.flush()
		},
	}
}
