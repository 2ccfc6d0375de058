package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/test/testutil"
)

// loadScaled is Load with the service- and backend-sized maps grown to
// maxServices and maxBackends: the default build (XLB_MAX_SERVICES 1024,
// XLB_MAX_BACKENDS 4096) cannot hold 10k services, and Options has no field
// for it, so the benchmark resizes the spec as such an option would.
func loadScaled(b testing.TB, maxServices, maxBackends uint32) *Dataplane {
	b.Helper()
	testutil.RequirePriv(b)
	spec, err := loadXlb()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := configure(spec, benchMAC, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"xlb_services", "xlb_service_keys", "xlb_service_stats"} {
		spec.Maps[name].MaxEntries = maxServices
	}
	spec.Maps["xlb_maglev"].MaxEntries = maxServices * 2
	for _, name := range []string{"xlb_backends", "xlb_backend_stats"} {
		spec.Maps[name].MaxEntries = maxBackends
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	inner := spec.Maps["xlb_maglev"].InnerMap
	d := &Dataplane{innerSpec: inner.Copy(), tableSize: int(inner.MaxEntries), hashSeed: cfg.HashSeed}
	d.mac.Store(&benchMAC)
	if err := spec.LoadAndAssign(&d.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			b.Fatalf("load: %+v", verr)
		}
		b.Fatal(err)
	}
	return d
}

// scaleDataplane holds services services: the measured one, mysqlSvc, has
// id 1 and backends backends; the others are other VIPs on the same port.
func scaleDataplane(b testing.TB, services, backends int) *Dataplane {
	b.Helper()
	maxSvc, maxBackends := uint32(1024), uint32(4096)
	for int(maxSvc) <= services {
		maxSvc *= 2
	}
	for int(maxBackends) <= services+backends {
		maxBackends *= 2
	}
	d := loadScaled(b, maxSvc, maxBackends)
	if err := d.SetService(mysqlSvc, Service{ID: 1}); err != nil {
		b.Fatal(err)
	}
	mb := make([]maglev.Backend, backends)
	for i := range mb {
		id := uint32(i + 1)
		ip := netip.AddrFrom4([4]byte{192, 168, 2 + byte(i>>8), byte(i)})
		if err := d.SetBackend(id, Backend{ServiceID: 1, IP: ip, MAC: benchMAC, State: BackendActive}); err != nil {
			b.Fatal(err)
		}
		mb[i] = maglev.Backend{ID: id, Name: ip.String(), Weight: 1}
	}
	table, err := maglev.Build(mb, d.TableSize())
	if err != nil {
		b.Fatal(err)
	}
	if err := d.WriteMaglev(mysqlSvc, table); err != nil {
		b.Fatal(err)
	}
	// The other services are configured (service, owner, one backend) but
	// get no Maglev table: every table is a map-in-map update, and each one
	// waits for an RCU grace period (~10 ms here), so 10k tables would take
	// minutes to install; a packet of the measured service never reads them.
	for i := 2; i <= services; i++ {
		id := uint32(i)
		key := ServiceKey{VIP: netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}), Port: 3306, Proto: lb.TCP}
		if err := d.SetService(key, Service{ID: id}); err != nil {
			b.Fatal(err)
		}
		if err := d.SetBackend(uint32(backends+i), Backend{ServiceID: id, IP: netip.MustParseAddr("192.168.9.9"), MAC: benchMAC, State: BackendActive}); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkScale is the per-packet cost (known flow, new flow) as services and
// backends grow, each against the reflector in the same run. The known-flow
// path never reads the services map nor a Maglev table; the new-flow path
// reads both, so that is where size could show.
func BenchmarkScale(b *testing.B) {
	cases := []struct{ services, backends int }{
		{1, 2}, {100, 2}, {1000, 2}, {10000, 2}, {1, 100}, {1, 1000},
	}
	refl := newBenchFixture(b, 1<<20).refl
	var known []byte
	for _, c := range cases {
		// Built once per case, not once per b.N the framework tries.
		var d *Dataplane
		used := 0 // new-flow frames already sent to d: they are opened now
		b.Run(fmt.Sprintf("services=%d/backends=%d", c.services, c.backends), func(b *testing.B) {
			if d == nil {
				d = scaleDataplane(b, c.services, c.backends)
				known = knownFrame(b, d)
			}
			n := max(b.N, 1000)
			reflNs := kernelNs(b, refl, known, n, xdpTX)
			knownNs := kernelNs(b, d.Program(), known, n, xdpTX)
			// Within the new-flow table's capacity over both of the
			// framework's calls (it is not full: BenchmarkFlowPaths
			// measures it full).
			calls := min(n, 30_000)
			opened0 := opened(b, d)
			first := used
			newR1 := oneByOneNs(b, d.Program(), calls, func(i int) []byte { return newFlowFrame(first + i) }, xdpTX)
			used += calls
			if got := opened(b, d) - opened0; got < uint64(calls) {
				b.Fatalf("new flow: only %d of %d runs opened a flow", got, calls)
			}
			knownR1 := oneByOneNs(b, d.Program(), calls, func(int) []byte { return known }, xdpTX)
			svc, err := d.ServiceCounter(1)
			if err != nil {
				b.Fatal(err)
			}
			if svc.Packets < uint64(n+2*calls) {
				b.Fatalf("service 1 forwarded %d packets, want >= %d: not the measured path", svc.Packets, n+2*calls)
			}
			newNs := knownNs + (newR1 - knownR1)
			b.ReportMetric(reflNs, "reflector-ns/pkt")
			b.ReportMetric(knownNs, "known-ns/pkt")
			b.ReportMetric(newNs, "new-ns/pkt")
			b.ReportMetric(knownNs/reflNs, "known/reflector")
			b.ReportMetric(newNs/reflNs, "new/reflector")
		})
		if d != nil {
			d.Close()
		}
	}
}

// BenchmarkProgramSize reports the size of xlb and of the reflector as the
// kernel holds them: verified BPF instructions and JIT-compiled bytes, the
// static half of a per-packet profile.
func BenchmarkProgramSize(b *testing.B) {
	f := newBenchFixture(b, 1<<10)
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{{"xlb", f.dp.Program()}, {"reflector", f.refl}} {
		info, err := p.prog.Info()
		if err != nil {
			b.Fatal(err)
		}
		jited, err := info.JitedSize()
		if err != nil {
			b.Fatal(err)
		}
		xlated, err := info.TranslatedSize()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(xlated/8), p.name+"-bpf-insns")
		b.ReportMetric(float64(jited), p.name+"-jited-bytes")
	}
}

// BenchmarkFloor separates the test-run harness's own cost from the
// programs' work: a program that only returns XDP_PASS measures the floor,
// and the reflector and xlb's known flow are reported above it, in one run.
func BenchmarkFloor(b *testing.B) {
	f := newBenchFixture(b, 1<<10)
	var objs reflectorObjects
	if err := loadReflectorObjects(&objs, nil); err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	n := max(b.N, 1000)
	known := knownFrame(b, f.dp)
	floor := kernelNs(b, objs.XlbPass, known, n, xdpPass)
	refl := kernelNs(b, f.refl, known, n, xdpTX)
	xlb := kernelNs(b, f.dp.Program(), known, n, xdpTX)
	b.ReportMetric(floor, "floor-ns/pkt")
	b.ReportMetric(refl-floor, "reflector-work-ns")
	b.ReportMetric(xlb-floor, "known-work-ns")
}
