package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

var nsSeq atomic.Uint32

// NetNS is a named network namespace created by a test and deleted by its
// cleanup, even when the test fails.
type NetNS struct {
	Name   string
	Handle netns.NsHandle
}

// NewNetNS creates a network namespace named "xlbt<pid>-<seq>-<tag>" (unique per
// process so parallel test binaries never collide), brings its loopback up and
// deletes it when t ends. tag should be short: interface-name limits apply to
// what tests derive from it.
func NewNetNS(t testing.TB, tag string) *NetNS {
	t.Helper()
	name := fmt.Sprintf("xlbt%d-%d-%s", os.Getpid(), nsSeq.Add(1), tag)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns := &NetNS{Name: name, Handle: h}
	t.Cleanup(func() {
		h.Close()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Path is the namespace's file under /run/netns.
func (n *NetNS) Path() string { return "/run/netns/" + n.Name }

// Cmd builds a command that runs inside the namespace. It uses nsenter, not
// "ip netns exec", because the latter remounts /sys and hides bpffs pins.
func (n *NetNS) Cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + n.Path(), "--", name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (n *NetNS) Run(name string, args ...string) (string, error) {
	out, err := n.Cmd(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (n *NetNS) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Do runs fn with the calling goroutine's OS thread switched into the
// namespace, and switches back afterwards. Sockets opened inside fn stay in the
// namespace for their whole life.
func (n *NetNS) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.Handle); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// A thread stuck in the wrong namespace must not be reused.
			panic(fmt.Sprintf("restore netns: %v", err))
		}
	}()
	return fn()
}
