package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrInterfaceBusy: another xlbd runs on the interface.
var ErrInterfaceBusy = errors.New("another xlbd runs on this interface")

// lockInterfaces makes xlbd the only one on each interface: before anything
// touches an interface it takes an exclusive flock on <runDir>/<iface>.lock
// and on the interface's pin directory (created if missing), so a second
// xlbd sharing either the run directory or the pin root exits instead of
// replacing the program, rewriting the maps and starting VRRP under the
// first. The locks last until release (or the process's death: the kernel
// drops them, so a killed xlbd leaves nothing stale).
func lockInterfaces(runDir, pinRoot string, ifaces []string) (release func(), err error) {
	var held []*os.File
	release = func() {
		for _, f := range held {
			f.Close()
		}
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	for _, name := range ifaces {
		if err := checkIfaceName(name); err != nil {
			release()
			return nil, err
		}
		pinDir := filepath.Join(pinRoot, name)
		if err := os.MkdirAll(pinDir, 0o700); err != nil {
			release()
			return nil, fmt.Errorf("pin directory: %w", err)
		}
		for _, path := range []string{filepath.Join(runDir, name+".lock"), pinDir} {
			f, err := lockPath(path)
			if err != nil {
				release()
				return nil, fmt.Errorf("interface %s: %w", name, err)
			}
			held = append(held, f)
		}
	}
	return release, nil
}

// lockPath takes an exclusive flock on path (a file, created if missing, or
// a directory) without waiting.
func lockPath(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if errors.Is(err, unix.EISDIR) {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return f, nil
	}
	defer f.Close()
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if pid := lockHolder(f); pid != "" {
		return nil, fmt.Errorf("%w: pid %s holds %s", ErrInterfaceBusy, pid, path)
	}
	return nil, fmt.Errorf("%w: %s is locked", ErrInterfaceBusy, path)
}

// lockHolder is the PID holding a flock on f, from /proc/locks (which names
// the file by device and inode); "" when it cannot tell.
func lockHolder(f *os.File) string {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ""
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer locks.Close()
	// "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF" (proc(5)).
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && fields[1] == "FLOCK" && fields[5] == id {
			return fields[4]
		}
	}
	return ""
}
