package daemon

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"xlb/control"
	"xlb/control/api"
	"xlb/control/vrrp"
	"xlb/lb"
	"xlb/loader"
)

func TestHistoryBackendEvents(t *testing.T) {
	svc := loader.ServiceKey{VIP: netip.MustParseAddr("10.0.0.1"), Port: 80, Proto: lb.TCP}
	ip := netip.MustParseAddr("10.0.1.1")
	status := func(state loader.BackendState, reason string) map[string][]control.ServiceStatus {
		return map[string][]control.ServiceStatus{"eth0": {{Key: svc, Backends: []control.BackendStatus{{IP: ip, State: state, Reason: reason}}}}}
	}
	h := newHistory()
	t0 := time.Unix(1000, 0)
	h.observeBackends(t0, status(loader.BackendActive, "check passed"))
	h.observeBackends(t0.Add(time.Second), status(loader.BackendActive, "check passed"))
	if len(h.events) != 0 {
		t.Fatalf("first sight and no change made events: %+v", h.events)
	}
	k := "eth0 10.0.0.1:80/tcp 10.0.1.1"
	if got := h.backends[k].since; !got.Equal(t0) {
		t.Fatalf("since = %v, want the first sight %v", got, t0)
	}
	t2 := t0.Add(5 * time.Second)
	h.observeBackends(t2, status(loader.BackendDown, "check failed: connection refused"))
	want := api.Event{Time: t2, Kind: api.EventBackend, Subject: "10.0.0.1:80/tcp 10.0.1.1", From: "active", To: "down", Reason: "check failed: connection refused"}
	if len(h.events) != 1 || h.events[0] != want {
		t.Fatalf("events = %+v, want %+v", h.events, want)
	}
	if got := h.backends[k].since; !got.Equal(t2) {
		t.Fatalf("since after the change = %v, want %v", got, t2)
	}
	h.observeBackends(t2.Add(time.Second), map[string][]control.ServiceStatus{})
	if len(h.backends) != 0 {
		t.Fatalf("a removed backend is still tracked: %v", h.backends)
	}
}

func TestHistoryCapsEvents(t *testing.T) {
	h := newHistory()
	for i := range maxEvents + 10 {
		h.reloaded(time.Unix(int64(i), 0), "c", nil)
	}
	if len(h.events) != maxEvents || h.events[0].Time.Unix() != 10 {
		t.Fatalf("%d events, oldest at %d: want %d, the oldest 10 dropped", len(h.events), h.events[0].Time.Unix(), maxEvents)
	}
}

func TestHistoryReloadsAndVRRP(t *testing.T) {
	h := newHistory()
	h.reloaded(time.Unix(1, 0), "/etc/xlb.yaml", nil)
	h.reloaded(time.Unix(2, 0), "/etc/xlb.yaml", errors.New("xlb.yaml:3: vip: bad"))
	if e := h.events[0]; e.To != "reloaded" || e.Reason != "" {
		t.Fatalf("applied reload event: %+v", e)
	}
	if e := h.events[1]; e.To != "reload refused" || e.Reason != "xlb.yaml:3: vip: bad" {
		t.Fatalf("refused reload event: %+v", e)
	}
	h.vrrpChanged(vrrp.StateChange{Instance: "VI_1", From: vrrp.StateBackup, To: vrrp.StateMaster, Priority: 100,
		Reason: "master down interval passed", At: time.Unix(3, 0)})
	if e := h.events[2]; e.Kind != api.EventVRRP || e.From != "BACKUP" || e.To != "MASTER" || e.Reason != "master down interval passed (priority 100)" {
		t.Fatalf("takeover event: %+v", e)
	}
}

func TestSeriesRates(t *testing.T) {
	var s series
	t0 := time.Unix(0, 0)
	s.sample(t0, loader.Counter{Packets: 100, Bytes: 1000})
	if s.traffic() != nil {
		t.Fatal("one reading is not a rate")
	}
	s.sample(t0.Add(2*time.Second), loader.Counter{Packets: 300, Bytes: 5000})
	s.sample(t0.Add(4*time.Second), loader.Counter{Packets: 10, Bytes: 10}) // counter reset: no sample
	s.sample(t0.Add(6*time.Second), loader.Counter{Packets: 30, Bytes: 50})
	tr := s.traffic()
	if len(tr.Packets) != 2 || tr.Packets[0] != 100 || tr.Bytes[0] != 2000 || tr.Packets[1] != 10 || tr.Bytes[1] != 20 {
		t.Fatalf("rates %+v", tr)
	}
	for range trafficSamples + 5 {
		t0 = t0.Add(time.Second)
		s.sample(t0.Add(6*time.Second), loader.Counter{Packets: 30, Bytes: 50})
	}
	if n := len(s.traffic().Packets); n != trafficSamples {
		t.Fatalf("%d samples kept, want %d", n, trafficSamples)
	}
}
