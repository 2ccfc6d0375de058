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
