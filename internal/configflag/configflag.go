// Package configflag is how xlb's commands read a config file: the flags
// that say how (--format, --config-id), shared by xlbd run, xlbd
// check-config and xlbctl convert so that all three read a file alike.
package configflag

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"xlb/control/config"
)

// Flags are --format and --config-id, new for each command.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Value: "auto", Usage: "config format: auto (detect by content), yaml or keepalived"},
		&cli.StringFlag{Name: "config-id", Aliases: []string{"i"}, Usage: "keepalived.conf config `ID`, as keepalived's -i: a line starting @ID is read only when ID is this id, one starting @^ID only when it is not (default: the host name up to its first dot)"},
	}
}

// Options is what the command's Flags say.
func Options(c *cli.Context) (config.Options, error) {
	format, err := config.ParseFormat(c.String("format"))
	if err != nil {
		return config.Options{}, err
	}
	return config.Options{Format: format, ConfigID: c.String("config-id")}, nil
}

// Load reads the command's one argument, a config file, as its Flags say,
// and prints each warning on the app's stderr.
func Load(c *cli.Context) (*config.Config, error) {
	if c.NArg() != 1 {
		return nil, fmt.Errorf("%s needs exactly one FILE", c.Command.Name)
	}
	o, err := Options(c)
	if err != nil {
		return nil, err
	}
	cfg, warnings, err := config.LoadWith(c.Args().First(), o)
	for _, w := range warnings {
		fmt.Fprintln(c.App.ErrWriter, "warning:", w)
	}
	return cfg, err
}
