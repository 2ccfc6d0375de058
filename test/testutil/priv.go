// Package testutil holds the one gate every privileged test goes through, and
// the network-namespace helpers those tests share.
//
// A privileged test calls RequirePriv first. Without root (or without bpffs)
// it skips and says why; with XLB_REQUIRE_PRIV=1 in the environment (CI sets
// it) the same condition fails the test instead, so a green CI always means the
// kernel-level tests really ran.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"xlb/loader/bpffs"
)

// EnvRequirePriv names the variable that turns privileged skips into failures.
const EnvRequirePriv = "XLB_REQUIRE_PRIV"

// BPFFS is where pinned objects live.
const BPFFS = bpffs.Path

// PinRoot is a pin root under BPFFS, unique in this process like NewNetNS's
// names, removed when t ends (after cleanups registered later, such as a
// detach).
func PinRoot(t testing.TB, tag string) string {
	root := filepath.Join(BPFFS, fmt.Sprintf("xlbt%d-%d-%s", os.Getpid(), nsSeq.Add(1), tag))
	t.Cleanup(func() { os.RemoveAll(root) })
	return root
}

// Strict reports whether privileged tests must run (XLB_REQUIRE_PRIV=1).
func Strict() bool { return os.Getenv(EnvRequirePriv) == "1" }

// RequirePriv skips t (or fails it under XLB_REQUIRE_PRIV=1) unless the
// process is root and bpffs is mounted at /sys/fs/bpf (it mounts it if it can).
func RequirePriv(t testing.TB) {
	t.Helper()
	if err := privError(); err != nil {
		if Strict() {
			t.Fatalf("privileged test cannot run, and %s=1 forbids skipping: %v", EnvRequirePriv, err)
		}
		t.Skipf("skipping privileged test: %v (run as root; set %s=1 to make this a failure)", err, EnvRequirePriv)
	}
}

func privError() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	return bpffs.Ensure()
}
