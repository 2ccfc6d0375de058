package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config says what BGP announces, and tells a keepalived.conf user
// (keepalived has no BGP) how to add it.
func TestCheckConfigBGP(t *testing.T) {
	dir := t.TempDir()
	ka := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(ka, []byte("global_defs {\n xlb_interface eth0\n}\nvirtual_server 10.0.0.100 80 {\n lb_kind DR\n real_server 192.168.1.10 80 {\n }\n}\n"), 0o600)
	y := filepath.Join(dir, "xlb.yaml")
	os.WriteFile(y, []byte(`interfaces: [eth0]
services: [{vip: 10.0.0.100, port: 80, reals: [{ip: 192.168.1.10}]}]
bgp:
  local_as: 65001
  router_id: 10.0.1.11
  neighbors: [{address: 10.0.1.1, peer_as: 65000, bfd: true}]
`), 0o600)
	out, stderr, err := runXlbd("check-config", ka)
	if err != nil || !strings.Contains(out, "bgp: not configured") || !strings.Contains(out, "xlbctl convert") {
		t.Errorf("keepalived.conf: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = runXlbd("check-config", y)
	if err != nil || !strings.Contains(out, "bgp: AS 65001, router id 10.0.1.11, announcing every service's VIP to 10.0.1.1 AS 65000 (BFD 100ms x 3)") {
		t.Errorf("xlb.yaml: %v\n%s%s", err, out, stderr)
	}
}
