package daemon

import (
	"fmt"

	"xlb/control"
	"xlb/control/announce"
	"xlb/control/config"
	"xlb/loader"
)

// The daemon's decisions, as pure functions of their inputs; the rest of the
// package is plumbing that feeds them and carries out what they return.

// failedBackends lists the backends a previous xlbd had taken out (down, or
// drained by inhibit_on_failure), from the pinned maps it left.
func failedBackends(svcs map[loader.ServiceKey]loader.Service, backends map[uint32]loader.Backend) map[control.BackendRef]bool {
	keyByID := map[uint32]loader.ServiceKey{}
	for k, s := range svcs {
		keyByID[s.ID] = k
	}
	out := map[control.BackendRef]bool{}
	for _, b := range backends {
		key, ok := keyByID[b.ServiceID]
		if !ok {
			continue // an orphan the reconciler clears
		}
		if b.State == loader.BackendDown || b.State == loader.BackendDrained {
			out[control.BackendRef{Service: key, IP: b.IP}] = true
		}
	}
	return out
}

// stillFailed reports whether a real server the previous run had taken out
// (failedBefore) stays out until its first check passes. A server without a
// check cannot be re-checked, and one drained by weight 0 was not failed.
func stillFailed(r config.RealServer, failedBefore bool) bool {
	return failedBefore && r.Check != nil && r.Weight > 0
}

// initialHealth is a real server's health before its first check: up, as in
// keepalived, unless the service has alpha or the server had failed before a
// restart.
func initialHealth(r config.RealServer, alpha, failedBefore bool) control.Health {
	switch {
	case r.Check == nil:
		return control.Health{Up: true, Reason: "no check configured"}
	case stillFailed(r, failedBefore):
		return control.Health{Reason: "failed before xlbd restarted: down until its first check passes"}
	case alpha:
		return control.Health{Reason: "alpha: down until the first check passes"}
	}
	return control.Health{Up: true, Reason: "assumed up until the first check (keepalived's default; alpha starts down)"}
}

// usability is whether this director can serve a service, from what the
// reconciler decided: its quorum state (the weight of the active real servers
// against the quorum, at least 1, with hysteresis).
func usability(svc *config.Service, st control.ServiceStatus) announce.Service {
	var weight uint32
	for _, b := range st.Backends {
		// The sorry server stands in for a service without quorum; it does
		// not make the service usable.
		if b.State == loader.BackendActive && !b.Sorry {
			weight += b.Weight
		}
	}
	q := max(svc.Quorum, 1)
	return announce.Service{Name: svc.Name, VIP: svc.VIP, Usable: st.QuorumUp, Weight: weight, Quorum: q}
}

// trackAdjust is the priority change of a VRRP instance for the services it
// tracks (track_service with quorum): a director that cannot serve one of
// them drops its priority, so a director that can takes the VIP. A tracked
// service the intent does not know (not programmed yet) changes nothing.
func trackAdjust(v config.VRRPInstance, services map[string]announce.Service) (int, string) {
	for _, name := range v.TrackServices {
		if s, ok := services[name]; ok && !s.Usable {
			return -int(v.NoBackendPriorityDrop), fmt.Sprintf("tracked service %s has usable weight %d, below its quorum %d", name, s.Weight, s.Quorum)
		}
	}
	return 0, "tracked services usable"
}
