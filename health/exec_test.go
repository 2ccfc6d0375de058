package health

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecExitCodes(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		dynamic   bool
		ok        bool
		weight    int
		weightSet bool
		reason    string
	}{
		{name: "exit 0 is up", body: "echo all good; exit 0", ok: true, reason: "exited 0: all good"},
		{name: "exit 1 is down", body: "echo replica stopped >&2; exit 1", reason: "exited 1: replica stopped"},
		{name: "exit 5 without misc_dynamic is down", body: "exit 5", reason: "exited 5"},
		{name: "exit 1 with misc_dynamic is down", body: "exit 1", dynamic: true, reason: "exited 1"},
		{name: "exit 5 with misc_dynamic is weight 3", body: "exit 5", dynamic: true, ok: true, weight: 3, weightSet: true, reason: "weight 3"},
		{name: "exit 2 with misc_dynamic is weight 0", body: "exit 2", dynamic: true, ok: true, weightSet: true, reason: "weight 0"},
		{name: "exit 255 with misc_dynamic is weight 253", body: "exit 255", dynamic: true, ok: true, weight: 253, weightSet: true},
		{name: "killed by a signal is down", body: "kill -TERM $$", reason: "signal: terminated"},
		{name: "env reaches the command", body: `test "$XLB_RS" = 10.0.0.5`, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewExec(ExecConfig{Command: []string{script(t, tc.body)}, Dynamic: tc.dynamic, Env: []string{"XLB_RS=10.0.0.5"}})
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(context.Background())
			if r.OK != tc.ok || r.Weight != tc.weight || r.WeightSet != tc.weightSet || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v weight=%d/%v reason ~%q", r, tc.ok, tc.weight, tc.weightSet, tc.reason)
			}
			if !r.OK && !errors.Is(r.Err, ErrExitStatus) {
				t.Fatalf("failure %v does not wrap ErrExitStatus", r.Err)
			}
		})
	}
}

func TestExecMissingCommand(t *testing.T) {
	if _, err := NewExec(ExecConfig{}); err == nil {
		t.Fatal("empty command accepted")
	}
	c, err := NewExec(ExecConfig{Command: []string{filepath.Join(t.TempDir(), "absent")}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); r.OK || !strings.Contains(r.Reason, "no such file") {
		t.Fatalf("missing program: %+v", r)
	}
}

// pidsGone waits until none of the pids in file is alive (zombies count as
// gone: they run nothing and init reaps them).
func pidsGone(t *testing.T, file string, want int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(b))
	if len(pids) != want {
		t.Fatalf("script recorded %d children, want %d", len(pids), want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for {
			st, err := os.ReadFile("/proc/" + p + "/stat")
			if err != nil || strings.Contains(string(st), ") Z ") || syscall.Kill(pid, 0) != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("child %s survived the check: %s", p, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	noLeak(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	// Children in the background and a grandchild, all sleeping far past
	// the timeout; the script itself waits too.
	body := `sleep 300 & echo $! >> ` + pidFile + `
sh -c 'sleep 300 & echo $! >> ` + pidFile + `; wait' &
echo $! >> ` + pidFile + `
sleep 0.1
wait`
	c, err := NewExec(ExecConfig{Command: []string{script(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 500 * time.Millisecond
	start := time.Now()
	r := checkWithin(c, timeout)
	took := time.Since(start)
	if r.OK || !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Reason, "process group killed") {
		t.Fatalf("got %+v, want a timeout", r)
	}
	if took > timeout+3*time.Second {
		t.Fatalf("check took %v with a %v timeout", took, timeout)
	}
	pidsGone(t, pidFile, 3)
}

func TestExecLeftoverChildrenAreKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	// Exits 0 at once but leaves a child holding stdout open.
	c, err := NewExec(ExecConfig{Command: []string{script(t, "sleep 300 & echo $! > "+pidFile+"; echo started")}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := checkWithin(c, time.Minute); !r.OK || !strings.Contains(r.Reason, "started") {
		t.Fatalf("got %+v, want up", r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a leftover child held the check for %v", took)
	}
	pidsGone(t, pidFile, 1)
}
