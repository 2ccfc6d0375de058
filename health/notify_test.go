package health

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	scripts "xlb/control/script"
	"xlb/test/testutil"
)

func TestNotifyRunsOnChangesOnly(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := func(name string) scripts.Command {
		return scripts.Command{Argv: []string{"/bin/sh", "-c", `echo "` + name + ` $# $XLB_SERVER $XLB_STATE" >> ` + log}}
	}
	n := &Notify{Up: script("up"), Down: script("down")}
	ctx := context.Background()
	for _, v := range []Verdict{
		{Server: "rs1", Up: true, Initial: true, Weight: 5},
		{Server: "rs1", Up: true, Weight: 3}, // weight only
		{Server: "rs1", Up: false, Reason: "refused"},
		{Server: "rs1", Up: true, Weight: 5},
	} {
		n.Verdict(ctx, v)
		n.Wait() // keep the order of the lines
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "down 0 rs1 DOWN\nup 0 rs1 UP\n"; string(got) != want {
		t.Fatalf("scripts wrote %q, want %q", got, want)
	}
}

// Quick changes of one server run their scripts in the order of the changes,
// though a slow notify_down is still running when the server comes back up;
// Verdict does not wait for the scripts.
func TestNotifyKeepsOrderPerServer(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	n := &Notify{
		Up:   scripts.Command{Argv: []string{"/bin/sh", "-c", "echo up >> " + log}},
		Down: scripts.Command{Argv: []string{"/bin/sh", "-c", "sleep 0.3; echo down >> " + log}},
	}
	ctx := context.Background()
	start := time.Now()
	for _, v := range []Verdict{
		{Server: "rs1", Up: true, Initial: true},
		{Server: "rs1", Up: false, Reason: "refused"},
		{Server: "rs1", Up: true},
		{Server: "rs1", Up: false, Reason: "refused"},
		{Server: "rs1", Up: true},
	} {
		n.Verdict(ctx, v)
	}
	if d := time.Since(start); d >= 600*time.Millisecond { // two notify_down scripts run 0.6 s
		t.Errorf("Verdict waited for the scripts (%v)", d)
	}
	n.Wait()
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "down\nup\ndown\nup\n"; string(got) != want {
		t.Fatalf("scripts wrote %q, want %q", got, want)
	}
	if n.Queue.Dropped() != 0 {
		t.Errorf("%d scripts dropped", n.Queue.Dropped())
	}
}

func TestNotifyStartingDownRunsNothing(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	n := &Notify{Down: scripts.Command{Argv: []string{"/bin/sh", "-c", "echo down >> " + log}}}
	n.Verdict(context.Background(), Verdict{Server: "rs", Up: false, Initial: true})
	n.Wait()
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("notify_down ran for the starting state (alpha): %v", err)
	}
}

// A hung script and the child it started are both killed at the timeout.
func TestNotifyTimeoutKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	n := &Notify{
		Down:    scripts.Command{Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}},
		Timeout: 300 * time.Millisecond,
	}
	n.Verdict(context.Background(), Verdict{Server: "rs", Up: true, Initial: true})
	start := time.Now()
	n.Verdict(context.Background(), Verdict{Server: "rs", Up: false})
	n.Wait()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Wait took %v with a 300ms timeout", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the script's child %d outlived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// notify_up/notify_down run as the user and group they name, and one that
// names none as the policy's script_user.
func TestNotifyRunsAsItsUser(t *testing.T) {
	testutil.RequirePriv(t)
	usr, group := testutil.SystemUser(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, p := range []string{filepath.Dir(filepath.Dir(out)), filepath.Dir(out)} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	id := []string{"/bin/sh", "-c", `echo "$XLB_STATE $(id -un) $(id -gn)" >> ` + out}
	n := &Notify{
		Down:   scripts.Command{Argv: id, User: usr, Group: group},
		Up:     scripts.Command{Argv: id},
		Policy: scripts.Policy{User: usr},
	}
	for _, up := range []bool{true, false, true} {
		n.Verdict(context.Background(), Verdict{Server: "rs", Up: up})
		n.Wait()
	}
	got, _ := os.ReadFile(out)
	if want := "DOWN " + usr + " " + group + "\nUP " + usr + " " + usr + "\n"; string(got) != want {
		t.Errorf("ran as %q, want %q", got, want)
	}
}
