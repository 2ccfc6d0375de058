package config

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"xlb/control/vrrp"
	"xlb/test/testutil"
)

// kaIPv6Cases are the IPv6 forms of testdata/ipv6, one small keepalived.conf
// each, with what keepalived 2.2.7's config test says of the file (accepts:
// exit 0; flags: it reports a configuration error, most of them "ignoring"
// or "skipping" the item and running on) and what xlb says: every
// diagnostic as "E|W LINE text", text a part of the message. The oracle
// test below runs keepalived -t on the same files.
//
// Where keepalived skips an item and runs on (an address of the other
// family, brd on an IPv6 address, scope or label on one), xlb warns at the
// line and skips it too. Where keepalived accepts what xlb cannot do,
// xlbRefuses says why xlb refuses it.
var kaIPv6Cases = []struct {
	file       string
	kaAccepts  bool
	xlb        []string
	xlbRefuses string // why xlb refuses a file keepalived accepts
	check      func(t *testing.T, c *Config)
}{
	{file: "vip-prefix64-dev", kaAccepts: true, xlb: []string{"W 7 should be link local"},
		check: vips("2001:db8::10/64 dev eth0")},
	{file: "vip-128-and-bare", kaAccepts: true, xlb: []string{"W 7 should be link local"},
		check: vips("2001:db8::10/128 dev eth0", "2001:db8::11/128 dev eth0", "2001:db8::12/128 dev eth0")},
	{file: "vip-linklocal-first", kaAccepts: true, check: vips("fe80::61/64 dev eth0", "2001:db8::10/64 dev eth0")},
	{file: "vip-linklocal-only", kaAccepts: true, check: vips("fe80::1:61/128 dev eth0")},
	{file: "vip-linklocal-second", kaAccepts: true, xlb: []string{"W 7 should be link local"}},
	{file: "vip-scope-global", kaAccepts: true, check: vips("fe80::61/64 dev eth0", "2001:db8::10/64 dev eth0")},
	{file: "vip-scope-link", xlb: []string{"W 8 scope: link ignored, as keepalived"}, check: vips("fe80::61/64 dev eth0")},
	{file: "vip-scope-host", xlb: []string{"W 7 should be link local", "W 8 scope: host ignored"}},
	{file: "vip-label", xlb: []string{"W 7 should be link local", "W 8 label: ignored: IPv6 addresses have no label"},
		check: vips("2001:db8::10/64 dev eth0")},
	{file: "vip-no-track", kaAccepts: true, xlb: []string{"W 7 should be link local"}, check: vips("2001:db8::10/64 dev eth0 no_track")},
	{file: "vip-preferred-lft", kaAccepts: true, xlb: []string{"E 8 preferred_lft 0 on 2001:db8::10/64: xlb gives a VIP keepalived's default lifetime, forever here"},
		xlbRefuses: "a preferred lifetime other than keepalived's default is not applied by xlb"},
	{file: "vip-nodad", kaAccepts: true, xlb: []string{"W 7 should be link local", "W 8 -nodad: ignored", "W 8 noprefixroute: ignored"}},
	{file: "vip-brd", xlb: []string{"W 7 should be link local", "W 8 2001:db8::10/64: brd on an IPv6 address: the address is left out"},
		check: vips("2001:db8::11/64 dev eth0")},
	{file: "vip-bad-len", xlb: []string{`E 8 "2001:db8::10/129" is not an address`}},
	{file: "vip-zone", xlb: []string{`E 8 "fe80::61%eth0/64" is not an address`}},
	{file: "vip-bracket", xlb: []string{`E 8 "[2001:db8::10]/64" is not an address`}},
	{file: "vip-mapped", kaAccepts: true, xlb: []string{"E 8 IPv4-mapped IPv6 address: write the IPv4 address"},
		xlbRefuses: "an IPv4-mapped IPv6 VIP is an IPv4 address in disguise"},
	{file: "vip-eth1", kaAccepts: true, xlb: []string{"W 7 should be link local"}, check: vips("2001:db8::10/64 dev eth1")},
	{file: "mixed-v6-first", xlb: []string{"W 7 should be link local", "W 9 192.0.2.10/24 ignored, as keepalived ignores it"},
		check: vips("2001:db8::10/64 dev eth0", "2001:db8::11/64 dev eth0")},
	{file: "mixed-v4-first", xlb: []string{"W 9 2001:db8::10/64 ignored, as keepalived ignores it (\"address family must match VRRP instance\"): the instance is IPv4 (from line 8)"},
		check: vips("192.0.2.10/24 dev eth0")},
	{file: "excluded-v6-in-v4", kaAccepts: true, check: func(t *testing.T, c *Config) {
		if v := c.VRRP[0]; len(v.ExcludedVIPs) != 2 || v.IPv6() {
			t.Errorf("excluded: %v, IPv6 %v", v.ExcludedVIPs, v.IPv6())
		}
	}},
	{file: "native-ipv6", kaAccepts: true, xlb: []string{"W 8 should be link local"}, check: version(3)},
	{file: "native-ipv6-then-v4", xlb: []string{"W 8 should be link local", "W 9 192.0.2.10/24 ignored, as keepalived ignores it (\"address family must match VRRP instance\"): the instance is IPv6 (from line 7)"},
		check: vips("2001:db8::10/64 dev eth0")},
	{file: "native-ipv6-after-v4", xlb: []string{"W 10 native_ipv6: ignored, as keepalived ignores it"}, check: version(2)},
	{file: "unicast-v6", kaAccepts: true, check: func(t *testing.T, c *Config) {
		v := c.VRRP[0]
		if v.UnicastSrc != netip.MustParseAddr("2001:db8::1") || len(v.UnicastPeers) != 2 || v.Version != 3 {
			t.Errorf("unicast: %v %v version %d", v.UnicastSrc, v.UnicastPeers, v.Version)
		}
	}},
	{file: "unicast-linklocal", kaAccepts: true},
	{file: "unicast-src-v4-vips-v6", xlb: []string{"W 12 2001:db8::10/64 ignored", "E 11 no address: at least one is required"}},
	{file: "unicast-peer-mixed", xlb: []string{"W 10 192.0.2.2 ignored, as keepalived skips it"}, check: func(t *testing.T, c *Config) {
		if p := c.VRRP[0].UnicastPeers; len(p) != 1 || p[0] != netip.MustParseAddr("2001:db8::2") {
			t.Errorf("peers %v", p)
		}
	}},
	{file: "vips-then-unicast-v4", xlb: []string{"W 7 should be link local", "W 10 unicast_src_ip: 192.0.2.1 ignored", "W 12 192.0.2.2 ignored"},
		check: func(t *testing.T, c *Config) {
			if v := c.VRRP[0]; v.UnicastSrc.IsValid() || len(v.UnicastPeers) != 0 || v.McastGroup != vrrp.Group6 {
				t.Errorf("unicast %v %v group %v", v.UnicastSrc, v.UnicastPeers, v.McastGroup)
			}
		}},
	{file: "mcast-src-v6", kaAccepts: true, xlb: []string{"W 7 mcast_src_ip: 2001:db8::1 is not link-local: RFC 5798 5.1.2.1"}, check: func(t *testing.T, c *Config) {
		if v := c.VRRP[0]; v.UnicastSrc != netip.MustParseAddr("2001:db8::1") || v.McastGroup != vrrp.Group6 {
			t.Errorf("src %v group %v", v.UnicastSrc, v.McastGroup)
		}
	}},
	{file: "mcast-src-v6-linklocal", kaAccepts: true, check: func(t *testing.T, c *Config) {
		if v := c.VRRP[0]; v.UnicastSrc != netip.MustParseAddr("fe80::1") || v.McastGroup != vrrp.Group6 {
			t.Errorf("src %v group %v", v.UnicastSrc, v.McastGroup)
		}
	}},
	{file: "mcast-dst-v6", kaAccepts: true, check: func(t *testing.T, c *Config) {
		if g := c.VRRP[0].McastGroup; g != netip.MustParseAddr("ff02::112") {
			t.Errorf("group %v", g)
		}
	}},
	{file: "mcast-dst-v6-global", xlb: []string{`E 7 "ff05::112" is not an IPv6 link-local multicast address`}},
	{file: "group6-global", kaAccepts: true, check: func(t *testing.T, c *Config) {
		v6, v4 := c.VRRP[0], c.VRRP[1]
		if v6.Version != 3 || v6.McastGroup != netip.MustParseAddr("ff02::112") || v4.Version != 2 || v4.McastGroup != vrrp.Group {
			t.Errorf("v6: %d %v; v4: %d %v", v6.Version, v6.McastGroup, v4.Version, v4.McastGroup)
		}
	}},
	{file: "group6-not-linklocal", xlb: []string{`E 2 "ff0e::112" is not an IPv6 link-local multicast address`}},
	{file: "version2-after-vips", xlb: []string{"W 10 version: 2 ignored, as keepalived ignores it after IPv6 addresses (from line 8)"}, check: version(3)},
	{file: "version2-before-vips", kaAccepts: true, xlb: []string{"E 7 version: 2 before the instance's IPv6 addresses (line 9): keepalived would then speak VRRPv2 over IPv6"},
		xlbRefuses: "VRRPv2 over IPv6 is no protocol xlb speaks"},
	{file: "strict-linklocal", kaAccepts: true, xlb: []string{"W 7 strict RFC mode"}},
	{file: "strict-not-linklocal", xlb: []string{"W 7 strict RFC mode", "W 8 must be link local in strict mode"}},
	{file: "auth-v6", xlb: []string{"E 8 authentication is only for version 2"}},
	{file: "strict-v2", xlb: []string{"W 4 strict RFC mode", "W 5 version: 2 ignored, as keepalived in strict mode ignores it"}, check: version(3)},
	{file: "vip-dev-twice", xlb: []string{"E 5 dev given twice (keepalived skips the address)"}},
	{file: "vip-dev-missing", xlb: []string{`E 5 "dev" wants a value`}},
	{file: "vip-scope-bad", xlb: []string{`W 5 scope: "galaxy" is not a scope`}, check: vips("fe80::61/64 dev eth0")},
	{file: "vip-dup", kaAccepts: true, xlb: []string{"E 6 fe80::61 is given twice (first at line 5)"},
		xlbRefuses: "an address written twice in one instance is a mistake keepalived lets through"},
	{file: "excluded-mixed", xlb: []string{"E 8 2001:db8::10/64: brd on an IPv6 address"}},

	{file: "vs-v6-tcp", kaAccepts: true, xlb: []string{"W 10 " + tcp3306Warning, "W 17 " + tcp3306Warning}, check: func(t *testing.T, c *Config) {
		s := c.Services[0]
		if s.VIP != netip.MustParseAddr("2001:db8::100") || len(s.Reals) != 2 || s.Reals[0].Check.ConnectIP != netip.MustParseAddr("2001:db8::101") ||
			s.Reals[1].IP != netip.MustParseAddr("2001:db8::2") || s.PersistenceTimeout == 0 {
			t.Errorf("service %+v", s)
		}
	}},
	{file: "vs-v6-checks", kaAccepts: true, xlb: []string{"W 15 bindto: ignored"}, check: func(t *testing.T, c *Config) {
		s := c.Services[0]
		if s.SorryServer == nil || s.SorryServer.IP != netip.MustParseAddr("2001:db8::99") || s.Reals[0].Check.ConnectIP != netip.MustParseAddr("2001:db8::201") ||
			s.Reals[1].Check.Kind != CheckExec || !s.Reals[2].Check.HTTP.SSL {
			t.Errorf("service %+v", s)
		}
	}},
	{file: "vs-v6-connect-ip-v4", kaAccepts: true, xlb: []string{"W 6 " + tcp3306Warning}, check: func(t *testing.T, c *Config) {
		if a := c.Services[0].Reals[0].Check.ConnectIP; a != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("connect_ip %v", a)
		}
	}},
	{file: "vs-v6-bracket", xlb: []string{`E 1 "[2001:db8::100]" is not an IP address`}},
	{file: "vs-v6-bracket-port", xlb: []string{"E 1 wants IP PORT"}},
	{file: "vs-v6-real-v4", xlb: []string{"E 7 real server 192.0.2.2 is IPv4, the VIP 2001:db8::100 is IPv6"}},
	{file: "vs-v6-sorry-v4", xlb: []string{"E 5 sorry server 192.0.2.99 is IPv4"}},
	{file: "vs-v6-zone", xlb: []string{`E 5 "fe80::1%eth0" is not an IP address`}},
	{file: "vs-v6-linklocal", kaAccepts: true, xlb: []string{"E 1 fe80::100 is a link-local address"},
		xlbRefuses: "a link-local VIP reaches no routed client"},
	{file: "vs-v6-real-linklocal", kaAccepts: true, xlb: []string{"E 5 fe80::1 is a link-local address"},
		xlbRefuses: "a link-local real server needs an interface zone for its checks"},
	{file: "vs-v6-connect-ip-linklocal", xlb: []string{"E 10 connect_ip: fe80::1 is a link-local address: a check reaches it only through a named interface"}},
	{file: "vs-v6-ip-family", kaAccepts: true, xlb: []string{"W 5 ip_family: ignored: taken from the VIP"}, check: func(t *testing.T, c *Config) {
		if r := c.Services[0].Reals[0]; r.Port != 3306 {
			t.Errorf("real server port %d, want the VIP's", r.Port)
		}
	}},
	{file: "vs-v6-ip-family-wrong", xlb: []string{"W 5 ip_family: ignored: taken from the VIP"}},
	{file: "vs-v6-granularity64", kaAccepts: true, xlb: []string{`E 6 persistence_granularity: "64" is not supported`},
		xlbRefuses: "affinity is per client address"},
	{file: "vsg-v6-upper-overflow", xlb: []string{`E 3 range end "10000" is not a number up to 65535`}},
	{file: "vsg-v6-range-full", kaAccepts: true, check: groupVIPs("2001:db8::10", "2001:db8::11", "2001:db8::12")},
	{file: "vsg-v6-range", kaAccepts: true, check: groupVIPs("2001:db8::10", "2001:db8::11", "2001:db8::12", "2001:db8::13", "2001:db8::20")},
	{file: "vsg-v6-range-hex", kaAccepts: true, check: groupVIPs("2001:db8::a", "2001:db8::b", "2001:db8::c", "2001:db8::d", "2001:db8::e", "2001:db8::f",
		"2001:db8::ff00", "2001:db8::ff01", "2001:db8::ff02")},
	{file: "vsg-v6-prefix", kaAccepts: true, check: groupVIPs("2001:db8::100", "2001:db8::101", "2001:db8::102", "2001:db8::103")},
	{file: "vsg-v6-range-reversed", xlb: []string{`W 4 virtual_server_group "DB6" has no address`, `E 2 range "2001:db8::20-10" does not end after its start`}},
	{file: "vsg-mixed", kaAccepts: true, xlb: []string{"E 9 real server 2001:db8::1 is IPv6, the VIP 192.0.2.10 is IPv4"},
		xlbRefuses: "a service and its real servers are one family under direct routing"},
}

func vips(want ...string) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		var got []string
		for _, v := range c.VRRP[0].VIPs {
			got = append(got, v.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("VIPs %q, want %q", got, want)
		}
	}
}

func version(want uint8) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		if v := c.VRRP[0]; v.Version != want {
			t.Errorf("version %d, want %d", v.Version, want)
		}
	}
}

func groupVIPs(want ...string) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		var got []string
		for _, s := range c.Services {
			got = append(got, s.VIP.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("group VIPs %q, want %q", got, want)
		}
	}
}

// xlbDiags are the file's diagnostics as "E|W LINE message".
func xlbDiags(t *testing.T, file string) (*Config, []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := Parse(filepath.Base(file), data, FormatKeepalived)
	var out []string
	for _, w := range warns {
		out = append(out, fmt.Sprintf("W %d %s", w.Line, withField(w.Field, w.Msg)))
	}
	if err != nil {
		for _, e := range errStringsTyped(t, err) {
			out = append(out, fmt.Sprintf("E %d %s", e.Line, withField(e.Field, e.Msg)))
		}
	}
	return cfg, out
}

func withField(field, msg string) string {
	if field == "" {
		return msg
	}
	return field + ": " + msg
}

// TestKeepalivedIPv6Forms: xlb's reading of each IPv6 form, diagnostic for
// diagnostic, and what it means where it loads.
func TestKeepalivedIPv6Forms(t *testing.T) {
	files, _ := filepath.Glob("testdata/ipv6/*.conf")
	if len(files) != len(kaIPv6Cases) {
		t.Errorf("%d files in testdata/ipv6, %d cases", len(files), len(kaIPv6Cases))
	}
	for _, tc := range kaIPv6Cases {
		t.Run(tc.file, func(t *testing.T) {
			cfg, got := xlbDiags(t, "testdata/ipv6/"+tc.file+".conf")
			if len(got) != len(tc.xlb) {
				t.Fatalf("diagnostics:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.xlb, "\n  "))
			}
			refused := false
			for i, w := range tc.xlb {
				kind, rest, _ := strings.Cut(w, " ")
				line, text, _ := strings.Cut(rest, " ")
				if !strings.HasPrefix(got[i], kind+" "+line+" ") || !strings.Contains(got[i], text) {
					t.Errorf("diagnostic %d: %q, want %q", i, got[i], w)
				}
				refused = refused || kind == "E"
			}
			if tc.kaAccepts && refused && tc.xlbRefuses == "" {
				t.Errorf("keepalived accepts this file and xlb refuses it, with no reason given")
			}
			if !refused && tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

var kaLine = regexp.MustCompile(`\(([^()]*): Line (\d+)\)`)

// TestKeepalivedIPv6Oracle runs keepalived's own config test on every file
// of testdata/ipv6, in a network namespace of its own with an eth0 and an
// eth1 (veth pairs: no real interface is seen or touched), and holds xlb to
// it: keepalived's verdict is the recorded one; where keepalived accepts the
// file xlb loads it (or gives its reason not to); where keepalived reports
// an error xlb reports one too, at one of the lines keepalived names (or
// anywhere when keepalived names none).
func TestKeepalivedIPv6Oracle(t *testing.T) {
	testutil.RequirePriv(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		if testutil.Strict() {
			t.Fatalf("keepalived is not installed: %v", err)
		}
		t.Skip("keepalived is not installed")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	const script = `ip link add eth0 type veth peer name xlbp0 && ip link add eth1 type veth peer name xlbp1 &&
ip link set eth0 up && ip link set eth1 up && exec keepalived --config-test -f "$1"`
	for _, tc := range kaIPv6Cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			file, err := filepath.Abs("testdata/ipv6/" + tc.file + ".conf")
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("unshare", "--net", "--mount", "sh", "-c", script, "sh", file).CombinedOutput()
			accepts := err == nil
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 1 || ee.ExitCode() > 6) {
				t.Fatalf("keepalived did not run: %v\n%s", err, out)
			}
			if accepts != tc.kaAccepts {
				t.Fatalf("keepalived accepts: %v, recorded %v\n%s", accepts, tc.kaAccepts, out)
			}
			// keepalived reports what it checks at a block's end (a real
			// server's family) at the closing brace: any xlb diagnostic
			// answers that.
			text, _ := os.ReadFile(file)
			lines := strings.Split(string(text), "\n")
			var kaLines []int
			blockEnd := false
			for _, m := range kaLine.FindAllStringSubmatch(string(out), -1) {
				n, _ := strconv.Atoi(m[2])
				kaLines = append(kaLines, n)
				blockEnd = blockEnd || n <= len(lines) && strings.TrimSpace(lines[n-1]) == "}"
			}
			_, diags := xlbDiags(t, file)
			xlbErr, xlbAt := false, false
			for _, d := range diags {
				kind, rest, _ := strings.Cut(d, " ")
				line, _, _ := strings.Cut(rest, " ")
				n, _ := strconv.Atoi(line)
				xlbErr = xlbErr || kind == "E"
				xlbAt = xlbAt || slices.Contains(kaLines, n)
			}
			switch {
			case accepts && xlbErr && tc.xlbRefuses == "":
				t.Errorf("keepalived accepts, xlb refuses:\n%s", strings.Join(diags, "\n"))
			case !accepts && len(kaLines) > 0 && !xlbAt && !(blockEnd && len(diags) > 0):
				t.Errorf("keepalived reports lines %v, xlb says nothing there:\nkeepalived:\n%s\nxlb:\n%s", kaLines, out, strings.Join(diags, "\n"))
			case !accepts && len(diags) == 0:
				t.Errorf("keepalived reports an error, xlb nothing:\n%s", out)
			}
		})
	}
}
