package config

import (
	"reflect"
	"testing"
	"time"

	"xlb/control/vrrp"
)

const pacingVRRP = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
}
`

// wantPacing is what TestGARPPacingKeepalived's and TestGARPPacingNative's
// files give: group 3 dropped, eth2 left in group 1.
var wantPacing = vrrp.Pacing{GARPInterval: 50 * time.Millisecond, GNAInterval: 250 * time.Microsecond, Groups: []vrrp.GARPGroup{
	{GARPInterval: 200 * time.Millisecond, Interfaces: []string{"eth1", "eth2", "eth3"}},
	{Interfaces: []string{"eth4"}},
	{GARPInterval: 1500 * time.Millisecond, Interfaces: []string{"eth5"}},
}}

// The global intervals and garp_groups as keepalived reads them: decimal
// seconds to the microsecond, interface and interfaces { } (both in one
// block, as keepalived takes them), a group with no interval dropped so its
// interface keeps the global pace, an interface claimed by a second group
// left in the first, and keepalived's "very large" warning; the native
// YAML written from it reads back to the same config.
func TestGARPPacingKeepalived(t *testing.T) {
	in := `global_defs {
    vrrp_garp_interval 0.05
    vrrp_gna_interval 0.000250
}
garp_group {
    garp_interval 0.2
    interfaces {
        eth1 eth2
        eth3
    }
}
garp_group {
    gna_interval 0
    interface eth4
}
garp_group {
    interface eth0
}
garp_group {
    garp_interval 1.5
    interface eth2
    interface eth5
}
` + pacingVRRP
	cfg, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.conf:16: garp_group: garp group 3 does not have any delay set - removing (as keepalived): its interfaces take the global vrrp_garp_interval and vrrp_gna_interval",
		"t.conf:20: garp_group: garp_interval: 1500ms is very large (as keepalived warns): a burst of 5 takes 6s",
		"t.conf:21: garp_group: interfaces: garp_group already specified for eth2 - ignoring (as keepalived: garp group 1, the first to name it, applies)",
	})
	if got := cfg.Pacing(); !reflect.DeepEqual(got, wantPacing) {
		t.Fatalf("pacing\n got %+v\nwant %+v", got, wantPacing)
	}
	nativeRoundTrip(t, cfg)
}

// The same in native YAML: Go durations or seconds, garp_groups as a list,
// keepalived's rules applied the same way.
func TestGARPPacingNative(t *testing.T) {
	in := `global:
  vrrp_garp_interval: 50ms
  vrrp_gna_interval: 0.00025
garp_groups:
  - garp_interval: 0.2
    interfaces: [eth1, eth2, eth3]
  - gna_interval: 0
    interfaces: [eth4]
  - interfaces: [eth0]
  - garp_interval: 1.5s
    interfaces: [eth2, eth5]
vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    vips: [10.0.0.100]
`
	cfg, warns, err := Parse("t.yaml", []byte(in), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.yaml:9: garp_groups[2]: garp group 3 does not have any delay set - removing (as keepalived): its interfaces take the global vrrp_garp_interval and vrrp_gna_interval",
		"t.yaml:10: garp_groups[3]: garp_interval: 1500ms is very large (as keepalived warns): a burst of 5 takes 6s",
		"t.yaml:11: garp_groups[3]: interfaces: garp_group already specified for eth2 - ignoring (as keepalived: garp group 1, the first to name it, applies)",
	})
	if got := cfg.Pacing(); !reflect.DeepEqual(got, wantPacing) {
		t.Fatalf("pacing\n got %+v\nwant %+v", got, wantPacing)
	}
}

// Without any of it nothing is paced; keepalived's own sample config writes
// "vrrp_garp_interval 0" (keepalived warns it is invalid and keeps its
// default, 0), which loads as no pacing without a word.
func TestGARPPacingDefault(t *testing.T) {
	for _, global := range []string{"", "    vrrp_garp_interval 0\n    vrrp_gna_interval 0\n"} {
		cfg, warns, err := Parse("t.conf", []byte("global_defs {\n"+global+"}\n"+pacingVRRP), FormatKeepalived)
		if err != nil || len(warns) != 0 {
			t.Fatalf("%q: %v %v", global, err, warns)
		}
		if got := cfg.Pacing(); !reflect.DeepEqual(got, vrrp.Pacing{}) {
			t.Fatalf("%q: pacing %+v, want none", global, got)
		}
	}
}

// Bad values and misplaced keywords are errors naming file, line and
// field, in both readers: keepalived's range (0 to UINT_MAX µs) and
// resolution, and the per-instance keyword keepalived does not have.
func TestGARPPacingErrors(t *testing.T) {
	tests := []struct {
		name, file, in string
		want           []string
	}{
		{"global range", "t.conf", "global_defs {\n    vrrp_garp_interval 4294.967296\n    vrrp_gna_interval -1\n}\n" + pacingVRRP, []string{
			`t.conf:2: global_defs: vrrp_garp_interval: "4294.967296" is out of range 0..4294.967295 seconds`,
			`t.conf:3: global_defs: vrrp_gna_interval: "-1" is not a number of seconds`,
		}},
		{"resolution", "t.conf", "global_defs {\n    vrrp_garp_interval 0.0000001\n}\n" + pacingVRRP, []string{
			`t.conf:2: global_defs: vrrp_garp_interval: "0.0000001" is finer than keepalived's resolution of 1 µs (at most 6 decimal places)`,
		}},
		{"largest", "t.conf", "global_defs {\n    vrrp_garp_interval 4294.967295\n}\n" + pacingVRRP, nil},
		{"per instance", "t.conf", `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    garp_interval 0.1
    gna_interval 0.1
    virtual_ipaddress {
        10.0.0.100
    }
}
`, []string{
			"t.conf:4: vrrp_instance VI_1: garp_interval: " + instancePacingWhy,
			"t.conf:5: vrrp_instance VI_1: gna_interval: " + instancePacingWhy,
		}},
		{"group syntax", "t.conf", `garp_group G {
    garp_interval 0.1
    interface eth0 eth1
    interfaces eth2
    delay 1
}
` + pacingVRRP, []string{
			"t.conf:1: garp_group: takes no name, only a { ... } block",
			"t.conf:3: garp_group: interface: wants one value",
			"t.conf:4: garp_group: interfaces: wants a { ... } block",
			"t.conf:5: garp_group: delay: unknown keyword",
		}},
		{"group values", "t.conf", "garp_group {\n    garp_interval 1x\n    interface eth0123456789abcd\n}\n" + pacingVRRP, []string{
			`t.conf:2: garp_group: garp_interval: "1x" is not a number of seconds`,
			`t.conf:3: garp_group: interfaces: "eth0123456789abcd" is not an interface name (1 to 15 characters)`,
		}},
		{"native", "t.yaml", `global:
  vrrp_gna_interval: 1ns
garp_groups:
  - garp_interval: 0.1
    interface: eth0
vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    garp_interval: 0.1
    vips: [10.0.0.100]
`, []string{
			`t.yaml:2: global: vrrp_gna_interval: "1ns" is finer than keepalived's resolution of 1 µs (at most 6 decimal places)`,
			"t.yaml:5: garp_groups[0]: interface: unknown field",
			`t.yaml:10: vrrp "VI_1": garp_interval: unknown field`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(tc.file, []byte(tc.in), FormatAuto)
			diffLines(t, "errors", errStrings(err), tc.want)
		})
	}
}
