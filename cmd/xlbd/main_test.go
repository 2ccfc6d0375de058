package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runXlbd(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run(append([]string{"xlbd"}, args...))
	return out.String(), errOut.String(), err
}

// --config-id picks keepalived's @ID lines, as keepalived's -i does.
func TestCheckConfigID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "@lb1 $PRIO=200\n@lb2 $PRIO=100\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority $PRIO\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"lb1", "lb2"} {
		for _, flag := range []string{"--config-id", "-i"} {
			out, stderr, err := runXlbd("check-config", flag, id, path)
			if err != nil || !strings.Contains(out, "valid (0 services, 1 VRRP instances") {
				t.Errorf("%s %s: %v\n%s%s", flag, id, err, out, stderr)
			}
		}
	}
	if _, _, err := runXlbd("check-config", "--config-id", "other", path); err == nil || !strings.Contains(err.Error(), `"$PRIO"`) {
		t.Errorf("config id other: %v", err)
	}
	help, _, _ := runXlbd("check-config", "--help")
	run, _, _ := runXlbd("run", "--help")
	for _, h := range []string{help, run} {
		if !strings.Contains(h, "--config-id ID, -i ID") || !strings.Contains(h, "@^ID") {
			t.Errorf("help lacks --config-id:\n%s", h)
		}
	}
}

func TestCheckConfigDevZero(t *testing.T) {
	_, _, err := runXlbd("check-config", "/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "/dev/zero: file too big") {
		t.Errorf("check-config /dev/zero: %v", err)
	}
}
