package bench

import (
	"fmt"
	"io"
	"strings"
)

// The BGP section sits between these markers in BENCHMARKS.md, so
// `make bench-bgp` (xlbbench -section bgp) can replace it alone.
const (
	BGPSectionBegin = "<!-- begin: BGP section (make bench-bgp rewrites it alone) -->"
	BGPSectionEnd   = "<!-- end: BGP section -->"
)

// bgpCase reports whether a failover case is the BGP trial's (control/bgp).
func bgpCase(f Failover) bool { return strings.HasPrefix(f.Case, "bgp ") }

// WriteBGP renders the active-active section: director failover with BFD
// beside VRRP's from the same run, and the time a joining director takes to
// receive a table of 1M flows. standalone: the section was run by itself
// (make bench-bgp), so it names its own date, machine and commands.
func (r *Report) WriteBGP(w io.Writer, standalone bool) error {
	var b strings.Builder
	b.WriteString(BGPSectionBegin + "\n\n## 6. Active-active with BGP: director failover, bulk sync\n\n")
	if standalone {
		e := r.Env
		fmt.Fprintf(&b, "Run by itself (`make bench-bgp`) on %s: %s; kernel %s, %s. Commands:\n\n", e.Date, e.Machine, e.Kernel, e.Go)
		for _, c := range e.Commands {
			fmt.Fprintf(&b, "- `%s`\n", c)
		}
		for _, n := range e.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	var bgp, vrrp []Failover
	for _, f := range r.Failovers {
		if bgpCase(f) {
			bgp = append(bgp, f)
		} else if strings.Contains(f.Case, "SIGKILL") {
			vrrp = append(vrrp, f)
		}
	}
	if len(bgp) > 0 {
		b.WriteString("Director failover, one run: from killing a director (-9) to the moment nothing is sent to it any more. BGP (control/bgp's trials against bird2 2.0.12): the director's link goes down with the kill, the router's stays up (a bridge between them), so only BFD (100 ms × 3) tells the router; the time runs until the router's kernel route through the director is gone. VRRP (control/vrrp's trials against keepalived 2.2.7, SIGKILL cases): until the backup is master; it then sends gratuitous ARP, which the clients still have to take in.\n\n| case | trials | median | best | worst |\n|---|---|---|---|---|\n")
		for _, f := range append(bgp, vrrp...) {
			fmt.Fprintf(&b, "| %s | %d | %v | %v | %v |\n", f.Case, f.N, f.Median, f.Best, f.Worst)
		}
		b.WriteString("\n")
	}
	bs := "BenchmarkBulkSync1M"
	if s, ok := r.Res.Get(bs, "sync-s"); ok {
		rate, _ := r.Res.Get(bs, "flows/s")
		held, _ := r.Res.Get(bs, "flows-held")
		peer, _ := r.Res.Get(bs, "peer-flows")
		req, _ := r.Res.Get(bs, "requests")
		lost, _ := r.Res.Get(bs, "datagrams-lost")
		fmt.Fprintf(&b, "Bulk sync (control/flowsync, two directors on a bridge): a director joins a peer whose table was filled with 1M flows and asks for it; the dump is paced at the default 2000 datagrams/s so it never starves the peer's forwarding, and a joiner that loses datagrams asks again, slower; it counts itself synced when a dump arrived whole, or after BulkWait (1 min) with what arrived. On this shared 2-core VM the joiner does not always keep up with the pace: it loses datagrams (last column) and asks again slower, which can stretch the time several-fold from run to run; with none lost the pace itself is the bound.\n\n| flows the peer holds (of 1M written: its LRU table evicts a few while filling) | time until synced | flows/s | flows the joiner holds | table requests | dump datagrams lost |\n|---|---|---|---|---|---|\n| %.0f | %s s | %.0f | %.0f | %.0f | %.0f |\n\n",
			peer.Median, s.Format(), rate.Median, held.Median, req.Median, lost.Median)
	}
	b.WriteString("Aggregate packet rate with 1, 2 and 3 directors: not measured. The veth lab's generator and every director share the machine's 2 cores (section 2: one director already takes what the generator can send), so adding directors here would measure the scheduler, not ECMP; on separate machines each director forwards its share with no state shared on the packet path (flow sync is out of band).\n\n" + BGPSectionEnd + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// SpliceSection replaces the text between begin and end (markers included)
// in doc with section, or appends section when doc has no such markers.
func SpliceSection(doc, section, begin, end string) string {
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	return doc[:i] + section + strings.TrimLeft(doc[j+len(end):], "\n")
}
