package loader

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// ErrNoService is returned for a service key that has no entry.
var ErrNoService = errors.New("no such service")

// MaxServices bounds service ids: 1..MaxServices()-1.
func (d *Dataplane) MaxServices() uint32 { return d.objs.XlbServiceStats.MaxEntries() }

// MaxBackends bounds backend ids: 1..MaxBackends()-1.
func (d *Dataplane) MaxBackends() uint32 { return d.objs.XlbBackends.MaxEntries() }

// serviceMaps are the services and the owner of each service id of a
// family (bpf/xlb_maps.h).
func (d *Dataplane) serviceMaps(v6 bool) (services, owners *ebpf.Map) {
	if v6 {
		return d.objs.XlbServices6, d.objs.XlbServiceKeys6
	}
	return d.objs.XlbServices, d.objs.XlbServiceKeys
}

// flowTable and newFlowTable are a family's flow tables.
func (d *Dataplane) flowTable(v6 bool) *ebpf.Map {
	if v6 {
		return d.objs.XlbFlows6
	}
	return d.objs.XlbFlows
}

func (d *Dataplane) newFlowTable(v6 bool) *ebpf.Map {
	if v6 {
		return d.objs.XlbNewFlows6
	}
	return d.objs.XlbNewFlows
}

// SetService creates or updates a service. An update keeps the service's live
// Maglev slot, so it never changes which table the program reads.
func (d *Dataplane) SetService(key ServiceKey, svc Service) error {
	if svc.ID == 0 || svc.ID >= d.MaxServices() {
		return fmt.Errorf("service %s: id %d out of range 1..%d", key, svc.ID, d.MaxServices()-1)
	}
	rk, cur, err := d.lookupService(key)
	if err != nil && !errors.Is(err, ErrNoService) {
		return err
	}
	oldID := cur.Id
	if oldID != svc.ID {
		cur.Slot = 0 // another id: its tables are other tables
	}
	// The id's owner first: known flows check it, and a flow of this service
	// must find it before the service becomes visible.
	services, owners := d.serviceMaps(rk.v6)
	if err := owners.Update(svc.ID, rk.key(), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write owner of service id %d: %w", svc.ID, err)
	}
	v := xlbXlbService{Id: svc.ID, Flags: uint32(svc.Flags), Slot: cur.Slot}
	if err := services.Update(rk.key(), &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write service %s: %w", key, err)
	}
	if oldID != 0 && oldID != svc.ID {
		if err := d.clearServiceID(oldID); err != nil {
			return fmt.Errorf("service %s moved from id %d: %w", key, oldID, err)
		}
	}
	return nil
}

// Service reads one service.
func (d *Dataplane) Service(key ServiceKey) (Service, error) {
	_, v, err := d.lookupService(key)
	if err != nil {
		return Service{}, err
	}
	return Service{ID: v.Id, Flags: ServiceFlags(v.Flags)}, nil
}

// lookupService reads a service's entry with its raw key: the one place a
// missing service becomes ErrNoService.
func (d *Dataplane) lookupService(key ServiceKey) (rawServiceKey, xlbXlbService, error) {
	var v xlbXlbService
	rk, err := key.raw()
	if err != nil {
		return rk, v, err
	}
	services, _ := d.serviceMaps(rk.v6)
	if err := services.Lookup(rk.key(), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return rk, v, fmt.Errorf("service %s: %w", key, ErrNoService)
		}
		return rk, v, fmt.Errorf("read service %s: %w", key, err)
	}
	return rk, v, nil
}

// Services lists every service.
func (d *Dataplane) Services() (map[ServiceKey]Service, error) {
	out := make(map[ServiceKey]Service)
	var k xlbXlbServiceKey
	var k6 xlbXlbServiceKey6
	var v xlbXlbService
	it := d.objs.XlbServices.Iterate()
	for it.Next(&k, &v) {
		out[serviceKeyFromRaw(k)] = Service{ID: v.Id, Flags: ServiceFlags(v.Flags)}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	it = d.objs.XlbServices6.Iterate()
	for it.Next(&k6, &v) {
		out[serviceKey6FromRaw(k6)] = Service{ID: v.Id, Flags: ServiceFlags(v.Flags)}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list IPv6 services: %w", err)
	}
	return out, nil
}

// DeleteService removes a service and frees its Maglev tables. Its packets
// are passed to the stack from then on.
func (d *Dataplane) DeleteService(key ServiceKey) error {
	rk, v, err := d.lookupService(key)
	if err != nil {
		return err
	}
	services, _ := d.serviceMaps(rk.v6)
	if err := services.Delete(rk.key()); err != nil {
		return fmt.Errorf("delete service %s: %w", key, err)
	}
	if err := d.clearServiceID(v.Id); err != nil {
		return fmt.Errorf("delete service %s: %w", key, err)
	}
	return nil
}

// clearServiceID frees a service id: its known flows stop matching and its
// Maglev tables are released.
func (d *Dataplane) clearServiceID(id uint32) error {
	if err := d.objs.XlbServiceKeys.Update(id, &xlbXlbServiceKey{}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("clear owner of service id %d: %w", id, err)
	}
	if err := d.objs.XlbServiceKeys6.Update(id, &xlbXlbServiceKey6{}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("clear IPv6 owner of service id %d: %w", id, err)
	}
	for slot := uint32(0); slot < 2; slot++ {
		k := id*2 + slot
		if err := d.objs.XlbMaglev.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("free Maglev table %d: %w", k, err)
		}
	}
	return nil
}

// SetBackend writes backend id (1..MaxBackends-1).
func (d *Dataplane) SetBackend(id uint32, b Backend) error {
	if id == 0 || id >= d.MaxBackends() {
		return fmt.Errorf("backend %s: id %d out of range 1..%d", b.IP, id, d.MaxBackends()-1)
	}
	r, err := b.raw()
	if err != nil {
		return err
	}
	// A service and its backends are one family: the backend receives the
	// client's packet as it was sent.
	var owner xlbXlbServiceKey
	var owner6 xlbXlbServiceKey6
	if err := d.objs.XlbServiceKeys.Lookup(b.ServiceID, &owner); err == nil && owner != (xlbXlbServiceKey{}) {
		if err := SameFamily(serviceKeyFromRaw(owner), b.IP); err != nil {
			return fmt.Errorf("backend id %d: %w", id, err)
		}
	}
	if err := d.objs.XlbServiceKeys6.Lookup(b.ServiceID, &owner6); err == nil && owner6 != (xlbXlbServiceKey6{}) {
		if err := SameFamily(serviceKey6FromRaw(owner6), b.IP); err != nil {
			return fmt.Errorf("backend id %d: %w", id, err)
		}
	}
	if err := d.objs.XlbBackends.Update(&id, &r, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write backend %d (%s): %w", id, b.IP, err)
	}
	return nil
}

// DeleteBackend clears backend id: flows that were on it are re-picked.
func (d *Dataplane) DeleteBackend(id uint32) error {
	var zero xlbXlbBackend
	if err := d.objs.XlbBackends.Update(&id, &zero, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("clear backend %d: %w", id, err)
	}
	return nil
}

// Backends lists every backend id in use.
func (d *Dataplane) Backends() (map[uint32]Backend, error) {
	out := make(map[uint32]Backend)
	var id uint32
	var v xlbXlbBackend
	it := d.objs.XlbBackends.Iterate()
	for it.Next(&id, &v) {
		if BackendState(v.State) != BackendUnused {
			out[id] = backendFromRaw(v)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	return out, nil
}

// WriteMaglev installs table (backend id per slot, 0 = none) as the service's
// live Maglev table: it fills the slot the program is not reading, then flips
// the service's slot index, so no packet ever sees a half-written table.
func (d *Dataplane) WriteMaglev(key ServiceKey, table []uint32) error {
	if len(table) != d.tableSize {
		return fmt.Errorf("service %s: Maglev table has %d slots, this build uses %d", key, len(table), d.tableSize)
	}
	rk, svc, err := d.lookupService(key)
	if err != nil {
		return err
	}
	next := (svc.Slot + 1) & 1
	inner, err := d.innerTable(svc.Id*2 + next)
	if err != nil {
		return fmt.Errorf("service %s: %w", key, err)
	}
	defer inner.Close()
	keys := make([]uint32, len(table))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := inner.BatchUpdate(keys, table, nil); err != nil {
		return fmt.Errorf("service %s: fill Maglev slot %d: %w", key, next, err)
	}
	svc.Slot = next
	services, _ := d.serviceMaps(rk.v6)
	if err := services.Update(rk.key(), &svc, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("service %s: flip to Maglev slot %d: %w", key, next, err)
	}
	return nil
}

// innerTable returns the Maglev table at outer index k, creating it on first use.
func (d *Dataplane) innerTable(k uint32) (*ebpf.Map, error) {
	var inner *ebpf.Map
	err := d.objs.XlbMaglev.Lookup(&k, &inner)
	if err == nil {
		return inner, nil
	}
	if !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("open Maglev table %d: %w", k, err)
	}
	inner, err = ebpf.NewMap(d.innerSpec)
	if err != nil {
		return nil, fmt.Errorf("create Maglev table: %w", err)
	}
	if err := d.objs.XlbMaglev.Update(&k, inner, ebpf.UpdateAny); err != nil {
		inner.Close()
		return nil, fmt.Errorf("install Maglev table %d: %w", k, err)
	}
	return inner, nil
}

// MaglevTable reads the service's live table.
func (d *Dataplane) MaglevTable(key ServiceKey) ([]uint32, error) {
	_, svc, err := d.lookupService(key)
	if err != nil {
		return nil, err
	}
	k := svc.Id*2 + svc.Slot
	var inner *ebpf.Map
	if err := d.objs.XlbMaglev.Lookup(&k, &inner); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return make([]uint32, d.tableSize), nil
		}
		return nil, fmt.Errorf("open Maglev table of %s: %w", key, err)
	}
	defer inner.Close()
	// One batched read of the whole array instead of a syscall per slot.
	keys := make([]uint32, d.tableSize)
	out := make([]uint32, d.tableSize)
	var cursor ebpf.MapBatchCursor
	n, err := inner.BatchLookup(&cursor, keys, out, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read Maglev table of %s: %w", key, err)
	}
	if n != d.tableSize {
		return nil, fmt.Errorf("read Maglev table of %s: %d of %d slots", key, n, d.tableSize)
	}
	return out, nil
}

func sumPerCPU(m *ebpf.Map, key uint32) (Counter, error) {
	var per []xlbXlbCounter
	if err := m.Lookup(key, &per); err != nil {
		return Counter{}, err
	}
	var c Counter
	for _, p := range per {
		c.Packets += p.Packets
		c.Bytes += p.Bytes
	}
	return c, nil
}

// ServiceCounter is what the service forwarded, over all CPUs.
func (d *Dataplane) ServiceCounter(id uint32) (Counter, error) {
	c, err := sumPerCPU(d.objs.XlbServiceStats, id)
	if err != nil {
		return Counter{}, fmt.Errorf("read counters of service %d: %w", id, err)
	}
	return c, nil
}

// BackendCounter is what was forwarded to the backend, over all CPUs.
func (d *Dataplane) BackendCounter(id uint32) (Counter, error) {
	c, err := sumPerCPU(d.objs.XlbBackendStats, id)
	if err != nil {
		return Counter{}, fmt.Errorf("read counters of backend %d: %w", id, err)
	}
	return c, nil
}

// ReasonCounters counts passed and dropped frames by reason.
func (d *Dataplane) ReasonCounters() (map[Reason]Counter, error) {
	return sumAll(d.objs.XlbReasons, Reasons())
}

// FlowCounters counts, by FlowStat, what the program did to flows (over
// all CPUs; Bytes are those of the packets that did it).
func (d *Dataplane) FlowCounters() (map[FlowStat]Counter, error) {
	return sumAll(d.objs.XlbFlowStats, FlowStats())
}

// sumAll reads the per-CPU counters of every key of an enum-indexed array.
func sumAll[T interface {
	~uint32
	fmt.Stringer
}](m *ebpf.Map, keys []T) (map[T]Counter, error) {
	out := make(map[T]Counter, len(keys))
	for _, k := range keys {
		c, err := sumPerCPU(m, uint32(k))
		if err != nil {
			return nil, fmt.Errorf("read counter %s: %w", k, err)
		}
		out[k] = c
	}
	return out, nil
}

// Flows calls fn for each flow in the tables (IPv4, then IPv6) until fn
// returns false. It reads the tables in batches (a million flows take well
// under a second); a table changes while it is read, so a flow may be
// missed or seen twice.
func (d *Dataplane) Flows(fn func(k FlowKey, backendID uint32) bool) error {
	more, err := walkFlows(d.objs.XlbFlows, flowKeyFromRaw, fn)
	if err != nil || !more {
		return err
	}
	_, err = walkFlows(d.objs.XlbFlows6, flowKey6FromRaw, fn)
	return err
}

// walkFlows calls fn for each flow of one table; false when fn stopped it.
func walkFlows[K any](m *ebpf.Map, key func(K) FlowKey, fn func(FlowKey, uint32) bool) (bool, error) {
	const batch = 4096
	keys := make([]K, batch)
	vals := make([]xlbXlbFlow, batch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if !fn(key(keys[i]), vals[i].BackendId) {
				return false, nil
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("walk flow table %s: %w", m, err)
		}
	}
}

// FlowCount counts the flows in the table.
func (d *Dataplane) FlowCount() (int, error) {
	n := 0
	err := d.Flows(func(FlowKey, uint32) bool { n++; return true })
	return n, err
}

// FlowCountMaxAge is how stale a count RecentFlowCount returns may be, for
// callers anyone can trigger (a metrics scrape).
const FlowCountMaxAge = 10 * time.Second

// flowCountCache holds the last count of the flow table and when it was made.
type flowCountCache struct {
	mu sync.Mutex
	at time.Time
	n  int
}

// RecentFlowCount is FlowCount, at most maxAge old. Counting walks the whole
// table (a million flows cost a good part of a CPU second), so however often
// it is called it walks at most once per maxAge; concurrent callers wait for
// one walk and share it. A failed walk is not cached.
func (d *Dataplane) RecentFlowCount(maxAge time.Duration) (int, error) {
	c := &d.flowCount
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < maxAge {
		return c.n, nil
	}
	n, err := d.FlowCount()
	if err != nil {
		return 0, err
	}
	c.n, c.at = n, time.Now()
	return n, nil
}

// Flow returns the backend id of one flow.
func (d *Dataplane) Flow(k FlowKey) (uint32, bool, error) {
	var v xlbXlbFlow
	rk, err := k.raw()
	if err != nil {
		return 0, false, err
	}
	if err := d.flowTable(rk.v6).Lookup(rk.key(), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("read flow: %w", err)
	}
	return v.BackendId, true, nil
}

// MaxFlows is the flow table's capacity, per family.
func (d *Dataplane) MaxFlows() uint32 { return d.objs.XlbFlows.MaxEntries() }
