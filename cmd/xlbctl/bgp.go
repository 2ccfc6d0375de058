package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"xlb/control/api"
)

func bgpCommand() *cli.Command {
	return &cli.Command{
		Name:  "bgp",
		Usage: "BGP sessions (state, uptime, BFD, prefixes sent) and every VIP: announced or not, and why (asks the running xlbd)",
		Action: func(c *cli.Context) error {
			status, err := liveStatus(c, "BGP state")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, status.BGP)
			}
			b := status.BGP
			if b == nil {
				_, err := fmt.Fprintln(c.App.Writer, "bgp: not configured (a bgp: block in xlb.yaml; xlbd check-config says how)")
				return err
			}
			drained := ""
			if status.Drained {
				drained = ", DRAINED by the operator (xlbctl undrain to return)"
			}
			fmt.Fprintf(c.App.Writer, "local AS %d, router id %s, %d announces, %d withdraws%s\n", b.LocalAS, b.RouterID, b.Announces, b.Withdraws, drained)
			t := newTable(c.App.Writer, "NEIGHBOR", "PEER AS", "FAMILIES", "STATE", "UPTIME", "BFD", "BFD FAILURES", "PREFIXES SENT", "FLOPS", "IPV6 NEXT HOP")
			for _, s := range b.Sessions {
				up, bfd := "-", s.BFD
				if !s.Since.IsZero() {
					up = time.Since(s.Since).Round(time.Second).String()
				}
				if bfd == "" {
					bfd = "off"
				}
				fams := make([]string, len(s.Families))
				for i, f := range s.Families {
					fams[i] = string(f)
				}
				nh := "-" // GoBGP's: the session's source address
				if s.IPv6NextHop.IsValid() {
					nh = s.IPv6NextHop.String()
				}
				t.row(s.Neighbor.String(), fmt.Sprint(s.PeerAS), strings.Join(fams, ","), s.State, up, bfd, fmt.Sprint(s.BFDTransitions),
					fmt.Sprint(s.Sent), fmt.Sprint(s.Flops), nh)
			}
			if err := t.flush(); err != nil {
				return err
			}
			t = newTable(c.App.Writer, "VIP", "ANNOUNCED", "WHY")
			for _, r := range b.Routes {
				on := "no"
				if r.Announced {
					on = "yes"
				}
				t.row(r.Prefix().String(), on, r.Reason)
			}
			return t.flush()
		},
	}
}

// drainCommand is xlbctl drain and undrain: root only, as the control
// socket is (mode 0600).
func drainCommand(name string) *cli.Command {
	usage := "take this director out of the ECMP set: withdraw every VIP from BGP (the data plane keeps forwarding what still arrives)"
	if name == "undrain" {
		usage = "announce the VIPs again after xlbctl drain (those this director can serve)"
	}
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Action: func(c *cli.Context) error {
			if err := api.Command(context.Background(), c.String("socket"), name); err != nil {
				return explainPerm(err)
			}
			_, err := fmt.Fprintf(c.App.Writer, "%sed; see xlbctl bgp\n", name)
			return err
		},
	}
}
