// Package buildinfo says which build of xlb is running: the version and commit
// the Makefile stamps in with -ldflags -X, or, for a plain `go build`, "dev"
// and the VCS revision Go records in the binary.
package buildinfo

import (
	"fmt"
	"runtime/debug"

	"xlb/loader"
)

// Version and Commit are set by `make build`:
//
//	-ldflags "-X xlb/internal/buildinfo.Version=$(git describe --always --dirty)"
var (
	Version = "dev"
	Commit  = ""
)

// Info is one build's identity.
type Info struct {
	Version string
	Commit  string
}

// Get returns the stamped version and commit, falling back to the revision
// the Go toolchain embeds (vcs.revision, plus "-dirty" for a modified tree).
func Get() Info {
	return get(Version, Commit, debug.ReadBuildInfo)
}

func get(version, commit string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: version, Commit: commit}
	if info.Commit != "" {
		return info
	}
	info.Commit = "unknown"
	bi, ok := read()
	if !ok {
		return info
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return info
	}
	if dirty {
		rev += "-dirty"
	}
	info.Commit = rev
	return info
}

// String is the one line --version prints after the program name.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s)", i.Version, i.Commit)
}

// String is the build and the data-plane ABI it embeds: two builds with the
// same ABI can adopt each other's pinned maps as they are, and xlbctl refuses
// pins of another ABI naming both.
func String() string {
	abi, err := loader.ABI()
	if err != nil {
		return fmt.Sprintf("%s (data-plane abi unknown: %v)", Get(), err)
	}
	return fmt.Sprintf("%s (data-plane abi %s)", Get(), abi)
}
