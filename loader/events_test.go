package loader

import (
	"errors"
	"os"
	"testing"
	"time"
)

// Recorded flows, and only those, come out of the event ring: a flow's
// second packet (which records it) and a re-pick do; an opening SYN, a known
// flow's packets and flows of unknown services do not.
func TestFlowEvents(t *testing.T) {
	f := newFixture(t)
	f.dp.Close()
	dp, err := Load(ourMAC, Options{MaxFlows: 4096, FlowEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	f.dp = dp
	for key, id := range f.services {
		if err := dp.SetService(key, Service{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	r, err := dp.FlowEventReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := func() (FlowEvent, bool) {
		ev, err := r.Read(200 * time.Millisecond)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return FlowEvent{}, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return ev, true
	}

	p := synTo(3306, 45000)
	f.run(p.build())
	if ev, ok := next(); ok {
		t.Fatalf("an opening SYN produced event %+v: a SYN flood would reach the other director", ev)
	}
	p = ackTo(3306, 45000)
	f.run(p.build())
	ev, ok := next()
	if !ok || ev.Flow != p.flow() || ev.BackendID != f.pick(p.flow()) {
		t.Fatalf("new flow: event %+v (%v), want %+v on backend %d", ev, ok, p.flow(), f.pick(p.flow()))
	}
	f.run(p.build())
	f.run(synTo(3307, 45001).build())
	if ev, ok := next(); ok {
		t.Fatalf("a known flow or a non-service packet produced event %+v", ev)
	}
	f.backends[ev.BackendID].state = BackendDown
	f.sync()
	f.run(p.build())
	ev2, ok := next()
	if !ok || ev2.Flow != p.flow() || ev2.BackendID == ev.BackendID {
		t.Fatalf("re-pick off a down backend: event %+v (%v)", ev2, ok)
	}
	// IPv6: the event carries the 16-byte addresses and the family.
	f.run(syn6(3306, 45010).build())
	p6 := ack6(3306, 45010)
	f.run(p6.build())
	if ev, ok := next(); !ok || ev.Flow != p6.flow() || ev.BackendID != f.pick(p6.flow()) {
		t.Fatalf("new IPv6 flow: event %+v (%v), want %+v on backend %d", ev, ok, p6.flow(), f.pick(p6.flow()))
	}
	if lost, err := dp.FlowEventsLost(); err != nil || lost != 0 {
		t.Fatalf("events lost: %d, %v", lost, err)
	}
	// SetFlow is what the other director's events become here.
	other := synTo(3306, 45002).flow()
	if err := dp.SetFlow(other, 2); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := dp.Flow(other); err != nil || !ok || id != 2 {
		t.Fatalf("SetFlow: %d %v %v", id, ok, err)
	}
	// AddFlow writes only where no entry exists.
	if added, err := dp.AddFlow(other, 1); err != nil || added {
		t.Fatalf("AddFlow over an existing entry: added %v, %v", added, err)
	}
	if id, _, _ := dp.Flow(other); id != 2 {
		t.Fatalf("AddFlow overwrote an entry: backend %d, want 2", id)
	}
	fresh := synTo(3306, 45003).flow()
	if added, err := dp.AddFlow(fresh, 1); err != nil || !added {
		t.Fatalf("AddFlow of a new flow: added %v, %v", added, err)
	}
	if id, ok, _ := dp.Flow(fresh); !ok || id != 1 {
		t.Fatalf("AddFlow: backend %d (%v), want 1", id, ok)
	}
	fresh6 := syn6(3306, 45011).flow()
	if added, err := dp.AddFlow(fresh6, 4); err != nil || !added {
		t.Fatalf("AddFlow of a new IPv6 flow: added %v, %v", added, err)
	}
	if id, ok, _ := dp.Flow(fresh6); !ok || id != 4 {
		t.Fatalf("AddFlow IPv6: backend %d (%v), want 4", id, ok)
	}
}
