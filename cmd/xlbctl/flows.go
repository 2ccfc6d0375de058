package main

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/urfave/cli/v2"

	"xlb/loader"
)

type flowRow struct {
	Interface string `json:"interface"`
	Client    string `json:"client"`
	VIP       string `json:"vip"`
	Protocol  string `json:"protocol"`
	BackendID uint32 `json:"backend_id"`
	Backend   string `json:"backend"`
}

func flowsCommand() *cli.Command {
	return &cli.Command{
		Name:  "flows",
		Usage: "list the flow table (connections and the backend each is pinned to)",
		Description: "The flow table is an LRU: entries of closed connections stay until evicted, so this lists\n" +
			"connections seen, not only open ones. It changes while it is read.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "vip", Usage: "only flows to this VIP (address or address:port)"},
			&cli.StringFlag{Name: "backend", Usage: "only flows on this backend address"},
			&cli.StringFlag{Name: "client", Usage: "only flows from this client address"},
			&cli.BoolFlag{Name: "count", Usage: "print only the number of matching flows"},
			&cli.IntFlag{Name: "limit", Value: 1000, Usage: "print at most this many flows (0: all)"},
		},
		Action: func(c *cli.Context) error {
			match, err := flowFilter(c)
			if err != nil {
				return err
			}
			planes, done, err := openPinned(c)
			if err != nil {
				return err
			}
			defer done()
			var rows []flowRow
			count := 0
			limit := c.Int("limit")
			for _, a := range planes {
				backends, err := a.dp.Backends()
				if err != nil {
					return err
				}
				err = a.dp.Flows(func(k loader.FlowKey, id uint32) bool {
					b := backends[id]
					if !match(k, b.IP) {
						return true
					}
					count++
					if !c.Bool("count") && (limit == 0 || len(rows) < limit) {
						rows = append(rows, flowRow{Interface: a.ifname, Client: k.Client.String(), VIP: k.VIP.String(),
							Protocol: k.Proto.String(), BackendID: id, Backend: b.IP.String()})
					}
					return true
				})
				if err != nil {
					return err
				}
			}
			if c.Bool("count") {
				if c.Bool("json") {
					return printJSON(c.App.Writer, map[string]int{"flows": count})
				}
				_, err := fmt.Fprintln(c.App.Writer, count)
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			t := newTable(c.App.Writer, "CLIENT", "VIP", "PROTO", "BACKEND", "ID")
			for _, r := range rows {
				t.row(r.Client, r.VIP, r.Protocol, r.Backend, strconv.Itoa(int(r.BackendID)))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if len(rows) < count {
				fmt.Fprintf(c.App.ErrWriter, "showing %d of %d flows (--limit)\n", len(rows), count)
			}
			return nil
		},
	}
}

func flowFilter(c *cli.Context) (func(loader.FlowKey, netip.Addr) bool, error) {
	var vipAddr netip.Addr
	var vipPort uint16
	if s := c.String("vip"); s != "" {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			vipAddr, vipPort = ap.Addr(), ap.Port()
		} else if a, err := netip.ParseAddr(s); err == nil {
			vipAddr = a
		} else {
			return nil, fmt.Errorf("--vip %q: not an address or address:port", s)
		}
	}
	parse := func(flag string) (netip.Addr, error) {
		s := c.String(flag)
		if s == "" {
			return netip.Addr{}, nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--%s %q: not an address", flag, s)
		}
		return a, nil
	}
	backend, err := parse("backend")
	if err != nil {
		return nil, err
	}
	client, err := parse("client")
	if err != nil {
		return nil, err
	}
	return func(k loader.FlowKey, b netip.Addr) bool {
		switch {
		case vipAddr.IsValid() && k.VIP.Addr() != vipAddr:
			return false
		case vipPort != 0 && k.VIP.Port() != vipPort:
			return false
		case backend.IsValid() && b != backend:
			return false
		case client.IsValid() && k.Client.Addr() != client:
			return false
		}
		return true
	}, nil
}
