// Package keepalived runs Debian's keepalived (VRRP only) inside a test's
// network namespace, as the interoperability peer of xlb's VRRP.
package keepalived

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"xlb/test/testutil"
)

// Instance is one vrrp_instance block.
type Instance struct {
	Name      string
	State     string // MASTER or BACKUP
	Interface string
	VRID      int
	Priority  int
	Version   int    // 2 or 3
	AdvertInt string // keepalived syntax: "1", "0.1"
	NoPreempt bool
	AuthPass  string // v2 PASS
	// VIPs are virtual_ipaddress lines, e.g. "10.99.0.100/32 dev eth0".
	VIPs         []string
	UnicastSrc   string
	UnicastPeers []string
	// Extra lines go into the block verbatim.
	Extra []string
}

// Config renders the keepalived.conf text: just the vrrp_instance, no
// virtual_server (this kernel has no IPVS).
func Config(in Instance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", in.Name)
	fmt.Fprintf(&b, "vrrp_instance %s {\n", in.Name)
	fmt.Fprintf(&b, "    state %s\n    interface %s\n    virtual_router_id %d\n    priority %d\n", in.State, in.Interface, in.VRID, in.Priority)
	if in.Version != 0 {
		fmt.Fprintf(&b, "    version %d\n", in.Version)
	}
	if in.AdvertInt != "" {
		fmt.Fprintf(&b, "    advert_int %s\n", in.AdvertInt)
	}
	if in.NoPreempt {
		b.WriteString("    nopreempt\n")
	}
	if in.AuthPass != "" {
		fmt.Fprintf(&b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", in.AuthPass)
	}
	if in.UnicastSrc != "" {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n", in.UnicastSrc)
	}
	if len(in.UnicastPeers) > 0 {
		fmt.Fprintf(&b, "    unicast_peer {\n        %s\n    }\n", strings.Join(in.UnicastPeers, "\n        "))
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s\n    }\n", strings.Join(in.VIPs, "\n        "))
	for _, l := range in.Extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n")
	return b.String()
}

// Process is a running keepalived.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
}

// Start runs keepalived for in inside ns with its own config and pid files
// (so several can run at once), and kills it at cleanup. Its log is printed
// if the test fails.
func Start(t testing.TB, ns *testutil.NetNS, in Instance) *Process {
	t.Helper()
	return StartConfig(t, ns, in.Name, Config(in))
}

// StartConfig is Start for a whole keepalived.conf text; name labels its
// log.
func StartConfig(t testing.TB, ns *testutil.NetNS, name, text string) *Process {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Process{t: t, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = ns.Cmd("keepalived", "-n", "-l", "-D", "-P",
		"-f", conf, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Its own process group, so a kill reaches the VRRP child too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start keepalived: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		p.Wait(10 * time.Second)
		if t.Failed() {
			t.Logf("keepalived %s (%s) log:\n%s", name, ns.Name, p.out.String())
		}
	})
	return p
}

// Signal sends sig to keepalived's whole process group. SIGKILL kills the
// VRRP child as well, so it cannot send its priority-0 advert.
func (p *Process) Signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Wait waits up to d for keepalived to exit and reports whether it did.
func (p *Process) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Log is what keepalived has printed so far.
func (p *Process) Log() string { return p.out.String() }

// Entered reports how many times the log says the instance entered state
// ("MASTER", "BACKUP", "FAULT").
func (p *Process) Entered(state string) int {
	return strings.Count(p.out.String(), "Entering "+state+" STATE")
}

// EnteredBy is Entered for the one instance named in a config of several.
func (p *Process) EnteredBy(instance, state string) int {
	return strings.Count(p.out.String(), "("+instance+") Entering "+state+" STATE")
}
