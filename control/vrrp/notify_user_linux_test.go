package vrrp_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"xlb/control/config"
	"xlb/control/script"
	"xlb/control/vrrp"
	"xlb/test/testutil"
)

// A keepalived.conf whose notify scripts name their user and group runs each
// as its own: `notify_master "SCRIPT ARGS" USER GROUP` as USER in GROUP,
// `notify_backup SCRIPT USER` as USER in USER's primary group, and a script
// naming none as global_defs script_user.
func TestNotifyScriptsRunAsTheirUser(t *testing.T) {
	testutil.RequirePriv(t)
	usr, group := testutil.SystemUser(t)
	ns := testutil.NewNetNS(t, "vrrpuser")
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ns.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	ns.MustRun(t, "ip", "link", "set", "eth0", "up")

	dir := t.TempDir()
	// The users must reach the script and write the log.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	logf := filepath.Join(dir, "log")
	if err := os.WriteFile(logf, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(logf, 0o666); err != nil {
		t.Fatal(err)
	}
	sh := filepath.Join(dir, "id.sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\necho \"$(id -un) $(id -gn) $#:$*\" >> "+logf+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `global_defs {
    script_user nobody nogroup
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 7
    virtual_ipaddress {
        192.0.2.100/24
    }
    notify_master "` + sh + ` master 'two words'" ` + usr + ` ` + group + `
    notify_backup ` + sh + ` ` + usr + `
    notify ` + sh + `
}
`
	cfg, warns, err := config.Parse("t.conf", []byte(conf), config.FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if strings.Contains(w.Field, "notify") || w.Field == "script_user" {
			t.Errorf("warning: %v", w)
		}
	}
	q := script.NewQueue(nil)
	var a *vrrp.NetActions
	if err := ns.Do(func() (err error) {
		a, err = vrrp.NewNetActions(cfg.VRRP[0].Config, q, slog.New(slog.NewTextHandler(t.Output(), nil)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a.Notify(vrrp.Notification{Instance: "VI_1", State: vrrp.StateMaster, Priority: 100})
	a.Notify(vrrp.Notification{Instance: "VI_1", State: vrrp.StateBackup, Priority: 100})
	a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(logf)
	want := usr + " " + group + " 2:master two words\n" +
		"nobody nogroup 4:INSTANCE VI_1 MASTER 100\n" +
		usr + " " + usr + " 0:\n" +
		"nobody nogroup 4:INSTANCE VI_1 BACKUP 100\n"
	if string(got) != want {
		t.Errorf("the scripts ran as\n%s\nwant\n%s", got, want)
	}
}
