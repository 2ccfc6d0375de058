package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"xlb/control/vrrp"
)

// vrrpConf is a minimal valid keepalived.conf around lines of one vrrp_instance.
func vrrpConf(lines string) string {
	return "vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n  10.0.0.1/24\n }\n" + lines + "}\n"
}

func mustParse(t *testing.T, in string, o Options) (*Config, []Warning) {
	t.Helper()
	o.Format = FormatKeepalived
	if o.ConfigID == "" {
		o.ConfigID = "test"
	}
	cfg, warns, err := ParseWith("t.conf", []byte(in), o)
	if err != nil {
		t.Fatalf("parse:\n%s\nerror: %v", in, err)
	}
	return cfg, warns
}

// Comments end a line anywhere outside double quotes, as keepalived's
// decomment (lib/parser.c) reads them: what a keepalived peer sees as the
// password is what xlb sends.
func TestKeepalivedComments(t *testing.T) {
	for _, tc := range []struct {
		name, lines string
		pass        string
		vrid        uint8
		prio        uint8
	}{
		{"bang after password", " virtual_router_id 1\n authentication {\n  auth_type PASS\n  auth_pass Test123!\n }\n", "Test123", 1, 100},
		{"hash after number", " virtual_router_id 51#x\n priority 90!y\n", "", 51, 90},
		{"hash in a word", " virtual_router_id 7\n authentication {\n  auth_type PASS\n  auth_pass ab#cd\n }\n", "ab", 7, 100},
		{"quoted hash and bang", " virtual_router_id 7\n authentication {\n  auth_type PASS\n  auth_pass \"a#b!c\"\n }\n", "a#b!c", 7, 100},
		{"escaped hash and bang", " virtual_router_id 7\n authentication {\n  auth_type PASS\n  auth_pass a\\#b\\!c\n }\n", "a#b!c", 7, 100},
		{"comment after brace", " virtual_router_id 9 # the id\n authentication { # auth\n  auth_type PASS ! type\n  auth_pass p } # done\n", "p", 9, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := mustParse(t, vrrpConf(tc.lines), Options{})
			v := cfg.VRRP[0]
			if v.AuthPass.Reveal() != tc.pass || v.VRID != tc.vrid || v.Priority != tc.prio {
				t.Errorf("auth_pass %q vrid %d priority %d; want %q %d %d", v.AuthPass.Reveal(), v.VRID, v.Priority, tc.pass, tc.vrid, tc.prio)
			}
		})
	}
}

// keepalived continues a line with a trailing \ only inside a $NAME=
// definition; elsewhere it reads the \ as a word of its own, which xlb drops
// with a warning rather than mistake for a value.
func TestKeepalivedTrailingBackslash(t *testing.T) {
	cfg, warns := mustParse(t, vrrpConf(" virtual_router_id 5 \\\n priority 42\n"), Options{})
	if cfg.VRRP[0].VRID != 5 || cfg.VRRP[0].Priority != 42 {
		t.Errorf("vrid %d priority %d, want 5 42", cfg.VRRP[0].VRID, cfg.VRRP[0].Priority)
	}
	if !slices.ContainsFunc(warnStrings(warns), func(w string) bool {
		return strings.HasPrefix(w, `t.conf:6: trailing \ ignored`)
	}) {
		t.Errorf("no warning for the trailing \\: %q", warnStrings(warns))
	}
}

func TestDecomment(t *testing.T) {
	for in, want := range map[string]string{
		"  a b  # c":          "a b",
		`a "b # c" d ! e`:     `a "b # c" d`,
		`a \# b \! c # d`:     `a # b ! c`,
		`"x \# y"`:            `"x \# y"`,
		"a b \\":              `a b\`,
		"a b   \\":            `a b\`,
		`a "unterminated # x`: `a "unterminated # x`,
		"! all comment":       "",
	} {
		if got, _ := decomment(in); got != want {
			t.Errorf("decomment(%q) = %q, want %q", in, got, want)
		}
	}
}

// A script with quotes and escapes, the example of keepalived.conf(5)
// "Quoted strings".
func TestKeepalivedScriptQuoting(t *testing.T) {
	in := `$SG_NAME=SG1
$INST=low
` + vrrpConf(" virtual_router_id 1\n notify_master \"/etc/keepalived/notify_event.sh ' spaces\\\\x20f\\x69le ' '\\\"s p a c e \\\"' ${SG_NAME}.$INST master\"\n")
	cfg, _ := mustParse(t, in, Options{})
	diffLines(t, "argv", cfg.VRRP[0].NotifyMaster.Argv, []string{"/etc/keepalived/notify_event.sh", ` spaces\x20file `, `"s p a c e "`, "SG1.low", "master"})
}

// Parameters as keepalived.conf(5) "Parameter substitution" describes them.
func TestKeepalivedParameters(t *testing.T) {
	in := `$NET=10.0
$PRIO=150
$IF=eth0
$BASE=${NET}.${SUB}
$SUB=7
$RS= \
  real_server ${BASE}.${N} 3306 { \
    weight $W \
  }

vrrp_instance VI_1 {
 interface $IF
 virtual_router_id 3
 priority $PRIO
 virtual_ipaddress {
  ${NET}.0.1/24
 }
 notify_master "/bin/echo $1 ${UNDEFINED}"
}
virtual_server ${NET}.0.1 3306 {
 lvs_method DR
 $N=10
 $W=2
 $RS
 $N=11
 $W=3
 $RS
}
`
	cfg, _ := mustParse(t, in, Options{})
	v := cfg.VRRP[0]
	if v.Interface != "eth0" || v.Priority != 150 || v.VIPs[0].Prefix.String() != "10.0.0.1/24" {
		t.Errorf("vrrp: interface %q priority %d vip %v", v.Interface, v.Priority, v.VIPs)
	}
	if got := strings.Join(v.NotifyMaster.Argv, " "); got != "/bin/echo $1 ${UNDEFINED}" {
		t.Errorf("notify_master %q: an undefined parameter must stay as written", got)
	}
	if len(cfg.Services) != 1 || cfg.Services[0].VIP != addr("10.0.0.1") {
		t.Fatalf("services %+v", cfg.Services)
	}
	var reals []string
	for _, r := range cfg.Services[0].Reals {
		reals = append(reals, r.IP.String()+"/"+strings.TrimSpace(strings.Repeat("w", int(r.Weight))))
	}
	diffLines(t, "reals from a multi-line parameter", reals, []string{"10.0.7.10/ww", "10.0.7.11/www"})
}

func TestKeepalivedParameterErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"self reference", "$A=x$A\nvrrp_instance $A {\n}\n", "t.conf:2: parameter substitution"},
		{"exponential", "$A=${B}${B}\n$B=${C}${C}\n$C=${D}${D}\n$D=${E}${E}\n$E=${F}${F}\n$F=${G}${G}\n$G=${H}${H}\n$H=${I}${I}\n$I=${J}${J}\n$J=xxxxxxxxxx\nvrrp_instance $A {\n}\n", "t.conf:11: line longer than 1023 bytes after parameter substitution"},
		{"sequence with a zero step", "~SEQ(A, 1, 0, 3) vrrp_instance V$A {\n}\n", "t.conf:1: ~SEQ: start 1, step 0, end 3: the step must be non-zero"},
		{"env wants a name", "vrrp_instance ${_ENV} {\n}\n", "t.conf:1: ${_ENV NAME} wants"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseWith("t.conf", []byte(tc.in), Options{Format: FormatKeepalived, ConfigID: "x"})
			if got := errStrings(err); len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("errors %q, want first to start with %q", got, tc.want)
			}
		})
	}
}

func TestKeepalivedPredefinedParameters(t *testing.T) {
	t.Setenv("XLB_TEST_IF", "eth7")
	in := "vrrp_instance ${_INSTANCE} {\n interface ${_ENV XLB_TEST_IF}\n virtual_router_id ${_RANDOM 9 9}\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	cfg, _ := mustParse(t, in, Options{ConfigID: "lb1"})
	v := cfg.VRRP[0]
	if v.Name != "lb1" || v.Interface != "eth7" || v.VRID != 9 {
		t.Errorf("name %q interface %q vrid %d; want lb1 eth7 9", v.Name, v.Interface, v.VRID)
	}
}

// One file for two directors: @ID lines are read only on the director whose
// config id is ID, @^ID lines everywhere else (keepalived.conf(5)
// "Conditional configuration and configuration id").
func TestKeepalivedConditional(t *testing.T) {
	in := `@main $PRIO=200
@backup $PRIO=100
$IF_MAIN=@main
global_defs {
 @main router_id lb-main
 @backup router_id lb-backup
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 1
 priority $PRIO
 $IF_MAIN advert_int 3
 @main state MASTER
 @^main state BACKUP
 virtual_ipaddress {
  10.0.0.1
 }
 unicast_peer {
  @^main 10.0.0.2
  @^backup 10.0.0.3
 }
 @main
}
`
	for _, tc := range []struct {
		id     string
		router string
		prio   uint8
		state  vrrp.State
		peers  string
		advert time.Duration
	}{
		{"main", "lb-main", 200, vrrp.StateMaster, "10.0.0.3", 3 * time.Second},
		{"backup", "lb-backup", 100, vrrp.StateBackup, "10.0.0.2", time.Second},
	} {
		cfg, _ := mustParse(t, in, Options{ConfigID: tc.id})
		v := cfg.VRRP[0]
		var peers []string
		for _, p := range v.UnicastPeers {
			peers = append(peers, p.String())
		}
		if cfg.Global.RouterID != tc.router || v.Priority != tc.prio || v.InitialState != tc.state || strings.Join(peers, ",") != tc.peers || v.AdvertInterval != tc.advert {
			t.Errorf("id %s: router_id %q priority %d state %v peers %v advert %v", tc.id, cfg.Global.RouterID, v.Priority, v.InitialState, peers, v.AdvertInterval)
		}
	}
	// Another id reads neither: priority stays a literal $PRIO.
	_, _, err := ParseWith("t.conf", []byte(in), Options{Format: FormatKeepalived, ConfigID: "other"})
	if got := errStrings(err); len(got) != 1 || !strings.Contains(got[0], `"$PRIO"`) {
		t.Errorf("config id other: %q", got)
	}
	if id := DefaultConfigID(); id == "" || strings.Contains(id, ".") {
		t.Errorf("DefaultConfigID() = %q: want the host name up to its first dot", id)
	}
}

// Files that start the way only keepalived.conf starts are read as one.
func TestDetectKeepalivedMarkers(t *testing.T) {
	body := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	for _, head := range []string{
		"@lb1 $X=1\n",
		"@^lb1 global_defs {\n}\n",
		"$IF=eth0\n",
		"${UNUSED}\n",
		"net_namespace blue\n",
		"~SEQ(A,1,2) x\n",
		"includer /nonexistent/*.conf\n",
		"use_pid_dir\n",
	} {
		if got := DetectFormat([]byte("# c\n" + head + body)); got != FormatKeepalived {
			t.Errorf("%q: detected %v", head, got)
		}
	}
	// Through Load too: no YAML message for a keepalived file.
	dir := t.TempDir()
	path := filepath.Join(dir, "k.conf")
	if err := os.WriteFile(path, []byte("$IF=eth0\n@lb1 $P=1\n"+strings.ReplaceAll(body, "eth0", "$IF")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadWith(path, Options{ConfigID: "lb1"})
	if err != nil || cfg.VRRP[0].Interface != "eth0" {
		t.Fatalf("load: %v", err)
	}
}

// A file neither reader can read gets both readers' first findings.
func TestDetectNeither(t *testing.T) {
	_, _, err := Parse("t.conf", []byte("hello world\nfoo }\n"), FormatAuto)
	got := errStrings(err)
	want := "t.conf: neither reader can read this file: as native YAML, line 1: wants a mapping (key: value); as keepalived.conf, line 1: hello: unknown keyword"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
