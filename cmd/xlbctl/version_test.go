package main

import (
	"testing"

	"xlb/internal/buildinfo"
	"xlb/loader"
)

// --version prints what the Makefile stamped in (the version and the commit)
// and the ABI of the embedded data plane.
func TestVersion(t *testing.T) {
	abi, err := loader.ABI()
	if err != nil {
		t.Fatal(err)
	}
	defer func(v, c string) { buildinfo.Version, buildinfo.Commit = v, c }(buildinfo.Version, buildinfo.Commit)
	buildinfo.Version, buildinfo.Commit = "v9.8.7-1-gabcdef0", "abcdef0123"
	out, _, err := run("--version")
	if want := "xlbctl version v9.8.7-1-gabcdef0 (commit abcdef0123) (data-plane abi " + abi.String() + ")\n"; err != nil || out != want {
		t.Errorf("xlbctl --version = %q, %v; want %q", out, err, want)
	}
}
