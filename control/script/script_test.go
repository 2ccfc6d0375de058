package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func writeScript(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// alive says whether pid still runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func readPid(t *testing.T, p string) int {
	t.Helper()
	var pid int
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(p); err == nil {
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", p)
	return 0
}

// A script that hangs is killed, with its children, at its timeout.
func TestRunHangKilledAtTimeout(t *testing.T) {
	dir := t.TempDir()
	pidf := filepath.Join(dir, "child")
	s := writeScript(t, dir, "sleep 60 & echo $! > "+pidf+"; sleep 60")
	start := time.Now()
	r := Run(context.Background(), Cmd{Argv: []string{s}, Timeout: 300 * time.Millisecond})
	took := time.Since(start)
	if !r.TimedOut || !errors.Is(r.Err, ErrTimeout) || r.Exit != -1 {
		t.Fatalf("hung script: %+v", r)
	}
	if took > 300*time.Millisecond+waitDelay+500*time.Millisecond {
		t.Errorf("hung script held Run %v against a 300ms timeout", took)
	}
	child := readPid(t, pidf)
	deadline := time.Now().Add(2 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(child) {
		syscall.Kill(child, syscall.SIGKILL)
		t.Errorf("the hung script's child %d outlived the timeout", child)
	}
}

// A script that forks a daemon holding its stdout returns when the script
// exits (not when the daemon does); the daemon lives on unless the caller
// asked for leftovers to be killed.
func TestRunForkedDaemonDoesNotBlock(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill_leftovers=%v", kill), func(t *testing.T) {
			dir := t.TempDir()
			pidf := filepath.Join(dir, "daemon")
			s := writeScript(t, dir, "sleep 30 & echo $! > "+pidf+"; echo started")
			start := time.Now()
			r := Run(context.Background(), Cmd{Argv: []string{s}, Timeout: 10 * time.Second, KillLeftovers: kill})
			took := time.Since(start)
			if r.Err != nil || r.Exit != 0 || r.TimedOut || !strings.Contains(r.Output, "started") {
				t.Fatalf("script that forks: %+v", r)
			}
			if took > 2*time.Second {
				t.Errorf("a forked daemon held Run for %v (script itself exits at once)", took)
			}
			d := readPid(t, pidf)
			defer syscall.Kill(d, syscall.SIGKILL)
			time.Sleep(50 * time.Millisecond)
			if alive(d) == kill {
				t.Errorf("daemon alive=%v with KillLeftovers=%v", alive(d), kill)
			}
		})
	}
}

// A script flooding stdout costs xlbd OutputLimit bytes and no blocking.
func TestRunFloodCapped(t *testing.T) {
	s := writeScript(t, t.TempDir(), "head -c 50000000 /dev/zero | tr '\\0' x; exit 3")
	start := time.Now()
	r := Run(context.Background(), Cmd{Argv: []string{s}, Timeout: 20 * time.Second})
	if r.Exit != 3 || r.Err == nil || r.TimedOut {
		t.Fatalf("flood: exit %d err %v timedout %v", r.Exit, r.Err, r.TimedOut)
	}
	if len(r.Output) != OutputLimit || strings.Trim(r.Output, "x") != "" {
		t.Errorf("kept %d bytes of output, want %d x", len(r.Output), OutputLimit)
	}
	t.Logf("50 MB of output read in %v", time.Since(start))
}

func TestRunEmptyAndMissing(t *testing.T) {
	if r := Run(context.Background(), Cmd{}); r.Err == nil {
		t.Error("empty command ran")
	}
	if r := Run(context.Background(), Cmd{Argv: []string{"/nonexistent/x"}}); r.Err == nil || r.Exit != -1 {
		t.Errorf("missing program: %+v", r)
	}
}

// Jobs of one key run in order, one at a time; a hung key does not delay
// another; Add never blocks; drops are counted.
func TestQueueOrderAndIsolation(t *testing.T) {
	q := NewQueue(nil)
	var mu sync.Mutex
	var order []int
	block, hanging := make(chan struct{}), make(chan struct{})
	q.Add("hung", "hang", func(context.Context) { close(hanging); <-block })
	for i := 0; i < 20; i++ {
		q.Add("a", fmt.Sprint(i), func(context.Context) {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("order %v", order)
		}
	}
	if len(order) != 20 {
		t.Fatalf("key a ran %d of 20 jobs while key hung blocks", len(order))
	}
	// Fill the hung key past its limit: Add returns, the oldest waiting go
	// (the hung job runs: it is no longer waiting).
	<-hanging
	start := time.Now()
	var ran []int
	for i := 0; i < QueueLimit+5; i++ {
		q.Add("hung", fmt.Sprint(i), func(context.Context) { ran = append(ran, i) })
	}
	if time.Since(start) > time.Second {
		t.Errorf("Add blocked behind a hung job")
	}
	if q.Dropped() != 5 {
		t.Errorf("dropped %d, want 5", q.Dropped())
	}
	close(block)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ran) != QueueLimit || ran[0] != 5 || ran[len(ran)-1] != QueueLimit+4 {
		t.Errorf("after the drops ran %d jobs from %v", len(ran), ran[:min(3, len(ran))])
	}
}

// Stop lets queued jobs finish within the grace; past it, a hung script is
// killed with its process group and the jobs still waiting are dropped and
// counted, so Stop returns soon after the grace and nothing outlives it.
func TestQueueStop(t *testing.T) {
	t.Run("finishes within the grace", func(t *testing.T) {
		q := NewQueue(nil)
		var ran []int
		for i := range 3 {
			q.Add("k", fmt.Sprint(i), func(context.Context) { time.Sleep(20 * time.Millisecond); ran = append(ran, i) })
		}
		q.Stop(2 * time.Second)
		if len(ran) != 3 || q.Dropped() != 0 {
			t.Errorf("ran %v, dropped %d: want all 3 run, none dropped", ran, q.Dropped())
		}
		q.Add("k", "late", func(context.Context) { t.Error("a job added after Stop ran") })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := q.Wait(ctx); err != nil || q.Dropped() != 1 {
			t.Errorf("a job added after Stop: wait %v, dropped %d, want 1", err, q.Dropped())
		}
	})
	t.Run("kills a hung script", func(t *testing.T) {
		dir := t.TempDir()
		pidf := filepath.Join(dir, "child")
		s := writeScript(t, dir, "sleep 60 & echo $! > "+pidf+"; sleep 60")
		q := NewQueue(nil)
		started := make(chan struct{})
		var r Result
		q.Add("k", "hang", func(ctx context.Context) {
			close(started)
			r = Run(ctx, Cmd{Argv: []string{s}, Timeout: time.Minute})
		})
		for i := range 3 {
			q.Add("k", fmt.Sprint(i), func(context.Context) { t.Errorf("job %d behind the hung one ran after Stop", i) })
		}
		<-started
		child := readPid(t, pidf)
		defer syscall.Kill(child, syscall.SIGKILL)
		start := time.Now()
		q.Stop(300 * time.Millisecond)
		// Without the kill Stop would wait for the script's 1-minute
		// timeout; 5 s leaves a loaded machine room.
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Stop took %v with a 300ms grace", took)
		}
		if !r.TimedOut || q.Dropped() != 3 {
			t.Errorf("hung script %+v, dropped %d: want it killed and the 3 behind it dropped", r, q.Dropped())
		}
		deadline := time.Now().Add(2 * time.Second)
		for alive(child) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(child) {
			t.Errorf("the hung script's child %d outlived Stop", child)
		}
	})
}

func TestPolicyCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: files owned by other users")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, mode os.FileMode, uid, gid int) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		s := writeScript(t, d, "id -u")
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s, uid, gid); err != nil {
			t.Fatal(err)
		}
		return s
	}
	safe := mk("safe", 0o755, 0, 0)
	worldDir := mk("world", 0o777, 0, 0)
	stickyDir := mk("sticky", 0o777|os.ModeSticky, 0, 0)
	userFile := mk("user", 0o755, 65534, 65534)
	groupDir := mk("group", 0o775, 0, 0)
	if err := os.Chown(filepath.Dir(groupDir), 0, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link.sh")
	if err := os.Symlink(worldDir, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, why string
	}{
		{"root-only path", safe, ""},
		{"world-writable directory", worldDir, "world is writable by everyone"},
		{"sticky directory", stickyDir, ""},
		{"script owned by a user", userFile, "s.sh is owned by uid 65534"},
		{"group-writable directory", groupDir, "group is writable by group 65534"},
		{"symlink to an insecure script", link, "world is writable by everyone"},
	}
	on := Policy{Security: true}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := on.Check(c.path, nil)
			if c.why == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("err %v, want %q", err, c.why)
			}
			if _, _, err := on.Prepare(Cmd{Argv: []string{c.path}}, "", ""); !errors.Is(err, ErrInsecure) {
				t.Errorf("security on: Prepare %v", err)
			}
			cmd, warn, err := (Policy{}).Prepare(Cmd{Argv: []string{c.path}}, "", "")
			if err != nil || !errors.Is(warn, ErrInsecure) || len(cmd.Argv) != 1 {
				t.Errorf("security off: warning %v err %v", warn, err)
			}
		})
	}
	// Run as an unprivileged user, the same insecure script is no risk to root.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	cmd, _, err := on.Prepare(Cmd{Argv: []string{worldDir}}, "nobody", "")
	if err != nil {
		t.Fatalf("as nobody: %v", err)
	}
	// t.TempDir's parent is root's alone; nobody must reach the script.
	if err := os.Chmod(filepath.Dir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), cmd)
	if r.Err != nil || strings.TrimSpace(r.Output) != nobody.Uid {
		t.Errorf("script_user nobody: ran as %q (%v), want uid %s", r.Output, r.Err, nobody.Uid)
	}
}
