package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"xlb/control"
	"xlb/control/announce"
	"xlb/control/config"
	"xlb/control/vrrp"
	"xlb/lb"
	"xlb/loader"
)

var (
	svcA = loader.ServiceKey{VIP: netip.MustParseAddr("192.168.1.30"), Port: 3306, Proto: lb.TCP}
	svcB = loader.ServiceKey{VIP: netip.MustParseAddr("192.168.1.31"), Port: 80, Proto: lb.TCP}
	db1  = netip.MustParseAddr("192.168.1.10")
	db2  = netip.MustParseAddr("192.168.1.11")
)

// What a previous xlbd left pinned says which backends it had taken out.
func TestFailedBackends(t *testing.T) {
	svcs := map[loader.ServiceKey]loader.Service{svcA: {ID: 1}, svcB: {ID: 2}}
	backends := map[uint32]loader.Backend{
		1: {ServiceID: 1, IP: db1, State: loader.BackendDown},
		2: {ServiceID: 1, IP: db2, State: loader.BackendActive},
		3: {ServiceID: 2, IP: db1, State: loader.BackendDrained},
		4: {ServiceID: 9, IP: db2, State: loader.BackendDown}, // orphan: no service 9
	}
	got := failedBackends(svcs, backends)
	want := map[control.BackendRef]bool{{Service: svcA, IP: db1}: true, {Service: svcB, IP: db1}: true}
	if len(got) != len(want) {
		t.Fatalf("failed backends %v, want %v", got, want)
	}
	for ref := range want {
		if !got[ref] {
			t.Fatalf("failed backends %v lack %v", got, ref)
		}
	}
}

// A real server's health before its first check.
func TestInitialHealth(t *testing.T) {
	check := &config.Check{Kind: config.CheckTCP}
	cases := []struct {
		name          string
		real          config.RealServer
		alpha, failed bool
		up            bool
		reason        string
	}{
		{"no check: up for good", config.RealServer{Weight: 1}, true, true, true, "no check configured"},
		{"checked: up as in keepalived", config.RealServer{Weight: 1, Check: check}, false, false, true, "assumed up"},
		{"alpha: down", config.RealServer{Weight: 1, Check: check}, true, false, false, "alpha"},
		{"failed before a restart: down", config.RealServer{Weight: 1, Check: check}, false, true, false, "failed before xlbd restarted"},
		{"drained by weight 0 before: not failed", config.RealServer{Weight: 0, Check: check}, false, true, true, "assumed up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := initialHealth(tc.real, tc.alpha, tc.failed)
			if h.Up != tc.up || !strings.Contains(h.Reason, tc.reason) || h.Weight != nil {
				t.Fatalf("got %+v, want up=%v reason containing %q", h, tc.up, tc.reason)
			}
			// The monitor's first "up" must not undo a seeded "failed before".
			if held, seeded := stillFailed(tc.real, tc.failed), strings.Contains(h.Reason, "failed before"); held != seeded {
				t.Fatalf("stillFailed=%v, but the seed %q says %v", held, h.Reason, seeded)
			}
		})
	}
}

func TestUsability(t *testing.T) {
	svc := &config.Service{Name: "db", VIP: svcA.VIP, Quorum: 3}
	st := control.ServiceStatus{Backends: []control.BackendStatus{
		{State: loader.BackendActive, Weight: 2},
		{State: loader.BackendDrained, Weight: 0},
		{State: loader.BackendActive, Weight: 1},
	}, QuorumUp: true}
	if got := usability(svc, st); !got.Usable || got.Weight != 3 || got.Quorum != 3 || got.Name != "db" || got.VIP != svcA.VIP {
		t.Fatalf("weight 3 against quorum 3: %+v, want usable", got)
	}
	st.Backends[2].State, st.Backends[2].Weight = loader.BackendDown, 0
	st.QuorumUp = false
	if got := usability(svc, st); got.Usable || got.Weight != 2 {
		t.Fatalf("weight 2 against quorum 3: %+v, want unusable", got)
	}
	// No quorum configured means one usable backend weight.
	if got := usability(&config.Service{Name: "web"}, control.ServiceStatus{}); got.Usable || got.Quorum != 1 {
		t.Fatalf("no backends, default quorum: %+v", got)
	}
}

func TestTrackAdjust(t *testing.T) {
	inst := config.VRRPInstance{Config: vrrp.Config{Name: "VI_1"}, TrackServices: []string{"db", "web"}, NoBackendPriorityDrop: 50}
	cases := []struct {
		name     string
		services []announce.Service
		adjust   int
	}{
		{"all usable", []announce.Service{{Name: "db", Usable: true}, {Name: "web", Usable: true}}, 0},
		{"one unusable", []announce.Service{{Name: "db", Usable: true}, {Name: "web"}}, -50},
		{"untracked unusable", []announce.Service{{Name: "db", Usable: true}, {Name: "web", Usable: true}, {Name: "other"}}, 0},
		{"tracked not programmed yet", []announce.Service{{Name: "db", Usable: true}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			adj, why := trackAdjust(inst, announce.Intent{Services: tc.services}.ByName())
			if adj != tc.adjust {
				t.Fatalf("adjust %d (%s), want %d", adj, why, tc.adjust)
			}
			if adj != 0 && !strings.Contains(why, "web") {
				t.Fatalf("reason %q does not name the unusable service", why)
			}
		})
	}
}

// A fresh director asks for the flow tables once every backend has a MAC.
func TestResolved(t *testing.T) {
	svc := func(unresolved ...bool) control.ServiceStatus {
		var s control.ServiceStatus
		for _, u := range unresolved {
			s.Backends = append(s.Backends, control.BackendStatus{Unresolved: u})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		svcs []control.ServiceStatus
		want bool
	}{
		{"no service", nil, true},
		{"all resolved", []control.ServiceStatus{svc(false, false), svc(false)}, true},
		{"one unresolved", []control.ServiceStatus{svc(false, false), svc(false, true)}, false},
	} {
		if got := resolved(tc.svcs); got != tc.want {
			t.Errorf("%s: resolved = %v, want %v", tc.name, got, tc.want)
		}
	}
}
