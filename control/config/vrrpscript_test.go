package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"xlb/control/vrrp"
)

// vrrp_script blocks reach each tracking instance as keepalived reads them
// (vrrp_parser.c, vrrp_track.c alloc_track_script): the instance's weight
// wins, an undefined or repeated name is ignored with a warning, and the
// result converts to native YAML and back unchanged.
func TestVRRPScriptTrackScript(t *testing.T) {
	in := ka(`vrrp_script chk_mysql {
    script "/usr/local/bin/chk mysql --port 3306"
    interval 2
    timeout 1.5
    weight -30
    rise 3
    fall 2
    init_fail
    user nobody nogroup
}
vrrp_script chk_web {
    script /bin/true
    weight 10
}
` + vrrpOK + `    track_script {
        chk_mysql
        chk_web weight 0
        chk_gone
        chk_mysql weight 5
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        10.0.0.101
    }
    track_script {
        chk_late
    }
}
vrrp_script chk_late {
    script /bin/false
}
`)
	cfg, warns, err := Parse("t.conf", []byte(in), FormatAuto)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []vrrp.Script{
		{Name: "chk_mysql", Command: []string{"/usr/local/bin/chk", "mysql", "--port", "3306"}, Interval: 2 * time.Second,
			Timeout: 1500 * time.Millisecond, Weight: -30, Rise: 3, Fall: 2, InitFail: true, User: "nobody", Group: "nogroup"},
		{Name: "chk_web", Command: []string{"/bin/true"}, Weight: 0},
	}
	if got := cfg.VRRP[0].TrackScripts; !reflect.DeepEqual(got, want) {
		t.Errorf("VI_1 track scripts\n got %+v\nwant %+v", got, want)
	}
	if got := cfg.VRRP[1].TrackScripts; len(got) != 0 {
		t.Errorf("VI_2 tracks %+v: a script defined below the instance must be ignored, as keepalived does", got)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.conf:25: vrrp_instance VI_1: track_script: chk_gone: ignored: no vrrp_script chk_gone is defined above, as keepalived ignores it",
		"t.conf:26: vrrp_instance VI_1: track_script: chk_mysql: ignored: duplicate track_script, as keepalived ignores it",
		"t.conf:36: vrrp_instance VI_2: track_script: chk_late: ignored: no vrrp_script chk_late is defined above, as keepalived ignores it",
	})

	nativeRoundTrip(t, cfg)
}

func TestVRRPScriptErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "vrrp_script values",
			in: ka(`vrrp_script a {
    script /bin/true
    weight 254
    interval x
    rise 0
    frobnicate 1
    user
}
vrrp_script b {
    script /bin/true
    weight 10 reverse
}
vrrp_script c {
    interval 1
}
`),
			want: []string{
				"t.conf:4: vrrp_script a: weight: 254 is out of range -253..253",
				`t.conf:5: vrrp_script a: interval: "x" is not a number of seconds`,
				"t.conf:6: vrrp_script a: rise: 0 is out of range 1..2147483647",
				"t.conf:7: vrrp_script a: frobnicate: unknown keyword",
				"t.conf:8: vrrp_script a: user: wants USER [GROUP]",
				"t.conf:12: vrrp_script b: weight: reverse is not supported: write the opposite weight, or invert the script's exit status",
				"t.conf:14: vrrp_script c: script: required",
			},
		},
		{
			name: "track_script weight",
			in: ka("vrrp_script s {\n    script /bin/true\n}\n" + vrrpOK + `    track_script {
        s weight 300
        s wait 3
    }
}
`),
			want: []string{
				"t.conf:12: vrrp_instance VI_1: track_script: s: weight: 300 is out of range -253..253",
				"t.conf:13: vrrp_instance VI_1: track_script: s: wants NAME [weight W]",
			},
		},
		{
			name: "native track_scripts",
			in: `vrrp:
  - name: V
    interface: eth0
    vrid: 1
    vips: [10.0.0.1]
    track_scripts:
      - {name: s, weight: -254, command: /bin/true}
      - {command: /bin/true}
`,
			want: []string{
				"t.conf:7: vrrp \"V\": track_scripts: weight: -254 is out of range -253..253",
				"t.conf:8: vrrp \"V\": track_scripts: wants a name and a command",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse("t.conf", []byte(tc.in), FormatAuto)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			diffLines(t, "errors", errStrings(err), tc.want)
		})
	}
}

// keepalived derives priority from state and state from priority when only
// one is given (vrrp_complete_instance in keepalived/vrrp/vrrp.c: "If no
// priority has been set, derive it from the initial state"): state MASTER
// alone is the address owner, priority 255 alone starts as MASTER.
func TestStatePriorityDerivation(t *testing.T) {
	for _, tc := range []struct {
		name, lines string
		prio        uint8
		state       vrrp.State
		warn        bool
	}{
		{"master without priority", "state MASTER", 255, vrrp.StateMaster, true},
		{"backup without priority", "state BACKUP", 100, vrrp.StateBackup, false},
		{"neither", "", 100, vrrp.StateBackup, false},
		{"priority 255 without state", "priority 255", 255, vrrp.StateMaster, false},
		{"master with priority", "state MASTER\n    priority 150", 150, vrrp.StateMaster, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "vrrp_instance V {\n    interface eth0\n    virtual_router_id 5\n    " + tc.lines +
				"\n    virtual_ipaddress {\n        10.0.0.100\n    }\n}\n"
			cfg, warns, err := Parse("p.conf", []byte(in), FormatKeepalived)
			if err != nil {
				t.Fatal(err)
			}
			v := cfg.VRRP[0]
			if v.Priority != tc.prio || v.InitialState != tc.state {
				t.Errorf("priority %d state %v, want %d %v", v.Priority, v.InitialState, tc.prio, tc.state)
			}
			var warned bool
			for _, w := range warnStrings(warns) {
				warned = warned || strings.Contains(w, "state MASTER without priority: priority 255")
			}
			if warned != tc.warn {
				t.Errorf("warnings %q: want the address-owner warning %v", warnStrings(warns), tc.warn)
			}
		})
	}
}
