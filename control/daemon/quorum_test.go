package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xlb/control/announce"
	"xlb/control/config"
	"xlb/control/script"
)

// quorum_up/quorum_down run on the transitions only: not for the starting
// state, not while the state holds.
func TestQuorumScriptsOnTransitions(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	sh := filepath.Join(dir, "q.sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\necho \"$1 $XLB_SERVER\" >> "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	svc := &config.Service{Name: "db", QuorumUp: script.Command{Argv: []string{sh, "up"}}, QuorumDown: script.Command{Argv: []string{sh, "down"}}}
	svcs := map[string]*config.Service{"db": svc}
	var q quorumNotifier
	for _, usable := range []bool{true, true, false, false, true} {
		q.observe(context.Background(), svcs, []announce.Service{{Name: "db", Usable: usable}}, script.Policy{})
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
