package vrrp

import "time"

// Counters are an instance's totals since it started.
type Counters struct {
	AdvertsSent          uint64 `json:"adverts_sent"`
	AdvertsReceived      uint64 `json:"adverts_received"`
	PriorityZeroSent     uint64 `json:"priority_zero_sent"`
	PriorityZeroReceived uint64 `json:"priority_zero_received"`
	BecameMaster         uint64 `json:"became_master"`
	ReleasedMaster       uint64 `json:"released_master"`
	// GARPSent counts the gratuitous ARPs and unsolicited neighbour
	// advertisements sent, one per address.
	GARPSent     uint64 `json:"garp_sent"`
	SendErrors   uint64 `json:"send_errors"`
	ActionErrors uint64 `json:"action_errors"`
	// Drops counts received packets by DropReason name; every reason is
	// present, zero or not.
	Drops map[string]uint64 `json:"drops"`
	// Mismatches counts adverts for our VRID from a differently configured
	// sender by MismatchReason name; every reason is present. Status's
	// Mismatches says who sent the last one and what differs.
	Mismatches map[string]uint64 `json:"mismatches"`
}

// Status is a snapshot of an instance for xlbctl and metrics.
type Status struct {
	Name              string        `json:"name"`
	Interface         string        `json:"interface"`
	VRID              uint8         `json:"vrid"`
	Version           uint8         `json:"version"`
	State             State         `json:"state"`
	Since             time.Time     `json:"since"`
	Priority          uint8         `json:"priority"`
	BasePriority      uint8         `json:"base_priority"`
	PriorityAdjust    int           `json:"priority_adjust"`
	AdvertInterval    time.Duration `json:"advert_interval_ns"`
	MasterAdvInterval time.Duration `json:"master_advert_interval_ns"`
	// MasterAddr is the current master's address (ours when MASTER); empty
	// until one is known.
	MasterAddr     string   `json:"master_addr,omitempty"`
	MasterPriority uint8    `json:"master_priority"`
	VIPs           []string `json:"vips"`
	Counters       Counters `json:"counters"`
	// Mismatches lists, by reason, the adverts for our VRID whose sender is
	// configured differently (see MismatchReason); empty when none was seen.
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	// Scripts are the tracked scripts, in configuration order.
	Scripts []ScriptStatus `json:"scripts,omitempty"`
	// SyncGroup names the vrrp_sync_group the instance fails over with;
	// SyncGroupState is that group's state.
	SyncGroup      string `json:"sync_group,omitempty"`
	SyncGroupState State  `json:"sync_group_state,omitempty"`
	// PreemptHeld: this backup would preempt a lower-priority master but
	// waits for flow sync (Options.MayPreempt).
	PreemptHeld bool `json:"preempt_held,omitempty"`
}

// Status returns a consistent snapshot.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := Status{
		Name:              in.cfg.Name,
		Interface:         in.cfg.Interface,
		VRID:              in.cfg.VRID,
		Version:           in.cfg.Version,
		State:             in.state,
		Since:             in.since,
		Priority:          in.prio,
		BasePriority:      in.cfg.Priority,
		PriorityAdjust:    in.adjust,
		AdvertInterval:    in.cfg.AdvertInterval,
		MasterAdvInterval: in.masterInt,
		MasterPriority:    in.masterPrio,
		Counters: Counters{
			AdvertsSent:          in.ctr.advertsSent,
			AdvertsReceived:      in.ctr.advertsRecv,
			PriorityZeroSent:     in.ctr.prio0Sent,
			PriorityZeroReceived: in.ctr.prio0Recv,
			BecameMaster:         in.ctr.becameMaster,
			ReleasedMaster:       in.ctr.leftMaster,
			GARPSent:             in.ctr.garpSent,
			SendErrors:           in.ctr.sendErrors,
			ActionErrors:         in.ctr.actionErrors,
			Drops:                make(map[string]uint64, numDropReasons),
			Mismatches:           make(map[string]uint64, numMismatchReasons),
		},
	}
	if in.masterAddr.IsValid() {
		s.MasterAddr = in.masterAddr.String()
	}
	if in.group != nil {
		s.SyncGroup, s.SyncGroupState = in.group.cfg.Name, in.group.State()
	}
	s.PreemptHeld = in.held && in.state == StateBackup
	for _, v := range in.cfg.VIPs {
		s.VIPs = append(s.VIPs, v.Prefix.String()+" dev "+v.Dev)
	}
	for r := range numDropReasons {
		s.Counters.Drops[r.String()] = in.ctr.drops[r]
	}
	for _, t := range in.tracks {
		s.Scripts = append(s.Scripts, ScriptStatus{Name: t.s.Name, State: t.state, Weight: t.s.Weight, Runs: t.runs, Fails: t.fails})
	}
	for r := range numMismatchReasons {
		m := in.mismatch[r]
		s.Counters.Mismatches[r.String()] = m.count
		if m.count == 0 {
			continue
		}
		s.Mismatches = append(s.Mismatches, Mismatch{
			Reason: r.String(), Count: m.count, LastFrom: m.lastFrom.String(), LastDetail: m.lastDetail, LastAt: m.lastAt,
			LastDropped: m.dropped,
		})
	}
	return s
}
