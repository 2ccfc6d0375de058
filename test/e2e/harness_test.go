// Package e2e runs xlbd and xlbctl as real processes against hosts in
// network namespaces: the tests of what an operator sees.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xlb/test/testutil"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds xlbd and xlbctl once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "xlb-e2e-bin")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir, "xlb/cmd/xlbd", "xlb/cmd/xlbctl").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// daemon is an xlbd process running in a director's namespace.
type daemon struct {
	t       *testing.T
	host    *testutil.Host
	config  string
	pinRoot string
	socket  string
	logPath string
	// metrics is --metrics when set (xlbd's default, the director's
	// loopback, otherwise).
	metrics string
	// args are more flags for xlbd run (e.g. --flow-sync-key).
	args []string
	cmd  *exec.Cmd
}

func newDaemon(t *testing.T, host *testutil.Host, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, host: host, config: filepath.Join(dir, "xlb.yaml"),
		pinRoot: testutil.PinRoot(t, "e2e"),
		socket:  filepath.Join(dir, "xlbd.sock"), logPath: filepath.Join(dir, "xlbd.log")}
	d.writeConfig(config)
	t.Cleanup(func() {
		d.stop(syscall.SIGKILL)
		exec.Command(filepath.Join(binaries(t), "xlbd"), "detach", "--pin-root", d.pinRoot).Run()
		if t.Failed() {
			if log, err := os.ReadFile(d.logPath); err == nil {
				t.Logf("xlbd log:\n%s", lastLines(string(log), 60))
			}
		}
	})
	return d
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (d *daemon) writeConfig(config string) {
	if err := os.WriteFile(d.config, []byte(config), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) start() {
	d.t.Helper()
	log, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	args := []string{"run", "--config", d.config, "--pin-root", d.pinRoot, "--socket", d.socket, "--max-flows", "65536", "--log-level", "debug"}
	if d.metrics != "" {
		args = append(args, "--metrics", d.metrics)
	}
	args = append(args, d.args...)
	d.cmd = d.host.Cmd(filepath.Join(binaries(d.t), "xlbd"), args...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start xlbd: %v", err)
	}
	log.Close()
}

// stop signals xlbd and waits (bounded) for it to exit.
func (d *daemon) stop(sig syscall.Signal) {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("xlbd did not exit within 15s of %s", sig)
	}
	d.cmd = nil
}

func (d *daemon) signal(sig syscall.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// ctl runs xlbctl against this daemon's pins and socket.
func (d *daemon) ctl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binaries(d.t), "xlbctl"), append([]string{"--pin-root", d.pinRoot, "--socket", d.socket}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("xlbctl %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

type backendRow struct {
	Service string `json:"service"`
	IP      string `json:"ip"`
	State   string `json:"state"`
	Weight  string `json:"weight"`
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
}

// backends is `xlbctl --json backends` by address.
func (d *daemon) backends() map[string]backendRow {
	out, err := d.ctl("--json", "backends")
	if err != nil {
		return nil
	}
	var rows []backendRow
	if json.Unmarshal([]byte(out), &rows) != nil {
		return nil
	}
	m := map[string]backendRow{}
	for _, r := range rows {
		m[r.IP] = r
	}
	return m
}
