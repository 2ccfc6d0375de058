package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
)

var userSeq atomic.Int32

// SystemUser creates a system user with a primary group of its own, and a
// second group it is not a member of, both named from the test process's
// PID, and removes them when t ends. Scripts run "as USER GROUP" can then be
// told apart from the user's own group. Needs root (RequirePriv first).
func SystemUser(t testing.TB) (usr, group string) {
	t.Helper()
	n := userSeq.Add(1)
	usr = fmt.Sprintf("xlbu%d_%d", os.Getpid(), n)
	group = fmt.Sprintf("xlbg%d_%d", os.Getpid(), n)
	run := func(name string, args ...string) error {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return nil
	}
	if err := run("groupadd", "--system", group); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run("groupdel", group) })
	if err := run("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", usr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run("userdel", usr); err != nil {
			t.Errorf("removing the test user: %v", err)
		}
	})
	return usr, group
}
