package control

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// TestNeighbourFlushUnderLoad is the whole path: XDP forwarding to two
// backends whose MACs come from a MACTracker, 40 connections echoing without
// pause, while the backends stop answering ARP and the director's neighbour
// table is flushed again and again. The tracker fails to confirm the MACs
// many times over, and not one connection breaks nor is a backend ever
// taken out.
func TestNeighbourFlushUnderLoad(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "fl", testutil.DRSpec{})
	client, director, db1, db2 := lab.Client, lab.Director, lab.Backends[0], lab.Backends[1]
	key := loader.ServiceKey{VIP: lab.VIP, Port: testutil.DRPort, Proto: lb.TCP}
	pinRoot := testutil.PinRoot(t, "fl")
	var dp *loader.Dataplane
	if err := director.Do(func() (err error) {
		dp, err = loader.Open("eth0", loader.Options{PinRoot: pinRoot, MaxFlows: 4096})
		return err
	}); err != nil {
		t.Fatalf("open data plane: %v", err)
	}
	t.Cleanup(func() { loader.DetachPinned("eth0", pinRoot); dp.Close() })

	log := slog.New(slog.DiscardHandler)
	rec := New(dp, log)
	spec := ServiceSpec{Key: key}
	for _, h := range []*testutil.Host{db1, db2} {
		spec.Backends = append(spec.Backends, BackendSpec{IP: h.Addr.Addr(), Weight: 1})
		rec.SetHealth(key, h.Addr.Addr(), Health{Up: true, Reason: "test"})
	}
	rec.SetDesired([]ServiceSpec{spec})
	var applyErr atomic.Value
	n := openNeighbours(t, director, log)
	tr := startTracker(t, n, MACTrackerOptions{Refresh: 300 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Log: log,
		OnChange: func(ip netip.Addr, mac net.HardwareAddr) {
			rec.SetMAC(ip, mac)
			if err := rec.Apply(); err != nil {
				applyErr.Store(err)
			}
		}})
	tr.Track(map[netip.Addr]net.HardwareAddr{db1.Addr.Addr(): nil, db2.Addr.Addr(): nil})
	allActive := func() bool {
		st := rec.Status()
		if len(st) != 1 {
			return false
		}
		for _, b := range st[0].Backends {
			if b.State != loader.BackendActive {
				return false
			}
		}
		return true
	}
	waitFor(t, 5*time.Second, "both backends resolved and active", allActive)

	const conns = 40
	var wg sync.WaitGroup
	var broken, echoes atomic.Int64
	stop := make(chan struct{})
	perBackend := map[string]int{}
	var pbMu sync.Mutex
	for i := range conns {
		c, err := testutil.Dial(client, lab.Service(), 41000+i)
		if err != nil {
			t.Fatalf("connection %d through the VIP: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		pbMu.Lock()
		perBackend[c.Backend]++
		pbMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Echo(fmt.Sprintf("c%d-%d", i, j)); err != nil {
					broken.Add(1)
					t.Errorf("connection %d (%s) broke after %d echoes: %v", i, c.Backend, j, err)
					return
				}
				echoes.Add(1)
			}
		}()
	}
	t.Logf("%d connections: %v", conns, perBackend)

	var sampled, inactive atomic.Int64
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		for watchCtx.Err() == nil {
			sampled.Add(1)
			if !allActive() {
				inactive.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	_, before := tr.Status()
	restore1, restore2 := dropARPReplies(t, db1), dropARPReplies(t, db2)
	for range 10 {
		director.MustRun(t, "ip", "neigh", "flush", "dev", "eth0")
		time.Sleep(300 * time.Millisecond)
	}
	restore1()
	restore2()
	for range 5 {
		director.MustRun(t, "ip", "neigh", "flush", "dev", "eth0")
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	stopWatch()
	watchWG.Wait()

	_, after := tr.Status()
	failed := after.Failures - before.Failures
	t.Logf("%d echoes over %d connections, %d broken; %d failed MAC attempts; backends inactive in %d of %d samples",
		echoes.Load(), conns, broken.Load(), failed, inactive.Load(), sampled.Load())
	if failed < 10 {
		t.Errorf("only %d failed MAC attempts: the ARP drop did not take effect, the test proves nothing", failed)
	}
	if inactive.Load() != 0 {
		t.Errorf("a backend left the active state in %d of %d samples", inactive.Load(), sampled.Load())
	}
	if broken.Load() != 0 {
		t.Errorf("%d of %d connections broke", broken.Load(), conns)
	}
	if err, _ := applyErr.Load().(error); err != nil {
		t.Errorf("apply: %v", err)
	}
	if len(perBackend) != 2 {
		t.Errorf("connections went to %v: both backends should carry some", perBackend)
	}
}
