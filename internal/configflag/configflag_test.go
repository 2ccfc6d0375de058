package configflag

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"xlb/control/config"
)

// load runs a command that reads its file through Load, as xlbd
// check-config and xlbctl convert do.
func load(args ...string) (*config.Config, string, error) {
	var cfg *config.Config
	var stderr bytes.Buffer
	app := &cli.App{Name: "t", ErrWriter: &stderr, Writer: &bytes.Buffer{}, Commands: []*cli.Command{{
		Name:  "check",
		Flags: Flags(),
		Action: func(c *cli.Context) (err error) {
			cfg, err = Load(c)
			return err
		},
	}}}
	err := app.Run(append([]string{"t", "check"}, args...))
	return cfg, stderr.String(), err
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	// One real server per config id; a process setting of keepalived's
	// is ignored with a warning.
	conf := "global_defs {\n  xlb_interface eth0\n  max_auto_priority 10\n}\n" +
		"virtual_server 192.0.2.30 3306 {\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n" +
		"  @a real_server 192.0.2.10 3306 {\n  @a   weight 1\n  @a }\n" +
		"  @^a real_server 192.0.2.11 3306 {\n  @^a   weight 1\n  @^a }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "192.0.2.10", "b": "192.0.2.11"} {
		cfg, stderr, err := load("--config-id", id, path)
		if err != nil {
			t.Fatalf("--config-id %s: %v", id, err)
		}
		if len(cfg.Services) != 1 || len(cfg.Services[0].Reals) != 1 || cfg.Services[0].Reals[0].IP.String() != want {
			t.Errorf("--config-id %s: services %+v, want the one real server %s", id, cfg.Services, want)
		}
		if !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "max_auto_priority") {
			t.Errorf("--config-id %s: stderr %q, want the warning about max_auto_priority", id, stderr)
		}
	}
	if _, _, err := load("--format", "yaml", path); err == nil {
		t.Error("a keepalived.conf read as --format yaml: no error")
	}
	if _, _, err := load("--format", "xml", path); err == nil || !strings.Contains(err.Error(), "want auto, yaml or keepalived") {
		t.Errorf("--format xml: %v, want the formats allowed", err)
	}
	if _, _, err := load(); err == nil || !strings.Contains(err.Error(), "check needs exactly one FILE") {
		t.Errorf("no FILE: %v, want the command named", err)
	}
}
