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
	pd := "BenchmarkVethPPSDirectors"
	if one, ok := r.Res.Get(pd, "pps-1-directors"); ok {
		b.WriteString("Aggregate packet rate through 1, 2 and 3 directors (bench's veth lab as in section 2: the generator runs once per director at the same time, each run addressed to its director's MAC as ECMP would spread the flows, every director knowing every flow; 5 rounds of each count, rotated):\n\n| directors | delivered packets/s | × one director (per round) |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| 1 | %s | 1 |\n", one.Format())
		for n := 2; n <= 3; n++ {
			p, _ := r.Res.Get(pd, fmt.Sprintf("pps-%d-directors", n))
			q, _ := r.Res.Get(pd, fmt.Sprintf("%d/1-directors", n))
			fmt.Fprintf(&b, "| %d | %s | %s |\n", n, p.Format(), q.Format())
		}
		b.WriteString("\nThis does not scale here, and cannot: the generator, every director's softirq work and the backends' counting share the VM's 2 cores (section 2: one director already forwards what the generator sends, as fast as a bare forwarder), so more directors only divide the same CPU. What does scale is what each director needs: nothing shared on the packet path (flow sync is out of band), so N directors on N machines forward N shares.\n\n")
	} else {
		b.WriteString("Aggregate packet rate with 1, 2 and 3 directors: not measured in this run (xlbbench step directors).\n\n")
	}
	b.WriteString(BGPSectionEnd + "\n")
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
