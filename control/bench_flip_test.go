package control

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// BenchmarkVerdictToKernel is the time from a health verdict (SetHealth) to
// the service's flipped Maglev table live in a loaded data plane (Apply
// returned: the slot flip is its last write), for services of several sizes.
// Each trial marks one backend down, then up again; both directions are
// timed. After every trial the kernel's table is read back and must show it.
func BenchmarkVerdictToKernel(b *testing.B) {
	testutil.RequirePriv(b)
	const trials = 10
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			dp, err := loader.Load(net.HardwareAddr{2, 0, 0, 0, 0, 1}, loader.Options{MaxFlows: 1024})
			if err != nil {
				b.Fatal(err)
			}
			defer dp.Close()
			key := loader.ServiceKey{VIP: netip.MustParseAddr("10.0.0.100"), Port: 3306, Proto: lb.TCP}
			r := New(dp, slog.New(slog.DiscardHandler))
			spec := ServiceSpec{Key: key}
			for i := range n {
				ip := netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)})
				spec.Backends = append(spec.Backends, BackendSpec{IP: ip, Weight: 1})
				r.SetMAC(ip, net.HardwareAddr{2, 0, 0, 1, 0, byte(i + 1)})
				r.SetHealth(key, ip, Health{Up: true, Reason: "benchmark"})
			}
			r.SetDesired([]ServiceSpec{spec})
			if err := r.Apply(); err != nil {
				b.Fatal(err)
			}
			victim := spec.Backends[0].IP
			victimID := r.Status()[0].Backends[0].ID
			var times []time.Duration
			for i := range 2 * trials {
				up := i%2 == 1
				start := time.Now()
				r.SetHealth(key, victim, Health{Up: up, Reason: "benchmark"})
				if err := r.Apply(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
				table, err := dp.MaglevTable(key)
				if err != nil {
					b.Fatal(err)
				}
				if slices.Contains(table, victimID) != up {
					b.Fatalf("trial %d: backend %d in the kernel's table = %v after a verdict up=%v", i, victimID, !up, up)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "max-ms")
		})
	}
}
