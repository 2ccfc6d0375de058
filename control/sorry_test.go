package control

import (
	"net"
	"net/netip"
	"testing"

	"xlb/loader"
)

var sorryIP = netip.MustParseAddr("192.168.1.99")

func sorryRec(t *testing.T, inhibit bool, quorum uint32) (*Reconciler, *fakeMaps) {
	t.Helper()
	spec := pair(1, 1)
	spec.Quorum = quorum
	spec.Sorry = &SorrySpec{IP: sorryIP, Inhibit: inhibit}
	r, f := newRec(t, spec)
	r.SetMAC(sorryIP, net.HardwareAddr{2, 0, 0, 0, 0, 99})
	mustApply(t, r)
	return r, f
}

func TestReconcileSorryServerOnlyWithoutQuorum(t *testing.T) {
	r, f := sorryRec(t, false, 1)
	if got := f.shares(svcKey); got["192.168.1.99"] != 0 || got["192.168.1.10"]+got["192.168.1.11"] != tableSize {
		t.Fatalf("quorum met: table %v, want only the real servers", got)
	}
	if st := f.state(svcKey, "192.168.1.99"); st != loader.BackendDown {
		t.Fatalf("quorum met: sorry server %s, want down", st)
	}

	r.SetHealth(svcKey, db1, Health{Reason: "refused"})
	r.SetHealth(svcKey, db2, Health{Reason: "refused"})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.99"] != tableSize {
		t.Fatalf("every real server down: table %v, want only the sorry server", got)
	}
	if st := f.state(svcKey, "192.168.1.99"); st != loader.BackendActive {
		t.Fatalf("quorum lost: sorry server %s, want active", st)
	}
	st := r.Status()[0]
	if b := st.Backends[2]; !b.Sorry || b.IP != sorryIP {
		t.Fatalf("status lists %+v last, want the sorry server", b)
	}

	r.SetHealth(svcKey, db2, Health{Up: true})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.11"] != tableSize {
		t.Fatalf("db2 back: table %v, want all on db2 and the sorry server gone", got)
	}
	if st := f.state(svcKey, "192.168.1.99"); st != loader.BackendDown {
		t.Fatalf("quorum back: sorry server %s, want down", st)
	}
}

// Below the quorum the live real servers leave the table too, as keepalived
// removes them when it adds the sorry server; their flows stay.
func TestReconcileSorryServerBelowQuorum(t *testing.T) {
	r, f := sorryRec(t, true, 2)
	if st := f.state(svcKey, "192.168.1.99"); st != loader.BackendDrained {
		t.Fatalf("quorum met, sorry_server_inhibit: sorry server %s, want drained", st)
	}
	r.SetHealth(svcKey, db1, Health{Reason: "refused"})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.99"] != tableSize {
		t.Fatalf("weight 1 < quorum 2: table %v, want only the sorry server", got)
	}
	if st := f.state(svcKey, "192.168.1.11"); st != loader.BackendActive {
		t.Fatalf("db2 %s, want active (its flows stay)", st)
	}
}

// A sorry server without a MAC cannot take traffic: the real servers keep
// what they can take instead of a table of nothing.
func TestReconcileSorryServerUnresolved(t *testing.T) {
	r, f := sorryRec(t, false, 2)
	r.SetMAC(sorryIP, nil)
	r.SetHealth(svcKey, db1, Health{Reason: "refused"})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.11"] != tableSize {
		t.Fatalf("sorry server unresolved: table %v, want db2", got)
	}
}

// keepalived's thresholds (check/ipwrapper.c, update_quorum_state), quorum 4
// hysteresis 1: lost below 3 while up, regained at 5 while down.
func TestQuorumUpHysteresis(t *testing.T) {
	for _, tc := range []struct {
		was    bool
		weight uint32
		want   bool
	}{
		{true, 4, true}, {true, 3, true}, {true, 2, false},
		{false, 3, false}, {false, 4, false}, {false, 5, true},
	} {
		if got := QuorumUp(tc.was, tc.weight, 4, 1); got != tc.want {
			t.Errorf("was up %v, weight %d: %v, want %v", tc.was, tc.weight, got, tc.want)
		}
	}
	// Hysteresis above the quorum cannot keep a service with no weight up.
	if QuorumUp(true, 0, 1, 5) {
		t.Error("weight 0 kept the quorum")
	}
}

// The sorry server follows the hysteretic quorum state, not the raw weight.
func TestReconcileSorryServerHysteresis(t *testing.T) {
	spec := ServiceSpec{Key: svcKey, Quorum: 2, Hysteresis: 1, Sorry: &SorrySpec{IP: sorryIP},
		Backends: []BackendSpec{{IP: db1, Weight: 1}, {IP: db2, Weight: 1}, {IP: db3, Weight: 1}}}
	r, f := newRec(t, spec)
	r.SetMAC(sorryIP, net.HardwareAddr{2, 0, 0, 0, 0, 99})
	mustApply(t, r)
	step := func(what string, ip netip.Addr, up bool, wantSorry bool) {
		t.Helper()
		r.SetHealth(svcKey, ip, Health{Up: up, Reason: "test"})
		mustApply(t, r)
		if got := f.shares(svcKey)["192.168.1.99"] == tableSize; got != wantSorry {
			t.Fatalf("%s: sorry server takes the table %v, want %v (%v)", what, got, wantSorry, f.shares(svcKey))
		}
		if r.Status()[0].QuorumUp == wantSorry {
			t.Fatalf("%s: status QuorumUp %v", what, r.Status()[0].QuorumUp)
		}
	}
	step("weight 3", db3, true, false)
	step("weight 2, quorum 2", db3, false, false)
	step("weight 1, kept down to 2-1", db2, false, false)
	step("weight 0", db1, false, true)
	step("weight 1", db1, true, true)
	step("weight 2, regained only at 2+1", db2, true, true)
	step("weight 3", db3, true, false)
}
