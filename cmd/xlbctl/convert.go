package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"xlb/control/bgp"
	"xlb/control/config"
	"xlb/control/secret"
	"xlb/internal/configflag"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "print the native YAML equivalent of a config file (keepalived.conf or YAML)",
		ArgsUsage: "FILE",
		Description: "Reads FILE like xlbd would (keepalived.conf is detected by content), reports its warnings on\n" +
			"stderr, and prints the equivalent native config on stdout. Passwords are written out: the\n" +
			"result is a working config, so treat it like the input.\n\n" +
			"With --bgp-local-as, --bgp-router-id and --bgp-neighbor (keepalived has no BGP) the output gets a\n" +
			"bgp block announcing every service's VIP instead of the vrrp instances, which are left out (said on\n" +
			"stderr): with BGP the routers, not VRRP, decide which directors receive a VIP. Run it once per\n" +
			"director, each with its own --bgp-router-id.",
		Flags: append(configflag.Flags(),
			&cli.UintFlag{Name: "bgp-local-as", Usage: "write a bgp block: this director's `AS` number"},
			&cli.StringFlag{Name: "bgp-router-id", Usage: "the bgp block's router id: this director's IPv4 `ADDRESS`"},
			&cli.StringSliceFlag{Name: "bgp-neighbor", Usage: "a router of the bgp block, `ADDRESS:AS` or [IPV6]:AS (repeat; a VIP needs a router of its family)"},
			&cli.BoolFlag{Name: "bgp-bfd", Value: true, Usage: "BFD (100 ms x 3) on every BGP session"},
			&cli.StringFlag{Name: "bgp-password-file", Usage: "TCP MD5 password `FILE` of every BGP session"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := configflag.Load(c)
			if err != nil {
				return err
			}
			if err := addBGP(c, cfg); err != nil {
				return err
			}
			out, err := config.MarshalNative(cfg)
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}

// addBGP gives cfg the bgp block the --bgp-* flags describe, in place of its
// VRRP instances; nothing without the flags.
func addBGP(c *cli.Context, cfg *config.Config) error {
	if !c.IsSet("bgp-local-as") && !c.IsSet("bgp-router-id") && !c.IsSet("bgp-neighbor") {
		return nil
	}
	if cfg.BGP != nil {
		return fmt.Errorf("--bgp-*: %s already has a bgp block", c.Args().First())
	}
	b, err := bgpFromFlags(c.Uint("bgp-local-as"), c.String("bgp-router-id"), c.StringSlice("bgp-neighbor"), c.Bool("bgp-bfd"), c.String("bgp-password-file"))
	if err != nil {
		return err
	}
	for _, s := range cfg.Services {
		if err := b.CheckVIP(s.VIP); err != nil {
			return fmt.Errorf("--bgp-neighbor: service %s: VIP %s: %w", s.Name, s.VIP, err)
		}
	}
	for _, v := range cfg.VRRP {
		fmt.Fprintf(c.App.ErrWriter, "note: vrrp instance %s left out: with BGP the routers decide which directors receive the VIPs\n", v.Name)
	}
	cfg.VRRP, cfg.SyncGroups, cfg.BGP = nil, nil, b
	return nil
}

// bgpFromFlags builds and checks a bgp block from convert's flags.
func bgpFromFlags(localAS uint, routerID string, neighbors []string, bfd bool, passwordFile string) (*bgp.Config, error) {
	if localAS == 0 || localAS > 1<<32-1 {
		return nil, fmt.Errorf("--bgp-local-as: want this director's AS number, 1-4294967295")
	}
	id, err := netip.ParseAddr(routerID)
	if err != nil || !id.Is4() {
		return nil, fmt.Errorf("--bgp-router-id %q: want this director's IPv4 address", routerID)
	}
	if len(neighbors) == 0 {
		return nil, fmt.Errorf("--bgp-neighbor: at least one router, ADDRESS:AS")
	}
	b := &bgp.Config{LocalAS: uint32(localAS), RouterID: id}
	for _, n := range neighbors {
		i := strings.LastIndexByte(n, ':')
		addr, as := strings.TrimSuffix(strings.TrimPrefix(n[:max(i, 0)], "["), "]"), n[i+1:]
		a, err1 := netip.ParseAddr(addr)
		asn, err2 := strconv.ParseUint(as, 10, 32)
		if i < 0 || err1 != nil || a.Is6() != strings.HasPrefix(n, "[") || bgp.CheckAddr(a) != nil || err2 != nil || asn == 0 {
			return nil, fmt.Errorf("--bgp-neighbor %q: want a router's ADDRESS:AS, e.g. 10.0.1.1:65000 or [fd00:1::1]:65000", n)
		}
		nb := bgp.Neighbor{Address: a, PeerAS: uint32(asn), PasswordFile: passwordFile, BFD: bgp.BFD{Enabled: bfd}}
		if passwordFile != "" {
			if nb.Password, err = secret.FromFile(passwordFile); err != nil {
				return nil, fmt.Errorf("--bgp-password-file: %w", err)
			}
		}
		b.Neighbors = append(b.Neighbors, nb)
	}
	b.Defaults()
	return b, b.Check()
}
