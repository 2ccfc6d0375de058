package vrrp

import (
	"slices"
	"testing"
	"time"
)

// Excluded VIPs are held with the VIPs but never advertised; virtual routes
// and rules go in after the addresses on MASTER and out before them when it
// leaves (keepalived's vrrp_state_become_master, vrrp_restore_interface).
func TestExcludedVIPsRoutesRules(t *testing.T) {
	cfg := baseConfig()
	cfg.ExcludedVIPs = []VIP{{Prefix: mustPrefix("10.0.0.200/32"), Dev: "eth0"}}
	cfg.Routes = []Route{{Dst: mustPrefix("10.9.0.0/24"), Gateway: mustAddr("10.0.0.254"), Dev: "eth0"}}
	cfg.Rules = []Rule{{From: mustPrefix("10.0.0.100/32"), Table: 100}}
	s := newSim(t, cfg)
	s.start()
	s.at(4 * time.Second)
	s.wantState(StateMaster)
	for _, x := range s.tr.take() {
		if len(x.adv.Addrs) != 1 || x.adv.Addrs[0] != vip1.Addr() {
			t.Fatalf("advert lists %v, want only the VIP", x.adv.Addrs)
		}
	}
	s.recv(advertFrom(cfg, addrPeer, 200, nil))
	s.wantState(StateBackup)
	s.act.mu.Lock()
	events := slices.Clone(s.act.events)
	s.act.mu.Unlock()
	want := []string{"routes-1 rules-1", "remove", "add", "routes+1 rules+1", "routes-1 rules-1", "remove"}
	if !slices.Equal(events, want) {
		t.Fatalf("actions %q, want %q", events, want)
	}
	if got := s.in.allVIPs(); len(got) != 2 || got[1] != cfg.ExcludedVIPs[0] {
		t.Fatalf("held addresses %v", got)
	}
}

func TestRouteRuleStrings(t *testing.T) {
	r := Route{Type: "blackhole", Src: mustAddr("10.0.0.1"), Dst: mustPrefix("10.9.0.0/24"), Dev: "eth0", Scope: "link", Table: 100, Metric: 5}
	if got, want := r.String(), "blackhole src 10.0.0.1 10.9.0.0/24 dev eth0 scope link table 100 metric 5"; got != want {
		t.Errorf("route %q, want %q", got, want)
	}
	u := Rule{From: mustPrefix("10.0.0.0/24"), To: mustPrefix("10.1.0.0/24"), IIF: "eth0", Table: 7, Priority: 100}
	if got, want := u.String(), "from 10.0.0.0/24 to 10.1.0.0/24 iif eth0 table 7 priority 100"; got != want {
		t.Errorf("rule %q, want %q", got, want)
	}
	bad := baseConfig()
	bad.Routes = []Route{{Type: "blackhole", Dst: mustPrefix("10.9.0.0/24"), Gateway: mustAddr("10.0.0.1")}}
	if err := bad.validate(); err == nil {
		t.Error("a blackhole route with a gateway passed")
	}
	bad = baseConfig()
	bad.Rules = []Rule{{From: mustPrefix("10.0.0.0/24")}}
	if err := bad.validate(); err == nil {
		t.Error("a rule without a table passed")
	}
}
