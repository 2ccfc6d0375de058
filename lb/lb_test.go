package lb

import "testing"

// Every name parses back to its value, and unknown values print as such.
func TestNames(t *testing.T) {
	for _, p := range []Protocol{TCP, UDP} {
		if got, ok := ParseProtocol(p.String()); !ok || got != p {
			t.Errorf("%v: parsed back as %v, %v", p, got, ok)
		}
	}
	if _, ok := ParseProtocol("sctp"); ok {
		t.Error("sctp parsed")
	}
	for b, want := range map[Balancing]string{Maglev: "maglev", SourceHash: "source-hash", Failover: "failover", 9: "balancing(9)"} {
		if b.String() != want {
			t.Errorf("%d prints %q, want %q", b, b.String(), want)
		}
	}
	if Protocol(132).String() != "proto(132)" {
		t.Errorf("132 prints %q", Protocol(132).String())
	}
}
