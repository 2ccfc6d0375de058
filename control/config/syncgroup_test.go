package config

import (
	"reflect"
	"testing"

	"xlb/control/script"
	"xlb/control/vrrp"
)

// A vrrp_sync_group written before its members, as usual: members resolved
// by name, group notify scripts read, the group's tracking added to each
// member, the members' own weighted scripts dropped as keepalived drops them
// (vrrp.c vrrp_complete_instance, sync_group_tracking_init), and the result
// survives conversion to native YAML.
func TestSyncGroupKeepalived(t *testing.T) {
	in := ka(`vrrp_script chk_own {
    script /bin/own
    weight -20
}
vrrp_script chk_fault {
    script /bin/fault
}
vrrp_script chk_group {
    script /bin/group
    weight -30
}
vrrp_sync_group G {
    group {
        VI_A
        VI_B
    }
    notify_master "/etc/xlb/group.sh master"
    notify_backup /etc/xlb/backup.sh
    notify /etc/xlb/any.sh
    track_interface {
        eth9
    }
    track_script {
        chk_group
    }
    smtp_alert
}
vrrp_instance VI_A {
    interface eth0
    virtual_router_id 1
    priority 150
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        chk_own
        chk_fault
    }
}
vrrp_instance VI_B {
    interface eth1
    virtual_router_id 2
    priority 150
    virtual_ipaddress {
        10.0.1.100
    }
}
`)
	cfg, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.conf:27: vrrp_sync_group G: smtp_alert: ignored: xlb sends no mail; use the group's notify scripts",
		"t.conf:29: vrrp_instance VI_A: ignoring tracked script chk_own with weights due to SYNC group G (as keepalived; add sync_group_tracking_weight to the group to keep it)",
	})
	want := []vrrp.SyncGroupConfig{{
		Name: "G", Members: []string{"VI_A", "VI_B"},
		Notifies: vrrp.Notifies{NotifyMaster: script.Command{Argv: []string{"/etc/xlb/group.sh", "master"}}, NotifyBackup: script.Command{Argv: []string{"/etc/xlb/backup.sh"}},
			Notify: script.Command{Argv: []string{"/etc/xlb/any.sh"}}}, ScriptPolicy: script.Policy{},
	}}
	if !reflect.DeepEqual(cfg.SyncGroups, want) {
		t.Errorf("sync groups\n got %+v\nwant %+v", cfg.SyncGroups, want)
	}
	group := vrrp.Script{Name: "chk_group", Command: []string{"/bin/group"}, Weight: -30}
	if got, want := cfg.VRRP[0].TrackScripts, []vrrp.Script{{Name: "chk_fault", Command: []string{"/bin/fault"}}, group}; !reflect.DeepEqual(got, want) {
		t.Errorf("VI_A scripts\n got %+v\nwant %+v", got, want)
	}
	if got := cfg.VRRP[1].TrackScripts; !reflect.DeepEqual(got, []vrrp.Script{group}) {
		t.Errorf("VI_B scripts %+v, want the group's", got)
	}
	for _, v := range cfg.VRRP {
		if !reflect.DeepEqual(v.TrackInterfaces, []string{"eth9"}) {
			t.Errorf("%s tracks interfaces %v, want the group's eth9", v.Name, v.TrackInterfaces)
		}
	}

	nativeRoundTrip(t, cfg)
}

// sync_group_tracking_weight keeps the members' weighted scripts; a member
// with priority 255 clears the weight of the group's scripts.
func TestSyncGroupTrackingWeight(t *testing.T) {
	in := ka(`vrrp_script chk {
    script /bin/chk
    weight -20
}
vrrp_sync_group G {
    group {
        VI_A VI_B
    }
    global_tracking
}
vrrp_sync_group O {
    group {
        VI_O
        VI_P
    }
    track_script {
        chk
    }
}
vrrp_instance VI_A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        chk
    }
}
vrrp_instance VI_B {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        10.0.0.101
    }
}
vrrp_instance VI_O {
    interface eth0
    virtual_router_id 3
    state MASTER
    virtual_ipaddress {
        10.0.0.102
    }
}
vrrp_instance VI_P {
    interface eth0
    virtual_router_id 4
    virtual_ipaddress {
        10.0.0.103
    }
}
`)
	cfg, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.conf:10: vrrp_sync_group G: global_tracking: global_tracking is deprecated. Use track_interface/script/file on the sync group (as keepalived: it means sync_group_tracking_weight)",
		"t.conf:18: vrrp_sync_group O: chk: Cannot have weighted track script 'chk' with member having priority 255 - clearing weight (as keepalived)",
		"t.conf:41: vrrp_instance VI_O: state: state MASTER without priority: priority 255, the address owner, as keepalived (it takes the VIPs at once and always preempts; set a priority below 255 to have it elected)",
	})
	if got := cfg.VRRP[0].TrackScripts; len(got) != 1 || got[0].Weight != -20 {
		t.Errorf("VI_A scripts %+v: sync_group_tracking_weight keeps the weight", got)
	}
	for _, i := range []int{2, 3} {
		if got := cfg.VRRP[i].TrackScripts; len(got) != 1 || got[0].Weight != 0 {
			t.Errorf("%s scripts %+v: want chk with weight 0", cfg.VRRP[i].Name, got)
		}
	}
}

func TestSyncGroupErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{
			name: "unknown and shared members",
			in: ka(vrrpOK + `}
vrrp_sync_group G {
    group {
        VI_1
        VI_9
    }
}
vrrp_sync_group H {
    group {
        VI_1
    }
}
`),
			want: []string{
				"t.conf:10: vrrp_sync_group G: group: Virtual router VI_9 specified in sync group G doesn't exist (keepalived would ignore it; xlb refuses, since it would not fail over with the group)",
				"t.conf:16: vrrp_sync_group H: group: Virtual router VI_1 cannot exist in more than one sync group (already in G)",
			},
		},
		{
			name: "refused tracking",
			in: ka(vrrpOK + `}
vrrp_sync_group G {
    group {
        VI_1
    }
    track_file {
        f
    }
    track_process {
        p
    }
}
`),
			want: []string{
				"t.conf:13: vrrp_sync_group G: track_file: not supported: use a vrrp_script that reads the file",
				"t.conf:16: vrrp_sync_group G: track_process: not supported: use a vrrp_script that checks the process (pidof NAME)",
			},
		},
		{
			name: "native unknown member",
			in:   "vrrp:\n  - name: A\n    interface: eth0\n    vrid: 1\n    vips: [10.0.0.1]\nsync_groups:\n  - name: G\n    members: [A, B]\n",
			want: []string{
				"t.yaml:8: sync_groups[0]: members: Virtual router B specified in sync group G doesn't exist (keepalived would ignore it; xlb refuses, since it would not fail over with the group)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "t.conf"
			if tc.in[0] == 'v' && tc.in[4] == ':' {
				name = "t.yaml"
			}
			_, _, err := Parse(name, []byte(tc.in), FormatAuto)
			diffLines(t, "errors", errStrings(err), tc.want)
		})
	}
}
