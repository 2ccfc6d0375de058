package control

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/loader"
)

const tableSize = 251 // small prime: fast tests, same code path

// fakeMaps is an in-memory MapWriter. It checks the reconciler's ordering
// promise on every write: a live table only ever names active backends of
// its own service, so no packet can meet a dead or missing pick.
type fakeMaps struct {
	t        *testing.T
	services map[loader.ServiceKey]loader.Service
	backends map[uint32]loader.Backend
	tables   map[loader.ServiceKey][]uint32
	writes   int
	failNext error
	// maxServices, when set, shrinks the services map.
	maxServices uint32
	// onSetService, when set, runs after every service write.
	onSetService func()
}

func newFake(t *testing.T) *fakeMaps {
	return &fakeMaps{t: t, services: map[loader.ServiceKey]loader.Service{}, backends: map[uint32]loader.Backend{}, tables: map[loader.ServiceKey][]uint32{}}
}

func (f *fakeMaps) fail() error {
	f.writes++
	err := f.failNext
	f.failNext = nil
	return err
}

func (f *fakeMaps) checkTables() {
	f.t.Helper()
	for key, table := range f.tables {
		svc := f.services[key]
		for slot, id := range table {
			if id == 0 {
				continue
			}
			b, ok := f.backends[id]
			if !ok || b.State != loader.BackendActive || b.ServiceID != svc.ID {
				f.t.Fatalf("live table of %s names backend %d in slot %d, which is %+v (present %v)", key, id, slot, b, ok)
			}
		}
	}
}

func (f *fakeMaps) SetService(k loader.ServiceKey, s loader.Service) error {
	if err := f.fail(); err != nil {
		return err
	}
	f.services[k] = s
	if f.onSetService != nil {
		f.onSetService()
	}
	return nil
}

func (f *fakeMaps) DeleteService(k loader.ServiceKey) error {
	if err := f.fail(); err != nil {
		return err
	}
	delete(f.services, k)
	delete(f.tables, k)
	return nil
}

func (f *fakeMaps) SetBackend(id uint32, b loader.Backend) error {
	if err := f.fail(); err != nil {
		return err
	}
	f.backends[id] = b
	f.checkTables()
	return nil
}

func (f *fakeMaps) DeleteBackend(id uint32) error {
	if err := f.fail(); err != nil {
		return err
	}
	delete(f.backends, id)
	f.checkTables()
	return nil
}

func (f *fakeMaps) WriteMaglev(k loader.ServiceKey, t []uint32) error {
	if err := f.fail(); err != nil {
		return err
	}
	if _, ok := f.services[k]; !ok {
		f.t.Fatalf("table written for unknown service %s", k)
	}
	f.tables[k] = slices.Clone(t)
	f.checkTables()
	return nil
}

func (f *fakeMaps) TableSize() int      { return tableSize }
func (f *fakeMaps) MaxServices() uint32 { return cmp.Or(f.maxServices, 1024) }
func (f *fakeMaps) MaxBackends() uint32 { return 4096 }

// shares counts table slots per backend address.
func (f *fakeMaps) shares(k loader.ServiceKey) map[string]int {
	out := map[string]int{}
	for _, id := range f.tables[k] {
		if id == 0 {
			out["none"]++
			continue
		}
		out[f.backends[id].IP.String()]++
	}
	return out
}

func (f *fakeMaps) state(k loader.ServiceKey, ip string) loader.BackendState {
	for _, b := range f.backends {
		if b.ServiceID == f.services[k].ID && b.IP == netip.MustParseAddr(ip) {
			return b.State
		}
	}
	return loader.BackendUnused
}

var (
	svcKey = loader.ServiceKey{VIP: netip.MustParseAddr("192.168.1.30"), Port: 3306, Proto: lb.TCP}
	db1    = netip.MustParseAddr("192.168.1.10")
	db2    = netip.MustParseAddr("192.168.1.11")
	db3    = netip.MustParseAddr("192.168.1.12")
	macs   = map[netip.Addr]net.HardwareAddr{db1: {2, 0, 0, 0, 0, 10}, db2: {2, 0, 0, 0, 0, 11}, db3: {2, 0, 0, 0, 0, 12}}
)

func newRec(t *testing.T, spec ServiceSpec) (*Reconciler, *fakeMaps) {
	t.Helper()
	f := newFake(t)
	r := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.SetDesired([]ServiceSpec{spec})
	for _, b := range spec.Backends {
		r.SetMAC(b.IP, macs[b.IP])
		r.SetHealth(spec.Key, b.IP, Health{Up: true})
	}
	if err := r.Apply(); err != nil {
		t.Fatal(err)
	}
	return r, f
}

func pair(w1, w2 uint32) ServiceSpec {
	return ServiceSpec{Key: svcKey, Backends: []BackendSpec{{IP: db1, Weight: w1}, {IP: db2, Weight: w2}}}
}

func mustApply(t *testing.T, r *Reconciler) {
	t.Helper()
	if err := r.Apply(); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileWeights(t *testing.T) {
	_, f := newRec(t, pair(3, 1))
	s := f.shares(svcKey)
	if s["192.168.1.10"]+s["192.168.1.11"] != tableSize || s["192.168.1.10"] < 3*s["192.168.1.11"]-6 || s["192.168.1.10"] > 3*s["192.168.1.11"]+6 {
		t.Fatalf("weights 3:1 gave shares %v", s)
	}
}

func TestReconcileHealthDown(t *testing.T) {
	r, f := newRec(t, pair(1, 1))
	r.SetHealth(svcKey, db1, Health{Up: false, Reason: "connection refused"})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.11"] != tableSize {
		t.Fatalf("db1 down: table %v, want all on db2", got)
	}
	if st := f.state(svcKey, "192.168.1.10"); st != loader.BackendDown {
		t.Fatalf("db1 state %s, want down (its flows re-pick)", st)
	}
	status := r.Status()
	if b := status[0].Backends[0]; b.Reason != "check failed: connection refused" {
		t.Fatalf("reason %q", b.Reason)
	}
	r.SetHealth(svcKey, db1, Health{Up: true})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.10"] == 0 || f.state(svcKey, "192.168.1.10") != loader.BackendActive {
		t.Fatalf("db1 back up: table %v, state %s", got, f.state(svcKey, "192.168.1.10"))
	}
}

func TestReconcileDrain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  func() ServiceSpec
		event func(r *Reconciler)
	}{
		{"weight 0", func() ServiceSpec { return pair(1, 1) }, func(r *Reconciler) { r.SetDesired([]ServiceSpec{pair(0, 1)}) }},
		{"inhibit_on_failure", func() ServiceSpec { s := pair(1, 1); s.Backends[0].InhibitOnFailure = true; return s },
			func(r *Reconciler) { r.SetHealth(svcKey, db1, Health{Up: false, Reason: "timeout"}) }},
		{"dynamic weight 0", func() ServiceSpec { return pair(1, 1) },
			func(r *Reconciler) { zero := uint32(0); r.SetHealth(svcKey, db1, Health{Up: true, Weight: &zero}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, f := newRec(t, tc.spec())
			tc.event(r)
			mustApply(t, r)
			if st := f.state(svcKey, "192.168.1.10"); st != loader.BackendDrained {
				t.Fatalf("db1 state %s, want drained (keeps its flows)", st)
			}
			if got := f.shares(svcKey); got["192.168.1.10"] != 0 {
				t.Fatalf("drained db1 still in the table: %v", got)
			}
		})
	}
}

func TestReconcileMACLoss(t *testing.T) {
	r, f := newRec(t, pair(1, 1))
	r.SetMAC(db2, nil)
	mustApply(t, r)
	if st := f.state(svcKey, "192.168.1.11"); st != loader.BackendDown {
		t.Fatalf("db2 without MAC: state %s", st)
	}
	b := r.Status()[0].Backends[1]
	if got := b.Reason; got != "unresolved: no MAC address for 192.168.1.11 yet (no usable neighbour entry, no acceptable ARP reply)" {
		t.Fatalf("reason %q", got)
	}
	if b.StateName() != "unresolved" || r.Status()[0].Backends[0].StateName() != "active" {
		t.Fatalf("states shown: %s, %s; want unresolved, active", b.StateName(), r.Status()[0].Backends[0].StateName())
	}
	if got := f.shares(svcKey); got["192.168.1.11"] != 0 {
		t.Fatalf("db2 without MAC still in the table: %v", got)
	}
}

func TestReconcileRemovalAndAddition(t *testing.T) {
	r, f := newRec(t, pair(1, 1))
	db2ID := r.Status()[0].Backends[1].ID
	spec := ServiceSpec{Key: svcKey, Backends: []BackendSpec{{IP: db2, Weight: 1}, {IP: db3, Weight: 1}}}
	r.SetDesired([]ServiceSpec{spec})
	r.SetMAC(db3, macs[db3])
	r.SetHealth(svcKey, db3, Health{Up: true})
	mustApply(t, r)
	got := f.shares(svcKey)
	if got["192.168.1.10"] != 0 || got["192.168.1.11"] == 0 || got["192.168.1.12"] == 0 {
		t.Fatalf("after replacing db1 by db3: %v", got)
	}
	if st := f.state(svcKey, "192.168.1.10"); st != loader.BackendUnused {
		t.Fatalf("removed db1 still in the backend map (%s)", st)
	}
	if id := r.Status()[0].Backends[0].ID; id != db2ID {
		t.Fatalf("db2's id changed from %d to %d across a reload: its flows would lose it", db2ID, id)
	}
	r.SetDesired(nil)
	mustApply(t, r)
	if len(f.services) != 0 || len(f.backends) != 0 || len(f.tables) != 0 {
		t.Fatalf("empty config left %d services, %d backends, %d tables", len(f.services), len(f.backends), len(f.tables))
	}
}

func TestReconcileFailover(t *testing.T) {
	spec := pair(1, 1)
	spec.Balancing = lb.Failover
	r, f := newRec(t, spec)
	if got := f.shares(svcKey); got["192.168.1.10"] != tableSize {
		t.Fatalf("fo with equal weights: %v, want all on the first listed (db1)", got)
	}
	r.SetHealth(svcKey, db1, Health{Up: false, Reason: "down"})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.11"] != tableSize {
		t.Fatalf("fo, db1 down: %v, want all on db2", got)
	}
	spec.Backends[1].Weight = 5
	r.SetDesired([]ServiceSpec{spec})
	r.SetHealth(svcKey, db1, Health{Up: true})
	mustApply(t, r)
	if got := f.shares(svcKey); got["192.168.1.11"] != tableSize {
		t.Fatalf("fo, db2 heavier: %v, want all on db2", got)
	}
}

func TestReconcileSourceHashFlag(t *testing.T) {
	spec := pair(1, 1)
	spec.Balancing = lb.SourceHash
	_, f := newRec(t, spec)
	if f.services[svcKey].Flags&loader.HashSource == 0 {
		t.Fatalf("sh service written without the source-hash flag")
	}
}

// Apply writes only differences: a second Apply with nothing new writes nothing.
func TestReconcileWritesOnlyDifferences(t *testing.T) {
	r, f := newRec(t, pair(1, 1))
	before := f.writes
	mustApply(t, r)
	if f.writes != before {
		t.Fatalf("an Apply with no change made %d writes", f.writes-before)
	}
	r.SetHealth(svcKey, db1, Health{Up: false})
	mustApply(t, r)
	// The table and db1's state: two writes.
	if n := f.writes - before; n != 2 {
		t.Fatalf("one backend going down made %d writes, want 2", n)
	}
}

// A failed write is reported and retried by the next Apply.
func TestReconcileRetriesFailedWrites(t *testing.T) {
	r, f := newRec(t, pair(1, 1))
	r.SetHealth(svcKey, db1, Health{Up: false})
	f.failNext = fmt.Errorf("map full")
	if err := r.Apply(); err == nil {
		t.Fatalf("failed write not reported")
	}
	mustApply(t, r)
	if st := f.state(svcKey, "192.168.1.10"); st != loader.BackendDown {
		t.Fatalf("after retry db1 is %s", st)
	}
	if got := f.shares(svcKey); got["192.168.1.10"] != 0 {
		t.Fatalf("after retry table %v", got)
	}
}

// A restarted daemon adopts the ids it finds, so pinned flows keep pointing
// at the same real servers.
func TestReconcileAdoptKeepsIDs(t *testing.T) {
	spec := ServiceSpec{Key: svcKey, Backends: []BackendSpec{{IP: db1, Weight: 1}, {IP: db2, Weight: 1}}}
	f := newFake(t)
	f.services[svcKey] = loader.Service{ID: 7}
	f.backends[42] = loader.Backend{ServiceID: 7, IP: db2, MAC: macs[db2], State: loader.BackendActive}
	f.backends[43] = loader.Backend{ServiceID: 7, IP: db1, MAC: macs[db1], State: loader.BackendActive}
	f.tables[svcKey] = make([]uint32, tableSize)
	r := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Adopt(f.services, f.backends)
	r.SetDesired([]ServiceSpec{spec})
	for _, ip := range []netip.Addr{db1, db2} {
		r.SetMAC(ip, macs[ip])
		r.SetHealth(svcKey, ip, Health{Up: true})
	}
	mustApply(t, r)
	st := r.Status()[0]
	if st.ID != 7 || st.Backends[0].ID != 43 || st.Backends[1].ID != 42 {
		t.Fatalf("adopted ids not kept: service %d, backends %d %d", st.ID, st.Backends[0].ID, st.Backends[1].ID)
	}
	want, _ := maglev.Build([]maglev.Backend{{ID: 43, Name: db1.String(), Weight: 1}, {ID: 42, Name: db2.String(), Weight: 1}}, tableSize)
	if !slices.Equal(f.tables[svcKey], want) {
		t.Fatalf("table after adoption differs from the one both directors compute")
	}
}

// Service ids come from the data plane's own map size, not from a constant
// that a build with other sizes would contradict.
func TestReconcileIDsBoundedByMaps(t *testing.T) {
	f := newFake(t)
	f.maxServices = 3 // ids 1 and 2
	r := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var specs []ServiceSpec
	for port := uint16(1); port <= 3; port++ {
		specs = append(specs, ServiceSpec{Key: loader.ServiceKey{VIP: svcKey.VIP, Port: port, Proto: lb.TCP}})
	}
	r.SetDesired(specs[:2])
	mustApply(t, r)
	if err := r.Fits(specs); !errors.Is(err, ErrCapacity) {
		t.Fatalf("Fits(3 services in a map of 3 slots) = %v, want ErrCapacity", err)
	}
	// Applied anyway (a start-up with such maps): the third is reported, the
	// first two stay programmed.
	r.SetDesired(specs)
	mustApply(t, r)
	st := r.Status()
	if len(st) != 3 || st[0].Error != "" || st[1].Error != "" || !strings.Contains(st[2].Error, "all 2 ids in use") {
		t.Fatalf("status %+v: want the third service reported with the ids exhausted", st)
	}
	if len(f.services) != 2 {
		t.Fatalf("maps hold %d services, want the first two", len(f.services))
	}
}

// At the limit, a reload that swaps one service for another fits: the old
// one's id is freed before the new one needs it, and the old key is gone
// from the maps before the new one takes the id.
func TestReconcileSwapAtCapacity(t *testing.T) {
	f := newFake(t)
	f.maxServices = 3 // ids 1 and 2
	r := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	key := func(port uint16) loader.ServiceKey {
		return loader.ServiceKey{VIP: svcKey.VIP, Port: port, Proto: lb.TCP}
	}
	spec := func(port uint16) ServiceSpec {
		return ServiceSpec{Key: key(port), Backends: []BackendSpec{{IP: db1, Weight: 1}}}
	}
	r.SetMAC(db1, macs[db1])
	r.SetDesired([]ServiceSpec{spec(1), spec(2)})
	r.SetHealth(key(1), db1, Health{Up: true})
	r.SetHealth(key(2), db1, Health{Up: true})
	mustApply(t, r)
	swapped := []ServiceSpec{spec(1), spec(3)}
	if err := r.Fits(swapped); err != nil {
		t.Fatalf("a swap at the limit does not fit: %v", err)
	}
	f.onSetService = func() {
		ids := map[uint32]loader.ServiceKey{}
		for k, s := range f.services {
			if other, dup := ids[s.ID]; dup {
				t.Fatalf("services %s and %s share id %d", k, other, s.ID)
			}
			ids[s.ID] = k
		}
	}
	r.SetDesired(swapped)
	r.SetHealth(key(3), db1, Health{Up: true})
	mustApply(t, r)
	if _, ok := f.services[key(3)]; !ok || len(f.services) != 2 {
		t.Fatalf("maps hold %v, want ports 1 and 3", f.services)
	}
	for _, st := range r.Status() {
		if st.Error != "" {
			t.Fatalf("%s not programmed: %s", st.Key, st.Error)
		}
	}
	if sh := f.shares(key(3)); sh["192.168.1.10"] != tableSize {
		t.Fatalf("new service's table: %v", sh)
	}
}

// A service whose table cannot be built is reported, keeps what the maps
// held for it, and the other services are still programmed.
func TestReconcileOneBadServiceSparesTheOthers(t *testing.T) {
	other := loader.ServiceKey{VIP: svcKey.VIP, Port: 80, Proto: lb.TCP}
	r, f := newRec(t, pair(1, 1))
	good := ServiceSpec{Key: other, Backends: []BackendSpec{{IP: db3, Weight: 1}}}
	r.SetMAC(db3, macs[db3])
	r.SetHealth(other, db3, Health{Up: true})
	before := f.shares(svcKey)
	// db1 listed twice: Maglev refuses the table.
	bad := ServiceSpec{Key: svcKey, Backends: []BackendSpec{{IP: db1, Weight: 1}, {IP: db1, Weight: 2}, {IP: db2, Weight: 1}}}
	r.SetDesired([]ServiceSpec{bad, good})
	mustApply(t, r)
	st := r.Status()
	if len(st) != 2 || !strings.Contains(st[0].Error, "listed twice") || st[1].Error != "" {
		t.Fatalf("status %+v: want the bad service reported, the good one programmed", st)
	}
	if sh := f.shares(other); sh["192.168.1.12"] != tableSize {
		t.Fatalf("the good service's table: %v", sh)
	}
	if after := f.shares(svcKey); after["192.168.1.10"] != before["192.168.1.10"] || after["192.168.1.11"] != before["192.168.1.11"] {
		t.Fatalf("the bad service's table changed from %v to %v: it should keep what it had", before, after)
	}
	if f.state(svcKey, "192.168.1.10") != loader.BackendActive || f.state(svcKey, "192.168.1.11") != loader.BackendActive {
		t.Fatal("the bad service's backends were taken out")
	}
	// Fixed in the next config: programmed again.
	r.SetDesired([]ServiceSpec{pair(1, 1), good})
	mustApply(t, r)
	if st := r.Status(); st[0].Error != "" {
		t.Fatalf("fixed service still reported: %s", st[0].Error)
	}
}

// A service with a backend of the other family is refused with the loader's
// error, programs nothing, and spares the other services.
func TestReconcileRefusesFamilyMix(t *testing.T) {
	other := loader.ServiceKey{VIP: svcKey.VIP, Port: 80, Proto: lb.TCP}
	good := ServiceSpec{Key: other, Backends: []BackendSpec{{IP: db3, Weight: 1}}}
	r, f := newRec(t, good)
	v6 := netip.MustParseAddr("fd00:1::10")
	bad := ServiceSpec{Key: svcKey, Backends: []BackendSpec{{IP: db1, Weight: 1}, {IP: v6, Weight: 1}}}
	r.SetDesired([]ServiceSpec{bad, good})
	mustApply(t, r)
	st := r.Status()
	if len(st) != 2 || !strings.Contains(st[0].Error, loader.ErrFamilyMix.Error()) || !strings.Contains(st[0].Error, v6.String()) || st[1].Error != "" {
		t.Fatalf("status %+v: want the mixed service refused naming %s, the other programmed", st, v6)
	}
	if sh := f.shares(svcKey); len(sh) != 0 {
		t.Fatalf("the mixed service was programmed: %v", sh)
	}
	if sh := f.shares(other); sh["192.168.1.12"] != tableSize {
		t.Fatalf("the other service's table: %v", sh)
	}
}
