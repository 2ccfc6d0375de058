package flowsync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"xlb/lb"
	"xlb/loader"
)

// fakeDP is a data plane in memory: the receive path's writes land in flows.
type fakeDP struct {
	mu       sync.Mutex
	services map[loader.ServiceKey]loader.Service
	backends map[uint32]loader.Backend
	flows    map[loader.FlowKey]uint32
}

var (
	lvs1      = netip.MustParseAddr("192.168.1.20")
	lvs2      = netip.MustParseAddr("192.168.1.21")
	other     = netip.MustParseAddr("192.168.1.66")
	groupAddr = DefaultGroup.Addr()
)

func newFakeDP() *fakeDP {
	return &fakeDP{
		services: map[loader.ServiceKey]loader.Service{service: {ID: 1}, service6: {ID: 2}},
		backends: map[uint32]loader.Backend{
			1: {ServiceID: 1, IP: db1, State: loader.BackendActive},
			2: {ServiceID: 1, IP: db2, State: loader.BackendActive},
			3: {ServiceID: 2, IP: db61, State: loader.BackendActive},
			4: {ServiceID: 2, IP: db62, State: loader.BackendActive},
		},
		flows: map[loader.FlowKey]uint32{},
	}
}

func (f *fakeDP) FlowEventReader() (*loader.FlowEventReader, error) {
	return nil, errors.New("fake data plane has no events")
}
func (f *fakeDP) Flow(k loader.FlowKey) (uint32, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.flows[k]
	return id, ok, nil
}
func (f *fakeDP) Flows(fn func(loader.FlowKey, uint32) bool) error {
	f.mu.Lock()
	c := maps.Clone(f.flows)
	f.mu.Unlock()
	for k, v := range c {
		if !fn(k, v) {
			break
		}
	}
	return nil
}
func (f *fakeDP) MaxFlows() uint32 { return 1 << 20 }
func (f *fakeDP) AddFlow(k loader.FlowKey, id uint32) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.flows[k]; ok {
		return false, nil
	}
	f.flows[k] = id
	return true, nil
}
func (f *fakeDP) SetFlow(k loader.FlowKey, id uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows[k] = id
	return nil
}
func (f *fakeDP) Services() (map[loader.ServiceKey]loader.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.services), nil
}
func (f *fakeDP) Backends() (map[uint32]loader.Backend, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.backends), nil
}
func (f *fakeDP) snapshot() map[loader.FlowKey]uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.flows)
}

var (
	keyA = "flow-sync-key-A-0123456789abcdef"
	keyB = "flow-sync-key-B-0123456789abcdef"
)

// receiver is lvs2's syncer, not started: tests feed handle directly.
func receiver(t *testing.T, dp Dataplane, opts Options) *Syncer {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = ring(t, testKey(t, keyA))
	}
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(dp, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(&netdev{iface: &net.Interface{Index: 2, Name: "eth0"}, src: lvs2, onLink: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}})
	return s
}

// peerSender seals datagrams as lvs1 would.
type peerSender struct {
	key    *Key
	sender netip.Addr
	epoch  uint64
	seq    uint64
}

func (p *peerSender) seal(t *testing.T, now time.Time, es ...Entry) []byte {
	t.Helper()
	p.seq++
	b, err := Seal(p.key, Message{Kind: KindFlows, Sender: p.sender, Epoch: p.epoch, Seq: p.seq, SentAt: now.UnixMilli(), Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flowTo(port uint16, backend netip.Addr) Entry {
	return Entry{Flow: loader.FlowKey{Client: netip.AddrPortFrom(netip.MustParseAddr("192.168.1.100"), port),
		VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}, Backend: backend}
}

// flow6To is an IPv6 flow of service6.
func flow6To(port uint16, backend netip.Addr) Entry {
	return Entry{Flow: loader.FlowKey{Client: netip.AddrPortFrom(netip.MustParseAddr("fd00:1::100"), port),
		VIP: netip.AddrPortFrom(vip6, 3306), Proto: lb.TCP}, Backend: backend}
}

var fromLVS1 = meta{src: lvs1, dst: groupAddr, ifindex: 2, hops: 255}

// Each forged or misdirected datagram is refused, counted under its reason,
// and leaves the flow table as it was; the genuine one (first case) is
// applied, so the harness can tell the difference.
func TestReceiveChecks(t *testing.T) {
	t.Run("ipv4", func(t *testing.T) { testReceiveChecks(t, flowTo(40000, db2), 2) })
	t.Run("ipv6", func(t *testing.T) { testReceiveChecks(t, flow6To(40000, db62), 4) })
}

func testReceiveChecks(t *testing.T, e Entry, wantID uint32) {
	now := time.Now()
	v1 := append([]byte("XLBS\x01\x01\x00\x00"), make([]byte, entryLen)...) // the old unauthenticated format
	for _, tc := range []struct {
		name  string
		opts  Options
		build func(p *peerSender) []byte
		md    meta
		want  string // "" = applied
	}{
		{"genuine", Options{}, func(p *peerSender) []byte { return p.seal(t, now, e) }, fromLVS1, ""},
		{"wrong key", Options{}, func(p *peerSender) []byte {
			p.key = testKey(t, keyB)
			return p.seal(t, now, e)
		}, fromLVS1, ReasonAuth},
		{"no HMAC (version 1)", Options{}, func(*peerSender) []byte { return v1 }, fromLVS1, ReasonMalformed},
		{"TTL 64", Options{}, func(p *peerSender) []byte { return p.seal(t, now, e) }, meta{src: lvs1, dst: groupAddr, ifindex: 2, hops: 64}, ReasonTTL},
		{"unicast to our address", Options{}, func(p *peerSender) []byte { return p.seal(t, now, e) }, meta{src: lvs1, dst: lvs2, ifindex: 2, hops: 255}, ReasonNotGroup},
		{"another interface", Options{}, func(p *peerSender) []byte { return p.seal(t, now, e) }, meta{src: lvs1, dst: groupAddr, ifindex: 3, hops: 255}, ReasonInterface},
		{"not a configured peer", Options{Peers: []netip.Addr{lvs1}}, func(p *peerSender) []byte {
			p.sender = other
			return p.seal(t, now, e)
		}, meta{src: other, dst: groupAddr, ifindex: 2, hops: 255}, ReasonNotPeer},
		{"from 127.0.0.2", Options{}, func(p *peerSender) []byte {
			p.sender = netip.MustParseAddr("127.0.0.2")
			return p.seal(t, now, e)
		}, meta{src: netip.MustParseAddr("127.0.0.2"), dst: groupAddr, ifindex: 2, hops: 255}, ReasonNotPeer},
		{"claims our own address", Options{}, func(p *peerSender) []byte {
			p.sender = lvs2
			return p.seal(t, now, e)
		}, meta{src: lvs2, dst: groupAddr, ifindex: 2, hops: 255}, ReasonOwn},
		{"sealed as another peer", Options{Peers: []netip.Addr{lvs1, other}}, func(p *peerSender) []byte { return p.seal(t, now, e) },
			meta{src: other, dst: groupAddr, ifindex: 2, hops: 255}, ReasonSender},
		{"sent 40s ago", Options{}, func(p *peerSender) []byte { return p.seal(t, now.Add(-40*time.Second), e) }, fromLVS1, ReasonStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp := newFakeDP()
			s := receiver(t, dp, tc.opts)
			p := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: 1}
			s.handle(context.Background(), tc.build(p), tc.md, now)
			st := s.Status()
			id, ok, _ := dp.Flow(e.Flow)
			if tc.want == "" {
				if !ok || id != wantID || st.Applied != 1 {
					t.Fatalf("genuine datagram not applied: flow %d %v, %+v", id, ok, st)
				}
				return
			}
			if ok {
				t.Fatalf("refused datagram wrote a flow (backend %d)", id)
			}
			if st.Dropped[tc.want] != 1 || st.Received != 0 {
				t.Fatalf("dropped %v, received %d; want one %q", st.Dropped, st.Received, tc.want)
			}
		})
	}
}

// A datagram seen before is refused even after the flow it carried was
// removed here; a restarted peer (larger epoch) is heard again.
func TestReceiveReplay(t *testing.T) {
	now := time.Now()
	dp := newFakeDP()
	s := receiver(t, dp, Options{})
	p := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: 1}
	e := flowTo(40000, db2)
	d := p.seal(t, now, e)
	s.handle(context.Background(), d, fromLVS1, now)
	delete(dp.flows, e.Flow)
	s.handle(context.Background(), d, fromLVS1, now.Add(time.Second))
	if _, ok, _ := dp.Flow(e.Flow); ok || s.Status().Dropped[ReasonReplay] != 1 {
		t.Fatalf("replayed datagram: flow present %v, dropped %v", ok, s.Status().Dropped)
	}
	restarted := &peerSender{key: p.key, sender: lvs1, epoch: 2}
	s.handle(context.Background(), restarted.seal(t, now, e), fromLVS1, now.Add(time.Second))
	if id, ok, _ := dp.Flow(e.Flow); !ok || id != 2 {
		t.Fatalf("restarted peer's first datagram not applied: %d %v, %+v", id, ok, s.Status())
	}
}

// A sender over its rate is cut to it: the burst passes, the rest is
// dropped and counted, and the bucket refills with time.
func TestReceiveRateLimit(t *testing.T) {
	now := time.Now()
	dp := newFakeDP()
	s := receiver(t, dp, Options{Rate: 5, Burst: 10})
	p := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: 1}
	for i := range 30 {
		s.handle(context.Background(), p.seal(t, now, flowTo(uint16(40000+i), db1)), fromLVS1, now)
	}
	if st := s.Status(); st.Applied != 10 || st.Dropped[ReasonRate] != 20 || len(dp.snapshot()) != 10 {
		t.Fatalf("30 datagrams at once, burst 10: applied %d, rate drops %d, flows %d", st.Applied, st.Dropped[ReasonRate], len(dp.snapshot()))
	}
	later := now.Add(time.Second)
	for i := range 10 {
		s.handle(context.Background(), p.seal(t, later, flowTo(uint16(41000+i), db1)), fromLVS1, later)
	}
	if st := s.Status(); st.Applied != 15 || st.Dropped[ReasonRate] != 25 {
		t.Fatalf("a second later at 5/s: applied %d (want 15), rate drops %d (want 25)", st.Applied, st.Dropped[ReasonRate])
	}
	// Another peer has a bucket of its own.
	q := &peerSender{key: p.key, sender: other, epoch: 1}
	s.handle(context.Background(), q.seal(t, later, flowTo(42000, db1)), meta{src: other, dst: groupAddr, ifindex: 2, hops: 255}, later)
	if s.Status().Applied != 16 {
		t.Fatalf("a second peer was limited by the first one's rate: %+v", s.Status())
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		haveLocal, sameBackend, usable bool
		want                           Decision
	}{
		{"no entry here", false, false, false, Add},
		{"same backend", true, true, true, Same},
		{"local backend down", true, false, false, Replace},
		{"local backend usable", true, false, true, KeepLocal},
	} {
		if got := Decide(tc.haveLocal, tc.sameBackend, tc.usable); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The replacement rule on a data plane: an entry on a usable backend stays,
// one on a down backend is replaced, and entries naming what this director
// cannot use are refused.
func TestReceiveReplaceRule(t *testing.T) {
	now := time.Now()
	dp := newFakeDP()
	s := receiver(t, dp, Options{})
	p := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: 1}
	e := flowTo(40000, db2)
	dp.flows[e.Flow] = 1 // here: on db1, usable
	s.handle(context.Background(), p.seal(t, now, e), fromLVS1, now)
	if id := dp.flows[e.Flow]; id != 1 || s.Status().Dropped[ReasonKeptLocal] != 1 {
		t.Fatalf("usable local entry: backend %d (want 1, kept), %+v", id, s.Status())
	}
	s.handle(context.Background(), p.seal(t, now, flowTo(40000, db1)), fromLVS1, now)
	if s.Status().Unchanged != 1 {
		t.Fatalf("same backend: %+v", s.Status())
	}

	dp.mu.Lock()
	dp.backends[1] = loader.Backend{ServiceID: 1, IP: db1, State: loader.BackendDown}
	dp.mu.Unlock()
	s.ids.at = time.Time{} // the reconciler's write is seen at the next refresh
	s.handle(context.Background(), p.seal(t, now, e), fromLVS1, now)
	if id := dp.flows[e.Flow]; id != 2 || s.Status().Replaced != 1 {
		t.Fatalf("local entry on a down backend: backend %d (want 2, replaced), %+v", id, s.Status())
	}

	before := dp.snapshot()
	s.handle(context.Background(), p.seal(t, now,
		flowTo(40001, db1), // db1 is down here
		flowTo(40002, netip.MustParseAddr("192.168.1.99")),
		Entry{Flow: loader.FlowKey{Client: e.Flow.Client, VIP: netip.MustParseAddrPort("192.168.1.31:3306"), Proto: lb.TCP}, Backend: db2},
	), fromLVS1, now)
	st := s.Status()
	if !maps.Equal(before, dp.snapshot()) || st.Dropped[ReasonNotUsable] != 1 || st.Dropped[ReasonUnknownBackend] != 1 || st.Dropped[ReasonUnknownService] != 1 {
		t.Fatalf("unusable entries: table changed %v, dropped %v", !maps.Equal(before, dp.snapshot()), st.Dropped)
	}
}

// Among N directors a joining one is synced only when every peer that
// started a dump has finished it, not at the first peer's end; datagrams a
// dump sent that never arrived are counted as lost.
func TestBulkJoinWaitsForEveryDump(t *testing.T) {
	var b bulkJoin
	t0 := time.Now()
	if b.answered() {
		t.Fatal("answered before any dump")
	}
	for range 3 {
		b.part(lvs1, t0)
	}
	b.part(other, t0)
	if !b.answered() {
		t.Fatal("a dump started but not counted as an answer")
	}
	b.end(lvs1, 3, t0.Add(time.Second))
	if _, done := b.result(); done {
		t.Fatal("done while the second peer's dump still runs")
	}
	b.part(lvs1, t0) // a late datagram of a finished dump changes nothing
	b.end(other, 2, t0.Add(time.Second))
	r, done := b.result()
	if !done || r.got != 4 || r.lost != 1 || r.rate != 4 {
		t.Fatalf("both ended: %+v done %v, want 4 got, 1 lost, 4/s", r, done)
	}
	b.reset()
	if b.answered() {
		t.Fatal("answered after reset")
	}
	// A dump whose end never comes stalls after a quiet while.
	b.part(lvs1, t0)
	b.part(lvs1, t0.Add(time.Second))
	if _, stalled := b.stalled(t0.Add(2*time.Second), 2*time.Second); stalled {
		t.Fatal("stalled one second after its last datagram")
	}
	if r, stalled := b.stalled(t0.Add(3*time.Second), 2*time.Second); !stalled || r.got != 2 || r.lost != 1 || r.rate != 2 {
		t.Fatalf("quiet for 2s without its end: %+v stalled %v, want 2 got, 1 lost, 2/s", r, stalled)
	}
	b.reset()
	b.end(lvs1, 0, t0) // an empty table's dump: its end only
	if r, done := b.result(); !done || r.lost != 0 {
		t.Fatalf("empty dump: %+v %v", r, done)
	}
}
