package config

import (
	"strings"
	"testing"
)

// keepalived features with an xlb replacement say what to do instead:
// use_vmac and track_process are refused with the reason, lvs_sync_daemon
// is accepted with how flow sync is turned on, vrrp_track_file is
// keepalived's synonym of track_file.
func TestKeepalivedReplacedFeatures(t *testing.T) {
	_, warns, err := Parse("t.conf", []byte(`global_defs {
    lvs_sync_daemon eth0 VI_1 id 5
}
vrrp_track_file tf {
    file /run/xlb/state
}
vrrp_track_process mysqld {
    process mysqld
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    use_vmac
    lvs_sync_daemon_interface eth0
    virtual_ipaddress {
        10.0.0.100
    }
    track_process {
        mysqld
    }
}
`), FormatKeepalived)
	diffLines(t, "errors", errStrings(err), []string{
		"t.conf:7: vrrp_track_process: " + trackProcessWhy,
		"t.conf:13: vrrp_instance VI_1: use_vmac: " + vmacWhy,
		"t.conf:18: vrrp_instance VI_1: track_process: " + trackProcessWhy,
	})
	diffLines(t, "warnings", warnStrings(warns), []string{
		"t.conf:2: global_defs: lvs_sync_daemon: " + flowSyncWhy,
		"t.conf:14: vrrp_instance VI_1: lvs_sync_daemon_interface: " + flowSyncWhy,
	})
	for _, want := range []string{"--flow-sync-key", "remove use_vmac", "pgrep"} {
		if !strings.Contains(flowSyncWhy+vmacWhy+trackProcessWhy, want) {
			t.Errorf("no %q in the messages", want)
		}
	}
}
