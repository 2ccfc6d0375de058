package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	vcs := func(rev, modified string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified},
			}}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, version, commit string
		read                  func() (*debug.BuildInfo, bool)
		want                  string
	}{
		{"stamped by make", "v1.2.0-3-gabc1234", "abc1234", vcs("ffff", "false"), "v1.2.0-3-gabc1234 (commit abc1234)"},
		{"go build, clean tree", "dev", "", vcs("0123abcd", "false"), "dev (commit 0123abcd)"},
		{"go build, modified tree", "dev", "", vcs("0123abcd", "true"), "dev (commit 0123abcd-dirty)"},
		{"no vcs info", "dev", "", func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{}, true }, "dev (commit unknown)"},
		{"no build info", "dev", "", none, "dev (commit unknown)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(tc.version, tc.commit, tc.read).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
