// Command xlbd is the xlb director daemon: it attaches the XDP load balancer
// to the configured interfaces, health-checks the real servers, keeps the
// data plane in line with both, and runs VRRP so two directors share the VIP.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"xlb/control/api"
	"xlb/control/config"
	"xlb/control/daemon"
	"xlb/control/flowsync"
	"xlb/control/flowsync/group"
	"xlb/internal/buildinfo"
	"xlb/internal/configflag"
	"xlb/internal/hashseed"
	"xlb/loader"
)

// exitUpgradeRefused is the exit status when the pinned data plane cannot be
// upgraded: xlbd.service lists it in RestartPreventExitStatus, so systemd
// does not restart into the same refusal forever while the old program
// forwards frozen state (EX_CONFIG: an operator has to decide).
const exitUpgradeRefused = 78

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "xlbd:", err)
		if errors.Is(err, loader.ErrUpgradeRefused) {
			fmt.Fprintf(os.Stderr, "xlbd: not restarting (exit %d): the previous build's program keeps forwarding its pinned state; run that build again, or `xlbd detach -i IF` and start this one (connections through this director reset)\n", exitUpgradeRefused)
			os.Exit(exitUpgradeRefused)
		}
		os.Exit(1)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	syncKeyFlag := &cli.StringSliceFlag{Name: "flow-sync-key", Usage: "flow-sync key file (mode 0600, owner root); twice while rotating: the first signs, both are accepted. Without one, flow sync is off"}
	syncPeerFlag := &cli.StringSliceFlag{Name: "flow-sync-peer", Usage: "address of another director whose flow sync is accepted, of the group's family (repeat; default: the VRRP unicast peers of that family, else any host on the interface's subnets, or link for IPv6)"}
	syncGroupFlag := &cli.StringFlag{Name: "flow-sync-group", Usage: "multicast group:port of flow sync, IPv4 or IPv6 link-local such as [ff02::81]:8848 (sent with TTL or hop limit 255, accepted only with 255: never routed; default: the config's flow_sync_group, else 224.0.0.81:8848)"}
	return &cli.App{
		Name:    "xlbd",
		Usage:   "XDP direct-routing load balancer daemon with VRRP and MySQL-aware health checks",
		Version: buildinfo.String(),
		Description: "xlbd reads a native YAML config or a keepalived.conf as is. It attaches an XDP program to\n" +
			"each configured interface and pins it under --pin-root, so restarting xlbd never stops\n" +
			"forwarding: the new process adopts the pinned program, maps and flows. SIGHUP reloads the\n" +
			"config (an invalid file keeps the running one); SIGTERM stops the daemon (VRRP hands the\n" +
			"VIP over; the pinned data plane stays until `xlbd detach`).",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "run the daemon",
				Flags: slices.Concat([]cli.Flag{
					&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "config file (YAML or keepalived.conf)"},
				}, configflag.Flags(), []cli.Flag{
					&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory to pin under (one subdirectory per interface)"},
					&cli.StringFlag{Name: "xdp-mode", Value: "native", Usage: "native (in the driver, fast) or generic (works on any interface, slow)"},
					&cli.UintFlag{Name: "max-flows", Value: 1 << 20, Usage: "flow table size, per address family (kernel memory per flow: 88 bytes IPv4, 112 bytes IPv6)"},
					&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:9433", Usage: "address of Prometheus /metrics and the status page (/, /status.json); loopback by default: any other address shows them, unauthenticated, to that network; empty to disable"},
					&cli.StringFlag{Name: "socket", Value: api.DefaultSocket, Usage: "control socket for xlbctl (root only); empty to disable"},
					&cli.BoolFlag{Name: "flow-sync", Value: true, Usage: "with VRRP: send recorded flows to the other director and apply its flows, so connections survive a failover"},
					syncGroupFlag,
					syncKeyFlag,
					syncPeerFlag,
					&cli.StringFlag{Name: "hash-seed-file", Usage: hashSeedUsage},
					&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
					&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
				}),
				Action: run,
			},
			{
				Name:      "check-config",
				Usage:     "validate a config file and print its problems, applying nothing",
				ArgsUsage: "FILE",
				Flags:     append(configflag.Flags(), syncGroupFlag, syncKeyFlag, syncPeerFlag),
				Action: func(c *cli.Context) error {
					cfg, err := configflag.Load(c)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s: valid (%d services, %d VRRP instances, interfaces %s)\n",
						c.Args().First(), len(cfg.Services), len(cfg.VRRP), interfacesSummary(cfg))
					for _, line := range vrrpTrackSummary(cfg) {
						fmt.Fprintln(c.App.Writer, line)
					}
					summary, err := flowSyncSummary(cfg, c.String("flow-sync-group"), c.StringSlice("flow-sync-key"), c.StringSlice("flow-sync-peer"))
					fmt.Fprintln(c.App.Writer, summary)
					fmt.Fprintln(c.App.Writer, bgpSummary(cfg))
					return err
				},
			},
			{
				Name:  "detach",
				Usage: "stop forwarding: remove the XDP program and every pinned map from the interfaces",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory xlbd pinned under"},
					&cli.StringSliceFlag{Name: "interface", Aliases: []string{"i"}, Usage: "only this interface (default: all)"},
				},
				Action: func(c *cli.Context) error {
					return daemon.Detach(c.String("pin-root"), c.StringSlice("interface"))
				},
			},
		},
	}
}

func run(c *cli.Context) error {
	opts, err := runOptions(c)
	if err != nil {
		return err
	}
	return daemon.Run(context.Background(), opts)
}

// runOptions turns run's flags into the daemon's options.
func runOptions(c *cli.Context) (daemon.Options, error) {
	log, err := newLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
	if err != nil {
		return daemon.Options{}, err
	}
	configOpts, err := configflag.Options(c)
	if err != nil {
		return daemon.Options{}, err
	}
	var mode loader.AttachMode
	switch c.String("xdp-mode") {
	case "native":
		mode = loader.Native
	case "generic":
		mode = loader.Generic
	default:
		return daemon.Options{}, fmt.Errorf("--xdp-mode %q: want native or generic", c.String("xdp-mode"))
	}
	var syncGroup netip.AddrPort
	if g := c.String("flow-sync-group"); g != "" {
		if syncGroup, err = group.Parse(g); err != nil {
			return daemon.Options{}, fmt.Errorf("--flow-sync-group: %w", err)
		}
	}
	peers, err := parsePeers(c.StringSlice("flow-sync-peer"))
	if err != nil {
		return daemon.Options{}, err
	}
	var seed uint32
	if f := c.String("hash-seed-file"); f != "" {
		if seed, err = hashseed.Read(f); err != nil {
			return daemon.Options{}, err
		}
	}
	return daemon.Options{
		HashSeed:      seed,
		FlowSync:      c.Bool("flow-sync"),
		FlowSyncGroup: syncGroup,
		FlowSyncKeys:  c.StringSlice("flow-sync-key"),
		FlowSyncPeers: peers,
		ConfigPath:    c.String("config"),
		Config:        configOpts,
		PinRoot:       c.String("pin-root"),
		Mode:          mode,
		MaxFlows:      uint32(c.Uint("max-flows")),
		MetricsAddr:   c.String("metrics"),
		Socket:        c.String("socket"),
		Log:           log,
		Version:       buildinfo.String(),
	}, nil
}

func parsePeers(args []string) ([]netip.Addr, error) {
	var peers []netip.Addr
	for _, a := range args {
		p, err := netip.ParseAddr(a)
		if err != nil || !p.IsGlobalUnicast() && !p.IsLinkLocalUnicast() || p.Is4In6() || p.Zone() != "" {
			return nil, fmt.Errorf("--flow-sync-peer %q: want another director's unicast address (IPv4, or IPv6 of the group's family: its link-local address on an IPv6 group)", a)
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// flowSyncSummary says whether flow sync will run with cfg and these
// flags, and how to turn it on when it will not; a key file xlbd would
// refuse is an error.
func flowSyncSummary(cfg *config.Config, groupArg string, keys, peerArgs []string) (string, error) {
	if len(cfg.VRRP) == 0 && cfg.BGP == nil {
		return "flow sync: not used (no VRRP instance, no BGP: no other director shares a VIP)", nil
	}
	peers, err := parsePeers(peerArgs)
	if err != nil {
		return "flow sync: invalid peer", err
	}
	if len(keys) == 0 {
		return "flow sync: off (no --flow-sync-key): connections whose backend is not the Maglev pick break at a director failover.\n" +
			"  to turn it on: " + flowsync.HowToEnable, nil
	}
	ring, err := flowsync.LoadKeyring(keys)
	if err != nil {
		return "flow sync: key refused", err
	}
	var flag netip.AddrPort
	if groupArg != "" {
		if flag, err = group.Parse(groupArg); err != nil {
			return "flow sync: invalid group", fmt.Errorf("--flow-sync-group: %w", err)
		}
	}
	g := daemon.FlowSyncGroup(flag, cfg)
	if len(peers) == 0 {
		peers, _ = daemon.FlowSyncVRRP(cfg, "", g)
	}
	from := "any host on the interface's subnets (TTL 255)"
	if g.Addr().Is6() {
		from = "any host on the interface's link (hop limit 255)"
	}
	if len(peers) > 0 {
		from = fmt.Sprint(peers)
	}
	return fmt.Sprintf("flow sync: on (key ids %v, group %s, accepting %s)", ring.IDs(), g, from), nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// bgpSummary says what BGP announces, or how to add it.
func bgpSummary(cfg *config.Config) string {
	b := cfg.BGP
	if b == nil {
		return "bgp: not configured (" + config.BGPHowTo + ")"
	}
	var peers []string
	for _, n := range b.Neighbors {
		bfd := "no BFD"
		if n.BFD.Enabled {
			bfd = fmt.Sprintf("BFD %v x %d", n.BFD.MinTx, n.BFD.Multiplier)
		}
		peers = append(peers, fmt.Sprintf("%s AS %d (%s)", n.Address, n.PeerAS, bfd))
	}
	vips := "every service's VIP"
	if len(b.VIPs) > 0 {
		vips = fmt.Sprintf("%d VIPs", len(b.VIPs))
	}
	return fmt.Sprintf("bgp: AS %d, router id %s, announcing %s to %s", b.LocalAS, b.RouterID, vips, strings.Join(peers, ", "))
}

// vrrpTrackSummary says, per VRRP instance, which links put it in FAULT
// when down and which line makes each tracked (keepalived tracks a VIP's,
// route's or rule's device too unless the line says no_track).
func vrrpTrackSummary(cfg *config.Config) []string {
	var out []string
	for _, v := range cfg.VRRP {
		var links []string
		for _, l := range v.TrackedLinks() {
			links = append(links, fmt.Sprintf("%s (%s)", l.Name, l.Why))
		}
		out = append(out, fmt.Sprintf("vrrp %s: FAULT while any of these links is down: %s", v.Name, strings.Join(links, ", ")))
	}
	return out
}

// interfacesSummary names the config's interfaces or, when it names none,
// those xlbd run would choose on this host and why.
func interfacesSummary(cfg *config.Config) string {
	if len(cfg.Interfaces) > 0 || len(cfg.Services) == 0 {
		return strings.Join(cfg.Interfaces, ", ")
	}
	chosen, err := daemon.InferInterfaces(cfg)
	if err != nil {
		return "none named; on this host xlbd run would fail: " + err.Error()
	}
	var parts []string
	for _, c := range chosen {
		parts = append(parts, fmt.Sprintf("%s (none named; on this host: %s)", c.Name, c.Why))
	}
	return strings.Join(parts, ", ")
}
