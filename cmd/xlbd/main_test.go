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

// check-config tells a keepalived.conf user whether flow sync will run and
// how to turn it on, and refuses a key file others can read.
func TestCheckConfigFlowSync(t *testing.T) {
	conf := "../../control/config/testdata/keepalived-master.conf"
	dir := t.TempDir()
	key := filepath.Join(dir, "flowsync.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"no key", nil, "flow sync: off (no --flow-sync-key)", ""},
		{"how to turn it on", nil, "--flow-sync-key /etc/xlb/flowsync.key", ""},
		{"key", []string{"--flow-sync-key", key}, "flow sync: on (key ids", ""},
		{"peers", []string{"--flow-sync-key", key, "--flow-sync-peer", "192.168.1.21"}, "accepting [192.168.1.21]", ""},
		{"group-readable key", []string{"--flow-sync-key", open}, "flow sync: key refused", "chmod 600"},
		{"bad peer", []string{"--flow-sync-key", key, "--flow-sync-peer", "224.0.0.1"}, "invalid peer", "--flow-sync-peer"},
		{"IPv6 group", []string{"--flow-sync-key", key, "--flow-sync-group", "[ff02::81]:8848", "--flow-sync-peer", "fe80::21"}, "group [ff02::81]:8848, accepting [fe80::21]", ""},
		{"IPv6 group, VRRP's IPv4 peers not taken", []string{"--flow-sync-key", key, "--flow-sync-group", "[ff02::81]:8848"}, "accepting any host on the interface's link (hop limit 255)", ""},
		{"site-scope IPv6 group", []string{"--flow-sync-key", key, "--flow-sync-group", "[ff05::81]:8848"}, "invalid group", "ff02::/16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"xlbd", "check-config"}, tc.args...)
			err := newApp(&out, &errOut).Run(append(args, conf))
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q, want %q", out.String(), tc.want)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// check-config on a keepalived.conf naming no interface says which this host
// would use; with the real server on none of its subnets (TEST-NET-2), that
// xlbd run would fail and why.
func TestCheckConfigInfersInterface(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "virtual_server 198.51.100.1 80 {\n lvs_method DR\n protocol TCP\n real_server 198.51.100.2 80 {\n }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runXlbd("check-config", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := "interfaces none named; on this host xlbd run would fail: no interface named, and no interface of this host has a subnet holding service 198.51.100.1:80/tcp: real server 198.51.100.2"
	if !strings.Contains(out, want) {
		t.Errorf("check-config says\n%s\nwant it to contain %q", out, want)
	}
}

// check-config says which links each VRRP instance tracks and why: a VIP's
// dev other than the instance's interface is tracked unless no_track.
func TestCheckConfigTrackedLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n track_interface {\n  eth2\n }\n" +
		" virtual_ipaddress {\n  10.0.0.1\n  10.0.1.1 dev eth1\n  10.0.3.1 dev eth3 no_track\n }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runXlbd("check-config", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := "vrrp VI_1: FAULT while any of these links is down: eth0 (interface), eth2 (track_interface), eth1 (virtual_ipaddress 10.0.1.1/32 dev eth1)\n"
	if !strings.Contains(out, want) {
		t.Errorf("check-config says\n%s\nwant it to contain %q", out, want)
	}
}
