package main

import (
	"github.com/urfave/cli/v2"

	"xlb/control/config"
	"xlb/internal/configflag"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "print the native YAML equivalent of a config file (keepalived.conf or YAML)",
		ArgsUsage: "FILE",
		Description: "Reads FILE like xlbd would (keepalived.conf is detected by content), reports its warnings on\n" +
			"stderr, and prints the equivalent native config on stdout. Passwords are written out: the\n" +
			"result is a working config, so treat it like the input.",
		Flags: configflag.Flags(),
		Action: func(c *cli.Context) error {
			cfg, err := configflag.Load(c)
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
