package lab

import (
	"os/exec"
	"strings"
	"testing"

	"xlb/test/testutil"
)

// The Vagrantfile parses and describes the same hosts as the namespace lab,
// the five of the VRRP lab and, with XLB_LAB=bgp, the seven of the BGP lab
// (no VM can boot here: `vagrant validate --ignore-provider` is as far as it
// goes).
func TestVagrantfileValid(t *testing.T) {
	if _, err := exec.LookPath("vagrant"); err != nil {
		if testutil.Strict() {
			t.Fatalf("vagrant is not installed (scripts/install-deps.sh installs it) and %s=1 forbids skipping", testutil.EnvRequirePriv)
		}
		t.Skip("vagrant is not installed: run `make deps`")
	}
	for _, tc := range []struct {
		lab   string
		roles []string
	}{{"vrrp", Roles}, {"bgp", BGPRoles}} {
		cmd := exec.Command("vagrant", "validate", "--ignore-provider")
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "VAGRANT_CHECKPOINT_DISABLE=1", "HOME=/tmp", "XLB_LAB="+tc.lab)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("XLB_LAB=%s vagrant validate: %v\n%s", tc.lab, err, out)
		}
		for _, role := range tc.roles {
			if !strings.Contains(string(out), role+":") {
				t.Errorf("XLB_LAB=%s: validate output does not mention host %s:\n%s", tc.lab, role, out)
			}
		}
		if tc.lab == "vrrp" && strings.Contains(string(out), "router:") {
			t.Errorf("the VRRP lab has a router VM:\n%s", out)
		}
	}
}

func TestLoadEnv(t *testing.T) {
	env, err := LoadEnv("../..")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"LAB_VIP": "192.168.1.30", "LAB_DB1": "192.168.1.10", "LAB_DB2": "192.168.1.11",
		"LAB_LVS1": "192.168.1.20", "LAB_LVS2": "192.168.1.21", "LAB_CLIENT": "192.168.1.100",
		"LAB_VIP6": "fd00:192:168:1::30", "LAB_DB1_6": "fd00:192:168:1::10", "LAB_DB2_6": "fd00:192:168:1::11"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q (the addresses of the setup xlb replaces)", k, env[k], want)
		}
	}
}
