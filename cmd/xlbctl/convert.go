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
			&cli.StringFlag{Name: "config-id", Aliases: []string{"i"}, Usage: "keepalived.conf config `ID`, as keepalived's -i: a line starting @ID is read only when ID is this id, one starting @^ID only when it is not (default: the host name up to its first dot)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("convert needs exactly one FILE")
			}
			format, err := config.ParseFormat(c.String("format"))
			if err != nil {
				return err
			}
			cfg, warnings, err := config.LoadWith(c.Args().First(), config.Options{Format: format, ConfigID: c.String("config-id")})
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
