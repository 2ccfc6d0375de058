package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A second xlbd on an interface is refused with the holder's PID, whether it
// shares the run directory or the pin root; the lock goes with its holder.
func TestLockInterfaces(t *testing.T) {
	runDir, pinRoot := filepath.Join(t.TempDir(), "run"), filepath.Join(t.TempDir(), "pins")
	release, err := lockInterfaces(runDir, pinRoot, []string{"eth0", "eth1"})
	if err != nil {
		t.Fatal(err)
	}
	pid := "pid " + strconv.Itoa(os.Getpid())
	cases := map[string]struct{ runDir, pinRoot, lock string }{
		"same run dir":  {runDir, filepath.Join(t.TempDir(), "other-pins"), filepath.Join(runDir, "eth1.lock")},
		"same pin root": {filepath.Join(t.TempDir(), "other-run"), pinRoot, filepath.Join(pinRoot, "eth1")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := lockInterfaces(tc.runDir, tc.pinRoot, []string{"eth2", "eth1"})
			if !errors.Is(err, ErrInterfaceBusy) || !strings.Contains(err.Error(), pid) || !strings.Contains(err.Error(), tc.lock) {
				t.Fatalf("second lock: %v, want ErrInterfaceBusy naming %s and %s", err, pid, tc.lock)
			}
			// The refused one let go of eth2, which it had locked first.
			r, err := lockInterfaces(tc.runDir, tc.pinRoot, []string{"eth2"})
			if err != nil {
				t.Fatalf("eth2 still locked by the refused attempt: %v", err)
			}
			r()
		})
	}
	if _, err := lockInterfaces(runDir, pinRoot, []string{"../x"}); !errors.Is(err, ErrBadInterface) {
		t.Fatalf("a bad name: %v", err)
	}
	release()
	again, err := lockInterfaces(runDir, pinRoot, []string{"eth0", "eth1"})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
