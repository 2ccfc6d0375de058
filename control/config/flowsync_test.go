package config

import (
	"net/netip"
	"strings"
	"testing"
)

// Flow sync's group comes from xlb's own keyword (YAML flow_sync_group,
// keepalived xlb_flow_sync_group) or from keepalived's lvs_sync_daemon
// group and port, IPv4 or IPv6; a group flow sync cannot use is an error
// naming the file, line and field.
func TestFlowSyncGroup(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		want           string // the group, or "" for none
		errs           []string
	}{
		{name: "lvs_sync_daemon IPv6 group and port", file: "t.conf",
			in: "global_defs {\n    lvs_sync_daemon eth0 VI_1 id 5 maxlen 1400 port 8849 ttl 255 group ff02::81\n}\n", want: "[ff02::81]:8849"},
		{name: "lvs_sync_daemon port only: IPVS's group", file: "t.conf",
			in: "global_defs {\n    lvs_sync_daemon eth0 VI_1 port 9000\n}\n", want: "224.0.0.81:9000"},
		{name: "lvs_sync_daemon without options", file: "t.conf",
			in: "global_defs {\n    lvs_sync_daemon eth0 VI_1 id 5\n}\n", want: ""},
		{name: "xlb_flow_sync_group", file: "t.conf",
			in: "global_defs {\n    xlb_flow_sync_group [ff02::81]:8848\n}\n", want: "[ff02::81]:8848"},
		{name: "yaml IPv6", file: "t.yaml",
			in: "global:\n  flow_sync_group: \"[ff02::81]:8848\"\n", want: "[ff02::81]:8848"},
		{name: "yaml IPv4", file: "t.yaml",
			in: "global:\n  flow_sync_group: 239.1.1.1:8848\n", want: "239.1.1.1:8848"},
		{name: "lvs_sync_daemon site-scope IPv6 group", file: "t.conf",
			in:   "global_defs {\n    lvs_sync_daemon eth0 VI_1 group ff05::81\n}\n",
			errs: []string{"t.conf:2: global_defs: lvs_sync_daemon group: "}},
		{name: "lvs_sync_daemon bad port", file: "t.conf",
			in:   "global_defs {\n    lvs_sync_daemon eth0 VI_1 port 0\n}\n",
			errs: []string{"t.conf:2: global_defs: lvs_sync_daemon port: "}},
		{name: "lvs_sync_daemon unknown option", file: "t.conf",
			in:   "global_defs {\n    lvs_sync_daemon eth0 VI_1 mcast 1\n}\n",
			errs: []string{"t.conf:2: global_defs: lvs_sync_daemon mcast: "}},
		{name: "yaml unicast group", file: "t.yaml",
			in:   "global:\n  router_id: r\n  flow_sync_group: \"[fe80::1]:8848\"\n",
			errs: []string{"t.yaml:3: global: flow_sync_group: "}},
		{name: "yaml no port", file: "t.yaml",
			in:   "global:\n  flow_sync_group: ff02::81\n",
			errs: []string{"t.yaml:2: global: flow_sync_group: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in + "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.100\n    }\n}\n"
			if strings.HasSuffix(tc.file, ".yaml") {
				in = tc.in + "vrrp:\n  - {name: V, interface: eth0, vrid: 51, vips: [10.0.0.100]}\n"
			}
			cfg, _, err := Parse(tc.file, []byte(in), FormatAuto)
			if tc.errs != nil {
				got := errStrings(err)
				if len(got) != len(tc.errs) {
					t.Fatalf("errors %q, want %d starting %q", got, len(tc.errs), tc.errs)
				}
				for i, e := range got {
					if !strings.HasPrefix(e, tc.errs[i]) || !strings.Contains(e, "flow sync group") && !strings.Contains(e, "want") && !strings.Contains(e, "range") {
						t.Errorf("error %q, want it to start %q and say what is allowed", e, tc.errs[i])
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if g := cfg.Global.FlowSyncGroup; g.IsValid() {
				got = g.String()
			}
			if got != tc.want {
				t.Fatalf("flow sync group %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				return
			}
			// Written back as YAML, it reads the same.
			out, err := MarshalNative(cfg)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := Parse("back.yaml", out, FormatYAML)
			if err != nil || back.Global.FlowSyncGroup != netip.MustParseAddrPort(tc.want) {
				t.Fatalf("written back:\n%s\nread %v, %v", out, back.Global.FlowSyncGroup, err)
			}
		})
	}
}
