package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xlb/control/announce"
	"xlb/control/config"
)

// quorum_up/quorum_down run on the transitions only: not for the starting
// state, not while the state holds.
func TestQuorumScriptsOnTransitions(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "q.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1 $XLB_SERVER\" >> "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	svc := &config.Service{Name: "db", QuorumUp: []string{script, "up"}, QuorumDown: []string{script, "down"}}
	svcs := map[string]*config.Service{"db": svc}
	var q quorumNotifier
	for _, usable := range []bool{true, true, false, false, true} {
		q.observe(context.Background(), svcs, []announce.Service{{Name: "db", Usable: usable}})
		q.byName["db"].n.Wait() // one transition at a time, in order
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "down db\nup db\n"; string(got) != want {
		t.Fatalf("scripts ran %q, want %q", strings.TrimSpace(string(got)), want)
	}
}
