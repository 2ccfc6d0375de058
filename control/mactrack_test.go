package control

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	macA    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macOwn  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x14}
	macPeer = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x15}
	db1IP   = netip.MustParseAddr("192.168.1.10")
	peer1IP = netip.MustParseAddr("192.168.1.21")
	db6IP   = netip.MustParseAddr("fd00:1::10")
	peer6IP = netip.MustParseAddr("fd00:1::21")
)

// fakeResolver answers from a table and a list of ARP replies per address;
// an address with no acceptable reply fails at once, as a lost reply would
// after the probe's timeout.
type fakeResolver struct {
	mu      sync.Mutex
	table   map[netip.Addr]net.HardwareAddr
	replies map[netip.Addr][]net.HardwareAddr
	lookups int
	probes  int
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{table: map[netip.Addr]net.HardwareAddr{}, replies: map[netip.Addr][]net.HardwareAddr{}}
}

func (f *fakeResolver) Lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	m, ok := f.table[ip]
	return m, ok
}

func (f *fakeResolver) Probe(ctx context.Context, ip netip.Addr, accept func(net.HardwareAddr) bool) (net.HardwareAddr, error) {
	f.mu.Lock()
	replies := slices.Clone(f.replies[ip])
	f.probes++
	f.mu.Unlock()
	for _, m := range replies {
		if accept(m) {
			return m, nil
		}
	}
	return nil, ErrNoReply
}

func (f *fakeResolver) OwnMACs() []net.HardwareAddr { return []net.HardwareAddr{macOwn} }

func (f *fakeResolver) set(ip netip.Addr, table net.HardwareAddr, replies ...net.HardwareAddr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if table == nil {
		delete(f.table, ip)
	} else {
		f.table[ip] = table
	}
	f.replies[ip] = replies
}

// trackerRig is a tracker on a fake clock with its OnChange calls and log
// records captured.
type trackerRig struct {
	*MACTracker
	res     *fakeResolver
	now     time.Time
	mu      sync.Mutex
	changes []string // "ip=mac" per OnChange call
	logs    *recordHandler
}

func newTrackerRig(t *testing.T) *trackerRig {
	r := &trackerRig{res: newFakeResolver(), now: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), logs: &recordHandler{}}
	r.MACTracker = NewMACTracker(r.res, MACTrackerOptions{
		Refresh: 30 * time.Second, ProbeTimeout: time.Second, RetryMin: 250 * time.Millisecond, RetryMax: 8 * time.Second,
		Now: func() time.Time { return r.now },
		OnChange: func(ip netip.Addr, mac net.HardwareAddr) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, ip.String()+"="+mac.String())
		},
		Log: slog.New(r.logs),
	})
	return r
}

// step advances the clock by d and runs every attempt that is then due.
func (r *trackerRig) step(d time.Duration) {
	r.now = r.now.Add(d)
	r.startDue(context.Background())()
}

func (r *trackerRig) takeChanges() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

func (r *trackerRig) status(t *testing.T, ip netip.Addr) MACStatus {
	t.Helper()
	list, _ := r.Status()
	for _, s := range list {
		if s.IP == ip && !s.Peer {
			return s
		}
	}
	t.Fatalf("%s is not tracked", ip)
	return MACStatus{}
}

type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the attributes of the records with message msg.
func (h *recordHandler) find(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

func TestCheckMAC(t *testing.T) {
	own := []net.HardwareAddr{macOwn}
	peers := []net.HardwareAddr{macPeer}
	for _, tc := range []struct {
		name string
		mac  string
		want Refusal
	}{
		{"unicast", "02:00:00:00:00:0a", RefusedNone},
		{"vendor unicast", "52:54:00:12:34:56", RefusedNone},
		{"broadcast", "ff:ff:ff:ff:ff:ff", RefusedBroadcast},
		{"ipv4 multicast", "01:00:5e:00:00:12", RefusedMulticast},
		{"any group bit", "03:00:00:00:00:01", RefusedMulticast},
		{"zero", "00:00:00:00:00:00", RefusedZero},
		{"vrrp virtual router", "00:00:5e:00:01:63", RefusedVRRP},
		{"ipv6 multicast", "33:33:ff:00:00:10", RefusedMulticast},
		{"vrrp ipv6 virtual router", "00:00:5e:00:02:63", RefusedVRRP},
		{"own interface", macOwn.String(), RefusedOwn},
		{"peer director", macPeer.String(), RefusedPeer},
		{"eui-64", "02:00:00:00:00:00:00:0a", RefusedMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mac, err := net.ParseMAC(tc.mac)
			if err != nil {
				t.Fatal(err)
			}
			if got := CheckMAC(mac, own, peers); got != tc.want {
				t.Errorf("CheckMAC(%s) = %s, want %s", mac, got, tc.want)
			}
		})
	}
}

// Lost ARP replies and an empty neighbour table do not lose a known MAC, and
// the retries back off from RetryMin to RetryMax.
func TestMACTrackerKeepsMACThroughLostReplies(t *testing.T) {
	r := newTrackerRig(t)
	r.res.set(db1IP, nil, macA)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.step(0)
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10=" + macA.String()}) {
		t.Fatalf("first resolution notified %v", got)
	}
	if s := r.status(t, db1IP); s.Source != SourceARP || s.Failures != 0 {
		t.Fatalf("after ARP: %+v", s)
	}

	r.res.set(db1IP, nil) // every reply lost from now on
	r.step(30 * time.Second)
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, gap := range want {
		if next := r.nextDue().Sub(r.now); next != gap {
			t.Fatalf("after %d failed attempts the next is in %s, want %s", i+1, next, gap)
		}
		// Not due a moment before the backoff ends.
		probes := r.res.probes
		r.step(gap - time.Millisecond)
		if r.res.probes != probes {
			t.Fatalf("attempt %d came before its backoff of %s", i+2, gap)
		}
		r.step(time.Millisecond)
		if r.res.probes != probes+1 {
			t.Fatalf("attempt %d did not come after its backoff of %s", i+2, gap)
		}
	}
	s := r.status(t, db1IP)
	if !slices.Equal(s.MAC, macA) || s.Failures != len(want)+1 || s.LastError == "" {
		t.Errorf("after %d lost replies: %+v, want MAC %s kept", len(want)+1, s, macA)
	}
	if got := r.takeChanges(); len(got) != 0 {
		t.Errorf("lost replies changed the backend's MAC: %v", got)
	}
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("MAC = %s, want %s kept", got, macA)
	}
	// One log line for the whole outage, not one per attempt.
	if n := len(r.logs.find("MAC not confirmed: keeping the last known one")); n != 1 {
		t.Errorf("logged the outage %d times, want once", n)
	}

	r.res.set(db1IP, macA)
	r.step(8 * time.Second)
	s = r.status(t, db1IP)
	if s.Failures != 0 || s.Source != SourceTable {
		t.Errorf("after the table has it again: %+v", s)
	}
	if next := r.nextDue().Sub(r.now); next != 30*time.Second {
		t.Errorf("after a success the next attempt is in %s, want the refresh 30s", next)
	}
}

// A backend never resolved stays unresolved (nil MAC, counted failures, the
// error) and is retried with backoff; the first answer resolves it.
func TestMACTrackerUnresolvedUntilAnswered(t *testing.T) {
	r := newTrackerRig(t)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.step(0)
	r.step(250 * time.Millisecond)
	s := r.status(t, db1IP)
	if s.MAC != nil || s.Failures != 2 || s.LastError == "" {
		t.Fatalf("unanswered backend: %+v", s)
	}
	if got := r.takeChanges(); len(got) != 0 {
		t.Errorf("an unresolved backend notified %v", got)
	}
	r.res.set(db1IP, nil, macA)
	r.step(500 * time.Millisecond)
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10=" + macA.String()}) {
		t.Errorf("first answer notified %v", got)
	}
}

// Replies with a MAC no backend may have are ignored and counted, and the
// acceptable reply that follows is taken; when nothing acceptable answers
// the backend stays unresolved.
// The same rules hold for both families: a backend's MAC from the IPv6
// neighbour table or a neighbour advertisement is refused for what an ARP
// answer would be.
func TestMACTrackerRefusesBadMACs(t *testing.T) {
	for _, fam := range []struct {
		name    string
		db1IP   netip.Addr
		peer1IP netip.Addr
	}{{"ipv4", db1IP, peer1IP}, {"ipv6", db6IP, peer6IP}} {
		db1IP, peer1IP := fam.db1IP, fam.peer1IP
		for _, tc := range []struct {
			name   string
			bad    string
			reason Refusal
		}{
			{"broadcast", "ff:ff:ff:ff:ff:ff", RefusedBroadcast},
			{"multicast", "01:00:5e:7f:00:01", RefusedMulticast},
			{"ipv6 multicast", "33:33:00:00:00:01", RefusedMulticast},
			{"zero", "00:00:00:00:00:00", RefusedZero},
			{"vrrp vmac", "00:00:5e:00:01:63", RefusedVRRP},
			{"vrrp ipv6 vmac", "00:00:5e:00:02:63", RefusedVRRP},
			{"own", macOwn.String(), RefusedOwn},
			{"resolved peer", macPeer.String(), RefusedPeer},
		} {
			t.Run(fam.name+"/"+tc.name, func(t *testing.T) {
				bad, _ := net.ParseMAC(tc.bad)
				r := newTrackerRig(t)
				r.SetPeers([]netip.Addr{peer1IP})
				r.res.set(peer1IP, macPeer)
				// The neighbour table holds the bad MAC too: refused there
				// as well, then ARP is asked.
				r.res.set(db1IP, bad, bad, bad, macA)
				r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
				r.step(0)
				if got := r.MAC(db1IP); !slices.Equal(got, macA) {
					t.Fatalf("MAC = %s, want %s (the acceptable reply after the %s ones)", got, macA, tc.name)
				}
				_, st := r.Status()
				if got := st.Refused[tc.reason.String()]; got != 3 {
					t.Errorf("refused[%s] = %d, want 3 (one table entry, two replies): %v", tc.reason, got, st.Refused)
				}
				if n := len(r.logs.find("MAC refused")); n != 1 {
					t.Errorf("logged %d refusals of one MAC, want 1", n)
				}

				r.res.set(db1IP, nil, bad)
				r.step(30 * time.Second)
				if got := r.MAC(db1IP); !slices.Equal(got, macA) {
					t.Errorf("a %s-only answer replaced the MAC: %s", tc.name, got)
				}
				r2 := newTrackerRig(t)
				r2.SetPeers([]netip.Addr{peer1IP})
				r2.res.set(peer1IP, macPeer)
				r2.res.set(db1IP, nil, bad)
				r2.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
				r2.step(0)
				if s := r2.status(t, db1IP); s.MAC != nil {
					t.Errorf("only a %s reply: resolved to %s, want unresolved", tc.name, s.MAC)
				}
			})
		}
	}
}

// A peer director's MAC learned after a backend took it (a forged reply
// before the peer answered) is dropped from the backend.
func TestMACTrackerDropsLaterLearnedPeerMAC(t *testing.T) {
	r := newTrackerRig(t)
	r.res.set(db1IP, nil, macPeer)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.step(0)
	if got := r.MAC(db1IP); !slices.Equal(got, macPeer) {
		t.Fatalf("setup: MAC = %s", got)
	}
	r.takeChanges()
	r.SetPeers([]netip.Addr{peer1IP})
	r.Observe(NeighEvent{IP: peer1IP, MAC: macPeer})
	if got := r.MAC(db1IP); got != nil {
		t.Errorf("MAC = %s after it was learned to be a peer's, want none", got)
	}
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10="}) {
		t.Errorf("drop notified %v", got)
	}
	_, st := r.Status()
	if st.Refused[RefusedPeer.String()] != 1 {
		t.Errorf("refused = %v, want one peer_director", st.Refused)
	}
	r.res.set(peer1IP, macPeer)
	r.res.set(db1IP, nil, macPeer, macA)
	r.step(0)
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("re-resolved to %s, want %s", got, macA)
	}
	if list, _ := r.Status(); len(list) != 2 || !list[1].Peer || !slices.Equal(list[1].MAC, macPeer) {
		t.Errorf("status: %+v, want the backend then the peer", list)
	}
}

// RTM_NEWNEIGH with another MAC replaces the backend's and logs old and new;
// a deleted entry (a flush) keeps it and only brings the next attempt near.
func TestMACTrackerFollowsNeighbourEvents(t *testing.T) {
	r := newTrackerRig(t)
	r.res.set(db1IP, macA)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.step(0)
	r.takeChanges()

	r.Observe(NeighEvent{IP: db1IP, MAC: macB})
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10=" + macB.String()}) {
		t.Errorf("new MAC notified %v", got)
	}
	logs := r.logs.find("MAC changed")
	if len(logs) != 1 || logs[0]["old"] != macA.String() || logs[0]["new"] != macB.String() || logs[0]["address"] != db1IP.String() {
		t.Errorf("change log = %v, want one with old %s new %s", logs, macA, macB)
	}
	if _, st := r.Status(); st.Changes != 1 {
		t.Errorf("changes = %d, want 1", st.Changes)
	}

	r.Observe(NeighEvent{IP: db1IP, MAC: macB}) // STALE -> REACHABLE: same MAC
	r.Observe(NeighEvent{IP: db1IP})            // flushed
	if got := r.takeChanges(); len(got) != 0 {
		t.Errorf("same MAC and a flush notified %v", got)
	}
	if got := r.MAC(db1IP); !slices.Equal(got, macB) {
		t.Errorf("after a flush MAC = %s, want %s kept", got, macB)
	}
	if next := r.nextDue().Sub(r.now); next != 250*time.Millisecond {
		t.Errorf("after a flush the next attempt is in %s, want RetryMin", next)
	}

	r.Observe(NeighEvent{IP: db1IP, MAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
	if got := r.MAC(db1IP); !slices.Equal(got, macB) {
		t.Errorf("a broadcast neighbour entry replaced the MAC: %s", got)
	}
	if _, st := r.Status(); st.Refused["broadcast"] != 1 || st.Changes != 1 {
		t.Errorf("after a broadcast entry: %+v", st)
	}
	r.Observe(NeighEvent{IP: netip.MustParseAddr("192.168.1.99"), MAC: macA})
	if got := r.takeChanges(); len(got) != 0 {
		t.Errorf("an untracked address notified %v", got)
	}
}

// A static MAC is used as is: never resolved, never replaced.
func TestMACTrackerStatic(t *testing.T) {
	r := newTrackerRig(t)
	r.res.set(db1IP, macB, macB)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: macA})
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10=" + macA.String()}) {
		t.Fatalf("static MAC notified %v", got)
	}
	r.step(time.Hour)
	r.Observe(NeighEvent{IP: db1IP, MAC: macB})
	r.CheckResult(db1IP, false)
	r.step(time.Hour)
	if r.res.lookups+r.res.probes != 0 {
		t.Errorf("a static MAC was resolved (%d lookups, %d probes)", r.res.lookups, r.res.probes)
	}
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("static MAC replaced by %s", got)
	}
	if s := r.status(t, db1IP); !s.Static || s.Source != SourceStatic {
		t.Errorf("status: %+v", s)
	}
	// Static no more: the MAC stays as the last known until resolved.
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("MAC = %s right after static was removed, want %s kept", got, macA)
	}
	r.step(0)
	if got := r.MAC(db1IP); !slices.Equal(got, macB) {
		t.Errorf("MAC = %s after resolving, want %s", got, macB)
	}
	r.takeChanges()
	r.Track(nil)
	if got := r.takeChanges(); !slices.Equal(got, []string{"192.168.1.10="}) {
		t.Errorf("forgetting a backend notified %v", got)
	}
}

// A passed check resolves again only when something is missing; a failed one
// always does (rate-limited), keeping the MAC.
func TestMACTrackerCheckResults(t *testing.T) {
	r := newTrackerRig(t)
	r.res.set(db1IP, macA)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.step(0)

	r.now = r.now.Add(5 * time.Second)
	r.CheckResult(db1IP, true)
	if next := r.nextDue().Sub(r.now); next != 25*time.Second {
		t.Errorf("a passed check with the MAC confirmed moved the next attempt to %s, want 25s", next)
	}
	r.res.set(db1IP, nil)
	r.CheckResult(db1IP, false)
	if !r.nextDue().Equal(r.now) {
		t.Errorf("a failed check did not resolve at once")
	}
	r.step(0)
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("a failed check and no answer lost the MAC: %s", got)
	}
	r.now = r.now.Add(100 * time.Millisecond)
	r.CheckResult(db1IP, false)
	if next := r.nextDue().Sub(r.now); next != 150*time.Millisecond {
		t.Errorf("a second failed check 100ms later: next attempt in %s, want the backoff's 150ms left", next)
	}
	r.res.set(db1IP, macA)
	r.CheckResult(db1IP, true)
	if !r.nextDue().Equal(r.now) {
		t.Errorf("a passed check after a failed attempt did not resolve at once")
	}
	r.step(0)
	if s := r.status(t, db1IP); s.Failures != 0 {
		t.Errorf("after the passed check: %+v", s)
	}
}

// Adopt takes a pinned MAC for a backend that has none, and confirms it at
// once; it never overrides one already known nor takes a bad one.
func TestMACTrackerAdopt(t *testing.T) {
	r := newTrackerRig(t)
	r.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	r.Adopt(db1IP, net.HardwareAddr{0, 0, 0, 0, 0, 0})
	if got := r.MAC(db1IP); got != nil {
		t.Fatalf("adopted the zero MAC")
	}
	if _, st := r.Status(); st.Refused[RefusedZero.String()] != 0 {
		t.Errorf("the zero MAC an unresolved backend left in the map counted as a refusal")
	}
	r.Adopt(db1IP, macA)
	if s := r.status(t, db1IP); !slices.Equal(s.MAC, macA) || s.Source != SourceAdopted {
		t.Fatalf("adopt: %+v", s)
	}
	r.Adopt(db1IP, macB)
	if got := r.MAC(db1IP); !slices.Equal(got, macA) {
		t.Errorf("a second adopt replaced the MAC with %s", got)
	}
	r.step(0) // confirms at once: no answer, the adopted MAC stays
	if s := r.status(t, db1IP); !slices.Equal(s.MAC, macA) || s.Failures != 1 {
		t.Errorf("after the confirming attempt: %+v", s)
	}
}

// Run resolves on its own clock and stops with its context.
func TestMACTrackerRun(t *testing.T) {
	res := newFakeResolver()
	res.set(db1IP, nil, macA)
	got := make(chan net.HardwareAddr, 4)
	tr := NewMACTracker(res, MACTrackerOptions{Log: slog.New(slog.DiscardHandler),
		OnChange: func(_ netip.Addr, mac net.HardwareAddr) { got <- mac }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(ctx) }()
	tr.Track(map[netip.Addr]net.HardwareAddr{db1IP: nil})
	select {
	case mac := <-got:
		if !slices.Equal(mac, macA) {
			t.Errorf("resolved %s, want %s", mac, macA)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not resolve within 5s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if tr.MAC(db1IP) == nil {
		t.Error("MAC lost after Run stopped")
	}
}
