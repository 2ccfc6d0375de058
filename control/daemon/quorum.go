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
// starting one and runs nothing.
type quorumNotifier struct {
	log    *slog.Logger
	mu     sync.Mutex
	byName map[string]*quorumScripts
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
		q.byName = map[string]*quorumScripts{}
	}
	for name := range q.byName {
		if svcs[name] == nil {
			delete(q.byName, name)
		}
	}
	for _, s := range states {
		svc := svcs[s.Name]
		if svc == nil || (svc.QuorumUp.IsZero() && svc.QuorumDown.IsZero()) {
			delete(q.byName, s.Name)
			continue
		}
		qs := q.byName[s.Name]
		if qs == nil || !qs.up.Equal(svc.QuorumUp) || !qs.down.Equal(svc.QuorumDown) || qs.policy != policy {
			qs = &quorumScripts{up: svc.QuorumUp, down: svc.QuorumDown, policy: policy,
				n: &health.Notify{Up: svc.QuorumUp, Down: svc.QuorumDown, Log: q.log, Policy: policy}}
			q.byName[s.Name] = qs
		}
		qs.n.Verdict(ctx, health.Verdict{Server: s.Name, Up: s.Usable})
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
