// Package secretfile reads the small secret files xlbd is given (the
// flow-sync key, the flow hash seed): whoever can read one can steer
// connections, so a file another user could read or change is refused.
package secretfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxLen is the longest secret file read: a secret, not a data file.
const MaxLen = 4096

// Read returns the content of path without surrounding white space. The file
// must be regular, belong to root (or to the user xlbd runs as) and must not
// be readable or writable by group or others. Errors start with what and path.
func Read(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s: not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s: mode %04o lets group or others read it: chmod 600 %s", what, path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s %s: owned by uid %d, want root: chown root %s", what, path, st.Uid, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxLen+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if len(b) > MaxLen {
		return nil, fmt.Errorf("%s %s: longer than %d bytes", what, path, MaxLen)
	}
	return bytes.TrimSpace(b), nil
}
