package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"xlb/control/script"
	"xlb/control/secret"
	"xlb/control/vrrp"
	"xlb/lb"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// issueConfig is what the keepalived.conf files of issue 4 mean.
func issueConfig(state vrrp.State, priority uint8, nopreempt bool) *Config {
	check := func(ip string) *Check {
		return &Check{
			// nb_get_retry 3 in TCP_CHECK: keepalived ignores it (only
			// HTTP_GET and SSL_GET read it), so TCP_CHECK's retry 1 stays.
			Kind: CheckTCP, Interval: 3 * time.Second, ConnectTimeout: 10 * time.Second,
			Retry: 1, DelayBeforeRetry: 3 * time.Second, Rise: 1, Fall: 1,
			ConnectIP: addr(ip), ConnectPort: 3306,
		}
	}
	return &Config{
		Global:     Global{RouterID: "LVS_MYPROJECT", VRRP: keepalivedVRRPDefaults},
		Interfaces: []string{"eth0"},
		Services: []Service{{
			Name: "192.168.1.30:3306/tcp", VIP: addr("192.168.1.30"), Port: 3306, Protocol: lb.TCP,
			Scheduler: "rr", Method: MethodDR, DelayLoop: 3 * time.Second, Quorum: 1,
			Reals: []RealServer{
				{IP: addr("192.168.1.10"), Port: 3306, Weight: 1, Check: check("192.168.1.10")},
				{IP: addr("192.168.1.11"), Port: 3306, Weight: 1, Check: check("192.168.1.11")},
			},
		}},
		VRRP: []VRRPInstance{{AuthType: AuthPass, Config: vrrp.Config{
			Name: "VI_1", Interface: "eth0", VRID: 51, Priority: priority, Version: 2,
			AdvertInterval: time.Second, InitialState: state, NoPreempt: nopreempt,
			AuthPass:        secret.New("mypassword"),
			VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.1.30/32"), Dev: "eth0"}},
			GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
			GARPLowerPrioDelay: 5 * time.Second, GARPLowerPrioRepeat: 5, McastGroup: addr("224.0.0.18"),
		}}},
	}
}

// keepalivedVRRPDefaults is global_defs' VRRP defaults when the file gives
// none: keepalived's (global_data.c).
var keepalivedVRRPDefaults = VRRPDefaults{
	Version: 2, McastGroup4: netip.MustParseAddr("224.0.0.18"), McastGroup6: netip.MustParseAddr("ff02::12"),
	GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
	GARPLowerPrioDelay: 5 * time.Second, GARPLowerPrioRepeat: 5,
}

func warnStrings(ws []Warning) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

func errStrings(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// nativeRoundTrip converts cfg to native YAML and reads it back, which
// must give cfg again; it returns the YAML and what was read back.
func nativeRoundTrip(t *testing.T, cfg *Config) ([]byte, *Config) {
	t.Helper()
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatalf("MarshalNative: %v", err)
	}
	back, _, err := Parse("converted.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("re-parse:\n%s\nerror: %v", out, err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("native round trip differs\nfirst  %+v\nsecond %+v\nyaml:\n%s", cfg, back, out)
	}
	return out, back
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if reflect.DeepEqual(got, want) || len(got) == 0 && len(want) == 0 {
		return
	}
	t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}

const tcp3306Warning = "a TCP check on port 3306: MySQL/MariaDB counts every bare connect-and-close as a connection error " +
	"and, after max_connect_errors (default 100), blocks this director's address (error 1129) until FLUSH HOSTS; " +
	"use MYSQL_CHECK (native: kind mysql), which logs in and quits cleanly"

// The two files of the setup xlb replaces load unchanged, mean what keepalived
// means (nopreempt cleared with state MASTER), and warn like keepalived.
const nbGetRetryWarning = "nb_get_retry: ignored, as keepalived ignores it outside HTTP_GET and SSL_GET: use retry"

func TestIssueKeepalivedFiles(t *testing.T) {
	for _, tc := range []struct {
		file      string
		want      *Config
		wantWarns []string
	}{
		{
			file: "testdata/keepalived-master.conf",
			want: issueConfig(vrrp.StateMaster, 101, false),
			wantWarns: []string{
				"testdata/keepalived-master.conf:13: vrrp_instance VI_1: nopreempt: Warning - nopreempt will not work with initial state MASTER - clearing " +
					"(as keepalived: this director takes the VIP back whenever its priority is higher; use state BACKUP on both for nopreempt)",
				"testdata/keepalived-master.conf:19: vrrp_instance VI_1: auth_pass: longer than 8 characters: only the first 8 are used, as keepalived does",
				"testdata/keepalived-master.conf:39: real_server 192.168.1.10 3306: TCP_CHECK: " + tcp3306Warning,
				"testdata/keepalived-master.conf:41: real_server 192.168.1.10 3306: TCP_CHECK: " + nbGetRetryWarning,
				"testdata/keepalived-master.conf:50: real_server 192.168.1.11 3306: TCP_CHECK: " + tcp3306Warning,
				"testdata/keepalived-master.conf:52: real_server 192.168.1.11 3306: TCP_CHECK: " + nbGetRetryWarning,
			},
		},
		{
			file: "testdata/keepalived-backup.conf",
			want: issueConfig(vrrp.StateBackup, 100, true),
			wantWarns: []string{
				"testdata/keepalived-backup.conf:19: vrrp_instance VI_1: auth_pass: longer than 8 characters: only the first 8 are used, as keepalived does",
				"testdata/keepalived-backup.conf:39: real_server 192.168.1.10 3306: TCP_CHECK: " + tcp3306Warning,
				"testdata/keepalived-backup.conf:41: real_server 192.168.1.10 3306: TCP_CHECK: " + nbGetRetryWarning,
				"testdata/keepalived-backup.conf:50: real_server 192.168.1.11 3306: TCP_CHECK: " + tcp3306Warning,
				"testdata/keepalived-backup.conf:52: real_server 192.168.1.11 3306: TCP_CHECK: " + nbGetRetryWarning,
			},
		},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			cfg, warns, err := Load(tc.file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(cfg, tc.want) {
				t.Errorf("config:\ngot  %+v\nwant %+v", cfg, tc.want)
			}
			diffLines(t, "warnings", warnStrings(warns), tc.wantWarns)
			if got := cfg.Services[0].Balancing(); got != lb.Maglev {
				t.Errorf("rr balancing = %v, want maglev", got)
			}
		})
	}
}

// Converting to native YAML and loading that gives the same config.
func TestRoundTrip(t *testing.T) {
	for _, file := range []string{
		"testdata/keepalived-master.conf",
		"testdata/keepalived-backup.conf",
		"testdata/keepalived-full.conf",
		"testdata/keepalived-globals.conf",
		"testdata/include/keepalived.conf",
		"testdata/xlb.yaml",
	} {
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			cfg, _, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			out, back := nativeRoundTrip(t, cfg)
			if DetectFormat(out) != FormatYAML {
				t.Errorf("converted output not detected as YAML")
			}
			again, err := MarshalNative(back)
			if err != nil || string(again) != string(out) {
				t.Errorf("second conversion differs (%v):\n%s\nvs\n%s", err, again, out)
			}
		})
	}
}

// Native files whose values differ from the defaults in less common ways
// still convert back to themselves.
func TestRoundTripNative(t *testing.T) {
	for name, in := range map[string]string{
		"drop without track_services": "vrrp:\n  - {name: V, interface: e, vrid: 1, vips: [10.0.0.1], no_backend_priority_drop: 7}\n",
		"track_services with default drop": "services: [{name: s, vip: 10.0.0.1, port: 80, reals: [{ip: 10.0.0.2}]}]\n" +
			"vrrp:\n  - {name: V, interface: e, vrid: 1, vips: [10.0.0.1], track_services: [s]}\n",
		"bgp block": "interfaces: [e]\nservices: [{name: s, vip: 10.0.0.1, port: 80, reals: [{ip: 10.0.0.2}]}]\n" +
			"bgp:\n  local_as: 65001\n  router_id: 10.0.1.11\n  withdraw_wait: 2.5\n  communities: [\"65001:100\"]\n  neighbors:\n" +
			"    - {address: 10.0.1.1, peer_as: 65000, bfd: {min_tx: 0.05, multiplier: 5}, multihop: 2, local_address: 10.0.1.11}\n" +
			"    - {address: 10.0.1.2, peer_as: 65002, hold_time: 9, bfd: false}\n" +
			"  vips:\n    - {address: 10.0.0.1, med: 10, local_pref: 200, communities: [\"65001:7\"]}\n",
		"bgp dual-stack": "interfaces: [e]\nservices:\n  - {name: s, vip: 10.0.0.1, port: 80, reals: [{ip: 10.0.0.2}]}\n" +
			"  - {name: s6, vip: \"fd00:10::1\", port: 80, reals: [{ip: \"fd00:1::2\"}]}\n" +
			"bgp:\n  local_as: 65001\n  router_id: 10.0.1.11\n  neighbors:\n" +
			"    - {address: 10.0.1.1, peer_as: 65000, families: [ipv4, ipv6], ipv6_next_hop: \"fd00:1::11\"}\n" +
			"    - {address: \"fd00:1::1\", peer_as: 65000, local_address: \"fd00:1::11\", bfd: true}\n",
		"interfaces differ from vrrp": "interfaces: [e2, e1]\nvrrp:\n  - {name: V, interface: e1, vrid: 1, vips: [10.0.0.1 dev e3 label e3:x]}\n",
		"explicit values equal to inherited ones": "interfaces: [e]\nservices:\n  - vip: 10.0.0.1\n    port: 80\n    inhibit_on_failure: true\n" +
			"    reals:\n      - {ip: 10.0.0.2, port: 81, weight: 0, inhibit_on_failure: false, check: {kind: exec, interval: 60, exec: {command: x, timeout: 60}}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := Parse("in.yaml", []byte(in), FormatYAML)
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalNative(cfg)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := Parse("out.yaml", out, FormatYAML)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, cfg) {
				t.Errorf("differs:\n%+v\n%+v\n%s", cfg, back, out)
			}
		})
	}
}

// The full keepalived file reads every keyword into the right field,
// including defaults given on the virtual_server and real_server.
func TestKeepalivedFull(t *testing.T) {
	cfg, warns, err := Load("testdata/keepalived-full.conf")
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"testdata/keepalived-full.conf:5: global_defs: notification_email: ignored: not used by xlb",
		"testdata/keepalived-full.conf:8: global_defs: smtp_server: ignored: not used by xlb",
		"testdata/keepalived-full.conf:65: virtual_server 10.0.0.100 3306: " + nbGetRetryWarning,
	})
	if got, want := cfg.Interfaces, []string{"eth1", "eth0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("interfaces %v, want %v", got, want)
	}
	db := cfg.VRRP[0]
	if db.Version != 3 || db.AdvertInterval != 100*time.Millisecond || !db.NoPreempt || db.InitialState != vrrp.StateBackup {
		t.Errorf("VI_DB version/advert/nopreempt/state: %+v", db)
	}
	wantVIPs := []vrrp.VIP{
		{Prefix: netip.MustParsePrefix("10.0.0.100/24"), Dev: "eth1", Label: "eth1:vip"},
		{Prefix: netip.MustParsePrefix("10.0.0.101/32"), Dev: "eth1"},
	}
	if !reflect.DeepEqual(db.VIPs, wantVIPs) {
		t.Errorf("vips %+v, want %+v", db.VIPs, wantVIPs)
	}
	if want := []string{"/etc/xlb/notify.sh", "master", "VI DB"}; !reflect.DeepEqual(db.NotifyMaster.Argv, want) {
		t.Errorf("notify_master %q, want %q", db.NotifyMaster, want)
	}
	if want := (script.Command{Argv: []string{"/etc/xlb/notify.sh", "backup"}, User: "root", Group: "root"}); !reflect.DeepEqual(db.NotifyBackup, want) {
		t.Errorf("notify_backup %+v, want %+v", db.NotifyBackup, want)
	}
	if want := []netip.Addr{addr("10.0.0.3"), addr("10.0.0.4")}; !reflect.DeepEqual(db.UnicastPeers, want) || db.UnicastSrc != addr("10.0.0.2") {
		t.Errorf("unicast %v -> %v", db.UnicastSrc, db.UnicastPeers)
	}
	if db.GARPMasterDelay != 2*time.Second || db.GARPMasterRepeat != 3 || db.GARPMasterRefresh != 30*time.Second || db.GARPMasterRefreshRepeat != 2 {
		t.Errorf("garp: %+v", db)
	}
	web := cfg.VRRP[1]
	if web.AuthType != AuthPass || web.AuthPass.Reveal() != "s3cret" || web.PreemptDelay != 10*time.Second || web.Priority != DefaultPriority {
		t.Errorf("VI_WEB: %+v", web)
	}

	mysql := cfg.Services[0]
	if mysql.Balancing() != lb.Failover || !mysql.Alpha || mysql.Quorum != 2 {
		t.Errorf("mysql service: %+v", mysql)
	}
	c0 := mysql.Reals[0].Check
	// The virtual_server's nb_get_retry 2 is not inherited: keepalived does not read it there.
	if c0.Kind != CheckMySQL || c0.ConnectTimeout != 3*time.Second || c0.Retry != 1 || c0.DelayBeforeRetry != 500*time.Millisecond ||
		c0.Rise != 2 || c0.Fall != 3 || c0.Interval != 2*time.Second {
		t.Errorf("check inherited from virtual_server: %+v", c0)
	}
	m := c0.MySQL
	if m.User != "xlb_check" || m.Password.Reveal() != "pa ss#word" || !m.ReplicationCheck || m.MaxReplicationLag != 30*time.Second ||
		m.ReadOnly == nil || *m.ReadOnly {
		t.Errorf("mysql check: %+v", m)
	}
	r1 := mysql.Reals[1]
	abs, _ := filepath.Abs("testdata/secrets/mysql.pass")
	if r1.Weight != 0 || !r1.InhibitOnFailure || r1.Check.ConnectPort != 3307 || r1.Check.ConnectIP != addr("10.0.0.13") ||
		r1.Check.MySQL.PasswordFile != abs {
		t.Errorf("drained real: %+v check %+v", r1, r1.Check)
	}

	web80 := cfg.Services[1]
	if web80.Balancing() != lb.SourceHash || web80.PersistenceTimeout != 10*time.Minute {
		t.Errorf("web service: %+v", web80)
	}
	h := web80.Reals[0].Check
	wantHTTP := &HTTPCheck{Path: "/health", StatusCodes: []StatusRange{{200, 200}, {204, 206}}, BodyRegex: "^ok", Host: "www.example.org"}
	if !reflect.DeepEqual(h.HTTP, wantHTTP) || h.Retry != 0 || h.Interval != time.Second || h.ConnectTimeout != 2*time.Second {
		t.Errorf("http check %+v %+v", h, h.HTTP)
	}
	e := web80.Reals[1]
	wantExec := &ExecCheck{Command: []string{"/usr/local/bin/check-web", "--host", "10.0.1.12"}, Timeout: 4 * time.Second, Dynamic: true, User: "nobody", Secure: true}
	if !reflect.DeepEqual(e.Check.Exec, wantExec) || e.Port != 80 || e.InhibitOnFailure {
		t.Errorf("exec real %+v check %+v", e, e.Check.Exec)
	}
	if t3 := web80.Reals[2]; t3.Weight != 1 || !t3.InhibitOnFailure || t3.Check.Kind != CheckTCP || t3.Check.ConnectPort != 8080 {
		t.Errorf("tcp real %+v check %+v", t3, t3.Check)
	}
	if dns := cfg.Services[2]; dns.Protocol != lb.UDP || dns.Name != "10.0.1.100:53/udp" || dns.Reals[0].Check != nil {
		t.Errorf("udp service: %+v", dns)
	}
}

func TestInclude(t *testing.T) {
	cfg, _, err := Load("testdata/include/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "INCLUDED" || len(cfg.VRRP) != 1 || len(cfg.Services) != 1 {
		t.Fatalf("included parts missing: %+v", cfg)
	}
	var weights []uint16
	for _, r := range cfg.Services[0].Reals {
		weights = append(weights, r.Weight)
	}
	if !reflect.DeepEqual(weights, []uint16{2, 3}) {
		t.Errorf("reals included inside virtual_server: weights %v, want [2 3]", weights)
	}

	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.inc", "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n")
	write("main.conf", "global_defs {\n}\ninclude bad.inc\ninclude missing-*.conf\n")
	write("loop.conf", "include loop.conf\n")
	_, _, err = Load(filepath.Join(dir, "main.conf"))
	diffLines(t, "include errors", errStrings(err), []string{
		filepath.Join(dir, "bad.inc") + ":3: vrrp_instance VI_1: virtual_router_id: 300 is out of range 1..255",
		filepath.Join(dir, "main.conf") + `:4: include: "missing-*.conf" matches no file`,
	})
	_, _, err = Load(filepath.Join(dir, "loop.conf"))
	if got := errStrings(err); len(got) != 1 || !strings.Contains(got[0], "loop.conf:1: include: include loop: ") {
		t.Errorf("include loop: %q", got)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Format
	}{
		{"keepalived global_defs", "! comment\n# other\n\nglobal_defs {\n}\n", FormatKeepalived},
		{"keepalived brace on next line", "vrrp_instance VI_1\n{\n}\n", FormatKeepalived},
		{"keepalived unknown block", "my_block {\n}\n", FormatKeepalived},
		{"keepalived include", "include /etc/keepalived/*.conf\n", FormatKeepalived},
		{"yaml mapping", "# xlb\nservices:\n  - vip: 1.2.3.4\n", FormatYAML},
		{"yaml document marker", "---\nvrrp: []\n", FormatYAML},
		{"yaml flow mapping", "{services: []}\n", FormatYAML},
		{"empty", "", FormatYAML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectFormat([]byte(tc.in)); got != tc.want {
				t.Errorf("DetectFormat = %v, want %v", got, tc.want)
			}
		})
	}
	for in, want := range map[string]Format{"": FormatAuto, "auto": FormatAuto, "yaml": FormatYAML, "native": FormatYAML, "KEEPALIVED": FormatKeepalived} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseFormat("toml"); err == nil {
		t.Error("ParseFormat(toml) gave no error")
	}
}

// A forced format wins over detection.
func TestForcedFormat(t *testing.T) {
	data, err := os.ReadFile("testdata/keepalived-master.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Parse("k.conf", data, FormatYAML); err == nil || !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrInvalid) {
		t.Errorf("keepalived.conf forced to YAML: err = %v, want a syntax or invalid error", err)
	}
	if _, _, err := Parse("k.conf", data, FormatKeepalived); err != nil {
		t.Errorf("forced keepalived: %v", err)
	}
}

func TestBalancing(t *testing.T) {
	for _, tc := range []struct {
		sched   Scheduler
		persist time.Duration
		want    lb.Balancing
	}{
		{"rr", 0, lb.Maglev}, {"wrr", 0, lb.Maglev}, {"lc", 0, lb.Maglev}, {"wlc", 0, lb.Maglev},
		{"sed", 0, lb.Maglev}, {"nq", 0, lb.Maglev},
		{"sh", 0, lb.SourceHash}, {"mh", 0, lb.SourceHash},
		{"wrr", time.Minute, lb.SourceHash},
		{"fo", 0, lb.Failover}, {"fo", time.Minute, lb.Failover},
	} {
		s := Service{Scheduler: tc.sched, PersistenceTimeout: tc.persist}
		if got := s.Balancing(); got != tc.want {
			t.Errorf("%s persistence %v: %v, want %v", tc.sched, tc.persist, got, tc.want)
		}
	}
}

// A minimal native file gets every default from the one table.
func TestNativeDefaults(t *testing.T) {
	in := `
services:
  - vip: 10.1.0.1
    port: 3306
    reals:
      - ip: 10.1.0.2
        check:
          mysql: {user: chk}
      - ip: 10.1.0.3
        check: {}
  - vip: 10.1.0.1
    port: 80
    reals:
      - ip: 10.1.0.4
        check: {}
      - ip: 10.1.0.5
        check: {http: {}}
vrrp:
  - name: V
    interface: eth9
    vrid: 9
    vips: [10.1.0.1]
`
	_, _, err := Parse("d.yaml", []byte(in), FormatAuto)
	// The check without a kind on port 3306 is a mysql check, which needs a user.
	diffLines(t, "errors", errStrings(err), []string{
		"d.yaml:10: real 10.1.0.3: check: mysql.user: required (the check kind defaults to mysql on port 3306; set kind: tcp to accept the max_connect_errors risk)",
	})
	in = strings.Replace(in, "check: {}\n  - vip", "check: {kind: tcp}\n  - vip", 1)
	cfg, warns, err := Parse("d.yaml", []byte(in), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{"d.yaml:10: real 10.1.0.3: check: " + tcp3306Warning})
	want := &Config{
		Global:     Global{VRRP: keepalivedVRRPDefaults},
		Interfaces: []string{"eth9"},
		Services: []Service{
			{
				Name: "10.1.0.1:3306/tcp", VIP: addr("10.1.0.1"), Port: 3306, Protocol: lb.TCP, Scheduler: "wlc", Method: MethodDR,
				DelayLoop: 60 * time.Second, Quorum: 1,
				Reals: []RealServer{
					{IP: addr("10.1.0.2"), Port: 3306, Weight: 1, Check: &Check{
						Kind: CheckMySQL, Interval: 60 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
						Rise: 1, Fall: 1, ConnectIP: addr("10.1.0.2"), ConnectPort: 3306, MySQL: &MySQLCheck{User: "chk"},
					}},
					{IP: addr("10.1.0.3"), Port: 3306, Weight: 1, Check: &Check{
						Kind: CheckTCP, Interval: 60 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
						Rise: 1, Fall: 1, ConnectIP: addr("10.1.0.3"), ConnectPort: 3306,
					}},
				},
			},
			{
				Name: "10.1.0.1:80/tcp", VIP: addr("10.1.0.1"), Port: 80, Protocol: lb.TCP, Scheduler: "wlc", Method: MethodDR,
				DelayLoop: 60 * time.Second, Quorum: 1,
				Reals: []RealServer{
					{IP: addr("10.1.0.4"), Port: 80, Weight: 1, Check: &Check{
						Kind: CheckTCP, Interval: 60 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
						Rise: 1, Fall: 1, ConnectIP: addr("10.1.0.4"), ConnectPort: 80,
					}},
					{IP: addr("10.1.0.5"), Port: 80, Weight: 1, Check: &Check{
						// keepalived's HTTP_GET waits 3 s before a retry.
						Kind: CheckHTTP, Interval: 60 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second,
						Rise: 1, Fall: 1, ConnectIP: addr("10.1.0.5"), ConnectPort: 80,
						HTTP: &HTTPCheck{Path: "/", StatusCodes: []StatusRange{{200, 299}}},
					}},
				},
			},
		},
		VRRP: []VRRPInstance{{AuthType: AuthNone, Config: vrrp.Config{
			Name: "V", Interface: "eth9", VRID: 9, Priority: 100, Version: 2, AdvertInterval: time.Second, InitialState: vrrp.StateBackup,
			VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.1.0.1/32"), Dev: "eth9"}},
			GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
			GARPLowerPrioDelay: 5 * time.Second, GARPLowerPrioRepeat: 5, McastGroup: addr("224.0.0.18"),
		}}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", cfg, want)
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pass")
	if err := os.WriteFile(pf, []byte("s3cr3t\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user, pass, err := (&MySQLCheck{User: "u", PasswordFile: pf}).Credentials()
	if err != nil || user != "u" || pass.Reveal() != "s3cr3t" {
		t.Errorf("from file: %q %q %v", user, pass.Reveal(), err)
	}
	_, pass, err = (&MySQLCheck{User: "u", Password: secret.New("inline")}).Credentials()
	if err != nil || pass.Reveal() != "inline" {
		t.Errorf("inline: %q %v", pass.Reveal(), err)
	}
	if _, _, err := (&MySQLCheck{User: "u", PasswordFile: filepath.Join(dir, "none")}).Credentials(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	_, _, err := Parse("t.conf", []byte(ka("virtual_server 10.0.0.1 80 {\n lvs_method NAT\n weight x\n}\n")), FormatAuto)
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want both ErrUnsupported and ErrInvalid in %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "t.conf" || e.Line != 3 || e.Field != "lvs_method" || e.Context != "virtual_server 10.0.0.1 80" {
		t.Errorf("first error: %+v", e)
	}
	if _, _, err := Load("testdata/does-not-exist.conf"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// global_defs' VRRP defaults reach every instance that does not set its own
// (keepalived's alloc_vrrp and vrrp_complete_instance); strict mode applies
// keepalived's corrections with its messages.
func TestKeepalivedGlobalDefaults(t *testing.T) {
	cfg, warns, err := Load("testdata/keepalived-globals.conf")
	if err != nil {
		t.Fatal(err)
	}
	const f = "testdata/keepalived-globals.conf"
	diffLines(t, "warnings", warnStrings(warns), []string{
		f + ":13: global_defs: vrrp_garp_lower_prio_repeat: " + lowerPrioWhy,
		f + ":14: global_defs: vrrp_startup_delay: " + startupDelayWhy,
		f + ":16: global_defs: vrrp_skip_check_adv_addr: " + skipCheckAdvAddrWhy,
		f + ":35: vrrp_instance VI_OWN: garp_lower_prio_repeat: " + lowerPrioWhy,
		f + ":35: vrrp_instance VI_OWN: garp_lower_prio_repeat: Strict mode requires no repeat garps. resetting (as keepalived)",
		f + ":36: vrrp_instance VI_OWN: strict_mode: " + strictWhy,
		f + ":40: vrrp_instance VI_OWN: auth_type: Strict mode does not support authentication. Ignoring. (as keepalived)",
	})
	group := addr("224.0.0.19")
	wantGlobal := VRRPDefaults{
		Version: 3, McastGroup4: group, McastGroup6: vrrp.Group6, GARPMasterDelay: 2 * time.Second, GARPMasterRepeat: 3,
		GARPMasterRefresh: time.Minute, GARPMasterRefreshRepeat: 2, GARPLowerPrioDelay: 2 * time.Second, GARPLowerPrioRepeat: 1,
		StartupDelay: 1500 * time.Millisecond, CheckUnicastSrc: true, SkipCheckAdvAddr: true,
	}
	if cfg.Global.VRRP != wantGlobal || cfg.Global.DefaultInterface != "eth2" || cfg.Global.ScriptUser != "nobody" {
		t.Errorf("global:\ngot  %+v\nwant %+v", cfg.Global, wantGlobal)
	}
	inherit := VRRPInstance{AuthType: AuthNone, Config: vrrp.Config{
		Name: "VI_GLOBAL", Interface: "eth2", VRID: 8, Priority: DefaultPriority, Version: 3, AdvertInterval: 500 * time.Millisecond,
		InitialState:    vrrp.StateBackup,
		VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.2.100/24"), Dev: "eth2", Label: "eth2:vip"}},
		GARPMasterDelay: 2 * time.Second, GARPMasterRepeat: 3, GARPMasterRefresh: time.Minute, GARPMasterRefreshRepeat: 2,
		GARPLowerPrioDelay: 2 * time.Second, GARPLowerPrioRepeat: 1, McastGroup: group, StartupDelay: 1500 * time.Millisecond,
		CheckUnicastSrc: true, SkipCheckAdvAddr: true, ScriptPolicy: script.Policy{User: "nobody"},
	}}
	if !reflect.DeepEqual(cfg.VRRP[0], inherit) {
		t.Errorf("VI_GLOBAL:\ngot  %+v\nwant %+v", cfg.VRRP[0], inherit)
	}
	own := VRRPInstance{AuthType: AuthNone, Config: vrrp.Config{
		Name: "VI_OWN", Interface: "eth2", VRID: 9, Priority: 90, Version: 2, AdvertInterval: time.Second,
		InitialState:    vrrp.StateBackup,
		VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.2.101/32"), Dev: "eth2"}},
		GARPMasterDelay: 2 * time.Second, GARPMasterRepeat: 1, GARPMasterRefreshRepeat: 2,
		McastGroup: group, StartupDelay: 1500 * time.Millisecond,
		CheckUnicastSrc: true, SkipCheckAdvAddr: true, Strict: true, ScriptPolicy: script.Policy{User: "nobody"},
	}}
	if !reflect.DeepEqual(cfg.VRRP[1], own) {
		t.Errorf("VI_OWN:\ngot  %+v\nwant %+v", cfg.VRRP[1], own)
	}
	if u := cfg.Services[0].Reals[0].Check.Exec.User; u != "nobody" {
		t.Errorf("MISC_CHECK user %q, want script_user nobody", u)
	}
	// Strict mode refuses unicast peers, as keepalived refuses the instance.
	_, _, err = Parse("s.conf", []byte(`global_defs {
    vrrp_strict
}
vrrp_instance V {
    interface eth0
    virtual_router_id 1
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
`), FormatKeepalived)
	diffLines(t, "strict unicast", errStrings(err), []string{
		"s.conf:7: vrrp_instance V: unicast_peer: Unicast peers are not supported in strict mode (as keepalived, which refuses the instance)",
	})
}

// A real server's static mac: is read, must be unicast, and survives
// conversion back to YAML.
func TestStaticMAC(t *testing.T) {
	in := `
interfaces: [eth0]
services:
  - vip: 10.1.0.1
    port: 3306
    reals:
      - ip: 10.1.0.2
        mac: 52:54:00:AB:CD:EF
      - ip: 10.1.0.3
`
	cfg, _, err := Parse("m.yaml", []byte(in), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	reals := cfg.Services[0].Reals
	if reals[0].MAC.String() != "52:54:00:ab:cd:ef" || reals[1].MAC != nil {
		t.Fatalf("static MACs: %v, %v", reals[0].MAC, reals[1].MAC)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := Parse("again.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := again.Services[0].Reals[0].MAC.String(); got != "52:54:00:ab:cd:ef" {
		t.Errorf("after a round trip: mac %q\n%s", got, out)
	}
	for _, tc := range []struct{ mac, want string }{
		{"ff:ff:ff:ff:ff:ff", `m.yaml:8: real 10.1.0.2: mac: "ff:ff:ff:ff:ff:ff" is a group (broadcast or multicast) MAC address: a real server needs a unicast one`},
		{"01:00:5e:00:00:01", `m.yaml:8: real 10.1.0.2: mac: "01:00:5e:00:00:01" is a group (broadcast or multicast) MAC address: a real server needs a unicast one`},
		{"00:00:00:00:00:00", `m.yaml:8: real 10.1.0.2: mac: "00:00:00:00:00:00" is the zero MAC address`},
		{"52:54:00:ab:cd", `m.yaml:8: real 10.1.0.2: mac: "52:54:00:ab:cd" is not a 6-byte MAC address`},
	} {
		_, _, err := Parse("m.yaml", []byte(strings.Replace(in, "52:54:00:AB:CD:EF", tc.mac, 1)), FormatAuto)
		diffLines(t, "errors for mac "+tc.mac, errStrings(err), []string{tc.want})
	}
	second := in + `  - vip: 10.1.0.1
    port: 80
    reals:
      - ip: 10.1.0.2
        mac: 52:54:00:ab:cd:ef
      - ip: 10.1.0.3
        mac: 52:54:00:00:00:03
`
	if _, _, err := Parse("m.yaml", []byte(second), FormatAuto); err != nil {
		t.Errorf("the same static MAC for one address in two services: %v", err)
	}
	_, _, err = Parse("m.yaml", []byte(strings.Replace(second, "52:54:00:ab:cd:ef", "52:54:00:ab:cd:00", 1)), FormatAuto)
	diffLines(t, "two static MACs for one address", errStrings(err), []string{
		"m.yaml:14: real 10.1.0.2: mac: 52:54:00:ab:cd:00 differs from 52:54:00:ab:cd:ef given for 10.1.0.2 at line 7: one address has one MAC",
	})
}
