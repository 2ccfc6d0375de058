package lab

import (
	"encoding/json"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
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

// vagrantVM is what the Vagrantfile defines for one VM
// (testdata/vagrant_dump.rb).
type vagrantVM struct {
	Networks []struct {
		IP      string `json:"ip"`
		Netmask string `json:"netmask"`
		Intnet  string `json:"virtualbox__intnet"`
	} `json:"networks"`
	Provisions []struct {
		Name   string `json:"name"`
		Run    string `json:"run"`
		Inline string `json:"inline"`
	} `json:"provisions"`
}

// script is the VM's provisioning: every inline script, in order.
func (vm vagrantVM) script() string {
	var b strings.Builder
	for _, p := range vm.Provisions {
		b.WriteString(p.Inline + "\n")
	}
	return b.String()
}

// dumpVagrantfile evaluates the Vagrantfile with XLB_LAB=lab and returns its
// VMs by name.
func dumpVagrantfile(t *testing.T, lab string) map[string]vagrantVM {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		if testutil.Strict() {
			t.Fatalf("ruby is not installed (vagrant needs it; scripts/install-deps.sh installs both) and %s=1 forbids skipping", testutil.EnvRequirePriv)
		}
		t.Skip("ruby is not installed: run `make deps`")
	}
	cmd := exec.Command("ruby", "testdata/vagrant_dump.rb", "../../Vagrantfile")
	cmd.Env = append(cmd.Environ(), "XLB_LAB="+lab)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("XLB_LAB=%s: evaluate the Vagrantfile: %v", lab, err)
	}
	var vms map[string]vagrantVM
	if err := json.Unmarshal(out, &vms); err != nil {
		t.Fatalf("XLB_LAB=%s: %v: %s", lab, err, out)
	}
	return vms
}

// The VMs get the namespace lab's addresses, both families, from lab.env;
// the provisioning gives the IPv6 address to the interface the directors
// serve on, and sets up the backends and directors with the scripts the
// namespace lab runs (which accept and serve the IPv6 VIP). No address is
// written into the Vagrantfile itself: lab.env is the one source.
func TestVagrantfileDualStack(t *testing.T) {
	env, err := LoadEnv("../..")
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := Addresses(env)
	bits, _ := strconv.Atoi(env["LAB_PREFIXLEN"])
	prefix6 := netip.MustParsePrefix(env["LAB_VIP6"] + "/" + env["LAB_PREFIXLEN6"]).Masked()
	addr6 := regexp.MustCompile(`ip -6 addr replace (\S+) dev (\S+) nodad`)
	labIface := regexp.MustCompile(`LAB_IFACE=(\S+)`)

	for _, tc := range []struct {
		lab   string
		roles []string
	}{{"vrrp", Roles}, {"bgp", BGPRoles}} {
		vms := dumpVagrantfile(t, tc.lab)
		if len(vms) != len(tc.roles) {
			t.Errorf("XLB_LAB=%s: %d VMs, want %d (%v)", tc.lab, len(vms), len(tc.roles), tc.roles)
		}
		ifaces := map[string]bool{}
		for _, role := range tc.roles {
			vm, ok := vms[role]
			if !ok || len(vm.Networks) == 0 {
				t.Errorf("XLB_LAB=%s: no VM %s, or it has no lab network", tc.lab, role)
				continue
			}
			want4, want6, bits := v4[role], v6[role], bits
			if tc.lab == "bgp" && role == "client" { // behind the IPv4 router
				want4, want6, bits = env["LAB_BGP_CLIENT"], "", netip.MustParsePrefix(env["LAB_CLIENT_NET"]).Bits()
			}
			n := vm.Networks[0]
			if mask := net.IPMask(net.ParseIP(n.Netmask).To4()); n.IP != want4 || mask == nil || maskBits(mask) != bits {
				t.Errorf("XLB_LAB=%s %s: IPv4 %s netmask %s, want %s/%d (lab.env)", tc.lab, role, n.IP, n.Netmask, want4, bits)
			}
			script := vm.script()
			m := addr6.FindAllStringSubmatch(script, -1)
			if want6 == "" {
				if len(m) != 0 {
					t.Errorf("XLB_LAB=%s %s: an IPv6 address %v for a host off the lab segment", tc.lab, role, m)
				}
				continue
			}
			if len(m) != 1 || m[0][1] != want6+"/"+env["LAB_PREFIXLEN6"] {
				t.Errorf("XLB_LAB=%s %s: IPv6 addresses %v, want one, %s/%s (lab.env)", tc.lab, role, m, want6, env["LAB_PREFIXLEN6"])
				continue
			}
			if a := netip.MustParsePrefix(m[0][1]); !prefix6.Contains(a.Addr()) || a.Bits() != prefix6.Bits() {
				t.Errorf("XLB_LAB=%s %s: %s is not in the lab's prefix %s", tc.lab, role, a, prefix6)
			}
			ifaces[m[0][2]] = true
			for _, p := range vm.Provisions {
				if strings.Contains(p.Inline, "ip -6 addr") && p.Run != "always" {
					t.Errorf("XLB_LAB=%s %s: provisioner %q adds the IPv6 address at the first boot only: nothing keeps it across reboots", tc.lab, role, p.Name)
				}
			}
			switch {
			case strings.HasPrefix(role, "db"):
				// db.sh setup is where a backend learns to accept the
				// IPv6 VIP, in a VM as in a namespace.
				if !strings.Contains(script, "LAB_MODE=vm bash /vagrant/scripts/lab/db.sh setup "+role+"\n") {
					t.Errorf("XLB_LAB=%s %s: not provisioned by db.sh setup:\n%s", tc.lab, role, script)
				}
			case strings.HasPrefix(role, "lvs"):
				if !strings.Contains(script, "director.sh config "+role+" rr "+tc.lab+"\n") {
					t.Errorf("XLB_LAB=%s %s: not provisioned by director.sh config %s rr %s:\n%s", tc.lab, role, role, tc.lab, script)
				}
				for _, f := range labIface.FindAllStringSubmatch(script, -1) {
					ifaces[f[1]] = true
				}
			}
		}
		if len(ifaces) != 1 {
			t.Errorf("XLB_LAB=%s: the IPv6 addresses and the directors' LAB_IFACE name different interfaces: %v", tc.lab, slices.Sorted(maps.Keys(ifaces)))
		}
	}

	// lab.env is the one source of the addresses: none in the Vagrantfile
	// outside its comments.
	b, err := os.ReadFile("../../Vagrantfile")
	if err != nil {
		t.Fatal(err)
	}
	literal := regexp.MustCompile(`[0-9a-fA-F:.]{7,}`)
	comment := regexp.MustCompile(`(^|\s)#(\s|$).*`) // not #{...}
	for i, line := range strings.Split(string(b), "\n") {
		for _, f := range literal.FindAllString(comment.ReplaceAllString(line, ""), -1) {
			if _, err := netip.ParseAddr(f); err == nil {
				t.Errorf("Vagrantfile:%d: address %s written in: read it from scripts/lab/lab.env", i+1, f)
			}
		}
	}
}

func maskBits(m net.IPMask) int {
	ones, _ := m.Size()
	return ones
}
