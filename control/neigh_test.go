package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"

	"xlb/test/testutil"
)

// openNeighbours opens Neighbours on h's eth0, inside h's namespace.
func openNeighbours(t *testing.T, h *testutil.Host, log *slog.Logger) *Neighbours {
	t.Helper()
	var n *Neighbours
	err := h.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		n, err = OpenNeighbours(iface, log)
		return err
	})
	if err != nil {
		t.Fatalf("open neighbours in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// dropARPReplies makes h send no ARP replies (an nftables arp-family rule in
// h's own namespace) until the returned function is called.
func dropARPReplies(t *testing.T, h *testutil.Host) (restore func()) {
	t.Helper()
	h.MustRun(t, "nft", "add table arp xlbt { chain out { type filter hook output priority 0; policy accept; arp operation reply counter drop; }; }")
	var once sync.Once
	restore = func() { once.Do(func() { h.MustRun(t, "nft", "delete table arp xlbt") }) }
	t.Cleanup(restore)
	return restore
}

// waitFor polls cond every 10ms until it holds or limit passes, and returns
// how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestNeighbours(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "ng")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	backend := seg.AddHost(t, "db", "192.168.1.10/24")
	// A permanent entry with a MAC no host has: only the table can say it.
	director.MustRun(t, "ip", "neigh", "add", "192.168.1.50", "lladdr", "02:aa:bb:cc:dd:ee", "dev", "eth0", "nud", "permanent")
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	all := func(net.HardwareAddr) bool { return true }

	if mac, ok := n.Lookup(netip.MustParseAddr("192.168.1.50")); !ok || mac.String() != "02:aa:bb:cc:dd:ee" {
		t.Errorf("lookup in the neighbour table: %s, %v", mac, ok)
	}
	if mac, ok := n.Lookup(netip.MustParseAddr("192.168.1.10")); ok {
		t.Errorf("lookup of an address never resolved: %s", mac)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	mac, err := n.Probe(ctx, netip.MustParseAddr("192.168.1.10"), all)
	cancel()
	if err != nil || mac.String() != backend.MAC.String() {
		t.Errorf("probe by ARP: %s, %v; want %s", mac, err, backend.MAC)
	}

	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = n.Probe(ctx, netip.MustParseAddr("192.168.1.77"), all)
	cancel()
	if !errors.Is(err, ErrNoReply) {
		t.Errorf("probe of an address nobody has: %v, want ErrNoReply", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("unanswered probe took %s, its context 500ms", d)
	}
	if own := n.OwnMACs(); !containsMAC(own, director.MAC) {
		t.Errorf("own MACs %v miss eth0's %s", own, director.MAC)
	}

	var iface *net.Interface
	if err := director.Do(func() (err error) { iface, err = net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	err = director.Do(func() error {
		if err := OnLink(iface, netip.MustParseAddr("192.168.1.11")); err != nil {
			t.Errorf("on-link address refused: %v", err)
		}
		if err := OnLink(iface, netip.MustParseAddr("10.0.0.1")); !errors.Is(err, ErrNotOnLink) {
			t.Errorf("off-link address: %v, want ErrNotOnLink", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startTracker runs a tracker over n (and n's neighbour watch) until the
// test ends.
func startTracker(t *testing.T, n *Neighbours, opts MACTrackerOptions) *MACTracker {
	t.Helper()
	tr := NewMACTracker(n, opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); tr.Run(ctx) }()
	go func() { defer wg.Done(); n.Watch(ctx, tr.Observe) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return tr
}

// A host on the segment answers every ARP request for the backend with the
// broadcast MAC: the reply is ignored and counted, the backend stays
// unresolved while it is the only answer, and takes its real MAC once the
// backend answers too.
func TestSpoofedBroadcastReplyRefused(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "sp")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	db := seg.AddHost(t, "db", "192.168.1.10/24")
	attacker := seg.AddHost(t, "atk", "192.168.1.66/24")
	dbIP := db.Addr.Addr()

	// The forger reads requests with an ARP client and writes its replies as
	// raw frames: the ARP sender is the broadcast MAC, the Ethernet source
	// its own (a bridge drops frames from a broadcast source).
	var forger *arp.Client
	var raw *packet.Conn
	err := attacker.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if forger, err = arp.Dial(iface); err != nil {
			return err
		}
		raw, err = packet.Listen(iface, packet.Raw, int(ethernet.EtherTypeARP), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	broadcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	var sent atomic.Int64
	stop := make(chan struct{})
	var forged sync.WaitGroup
	forged.Add(1)
	go func() {
		defer forged.Done()
		for {
			req, _, err := forger.Read()
			select {
			case <-stop:
				return
			default:
			}
			if err != nil || req.Operation != arp.OperationRequest || req.TargetIP != dbIP {
				continue
			}
			reply, err := arp.NewPacket(arp.OperationReply, broadcast, dbIP, req.SenderHardwareAddr, req.SenderIP)
			if err != nil {
				continue
			}
			payload, _ := reply.MarshalBinary()
			frame, _ := (&ethernet.Frame{Destination: req.SenderHardwareAddr, Source: attacker.MAC, EtherType: ethernet.EtherTypeARP, Payload: payload}).MarshalBinary()
			if _, err := raw.WriteTo(frame, &packet.Addr{HardwareAddr: req.SenderHardwareAddr}); err == nil {
				sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); forger.Close(); raw.Close(); forged.Wait() })

	restore := dropARPReplies(t, db)
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var seen []string
	tr := startTracker(t, n, MACTrackerOptions{ProbeTimeout: 300 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler), OnChange: func(_ netip.Addr, mac net.HardwareAddr) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, mac.String())
		}})
	tr.Track(map[netip.Addr]net.HardwareAddr{dbIP: nil})

	refused := func() uint64 { _, st := tr.Status(); return st.Refused[RefusedBroadcast.String()] }
	waitFor(t, 5*time.Second, "a forged broadcast reply refused", func() bool { return refused() >= 3 })
	if mac := tr.MAC(dbIP); mac != nil {
		t.Fatalf("with only forged replies the backend resolved to %s", mac)
	}
	restore()
	d := waitFor(t, 5*time.Second, "the backend's own reply taken", func() bool { return slices.Equal(tr.MAC(dbIP), db.MAC) })
	t.Logf("forged broadcast replies sent %d, refused %d; real MAC taken %s after the backend answered again", sent.Load(), refused(), d.Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{db.MAC.String()}) {
		t.Errorf("MACs handed on: %v, want only %s", seen, db.MAC)
	}
}

// Lost ARP replies, a neighbour flush and a link flap never lose the
// backend's MAC; a changed neighbour entry is followed at once. The tracker
// runs with xlbd's defaults, so the logged times are xlbd's.
func TestMACTrackerSurvivesLossFlushAndFlap(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "tr")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	db := seg.AddHost(t, "db", "192.168.1.10/24")
	dbIP := db.Addr.Addr()
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var seen []string
	tr := startTracker(t, n, MACTrackerOptions{Log: slog.New(slog.DiscardHandler), OnChange: func(_ netip.Addr, mac net.HardwareAddr) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, mac.String())
	}})
	tr.Track(map[netip.Addr]net.HardwareAddr{dbIP: nil})
	waitFor(t, 3*time.Second, "first resolution", func() bool { return slices.Equal(tr.MAC(dbIP), db.MAC) })
	status := func() MACStatus {
		list, _ := tr.Status()
		return list[0]
	}

	// In xlbd the health checks keep the kernel's entry alive; here a
	// connection attempt (refused) makes it, so that the flush and the flap
	// delete one.
	touch := func() {
		t.Helper()
		err := director.Do(func() error {
			c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(dbIP, 9).String(), time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := n.Lookup(dbIP); !ok {
			t.Fatalf("no kernel neighbour entry for %s after connecting", dbIP)
		}
	}
	touch()
	restore := dropARPReplies(t, db)
	director.MustRun(t, "ip", "neigh", "flush", "dev", "eth0")
	waitFor(t, 15*time.Second, "three failed attempts", func() bool { return status().Failures >= 3 })
	if got := tr.MAC(dbIP); !slices.Equal(got, db.MAC) {
		t.Fatalf("lost replies and a flush: MAC %s, want %s kept", got, db.MAC)
	}
	restore()
	d := waitFor(t, 15*time.Second, "confirmed after replies return", func() bool { return status().Failures == 0 })
	t.Logf("confirmed %s after ARP replies came back (after 3 failed attempts: backoff 1s)", d.Round(time.Millisecond))

	touch()
	director.MustRun(t, "ip", "link", "set", "eth0", "down")
	// Taken before "up": the tracker may confirm while the command is
	// still returning, and nothing confirms while the link is down.
	up := time.Now()
	director.MustRun(t, "ip", "link", "set", "eth0", "up")
	waitFor(t, 10*time.Second, "confirmed after a link flap", func() bool { return status().Confirmed.After(up) })
	if got := tr.MAC(dbIP); !slices.Equal(got, db.MAC) {
		t.Errorf("after a link flap: MAC %s, want %s", got, db.MAC)
	}
	t.Logf("link flap: MAC confirmed again %s after the link was set up (source %s)", status().Confirmed.Sub(up).Round(time.Millisecond), status().Source)

	moved, _ := net.ParseMAC("02:00:00:00:00:77")
	director.MustRun(t, "ip", "neigh", "replace", dbIP.String(), "lladdr", moved.String(), "dev", "eth0", "nud", "reachable")
	d = waitFor(t, 2*time.Second, "a changed neighbour entry followed", func() bool { return slices.Equal(tr.MAC(dbIP), moved) })
	t.Logf("RTM_NEWNEIGH with a new MAC followed in %s", d.Round(time.Millisecond))
	if _, st := tr.Status(); st.Changes < 1 {
		t.Errorf("changes = %d after a new MAC", st.Changes)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range seen {
		if m == "" {
			t.Errorf("the MAC was dropped at some point: %v", seen)
		}
	}
}

// When the watch socket overflows (ENOBUFS), Watch subscribes again and
// reads the whole table: an entry whose event was lost is still followed.
func TestNeighbourWatchResubscribesOnOverflow(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "ob")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	db := seg.AddHost(t, "db", "192.168.1.10/24")
	dbIP := db.Addr.Addr()
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	n.watchRcvBuf = 4096
	tr := NewMACTracker(n, MACTrackerOptions{Log: slog.New(slog.DiscardHandler)})
	tr.Track(map[netip.Addr]net.HardwareAddr{dbIP: nil})
	// Slow consumer: the socket overflows while the events wait.
	gate := make(chan struct{}) // closed once the socket has overflowed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watch(ctx, func(ev NeighEvent) {
			<-gate
			tr.Observe(ev)
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(200 * time.Millisecond) // subscribed

	moved, _ := net.ParseMAC("02:00:00:00:00:78")
	var batch strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&batch, "neigh add 10.%d.%d.1 lladdr 02:00:00:01:00:01 dev eth0 nud permanent\n", i/250, i%250)
		if i == 1500 {
			fmt.Fprintf(&batch, "neigh replace %s lladdr %s dev eth0 nud permanent\n", dbIP, moved)
		}
	}
	cmd := director.Cmd("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	close(gate)
	waitFor(t, 10*time.Second, "the entry changed during the overflow followed", func() bool { return slices.Equal(tr.MAC(dbIP), moved) })
	if _, resub := n.Counters(); resub == 0 {
		t.Errorf("3000 events on a 4 KiB socket did not overflow it: the test proves nothing")
	}
}
