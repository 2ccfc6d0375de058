// Command xlblab runs the xlb lab: the keepalived + LVS-DR setup xlb replaces
// (two directors sharing a VIP, a MariaDB master-master pair, a client),
// rebuilt in network namespaces with xlbd on the directors.
//
//	xlblab up      build the lab and leave it running
//	xlblab down    tear it down (also after a crash)
//	xlblab demo    build it, run a workload through failures, report, tear down
//
// With --bgp the lab is the active-active one: three directors announce the
// VIP by BGP to a bird2 router that spreads the clients over them by ECMP.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"xlb/test/lab"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "xlblab:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "prefix", Value: lab.DefaultPrefix, Usage: "name prefix of the lab's namespaces, pins and state directory"},
		&cli.StringFlag{Name: "repo", Value: ".", Usage: "the xlb checkout (scripts/lab)"},
		&cli.StringFlag{Name: "bin", Value: "bin", Usage: "directory holding xlbd and xlbctl (make build)"},
		&cli.StringFlag{Name: "scheduler", Value: "rr", Usage: "scheduler of the MySQL service: rr (both masters) or fo (one writer)"},
		&cli.BoolFlag{Name: "bgp", Usage: "the active-active lab instead: lvs1-3 announce the VIP by BGP to a bird2 router (ECMP, L4 hash, BFD), the client behind it"},
	}
	return &cli.App{
		Name:  "xlblab",
		Usage: "the xlb lab: two xlbd directors with VRRP in front of MariaDB master-master, in network namespaces",
		Description: "Hosts (scripts/lab/lab.env): db1 192.168.1.10, db2 192.168.1.11 (MariaDB master-master),\n" +
			"lvs1 192.168.1.20 (VRRP MASTER, priority 101), lvs2 192.168.1.21 (BACKUP, 100), client\n" +
			"192.168.1.100; VIP 192.168.1.30:3306. Dual-stack: the same hosts at fd00:192:168:1::N, a second\n" +
			"MySQL service on the VIP [fd00:192:168:1::30]:3306 over the same pair (VRRP v3 instance VI_6).\n" +
			"With --bgp: lvs1-lvs3 (192.168.1.20-22) announce the VIP by BGP to router 192.168.1.1 (bird2:\n" +
			"ECMP, L4 hash, BFD); the client 10.99.0.100 sits behind the router and uses the IPv4 VIP only.\n" +
			"The root namespace is never routed into the lab. Needs root.",
		HideHelpCommand: true,
		Commands: []*cli.Command{
			{Name: "up", Usage: "build the lab and leave it running", Flags: flags, Action: func(c *cli.Context) error {
				l, err := lab.Up(options(c))
				if err != nil {
					return err
				}
				fmt.Printf("\nThe lab is up. A shell on each host:\n%s\nTear it down with: sudo make lab-down\n", l.Shells())
				return nil
			}},
			{Name: "down", Usage: "tear the lab down, whatever state it is in", Flags: flags[:1], Action: func(c *cli.Context) error {
				if err := lab.Down(c.String("prefix")); err != nil {
					return err
				}
				fmt.Println("lab down")
				return nil
			}},
			{Name: "demo", Usage: "narrated failover demo with a live workload and a summary", Flags: flags, Action: demo},
		},
	}
}

func options(c *cli.Context) lab.Options {
	repo, _ := filepath.Abs(c.String("repo"))
	bin, _ := filepath.Abs(c.String("bin"))
	return lab.Options{Prefix: c.String("prefix"), Repo: repo, BinDir: bin, Scheduler: c.String("scheduler"), BGP: c.Bool("bgp"), Log: os.Stdout}
}
