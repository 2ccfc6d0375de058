package daemon

import (
	"net/netip"
	"testing"

	"xlb/control/config"
	"xlb/control/script"
)

// A reload that changes a real server's notify scripts restarts its monitor
// (the running one holds the old scripts); an identical one keeps it.
func TestSameCheckNotifyScripts(t *testing.T) {
	svc := &config.Service{}
	p := &plane{}
	real := func(down ...string) config.RealServer {
		return config.RealServer{IP: netip.MustParseAddr("10.0.0.2"), Weight: 1,
			Check: &config.Check{Kind: config.CheckTCP}, NotifyUp: script.Command{Argv: []string{"/bin/up"}}, NotifyDown: script.Command{Argv: down}}
	}
	a := checkConfig{plane: p, svc: svc, real: real("/bin/down", "x")}
	if !sameCheck(a, checkConfig{plane: p, svc: svc, real: real("/bin/down", "x")}) {
		t.Error("identical config restarts the monitor")
	}
	if sameCheck(a, checkConfig{plane: p, svc: svc, real: real("/bin/down", "y")}) {
		t.Error("a changed notify_down keeps the monitor with the old script")
	}
}
