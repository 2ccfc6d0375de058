package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"xlb/control/config"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "print the native YAML equivalent of a config file (keepalived.conf or YAML)",
		ArgsUsage: "FILE",
		Description: "Reads FILE like xlbd would (keepalived.conf is detected by content), reports its warnings on\n" +
			"stderr, and prints the equivalent native config on stdout. Passwords are written out: the\n" +
			"result is a working config, so treat it like the input.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "force the input format: keepalived or yaml (default: detect)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("convert needs exactly one FILE")
			}
			var (
				cfg      *config.Config
				warnings []config.Warning
				err      error
			)
			if f := c.String("format"); f != "" {
				format, ferr := config.ParseFormat(f)
				if ferr != nil {
					return ferr
				}
				cfg, warnings, err = config.LoadFormat(c.Args().First(), format)
			} else {
				cfg, warnings, err = config.Load(c.Args().First())
			}
			for _, w := range warnings {
				fmt.Fprintln(c.App.ErrWriter, "warning:", w)
			}
			if err != nil {
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
