package bench

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

const (
	ppsFlows  = 1024
	ppsFrames = 300_000 // per round: ~1-3 s at the rates seen on veth here
)

var ppsVIP = netip.MustParseAddr("10.77.0.100")

// xdpMD is struct xdp_md, the context of an XDP test run. In live-frames
// mode its ingress ifindex picks the device the frames leave from.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// ppsLab is client -> bridge -> director -> bridge -> two backends, all veth
// in native XDP mode. The client transmits with traffic_gen in live-frames
// mode; the director runs xlb or traffic_fwd (swapped in one link); the
// backends count what arrives with traffic_count and drop it.
type ppsLab struct {
	client, director *testutil.Host
	clientIfindex    int
	dirLink          interface{ Update(*ebpf.Program) error }
	xlb              *loader.Dataplane
	objs             trafficObjects
	frame            []byte
}

func newPPSLab(b *testing.B) *ppsLab {
	b.Helper()
	testutil.RequirePriv(b)
	seg := testutil.NewSegment(b, "pps")
	l := &ppsLab{
		client:   seg.AddHost(b, "ppsc", "10.77.0.1/24"),
		director: seg.AddHost(b, "ppsd", "10.77.0.2/24"),
	}
	backends := []*testutil.Host{seg.AddHost(b, "ppsb1", "10.77.0.11/24"), seg.AddHost(b, "ppsb2", "10.77.0.12/24")}
	// Both the client's and the director's frames leave by XDP_TX, which a
	// veth drops unless its peer runs XDP too.
	seg.AttachPassToPort(b, l.client)
	seg.AttachPassToPort(b, l.director)
	// The backends never send, so the bridge would never learn their MACs and
	// would flood every forwarded frame to all ports: static entries, as a
	// switch would have learned them.
	for _, h := range append([]*testutil.Host{l.client, l.director}, backends...) {
		seg.Bridge.MustRun(b, "bridge", "fdb", "replace", h.MAC.String(), "dev", h.Port, "master", "static")
	}

	spec, err := loadTraffic()
	if err != nil {
		b.Fatal(err)
	}
	consts := map[string]any{
		"gen_flows": uint32(ppsFlows), "gen_base_port": uint16(20000),
		"fwd_own_mac": [6]byte(l.director.MAC), "fwd_backend_mac": [6]byte(backends[0].MAC),
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			b.Fatalf("set %s: %v", name, err)
		}
	}
	if err := spec.LoadAndAssign(&l.objs, nil); err != nil {
		b.Fatalf("load traffic programs: %v", err)
	}
	b.Cleanup(func() { l.objs.Close() })
	for _, h := range backends {
		attachXDP(b, h.NetNS, "eth0", l.objs.TrafficCount)
	}

	l.xlb = xlbDirector(b, l.director, l.client, backends)
	l.dirLink = attachXDP(b, l.director.NetNS, "eth0", l.xlb.Program())

	l.frame = tcpFrame(l.client.MAC, l.director.MAC, l.client.Addr.Addr(), ppsVIP, 20000, 3306)
	err = l.client.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		l.clientIfindex = iface.Index
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// xlbDirector loads xlb for director with the VIP's service on backends and
// the generator's ppsFlows flows from client already recorded on their
// Maglev picks (established connections, as their handshakes would have
// left them; with several directors, as flow sync would).
func xlbDirector(b *testing.B, director, client *testutil.Host, backends []*testutil.Host) *loader.Dataplane {
	b.Helper()
	dp, err := loader.Load(director.MAC, loader.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dp.Close() })
	svc := loader.ServiceKey{VIP: ppsVIP, Port: 3306, Proto: lb.TCP}
	if err := dp.SetService(svc, loader.Service{ID: 1}); err != nil {
		b.Fatal(err)
	}
	var mb []maglev.Backend
	for i, h := range backends {
		id := uint32(i + 1)
		if err := dp.SetBackend(id, loader.Backend{ServiceID: 1, IP: h.Addr.Addr(), MAC: h.MAC, State: loader.BackendActive}); err != nil {
			b.Fatal(err)
		}
		mb = append(mb, maglev.Backend{ID: id, Name: h.Addr.Addr().String(), Weight: 1})
	}
	table, err := maglev.Build(mb, dp.TableSize())
	if err != nil {
		b.Fatal(err)
	}
	if err := dp.WriteMaglev(svc, table); err != nil {
		b.Fatal(err)
	}
	for port := uint16(20000); port < 20000+ppsFlows; port++ {
		flow := loader.FlowKey{Client: netip.AddrPortFrom(client.Addr.Addr(), port), VIP: netip.AddrPortFrom(ppsVIP, 3306), Proto: lb.TCP}
		slot, err := dp.TableSlot(flow, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := dp.SetFlow(flow, table[slot]); err != nil {
			b.Fatal(err)
		}
	}
	return dp
}

func (l *ppsLab) delivered(b *testing.B) uint64 {
	b.Helper()
	var per []uint64
	if err := l.objs.CountPkts.Lookup(uint32(0), &per); err != nil {
		b.Fatal(err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

func (l *ppsLab) sent(b *testing.B) uint64 {
	b.Helper()
	var n uint64
	if err := l.objs.GenSeq.Get(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// round sends ppsFrames frames with prog on the director and returns the
// rate at which they reached the backends and the share that did.
func (l *ppsLab) round(b *testing.B, prog *ebpf.Program) (pps, deliveredShare float64) {
	b.Helper()
	if err := l.dirLink.Update(prog); err != nil {
		b.Fatalf("swap director program: %v", err)
	}
	sent0, got0 := l.sent(b), l.delivered(b)
	var elapsed time.Duration
	err := l.client.Do(func() error {
		start := time.Now()
		_, err := l.objs.TrafficGen.Run(&ebpf.RunOptions{
			Data:      l.frame,
			Context:   xdpMD{DataEnd: uint32(len(l.frame)), IngressIfindex: uint32(l.clientIfindex)},
			Repeat:    ppsFrames,
			Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			BatchSize: 64,
		})
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		b.Fatalf("live-frames run: %v", err)
	}
	// Frames still queued on the way are counted, not timed: a bounded wait.
	time.Sleep(200 * time.Millisecond)
	sent, got := l.sent(b)-sent0, l.delivered(b)-got0
	if sent < ppsFrames {
		b.Fatalf("generator ran %d times, want >= %d", sent, ppsFrames)
	}
	if got == 0 {
		b.Fatal("no frame reached a backend: the path is broken, not slow")
	}
	return float64(got) / elapsed.Seconds(), float64(got) / float64(sent)
}

// BenchmarkVethPPS is the packet rate of 64-byte frames of ppsFlows flows
// delivered to the backends through xlb, against traffic_fwd (the least an
// L2 DR forwarder does) on the same path, alternating within one run.
func BenchmarkVethPPS(b *testing.B) {
	l := newPPSLab(b)
	// Warm up: xlb's flow table learns the flows, caches and pages settle.
	l.round(b, l.xlb.Program())
	var xlbPPS, fwdPPS, ratios, xlbShare, fwdShare []float64
	for i := range 5 {
		// Alternate which goes first, so a noisy neighbour hits both alike.
		var x, f, xs, fs float64
		if i%2 == 0 {
			x, xs = l.round(b, l.xlb.Program())
			f, fs = l.round(b, l.objs.TrafficFwd)
		} else {
			f, fs = l.round(b, l.objs.TrafficFwd)
			x, xs = l.round(b, l.xlb.Program())
		}
		xlbPPS, fwdPPS, ratios = append(xlbPPS, x), append(fwdPPS, f), append(ratios, x/f)
		xlbShare, fwdShare = append(xlbShare, xs), append(fwdShare, fs)
	}
	// Every frame xlb forwarded was a known flow's: none took the slower
	// paths of flows it does not know.
	stats, err := l.xlb.FlowCounters()
	if err != nil {
		b.Fatal(err)
	}
	for _, st := range loader.FlowStats() {
		if stats[st].Packets != 0 {
			b.Fatalf("%d frames counted as %s: the benchmark is not measuring known flows only", stats[st].Packets, st)
		}
	}
	reportSpread(b, xlbPPS, "xlb-pps")
	reportSpread(b, fwdPPS, "fwd-pps")
	reportSpread(b, ratios, "xlb/fwd")
	b.ReportMetric(Median(xlbShare)*100, "xlb-delivered-%")
	b.ReportMetric(Median(fwdShare)*100, "fwd-delivered-%")
	b.Logf("rounds: xlb %s, fwd %s", fmtRates(xlbPPS), fmtRates(fwdPPS))
}

func fmtRates(v []float64) string {
	s := ""
	for _, x := range v {
		s += fmt.Sprintf(" %.0f", x)
	}
	return s
}
