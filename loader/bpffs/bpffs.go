// Package bpffs makes sure the BPF filesystem is mounted where pins live.
// It is its own package so tests of the loader can use it without an import
// cycle.
package bpffs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Path is where pinned BPF objects live.
const Path = "/sys/fs/bpf"

// Ensure mounts bpffs at Path unless it is there already (most distributions
// mount it at boot; minimal systems and containers may not).
func Ensure() error {
	var st unix.Statfs_t
	if err := unix.Statfs(Path, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(Path, 0o700); err != nil {
		return fmt.Errorf("bpffs: create %s: %w", Path, err)
	}
	if err := unix.Mount("bpf", Path, "bpf", 0, ""); err != nil {
		return fmt.Errorf("bpffs is not mounted at %s and mounting it failed (mount -t bpf bpf %s): %w", Path, Path, err)
	}
	return nil
}
