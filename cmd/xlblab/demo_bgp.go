package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"time"

	"xlb/control/flowsync"
	"xlb/test/lab"
)

// demoBGP walks through what active-active directors promise: every director
// carries a share, a drained or dead one leaves the router's ECMP route
// without a client noticing, and a rebooted one learns the flow table before
// it takes traffic again.
func demoBGP(l *lab.Lab, fams []*family, mon *monitor) ([]row, error) {
	w := fams[0].w // the client behind the router is IPv4 only
	before := forwarded(l)
	mon.watch(3 * time.Second)
	var rows []row
	rows = append(rows, one("packets forwarded in 3 s by lvs1 / lvs2 / lvs3 (the router's L4 hash spreads the connections)", share(before, forwarded(l))))

	step("xlbctl drain on lvs2: it withdraws the VIP, the router re-hashes its connections onto lvs1 and lvs3, which know them (flow sync)")
	errs := total(w.Stats().Errors)
	if _, err := l.Xlbctl("lvs2", "drain"); err != nil {
		return nil, err
	}
	took := mon.until(10*time.Second, func() bool { return len(l.Nexthops()) == 2 })
	rows = append(rows, one("xlbctl drain lvs2 -> out of the router's ECMP route", took.String()))
	mon.watch(2 * time.Second)
	if _, err := l.Xlbctl("lvs2", "undrain"); err != nil {
		return nil, err
	}
	mon.until(10*time.Second, func() bool { return len(l.Nexthops()) == 3 })
	rows = append(rows, one("client errors across the drain and undrain", fmt.Sprint(total(w.Stats().Errors)-errs)))

	step("lvs1 dies: its link goes down and its xlbd is killed (kill -9): no BGP message, no FIN reaches the router; BFD (100 ms x 3) must take it out")
	errs = total(w.Stats().Errors)
	if err := l.SetLink("lvs1", false); err != nil {
		return nil, err
	}
	if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
		return nil, err
	}
	took = mon.until(10*time.Second, func() bool { return len(l.Nexthops()) == 2 })
	rows = append(rows, one("lvs1 dead -> out of the router's ECMP route (BFD)", took.String()))
	mon.watch(3 * time.Second)
	rows = append(rows, one("client errors after lvs1 died (its connections re-hashed to lvs2, lvs3)", fmt.Sprint(total(w.Stats().Errors)-errs)))

	step("lvs1 comes back as after a reboot (its pinned flow table gone): it asks lvs2 and lvs3 for theirs, and announces the VIP only then")
	errs = total(w.Stats().Errors)
	if err := l.SetLink("lvs1", true); err != nil {
		return nil, err
	}
	if err := l.Detach("lvs1"); err != nil {
		return nil, err
	}
	if err := l.StartXlbd("lvs1"); err != nil {
		return nil, err
	}
	took = mon.until(30*time.Second, func() bool { return len(l.Nexthops()) == 3 })
	rows = append(rows, one("lvs1 restarted -> back in the ECMP route, table synced first", took.String()))
	if st, err := flowSync(l, "lvs1"); err == nil {
		fmt.Printf("    lvs1 flow sync: synced %v after %d table request(s), %d flows applied\n", st.Synced, st.BulkRequests, st.Applied)
		rows = append(rows, one("flows lvs1 learnt from the others before announcing", fmt.Sprint(st.Applied)))
	}
	mon.watch(3 * time.Second)
	rows = append(rows, one("client errors across lvs1's return", fmt.Sprint(total(w.Stats().Errors)-errs)))

	lost, err := nothingLost(l, fams, "commits that failed")
	return append(rows, lost...), err
}

func forwarded(l *lab.Lab) map[string]uint64 {
	m := map[string]uint64{}
	for _, d := range l.Directors() {
		m[d] = l.Forwarded(d)
	}
	return m
}

func share(before, after map[string]uint64) string {
	var parts []string
	for _, d := range []string{"lvs1", "lvs2", "lvs3"} {
		parts = append(parts, fmt.Sprint(after[d]-before[d]))
	}
	return strings.Join(parts, " / ")
}

func flowSync(l *lab.Lab, role string) (flowsync.Status, error) {
	out, err := l.Xlbctl(role, "--json", "flowsync")
	if err != nil {
		return flowsync.Status{}, err
	}
	var st []flowsync.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		return flowsync.Status{}, fmt.Errorf("xlbctl flowsync on %s: %v: %s", role, err, out)
	}
	return st[0], nil
}
