// Package control turns what the operator wants (services and their real
// servers, from the config) and what the health checks and the neighbour
// table say into the contents of the data plane's maps.
//
// One direction of flow: config -> Desired -> (+ health, + MACs) -> Apply ->
// maps. Apply computes every service's backend states and lb.Maglev table from
// scratch and writes only what differs from what it wrote last, in an order
// that never lets a packet see a table pointing at a backend that is not yet
// there, nor a backend marked down before the table stopped choosing it.
package control

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/loader"
)

// MapWriter is the part of the data plane the reconciler writes:
// *loader.Dataplane in the daemon, a fake in tests.
type MapWriter interface {
	SetService(loader.ServiceKey, loader.Service) error
	DeleteService(loader.ServiceKey) error
	SetBackend(id uint32, b loader.Backend) error
	DeleteBackend(id uint32) error
	WriteMaglev(loader.ServiceKey, []uint32) error
	TableSize() int
	MaxServices() uint32
	MaxBackends() uint32
}

// ServiceSpec is a service as configured.
type ServiceSpec struct {
	Key       loader.ServiceKey
	Balancing lb.Balancing
	Backends  []BackendSpec
	// Quorum is the least weight of active real servers for them to take
	// new flows while Sorry is set (at least 1).
	Quorum uint32
	// Hysteresis: see QuorumUp.
	Hysteresis uint32
	// Sorry, when set, takes every new flow while the quorum is not met.
	Sorry *SorrySpec
}

// SorrySpec is a service's sorry server. It has no check (keepalived runs
// none on it), so only its MAC decides whether it can take traffic.
type SorrySpec struct {
	IP netip.Addr
	// Inhibit drains it while the quorum is met (its flows stay) instead of
	// taking it out.
	Inhibit bool
}

// BackendSpec is a real server as configured. In direct routing the real
// server receives the VIP's own port, so a backend is its address.
type BackendSpec struct {
	IP     netip.Addr
	Weight uint32
	// InhibitOnFailure drains the backend when its check fails (weight 0:
	// its connections stay) instead of taking it out (they are re-balanced).
	InhibitOnFailure bool
}

// Health is a backend's latest health verdict.
type Health struct {
	Up bool
	// Weight, when set, overrides the configured weight (MISC_CHECK with
	// misc_dynamic).
	Weight *uint32
	Reason string
}

// BackendStatus is what the reconciler decided for one backend, and why.
type BackendStatus struct {
	ID     uint32
	IP     netip.Addr
	MAC    net.HardwareAddr
	Weight uint32 // effective weight
	State  loader.BackendState
	Reason string
	Health Health
	// Unresolved: no MAC has been known for the backend yet. It is down in
	// the data plane (nowhere to send to), but nothing says it failed.
	Unresolved bool
	// Sorry: the service's sorry server, not one of its real servers.
	Sorry bool
}

// StateName is the state shown to operators: the data plane's, or
// "unresolved" for a backend never resolved.
func (b BackendStatus) StateName() string {
	if b.Unresolved {
		return "unresolved"
	}
	return b.State.String()
}

// ServiceStatus is the decided state of one service.
type ServiceStatus struct {
	Key       loader.ServiceKey
	ID        uint32
	Balancing lb.Balancing
	Backends  []BackendStatus
	// QuorumUp: the weight of its active real servers met the quorum, with
	// hysteresis (QuorumUp); while it is false the sorry server, if any,
	// takes the new flows.
	QuorumUp bool
	// Error says why the service could not be programmed; what the maps
	// held for it stays, and every other service is programmed as usual.
	Error string
}

// Reconciler owns the data plane's services, backends and tables.
type Reconciler struct {
	w   MapWriter
	log *slog.Logger

	mu      sync.Mutex
	desired []ServiceSpec
	health  map[BackendRef]Health
	macs    map[netip.Addr]net.HardwareAddr
	ids     *idAllocator

	// What Apply last wrote, so the next one writes only differences.
	wroteSvc     map[loader.ServiceKey]loader.Service
	wroteBackend map[uint32]loader.Backend
	wroteTable   map[loader.ServiceKey][]uint32
	status       []ServiceStatus
	// quorumUp is each service's quorum state: hysteresis needs the last one.
	quorumUp map[loader.ServiceKey]bool
}

// BackendRef names one real server of one service: the key of its health
// verdict, its backend id and its health check.
type BackendRef struct {
	Service loader.ServiceKey
	IP      netip.Addr
}

// New returns a reconciler writing to w. Call Adopt first when w already holds
// state (a restarted daemon), so ids stay what the pinned flows refer to.
func New(w MapWriter, log *slog.Logger) *Reconciler {
	return &Reconciler{
		w: w, log: log,
		health:       map[BackendRef]Health{},
		macs:         map[netip.Addr]net.HardwareAddr{},
		ids:          newIDAllocator(w.MaxServices()-1, w.MaxBackends()-1),
		wroteSvc:     map[loader.ServiceKey]loader.Service{},
		wroteBackend: map[uint32]loader.Backend{},
		wroteTable:   map[loader.ServiceKey][]uint32{},
		quorumUp:     map[loader.ServiceKey]bool{},
	}
}

// Adopt takes over services and backends found in the maps (from a previous
// daemon): their ids are kept, because flows in the pinned flow table refer
// to backends by id. What the new config no longer has is removed by Apply.
func (r *Reconciler) Adopt(services map[loader.ServiceKey]loader.Service, backends map[uint32]loader.Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byID := map[uint32]loader.ServiceKey{}
	for key, svc := range services {
		r.ids.adoptService(key, svc.ID)
		r.wroteSvc[key] = svc
		byID[svc.ID] = key
	}
	for id, b := range backends {
		key, ok := byID[b.ServiceID]
		if !ok {
			continue // an orphan: Apply clears it
		}
		r.ids.adoptBackend(BackendRef{key, b.IP}, id)
		r.wroteBackend[id] = b
	}
}

// SetDesired replaces the configured services (start-up and reload). Health
// verdicts of backends that stay are kept.
func (r *Reconciler) SetDesired(specs []ServiceSpec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.desired = slices.Clone(specs)
	keep := map[BackendRef]bool{}
	for _, s := range specs {
		for _, b := range s.Backends {
			keep[BackendRef{s.Key, b.IP}] = true
		}
	}
	for ref := range r.health {
		if !keep[ref] {
			delete(r.health, ref)
		}
	}
}

// SetHealth records a backend's verdict.
func (r *Reconciler) SetHealth(svc loader.ServiceKey, ip netip.Addr, h Health) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health[BackendRef{svc, ip}] = h
}

// SetMAC records a backend address's MAC; nil means it is unknown.
func (r *Reconciler) SetMAC(ip netip.Addr, mac net.HardwareAddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mac == nil {
		delete(r.macs, ip)
		return
	}
	r.macs[ip] = slices.Clone(mac)
}

// Status is what the last Apply decided.
func (r *Reconciler) Status() []ServiceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.status)
}

// mapContents is the complete desired content of the maps.
type mapContents struct {
	services map[loader.ServiceKey]loader.Service
	backends map[uint32]loader.Backend
	tables   map[loader.ServiceKey][]uint32
	status   []ServiceStatus
	// failed services could not be programmed: what the maps hold for them
	// is left as it is.
	failed map[loader.ServiceKey]bool
}

// Apply brings the maps in line with the desired state, health and MACs. A
// service that cannot be programmed is reported in its status (and logged
// once) and the others are programmed; the error is about writes, which the
// next Apply retries.
func (r *Reconciler) Apply() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.contents()
	err := r.write(p)
	r.status = p.status
	for k := range r.quorumUp {
		if !slices.ContainsFunc(r.desired, func(s ServiceSpec) bool { return s.Key == k }) {
			delete(r.quorumUp, k)
		}
	}
	for _, st := range p.status {
		if st.Error == "" {
			r.quorumUp[st.Key] = st.QuorumUp
		}
	}
	return err
}

// ErrCapacity: the desired services or backends do not fit the maps.
var ErrCapacity = errors.New("more than the data plane's maps hold")

// Fits reports whether specs fit the maps (ids of what specs no longer has
// are freed first, so swapping services at the limit fits), without changing
// anything: a reload checks it before it replaces the running config.
func (r *Reconciler) Fits(specs []ServiceSpec) error {
	svcs, refs := desiredIDs(specs)
	if n := uint32(len(svcs)); n > r.ids.maxService {
		return fmt.Errorf("%d services: %w (%d)", n, ErrCapacity, r.ids.maxService)
	}
	if n := uint32(len(refs)); n > r.ids.maxBackend {
		return fmt.Errorf("%d backends: %w (%d)", n, ErrCapacity, r.ids.maxBackend)
	}
	return nil
}

// desiredIDs are the services and backends specs need ids for.
func desiredIDs(specs []ServiceSpec) (map[loader.ServiceKey]bool, map[BackendRef]bool) {
	svcs := map[loader.ServiceKey]bool{}
	refs := map[BackendRef]bool{}
	for _, s := range specs {
		svcs[s.Key] = true
		for _, b := range s.Backends {
			refs[BackendRef{s.Key, b.IP}] = true
		}
		if s.Sorry != nil {
			refs[BackendRef{s.Key, s.Sorry.IP}] = true
		}
	}
	return svcs, refs
}

func (r *Reconciler) contents() *mapContents {
	p := &mapContents{
		services: map[loader.ServiceKey]loader.Service{},
		backends: map[uint32]loader.Backend{},
		tables:   map[loader.ServiceKey][]uint32{},
		failed:   map[loader.ServiceKey]bool{},
	}
	// Free the ids of what is gone before allocating: a service swapped for
	// another at the limit takes the id the old one leaves (write deletes
	// removed services first, so no key ever shares an id with another).
	r.ids.release(desiredIDs(r.desired))
	prev := map[loader.ServiceKey]string{}
	for _, st := range r.status {
		prev[st.Key] = st.Error
	}
	for _, spec := range r.desired {
		st, err := r.service(spec, p)
		if err != nil {
			st = ServiceStatus{Key: spec.Key, Balancing: spec.Balancing, Error: err.Error()}
			p.failed[spec.Key] = true
			if prev[spec.Key] != st.Error {
				r.log.Error("service not programmed: the maps keep what they held for it", "service", spec.Key, "error", err)
			}
		}
		p.status = append(p.status, st)
	}
	return p
}

// service adds one service's content to p, or nothing when it cannot be
// programmed.
func (r *Reconciler) service(spec ServiceSpec, p *mapContents) (ServiceStatus, error) {
	// A service and its backends are one family (DR forwards the client's
	// packet as it is): refused before any id is taken.
	for _, bs := range spec.Backends {
		if err := loader.SameFamily(spec.Key, bs.IP); err != nil {
			return ServiceStatus{}, err
		}
	}
	if spec.Sorry != nil {
		if err := loader.SameFamily(spec.Key, spec.Sorry.IP); err != nil {
			return ServiceStatus{}, fmt.Errorf("sorry server: %w", err)
		}
	}
	sid, err := r.ids.service(spec.Key)
	if err != nil {
		return ServiceStatus{}, err
	}
	st := ServiceStatus{Key: spec.Key, ID: sid, Balancing: spec.Balancing}
	backends := map[uint32]loader.Backend{}
	var active []maglev.Backend
	for _, bs := range spec.Backends {
		bid, err := r.ids.backend(BackendRef{spec.Key, bs.IP})
		if err != nil {
			return ServiceStatus{}, err
		}
		b := r.decide(spec, bs, bid)
		st.Backends = append(st.Backends, b)
		backends[bid] = loader.Backend{ServiceID: sid, IP: bs.IP, MAC: b.MAC, State: b.State}
		if b.State == loader.BackendActive {
			active = append(active, maglev.Backend{ID: bid, Name: bs.IP.String(), Weight: b.Weight})
		}
	}
	var weight uint32
	for _, a := range active {
		weight += a.Weight
	}
	q := max(spec.Quorum, 1)
	was, seen := r.quorumUp[spec.Key]
	if !seen {
		was = weight >= q // no history: nothing to be hysteretic about
	}
	st.QuorumUp = QuorumUp(was, weight, q, spec.Hysteresis)
	if spec.Sorry != nil {
		sbid, err := r.ids.backend(BackendRef{spec.Key, spec.Sorry.IP})
		if err != nil {
			return ServiceStatus{}, err
		}
		sb := r.sorry(spec.Sorry, sbid, weight, q, st.QuorumUp)
		if sb.State == loader.BackendActive {
			// keepalived takes the remaining live real servers out while the
			// sorry server is in (check/ipwrapper.c, update_quorum_state:
			// "Remove remaining alive real servers"): new flows go to the sorry
			// server only. Their flows already under way stay with them.
			active = []maglev.Backend{{ID: sbid, Name: spec.Sorry.IP.String(), Weight: sb.Weight}}
			for i := range st.Backends {
				if st.Backends[i].State == loader.BackendActive {
					st.Backends[i].Reason = "up, no new flows: quorum lost, the sorry server takes them"
				}
			}
		}
		st.Backends = append(st.Backends, sb)
		backends[sbid] = loader.Backend{ServiceID: sid, IP: spec.Sorry.IP, MAC: sb.MAC, State: sb.State}
	}
	table, err := r.table(spec.Balancing, active)
	if err != nil {
		return ServiceStatus{}, fmt.Errorf("service %s: %w", spec.Key, err)
	}
	svc := loader.Service{ID: sid}
	if spec.Balancing == lb.SourceHash {
		svc.Flags |= loader.HashSource
	}
	p.services[spec.Key] = svc
	maps.Copy(p.backends, backends)
	p.tables[spec.Key] = table
	return st, nil
}

// decide is a backend's state and the reason for it.
func (r *Reconciler) decide(spec ServiceSpec, bs BackendSpec, id uint32) BackendStatus {
	h, checked := r.health[BackendRef{spec.Key, bs.IP}]
	weight := bs.Weight
	if h.Weight != nil {
		weight = *h.Weight
	}
	mac := r.macs[bs.IP]
	st := BackendStatus{ID: id, IP: bs.IP, MAC: mac, Weight: weight, Health: h}
	// A backend without a MAC cannot be reached; the zero MAC keeps the map
	// entry well-formed, and "down" keeps it out of use.
	if mac == nil {
		st.MAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	}
	switch {
	case !checked:
		st.State, st.Reason = loader.BackendDown, "no health verdict yet"
	case mac == nil:
		st.State, st.Unresolved = loader.BackendDown, true
		st.Reason = fmt.Sprintf("unresolved: no MAC address for %s yet (no usable neighbour entry, no acceptable ARP reply)", bs.IP)
	case !h.Up && bs.InhibitOnFailure:
		st.State, st.Reason = loader.BackendDrained, "check failed, drained (inhibit_on_failure): "+h.Reason
	case !h.Up:
		st.State, st.Reason = loader.BackendDown, "check failed: "+h.Reason
	case weight == 0:
		st.State, st.Reason = loader.BackendDrained, "weight 0: drained"
	default:
		st.State, st.Reason = loader.BackendActive, "up"
	}
	if st.State != loader.BackendActive {
		st.Weight = 0
	}
	return st
}

// QuorumUp is a service's quorum state given the last one (wasUp) and the
// weight of its active real servers, as keepalived decides it
// (check/ipwrapper.c, update_quorum_state): the threshold is
// quorum+hysteresis while the quorum is down and quorum-hysteresis while it is
// up; it is gained at weight >= threshold and lost below it, and always lost
// at weight 0.
func QuorumUp(wasUp bool, weight, quorum, hysteresis uint32) bool {
	threshold := int64(quorum) + int64(hysteresis)
	if wasUp {
		threshold = int64(quorum) - int64(hysteresis)
	}
	return weight > 0 && int64(weight) >= threshold
}

// sorry is the sorry server's state: in use exactly while the weight of the
// active real servers is below the quorum, as keepalived adds it when the
// quorum is lost and removes it when the quorum is back (check/ipwrapper.c,
// update_quorum_state).
func (r *Reconciler) sorry(ss *SorrySpec, id, weight, quorum uint32, quorumUp bool) BackendStatus {
	mac := r.macs[ss.IP]
	st := BackendStatus{ID: id, IP: ss.IP, MAC: mac, Sorry: true, Health: Health{Up: true, Reason: "sorry server: not checked"}}
	if mac == nil {
		st.MAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	}
	switch {
	case mac == nil:
		// Nowhere to send to: the real servers keep whatever they can take.
		st.State, st.Unresolved = loader.BackendDown, true
		st.Reason = fmt.Sprintf("sorry server unresolved: no MAC address for %s yet", ss.IP)
	case !quorumUp:
		st.State, st.Weight = loader.BackendActive, 1
		st.Reason = fmt.Sprintf("sorry server in use: quorum lost (active weight %d, quorum %d)", weight, quorum)
	case ss.Inhibit:
		st.State, st.Reason = loader.BackendDrained, "sorry server drained (sorry_server_inhibit): quorum met"
	default:
		st.State, st.Reason = loader.BackendDown, "sorry server out: quorum met"
	}
	return st
}

func (r *Reconciler) table(b lb.Balancing, active []maglev.Backend) ([]uint32, error) {
	size := r.w.TableSize()
	if b != lb.Failover || len(active) == 0 {
		return maglev.Build(active, size)
	}
	// Highest weight wins; SliceStable keeps the config order among equals.
	best := slices.Clone(active)
	slices.SortStableFunc(best, func(x, y maglev.Backend) int { return cmp.Compare(y.Weight, x.Weight) })
	t := make([]uint32, size)
	for i := range t {
		t[i] = best[0].ID
	}
	return t, nil
}

// write applies p, touching only what changed since the last write:
//  1. removed services (their tables go with them; first, because a new
//     service may take a removed one's id and two keys must never share one),
//  2. services (so a new service's id has its owner before anything uses it),
//  3. backends becoming active (before any table points at them),
//  4. tables (each flipped atomically),
//  5. every other backend change (down, drained, removed: after the tables
//     stopped choosing them, so new flows never meet a dead pick).
//
// A service that could not be programmed (p.failed) keeps what was written
// for it.
func (r *Reconciler) write(p *mapContents) error {
	var errs []error
	keep := map[uint32]bool{} // service ids whose backends stay as written
	held := map[uint32]bool{} // ids a removed service still holds
	for key, svc := range r.wroteSvc {
		if _, ok := p.services[key]; ok {
			continue
		}
		if p.failed[key] {
			keep[svc.ID] = true
			continue
		}
		if err := r.w.DeleteService(key); err != nil && !errors.Is(err, loader.ErrNoService) {
			errs = append(errs, err)
			held[svc.ID] = true
			continue
		}
		delete(r.wroteSvc, key)
		delete(r.wroteTable, key)
		r.log.Info("service removed", "service", key)
	}
	tableFailed := map[uint32]bool{} // service ids whose table could not be written
	for key, svc := range p.services {
		if old, ok := r.wroteSvc[key]; ok && old == svc {
			continue
		}
		if held[svc.ID] {
			// Its id's previous owner is still in the map: retried next time.
			errs = append(errs, fmt.Errorf("service %s: id %d still held by a removed service", key, svc.ID))
			tableFailed[svc.ID] = true
			continue
		}
		if err := r.w.SetService(key, svc); err != nil {
			errs = append(errs, err)
			continue
		}
		r.wroteSvc[key] = svc
		r.log.Info("service set", "service", key, "id", svc.ID)
	}
	setBackend := func(id uint32, b loader.Backend) {
		if old, ok := r.wroteBackend[id]; ok && sameBackend(old, b) {
			return
		}
		if err := r.w.SetBackend(id, b); err != nil {
			errs = append(errs, err)
			return
		}
		r.wroteBackend[id] = b
	}
	for id, b := range p.backends {
		if b.State == loader.BackendActive {
			setBackend(id, b)
		}
	}
	for key, t := range p.tables {
		if old, ok := r.wroteTable[key]; ok && slices.Equal(old, t) {
			continue
		}
		if _, ok := r.wroteSvc[key]; !ok {
			tableFailed[p.services[key].ID] = true // its service failed to write above
			continue
		}
		if err := r.w.WriteMaglev(key, t); err != nil {
			errs = append(errs, err)
			tableFailed[p.services[key].ID] = true
			continue
		}
		r.wroteTable[key] = t
		r.log.Info("table updated", "service", key, "shares", shareSummary(t))
	}
	// A backend leaves use only once its service's table no longer picks it:
	// where the table write failed, the next Apply retries both.
	for id, b := range p.backends {
		if b.State != loader.BackendActive && !tableFailed[b.ServiceID] {
			setBackend(id, b)
		}
	}
	for id, b := range r.wroteBackend {
		if _, ok := p.backends[id]; ok {
			continue
		}
		if tableFailed[b.ServiceID] || keep[b.ServiceID] {
			continue
		}
		if err := r.w.DeleteBackend(id); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.wroteBackend, id)
	}
	return errors.Join(errs...)
}

func sameBackend(a, b loader.Backend) bool {
	return a.ServiceID == b.ServiceID && a.IP == b.IP && a.State == b.State && slices.Equal(a.MAC, b.MAC)
}

func shareSummary(t []uint32) map[uint32]string {
	out := map[uint32]string{}
	for id, s := range maglev.Shares(t) {
		out[id] = fmt.Sprintf("%.1f%%", s*100)
	}
	return out
}
