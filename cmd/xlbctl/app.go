package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"xlb/control/api"
	"xlb/internal/buildinfo"
	"xlb/lb"
	"xlb/loader"
)

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "xlbctl",
		Usage:   "inspect the xlb XDP load balancer",
		Version: buildinfo.String(),
		Description: "xlbctl reads the BPF maps xlbd pinned under --pin-root (one directory per interface), so it\n" +
			"works whether or not xlbd is running, and asks xlbd's control socket for what the maps do not\n" +
			"hold: health-check reasons and VRRP state. Reading pinned maps needs root.",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory xlbd pins under", EnvVars: []string{"XLB_PIN_ROOT"}},
			&cli.StringFlag{Name: "socket", Value: api.DefaultSocket, Usage: "xlbd's control socket", EnvVars: []string{"XLB_SOCKET"}},
			&cli.StringSliceFlag{Name: "interface", Aliases: []string{"i"}, Usage: "only this interface (default: every pinned one)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts instead of tables"},
		},
		Commands: []*cli.Command{
			servicesCommand(), backendsCommand(), flowsCommand(), statsCommand(),
			maglevCommand(), vrrpCommand(), bgpCommand(), drainCommand("drain"), drainCommand("undrain"), flowSyncCommand(), macsCommand(), convertCommand(), completionCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main prints the error once
	}
}

// attached is one pinned data plane.
type attached struct {
	ifname string
	dp     *loader.Dataplane
}

// openPinned opens every selected interface's pinned maps.
func openPinned(c *cli.Context) ([]attached, func(), error) {
	root := c.String("pin-root")
	names := c.StringSlice("interface")
	if len(names) == 0 {
		var err error
		names, err = loader.Pinned(root)
		if err != nil {
			return nil, nil, explainPerm(fmt.Errorf("list %s: %w", root, err))
		}
		if len(names) == 0 {
			return nil, nil, fmt.Errorf("no xlb data plane is pinned under %s: is xlbd running, or was it detached?", root)
		}
	}
	sort.Strings(names)
	var out []attached
	closeAll := func() {
		for _, a := range out {
			a.dp.Close()
		}
	}
	for _, n := range names {
		dp, err := loader.OpenPinned(n, root)
		if err != nil {
			closeAll()
			return nil, nil, explainPerm(err)
		}
		out = append(out, attached{ifname: n, dp: dp})
	}
	return out, closeAll, nil
}

func explainPerm(err error) error {
	if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
		return fmt.Errorf("%w: xlbctl reads pinned BPF maps, which needs root (try sudo)", err)
	}
	return err
}

// daemonStatus asks xlbd; a daemon that is down is not an error for
// commands that can answer from the maps alone.
func daemonStatus(c *cli.Context) (*api.Status, error) {
	s, err := api.Get(context.Background(), c.String("socket"))
	if err != nil {
		if errors.Is(err, api.ErrNoDaemon) {
			return nil, nil
		}
		return nil, err
	}
	return &s, nil
}

// liveStatus is daemonStatus for a command whose state (what) lives only in
// the daemon: no daemon is an error that says so.
func liveStatus(c *cli.Context, what string) (*api.Status, error) {
	s, err := daemonStatus(c)
	if err == nil && s == nil {
		err = fmt.Errorf("xlbd is not running (no control socket at %s): %s lives in the daemon", c.String("socket"), what)
	}
	return s, err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }
func (t *table) flush() error       { return t.tw.Flush() }

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// balancingOf reads a service's balancing from the maps, which tell only
// source-IP affinity from Maglev: failover is a Maglev table that names one
// backend, so the daemon's status, when it answers, has the last word.
func balancingOf(s loader.Service) lb.Balancing {
	if s.Flags&loader.HashSource != 0 {
		return lb.SourceHash
	}
	return lb.Maglev
}

// sortedServices returns a data plane's services ordered by VIP, port, protocol.
func sortedServices(dp *loader.Dataplane) ([]loader.ServiceKey, map[loader.ServiceKey]loader.Service, error) {
	svcs, err := dp.Services()
	if err != nil {
		return nil, nil, err
	}
	keys := make([]loader.ServiceKey, 0, len(svcs))
	for k := range svcs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.VIP != b.VIP {
			return a.VIP.Less(b.VIP)
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Proto < b.Proto
	})
	return keys, svcs, nil
}
