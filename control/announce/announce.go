// Package announce is the seam between xlbd and the ways a director gets a
// VIP's traffic sent to it: VRRP (one active director holding the VIP) today,
// BGP (every healthy director announcing it to routers) next.
//
// The daemon decides what this director should attract; an Announcer decides
// how. After every reconcile the daemon hands each announcer an Intent (every
// service and whether it is usable here) and reads its state back into the
// status the control socket, xlbctl and the metrics render. The models are
// MetalLB's speaker (one Protocol interface, layer2 and BGP behind it) and
// vc5, whose RIB is fed from service health.
package announce

import (
	"context"
	"net/netip"

	"xlb/control/api"
	"xlb/control/config"
)

// Announcer makes the network send (or stop sending) VIPs to this director.
type Announcer interface {
	// Configure starts, restarts and stops what cfg configures for this
	// announcer (at start-up and on every reload). What did not change keeps
	// running: no needless failover.
	Configure(ctx context.Context, cfg *config.Config)
	// Announce is called after every reconcile with what the director should
	// attract. It must not block on the network.
	Announce(Intent)
	// SharesFlows reports whether, with cfg, another director may take over
	// this one's traffic (a VRRP backup, an ECMP peer): flow sync runs only
	// then.
	SharesFlows(cfg *config.Config) bool
	// Status adds this announcer's state to s.
	Status(s *api.Status)
	// Stop withdraws what this director announced and stops; it returns
	// when done.
	Stop()
}

// Intent is what the daemon wants this director to attract.
type Intent struct {
	Services []Service
	// Drained: the operator took this director out (xlbctl drain); an
	// announcer that can withdraw without a failover (BGP) does.
	Drained bool
}

// Service is one configured service, as the announcers see it.
type Service struct {
	Name string
	VIP  netip.Addr
	// Usable: the weight of its active backends reaches its quorum, so this
	// director can serve it.
	Usable bool
	// Weight is the sum of the weights of its active backends; Quorum the
	// least it needs (at least 1).
	Weight, Quorum uint32
}

// ByName indexes the intent's services by name.
func (in Intent) ByName() map[string]Service {
	m := make(map[string]Service, len(in.Services))
	for _, s := range in.Services {
		m[s.Name] = s
	}
	return m
}
