package daemon

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"xlb/loader"
)

// ErrBadInterface: a name that cannot be an interface, refused before any
// path is built from it (`../..` would name a directory outside the pins,
// "" the pin root itself).
var ErrBadInterface = errors.New("not an interface name")

// ErrNotBPFFS: the directory to remove is not on the BPF filesystem, so it
// holds no pins of ours.
var ErrNotBPFFS = errors.New("not on the BPF filesystem (bpffs)")

// checkIfaceName accepts what the kernel accepts as an interface name
// (dev_valid_name in net/core/dev.c): 1 to 15 bytes, not "." or "..", no
// '/', ':' or white space.
func checkIfaceName(name string) error {
	switch {
	case name == "" || len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("%q: %w (1 to %d characters)", name, ErrBadInterface, unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return fmt.Errorf("%q: %w", name, ErrBadInterface)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Errorf("%q: %w (no '/', ':' or white space)", name, ErrBadInterface)
	}
	return nil
}

// onBPFFS checks that path is a directory on bpffs.
func onBPFFS(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("%s: %w", path, ErrNotBPFFS)
	}
	return nil
}

// Detach removes xlb from the interfaces (every pinned one when none is
// named): the programs, links and every pin. A name that is not an
// interface's, or a pin directory that is not on bpffs, is refused and
// nothing of it is touched.
func Detach(pinRoot string, ifaces []string) error {
	pinRoot = loader.PinRoot(pinRoot)
	if len(ifaces) == 0 {
		var err error
		if ifaces, err = loader.Pinned(pinRoot); err != nil {
			return err
		}
	}
	var errs []error
	for _, name := range ifaces {
		if err := checkIfaceName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := onBPFFS(filepath.Join(pinRoot, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := loader.DetachPinned(name, pinRoot); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
