package daemon

import (
	"context"
	"log/slog"
	"sync"

	"xlb/control/announce"
	"xlb/control/config"
	"xlb/control/script"
	"xlb/health"
)

// quorumNotifier runs a service's quorum_up/quorum_down scripts when its
// quorum state changes, as keepalived does on the transitions of
// update_quorum_state (check/ipwrapper.c). The first state seen is the
// starting one, and runs quorum_down only when it is down and the service
// has a sorry server (keepalived: "Starting with quorum down", when it adds
// the sorry server; a service without one starts silently).
type quorumNotifier struct {
	log    *slog.Logger
	mu     sync.Mutex
	byName map[string]*quorumScripts
	seen   map[string]bool // every service observed, scripts or not
}

type quorumScripts struct {
	up, down script.Command
	policy   script.Policy
	n        *health.Notify
}

// observe feeds every service's current quorum state; a service whose
// scripts changed (reload) starts afresh. policy runs the scripts that name
// no user.
func (q *quorumNotifier) observe(ctx context.Context, svcs map[string]*config.Service, states []announce.Service, policy script.Policy) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byName == nil {
		q.byName, q.seen = map[string]*quorumScripts{}, map[string]bool{}
	}
	for name := range q.seen {
		if svcs[name] == nil {
			delete(q.byName, name)
			delete(q.seen, name)
		}
	}
	for _, s := range states {
		svc := svcs[s.Name]
		if svc == nil {
			continue
		}
		starting := !q.seen[s.Name]
		q.seen[s.Name] = true
		if svc.QuorumUp.IsZero() && svc.QuorumDown.IsZero() {
			delete(q.byName, s.Name)
			continue
		}
		qs := q.byName[s.Name]
		if qs == nil || !qs.up.Equal(svc.QuorumUp) || !qs.down.Equal(svc.QuorumDown) || qs.policy != policy {
			qs = &quorumScripts{up: svc.QuorumUp, down: svc.QuorumDown, policy: policy,
				n: &health.Notify{Up: svc.QuorumUp, Down: svc.QuorumDown, Log: q.log, Policy: policy}}
			q.byName[s.Name] = qs
		}
		v := health.Verdict{Server: s.Name, Up: s.Usable}
		if starting && !s.Usable && svc.SorryServer != nil {
			v.Reason = "starting with quorum down"
			qs.n.Start(ctx, v)
			continue
		}
		qs.n.Verdict(ctx, v)
	}
}

// quorumScripts runs the quorum scripts the last apply calls for.
func (d *Daemon) quorumScripts(ctx context.Context) {
	d.mu.Lock()
	svcs := map[string]*config.Service{}
	for _, p := range d.planes {
		for _, ref := range p.plan.services {
			svcs[ref.cfg.Name] = ref.cfg
		}
	}
	intent := d.intent()
	policy := d.cfg.Global.ScriptPolicy()
	d.mu.Unlock()
	d.quorum.observe(ctx, svcs, intent.Services, policy)
}
