package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xlb/control/announce"
	"xlb/control/config"
	"xlb/control/script"
)

// quorumScript writes a script that logs "ARG SERVICE" and returns it and
// the log's path.
func quorumScript(t *testing.T) (sh, out string) {
	dir := t.TempDir()
	out = filepath.Join(dir, "out")
	sh = filepath.Join(dir, "q.sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\necho \"$1 $XLB_SERVER\" >> "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return sh, out
}

func readLog(t *testing.T, out string) string {
	got, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(got)
}

// quorum_up/quorum_down run on the transitions only: not for the starting
// state (without a sorry server), not while the state holds.
func TestQuorumScriptsOnTransitions(t *testing.T) {
	sh, out := quorumScript(t)
	svc := &config.Service{Name: "db", QuorumUp: script.Command{Argv: []string{sh, "up"}}, QuorumDown: script.Command{Argv: []string{sh, "down"}}}
	svcs := map[string]*config.Service{"db": svc}
	var q quorumNotifier
	for _, usable := range []bool{true, true, false, false, true} {
		q.observe(context.Background(), svcs, []announce.Service{{Name: "db", Usable: usable}}, script.Policy{})
		q.byName["db"].n.Wait() // one transition at a time, in order
	}
	if got, want := readLog(t, out), "down db\nup db\n"; got != want {
		t.Fatalf("scripts ran %q, want %q", strings.TrimSpace(got), want)
	}
}

// A service that starts without quorum runs quorum_down when it has a sorry
// server, as keepalived's update_quorum_state(vs, init) does when it adds the
// sorry server ("Starting with quorum down"); without one keepalived runs
// nothing at start, and neither does xlb. A service added by a reload starts
// too; one that only gains scripts at a reload does not.
func TestQuorumDownAtStart(t *testing.T) {
	sorry := &config.SorryServer{IP: netip.MustParseAddr("10.0.0.9")}
	for _, tc := range []struct {
		name   string
		sorry  *config.SorryServer
		states []bool // Usable at each observation
		want   string
	}{
		{"down with a sorry server", sorry, []bool{false, false, true}, "down db\nup db\n"},
		{"down without a sorry server", nil, []bool{false, false, true}, "up db\n"},
		{"up with a sorry server", sorry, []bool{true, false}, "down db\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, out := quorumScript(t)
			svc := &config.Service{Name: "db", SorryServer: tc.sorry,
				QuorumUp: script.Command{Argv: []string{sh, "up"}}, QuorumDown: script.Command{Argv: []string{sh, "down"}}}
			var q quorumNotifier
			for _, usable := range tc.states {
				q.observe(context.Background(), map[string]*config.Service{"db": svc}, []announce.Service{{Name: "db", Usable: usable}}, script.Policy{})
				q.byName["db"].n.Wait()
			}
			if got := readLog(t, out); got != tc.want {
				t.Fatalf("scripts ran %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		sh, out := quorumScript(t)
		var q quorumNotifier
		observe := func(svcs map[string]*config.Service, states ...announce.Service) {
			q.observe(context.Background(), svcs, states, script.Policy{})
			for _, qs := range q.byName {
				qs.n.Wait()
			}
		}
		plain := &config.Service{Name: "old", SorryServer: sorry}
		observe(map[string]*config.Service{"old": plain}, announce.Service{Name: "old"})
		// The reload gives "old" scripts and adds "new": both down.
		withScripts := *plain
		withScripts.QuorumDown = script.Command{Argv: []string{sh, "down"}}
		added := &config.Service{Name: "new", SorryServer: sorry, QuorumDown: script.Command{Argv: []string{sh, "down"}}}
		observe(map[string]*config.Service{"old": &withScripts, "new": added}, announce.Service{Name: "old"}, announce.Service{Name: "new"})
		if got, want := readLog(t, out), "down new\n"; got != want {
			t.Fatalf("scripts ran %q, want %q (only the service the reload added starts)", got, want)
		}
	})
}
