package keepalived

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"xlb/test/testutil"
)

func TestConfigIsAcceptedByKeepalived(t *testing.T) {
	testutil.RequirePriv(t)
	tests := []struct {
		name string
		in   Instance
		want []string
	}{
		{"v2 PASS", Instance{Name: "VI_1", State: "MASTER", Interface: "eth0", VRID: 51, Priority: 150, Version: 2,
			AdvertInt: "1", AuthPass: "secret12", VIPs: []string{"10.99.0.100/32 dev eth0"}},
			[]string{"auth_type PASS", "auth_pass secret12", "version 2", "10.99.0.100/32 dev eth0"}},
		{"v3 unicast nopreempt", Instance{Name: "VI_2", State: "BACKUP", Interface: "eth0", VRID: 52, Priority: 100, Version: 3,
			AdvertInt: "0.1", NoPreempt: true, UnicastSrc: "10.99.0.1", UnicastPeers: []string{"10.99.0.2", "10.99.0.3"},
			VIPs: []string{"10.99.0.100", "10.99.0.101/24 dev eth0"}},
			[]string{"nopreempt", "advert_int 0.1", "unicast_src_ip 10.99.0.1", "10.99.0.3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := Config(tc.in)
			for _, w := range tc.want {
				if !strings.Contains(conf, w) {
					t.Fatalf("config lacks %q:\n%s", w, conf)
				}
			}
			f := filepath.Join(t.TempDir(), "keepalived.conf")
			if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			// --config-test parses the file and exits non-zero on any error.
			if out, err := exec.Command("keepalived", "--config-test", "-f", f).CombinedOutput(); err != nil {
				t.Fatalf("keepalived rejects the config: %v\n%s\n%s", err, out, conf)
			}
		})
	}
}
