package vrrp

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"xlb/control/script"
)

// SyncGroupConfig is a vrrp_sync_group: instances that fail over together,
// so a director holds all of their VIPs or none (keepalived.conf(5);
// keepalived/vrrp/vrrp_sync.c, acassen/keepalived 9cbce3e). Group-level
// tracking (track_script, track_interface) is the config package's: it adds
// the tracked objects to every member, as keepalived's
// sync_group_tracking_init does.
type SyncGroupConfig struct {
	Name    string
	Members []string
	// Notify scripts of the group, each run as its own user and group
	// (else ScriptPolicy's) when the group's state changes; Notify gets
	// "GROUP" NAME STATE 0 appended, as keepalived's send_group_notifies
	// does.
	Notifies
	ScriptPolicy script.Policy
}

// SyncGroupOptions are a SyncGroup's collaborators.
type SyncGroupOptions struct {
	Logger *slog.Logger
	// Notify hears every change of the group's state; nil runs the notify
	// scripts on NotifyQueue (nil: a queue of the group's own).
	Notify      func(Notification)
	NotifyQueue *script.Queue
}

// SyncGroup is a running vrrp_sync_group, shared by its members through
// Options.SyncGroup. It follows keepalived's vrrp_sync.c:
//   - a member entering FAULT takes every other member to FAULT (a master
//     among them sends priority 0), and none leaves FAULT while a member is
//     still faulty;
//   - a member going to BACKUP (a better master appeared, or it left FAULT)
//     takes the others to BACKUP;
//   - a backup member becomes master only once every other member wants
//     to (its master-down timer ran out too), and then takes the others
//     along.
//
// Each member changes its own state under its own lock; the group only
// records what members want and wakes them to follow its state, so no lock
// is ever taken in the other order.
type SyncGroup struct {
	cfg    SyncGroupConfig
	log    *slog.Logger
	notify func(Notification)

	mu      sync.Mutex
	state   State
	members map[string]*groupMember
}

type groupMember struct {
	in *Instance
	// want is the state the member would be in on its own (keepalived's
	// wantstate); faulty: its own tracking says FAULT.
	want   State
	faulty bool
	wake   chan struct{}
}

// NewSyncGroup builds a group with no member yet; members join in New.
func NewSyncGroup(cfg SyncGroupConfig, opt SyncGroupOptions) (*SyncGroup, error) {
	if cfg.Name == "" || len(cfg.Members) == 0 {
		return nil, fmt.Errorf("%w: sync group %q: want a name and members", ErrConfig, cfg.Name)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &SyncGroup{cfg: cfg, log: log.With("vrrp_sync_group", cfg.Name), notify: opt.Notify, members: map[string]*groupMember{}}
	if g.notify == nil {
		q := opt.NotifyQueue
		if q == nil {
			q = script.NewQueue(log)
		}
		g.notify = func(n Notification) {
			for _, c := range groupNotifyCommands(cfg, n.State) {
				q.Add("group "+cfg.Name, n.State.String()+" "+c.Argv[0], func(ctx context.Context) {
					runNotify(ctx, cfg.ScriptPolicy, c, g.log.With("state", n.State, "script", c.Argv))
				})
			}
		}
	}
	return g, nil
}

// Config returns the group's configuration.
func (g *SyncGroup) Config() SyncGroupConfig { return g.cfg }

// State is the group's state: INIT until a member has one.
func (g *SyncGroup) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// join registers in as a member; a member restarted by a reload replaces
// its predecessor.
func (g *SyncGroup) join(in *Instance) (<-chan struct{}, error) {
	name := in.cfg.Name
	known := false
	for _, m := range g.cfg.Members {
		known = known || m == name
	}
	if !known {
		return nil, cfgErr(name, "not a member of sync group %s", g.cfg.Name)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &groupMember{in: in, want: StateBackup, wake: make(chan struct{}, 1)}
	g.members[name] = m
	return m.wake, nil
}

// leave unregisters in, unless a successor already replaced it.
func (g *SyncGroup) leave(in *Instance) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.members[in.cfg.Name]; m != nil && m.in == in {
		delete(g.members, in.cfg.Name)
	}
}

// The methods below are called by a member with its own lock held.

func (g *SyncGroup) setWant(in *Instance, want State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.members[in.cfg.Name]; m != nil && m.in == in {
		m.want = want
	}
}

func (g *SyncGroup) setFaulty(in *Instance, faulty bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.members[in.cfg.Name]; m != nil && m.in == in {
		m.faulty = faulty
	}
}

// canGoMaster is vrrp_sync_can_goto_master: the group is master already, or
// every other member wants to be ("prefer backup state to avoid
// thrashing").
func (g *SyncGroup) canGoMaster(in *Instance) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == StateMaster {
		return true
	}
	for name, m := range g.members {
		if name != in.cfg.Name && m.want != StateMaster {
			return false
		}
	}
	return true
}

// othersFaulty reports whether a member other than in is faulty on its own.
func (g *SyncGroup) othersFaulty(in *Instance) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, m := range g.members {
		if name != in.cfg.Name && m.faulty {
			return true
		}
	}
	return false
}

// moved records a member's own transition and moves the group with it
// (vrrp_sync_fault, vrrp_sync_backup, vrrp_sync_master): on a change the
// other members are woken to follow and the group's notify scripts run.
func (g *SyncGroup) moved(in *Instance, to State, faulty bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[in.cfg.Name]
	if m == nil || m.in != in {
		return
	}
	m.want, m.faulty = to, faulty
	if to != StateFault && to != StateStop {
		for _, o := range g.members {
			if o.faulty {
				to = StateFault // none leaves FAULT while one is faulty
			}
		}
	}
	if to == g.state {
		return
	}
	g.log.Info("vrrp sync group state change", "from", g.state, "to", to, "member", in.cfg.Name)
	g.state = to
	if to != StateStop {
		for name, o := range g.members {
			if name == in.cfg.Name {
				continue
			}
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}
	}
	g.notify(Notification{Instance: g.cfg.Name, State: to})
}

// groupNotifyCommands lists the scripts keepalived's send_group_notifies
// runs for state: the state's own script, then the generic one with "GROUP"
// NAME STATE 0.
func groupNotifyCommands(c SyncGroupConfig, state State) []script.Command {
	var cmds []script.Command
	own := map[State]script.Command{StateMaster: c.NotifyMaster, StateBackup: c.NotifyBackup, StateFault: c.NotifyFault, StateStop: c.NotifyStop}[state]
	if !own.IsZero() {
		cmds = append(cmds, own)
	}
	if !c.Notify.IsZero() {
		any := c.Notify
		any.Argv = append(append([]string(nil), c.Notify.Argv...), "GROUP", c.Name, state.String(), strconv.Itoa(0))
		cmds = append(cmds, any)
	}
	return cmds
}

// follow moves the instance to its group's state (the other side of
// moved): these transitions are the group's, not the member's own, so they
// are not reported back.
func (in *Instance) follow(now time.Time) {
	g := in.group
	target := g.State()
	reason := "sync group " + g.cfg.Name + " " + target.String()
	in.following = true
	defer func() { in.following = false }()
	switch target {
	case StateFault:
		if in.state == StateBackup || in.state == StateMaster {
			g.setWant(in, StateFault)
			in.enterFault(now, reason)
		}
	case StateBackup:
		if in.state == StateMaster || in.state == StateFault && !in.faulty() {
			g.setWant(in, StateBackup)
			in.becomeBackup(now, reason)
		}
	case StateMaster:
		if (in.state == StateBackup || in.state == StateFault) && !in.faulty() {
			g.setWant(in, StateMaster)
			in.becomeMaster(now, reason)
		}
	}
}
