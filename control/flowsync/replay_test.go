package flowsync

import (
	"testing"
	"time"
)

func TestReplay(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	at := func(epoch, seq uint64, sent time.Time) Message {
		return Message{Sender: peer1, Epoch: epoch, Seq: seq, SentAt: sent.UnixMilli()}
	}
	r := NewReplay(30 * time.Second)
	steps := []struct {
		name string
		m    Message
		want ReplayVerdict
	}{
		{"first", at(100, 1, now), Fresh},
		{"same again", at(100, 1, now), Replayed},
		{"next", at(100, 2, now), Fresh},
		{"jump ahead", at(100, 10, now), Fresh},
		{"late but in window", at(100, 5, now), Fresh},
		{"late one again", at(100, 5, now), Replayed},
		{"far ahead", at(100, 200, now), Fresh},
		{"behind the window", at(100, 100, now), Replayed},
		{"sequence zero", at(100, 0, now), Replayed},
		{"peer restarted: new epoch, sequence from 1", at(200, 1, now), Fresh},
		{"old epoch after the restart", at(100, 201, now), Replayed},
		{"sent 31s ago", at(200, 2, now.Add(-31*time.Second)), Stale},
		{"sent 31s ahead", at(200, 3, now.Add(31*time.Second)), Stale},
		{"sent 29s ago", at(200, 4, now.Add(-29*time.Second)), Fresh},
	}
	for _, s := range steps {
		got := r.Check(s.m, now)
		if got != s.want {
			t.Fatalf("%s: %q, want %q", s.name, got, s.want)
		}
		if got == Fresh {
			r.Accept(s.m)
		}
	}
	// A receiver that restarts has no state: the send-time window alone
	// bounds what an old capture can do.
	fresh := NewReplay(30 * time.Second)
	if got := fresh.Check(at(100, 1, now.Add(-time.Minute)), now); got != Stale {
		t.Fatalf("a minute-old capture after a receiver restart: %q, want stale", got)
	}
}
