package config

import (
	"reflect"
	"testing"

	"xlb/control/vrrp"
)

// The links an instance goes FAULT on, as keepalived's
// vrrp_complete_instance (keepalived/vrrp/vrrp.c) tracks them: a VIP's,
// excluded VIP's, virtual route's or virtual rule's device is tracked unless
// its line says no_track. Both readers give the same set, and the native
// YAML written from keepalived.conf keeps every no_track.
func TestVIPDevicesTracked(t *testing.T) {
	kaConf := ka(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_interface {
        eth3
    }
    virtual_ipaddress {
        10.0.0.100
        10.0.1.1/24 dev eth1
        10.0.2.1/24 dev eth2 no_track
        10.0.0.101 no_track
        10.0.3.1 dev eth3
    }
    virtual_ipaddress_excluded {
        10.0.4.1 dev eth4
        10.0.5.1 no_track dev eth5
    }
    virtual_routes {
        10.9.0.0/24 dev eth6
        10.9.1.0/24 dev eth7 no_track
    }
    virtual_rules {
        from 10.0.0.0/24 iif eth8 oif eth9 table 7
        from 10.0.1.0/24 iif eth10 table 8 no_track
    }
}
`)
	native := `interfaces: [eth0]
vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    track_interfaces: [eth3]
    vips:
      - 10.0.0.100
      - {address: 10.0.1.1/24, dev: eth1}
      - {address: 10.0.2.1/24, dev: eth2, no_track: true}
      - 10.0.0.101 no_track
      - {address: 10.0.3.1, dev: eth3, no_track: false}
    excluded_vips: [10.0.4.1 dev eth4, 10.0.5.1 dev eth5 no_track]
    routes: [10.9.0.0/24 dev eth6, 10.9.1.0/24 dev eth7 no_track]
    rules: [from 10.0.0.0/24 iif eth8 oif eth9 table 7, from 10.0.1.0/24 iif eth10 table 8 no_track]
`
	want := []vrrp.TrackedLink{
		{Name: "eth0", Why: "interface"},
		{Name: "eth3", Why: "track_interface"},
		{Name: "eth1", Why: "virtual_ipaddress 10.0.1.1/24 dev eth1"},
		{Name: "eth4", Why: "virtual_ipaddress_excluded 10.0.4.1/32 dev eth4"},
		{Name: "eth6", Why: "virtual_routes 10.9.0.0/24 dev eth6"},
		{Name: "eth8", Why: "virtual_rules from 10.0.0.0/24 iif eth8 oif eth9 table 7"},
		{Name: "eth9", Why: "virtual_rules from 10.0.0.0/24 iif eth8 oif eth9 table 7"},
	}
	wantNoTrack := map[string]bool{"10.0.2.1/24": true, "10.0.0.101/32": true}
	for _, tc := range []struct {
		name, file, in string
		format         Format
	}{
		{"keepalived.conf", "t.conf", kaConf, FormatKeepalived},
		{"native", "t.yaml", native, FormatYAML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse(tc.file, []byte(tc.in), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			v := cfg.VRRP[0]
			for _, vip := range v.VIPs {
				if vip.NoTrack != wantNoTrack[vip.Prefix.String()] {
					t.Errorf("VIP %s: NoTrack %v, want %v", vip, vip.NoTrack, !vip.NoTrack)
				}
			}
			if got := v.TrackedLinks(); !reflect.DeepEqual(got, want) {
				t.Errorf("tracked links\n got %v\nwant %v", got, want)
			}
			if tc.format == FormatKeepalived {
				nativeRoundTrip(t, cfg)
			}
		})
	}
}

// A native no_track that is not a boolean is an error at its line.
func TestVIPNoTrackNotBool(t *testing.T) {
	_, _, err := Parse("t.yaml", []byte(`interfaces: [eth0]
vrrp:
  - name: V
    interface: eth0
    vrid: 1
    vips:
      - {address: 10.0.0.5, dev: eth1, no_track: maybe}
`), FormatYAML)
	diffLines(t, "errors", errStrings(err), []string{
		`t.yaml:7: vrrp "V": vips: no_track: "maybe": want true or false`,
	})
}
