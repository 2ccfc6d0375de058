package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// An upgrade replaces maps pinned by another build (another ABI, or other
// sizes) without stopping forwarding: new maps are made beside the old ones,
// filled with what carries over, the new program is swapped into the pinned
// link, and the new set replaces the old pins. The new set is pinned in a
// staging directory first; the ABI pinned there last is the commit mark. A
// crash before the mark leaves the old pins (and, if the swap happened, a
// program that a restart replaces again); after it, the next Open finishes
// the renames. Either way one consistent set is pinned.

// stagingDir is the staging directory under the pin directory (bpffs
// refuses names with a dot).
const stagingDir = "upgrade-staging"

// ErrUpgradeRefused is returned by Open when the pinned maps hold state this
// build cannot carry over; the message says what to do.
var ErrUpgradeRefused = errors.New("cannot upgrade the pinned data plane")

// UpgradeReport says what an upgrade carried over.
type UpgradeReport struct {
	From, To ABIHash
	// FromKnown is false when the old pins had no ABI (a build from before
	// ABIs were pinned).
	FromKnown bool
	// Entries carried per map, and entries that could not be translated.
	Carried, Dropped map[string]int
	// Resampled is true when the Maglev tables had another size: they were
	// stretched to the new size, keeping each backend's share, until the
	// daemon writes the real tables.
	Resampled bool
	Took      time.Duration
}

// finishUpgrade completes or discards an upgrade a crash interrupted.
func finishUpgrade(dir string) error {
	stage := filepath.Join(dir, stagingDir)
	entries, err := os.ReadDir(stage)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read staged upgrade: %w", err)
	}
	if _, err := os.Stat(filepath.Join(stage, abiPin)); errors.Is(err, os.ErrNotExist) {
		// Not committed: the old pins are still the consistent set.
		return os.RemoveAll(stage)
	}
	keep := map[string]bool{"link": true, stagingDir: true}
	for _, e := range entries {
		keep[e.Name()] = true
		if e.Name() == abiPin {
			continue
		}
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("replace pin %s: %w", e.Name(), err)
		}
	}
	// The ABI last: until it is replaced, a reader sees the old ABI and
	// refuses the (mixed) set rather than misreading it.
	if err := os.Rename(filepath.Join(stage, abiPin), filepath.Join(dir, abiPin)); err != nil {
		return fmt.Errorf("replace pinned ABI: %w", err)
	}
	if err := os.Remove(stage); err != nil {
		return fmt.Errorf("remove staging directory: %w", err)
	}
	// Maps the new build no longer has.
	old, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read pin directory: %w", err)
	}
	for _, e := range old {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove old pin %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// pinnedMaps opens every map pinned in dir, by pin name.
func pinnedMaps(dir string) (map[string]*ebpf.Map, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read pin directory: %w", err)
	}
	out := make(map[string]*ebpf.Map)
	for _, e := range entries {
		if e.IsDir() || e.Name() == "link" || e.Name() == "prog" || e.Name() == abiPin {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			closeMaps(out)
			return nil, fmt.Errorf("open pinned map %s: %w", e.Name(), err)
		}
		out[e.Name()] = m
	}
	return out, nil
}

func closeMaps(ms map[string]*ebpf.Map) {
	for _, m := range ms {
		m.Close()
	}
}

// upgrade replaces the data plane pinned in dir by spec's (already
// configured), carrying its state over. d is loaded but unpinned and
// unattached.
func (d *Dataplane) upgrade(spec *ebpf.CollectionSpec, dir string, from ABIHash, fromKnown bool) (UpgradeReport, error) {
	start := time.Now()
	rep := UpgradeReport{From: from, FromKnown: fromKnown, To: d.abi, Carried: map[string]int{}, Dropped: map[string]int{}}
	old, err := pinnedMaps(dir)
	if err != nil {
		return rep, err
	}
	defer closeMaps(old)
	oldProg := pinnedABITypes(dir)
	// The flow tables are read twice: before the swap, then for flows the
	// old program recorded in between.
	seen := map[string]map[string]struct{}{"xlb_flows": {}, "xlb_new_flows": {}, "xlb_flows6": {}, "xlb_new_flows6": {}}
	for _, nm := range d.maps() {
		om := old[nm.name]
		if om == nil {
			continue
		}
		if err := d.carry(&rep, nm.name, om, *nm.m, spec, oldProg, seen); err != nil {
			return rep, fmt.Errorf("%w: map %s: %w", ErrUpgradeRefused, nm.name, err)
		}
	}
	// The swap: the pinned link runs the new program from here on.
	linkPath := filepath.Join(dir, "link")
	if l, err := link.LoadPinnedLink(linkPath, nil); err == nil {
		err = l.Update(d.objs.XlbXdp)
		l.Close()
		if err != nil {
			return rep, fmt.Errorf("swap the new program into %s: %w", linkPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("open pinned link %s: %w", linkPath, err)
	}
	// Flows the old program recorded while the state was copied: the new
	// program's own entries win.
	for _, name := range []string{"xlb_flows", "xlb_new_flows", "xlb_flows6", "xlb_new_flows6"} {
		if om, nm := old[name], d.mapByName(name); om != nil && nm != nil {
			if err := d.copyEntries(&rep, name, om, nm, spec.Maps[name], seen[name], true); err != nil {
				return rep, fmt.Errorf("copy flows recorded during the swap: %w", err)
			}
		}
	}
	stage := filepath.Join(dir, stagingDir)
	if err := os.RemoveAll(stage); err != nil {
		return rep, fmt.Errorf("clear staging directory: %w", err)
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return rep, fmt.Errorf("create staging directory: %w", err)
	}
	for _, nm := range d.maps() {
		if err := (*nm.m).Pin(filepath.Join(stage, nm.name)); err != nil {
			return rep, fmt.Errorf("stage map %s: %w", nm.name, err)
		}
	}
	if err := d.objs.XlbXdp.Pin(filepath.Join(stage, "prog")); err != nil {
		return rep, fmt.Errorf("stage program: %w", err)
	}
	if err := pinABI(filepath.Join(stage, abiPin), d.abi, spec); err != nil {
		return rep, err
	}
	if err := finishUpgrade(dir); err != nil {
		return rep, err
	}
	// The pins moved behind the handles' backs: reopen the maps from their
	// final pins so Detach unpins the right paths (the program keeps its own
	// references to the same maps).
	for _, nm := range d.maps() {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, nm.name), nil)
		if err != nil {
			return rep, fmt.Errorf("reopen map %s: %w", nm.name, err)
		}
		(*nm.m).Close()
		*nm.m = m
	}
	rep.Took = time.Since(start)
	return rep, nil
}

func (d *Dataplane) mapByName(name string) *ebpf.Map {
	for _, nm := range d.maps() {
		if nm.name == name {
			return *nm.m
		}
	}
	return nil
}

// carry copies what the old map holds that the new one can mean the same way.
func (d *Dataplane) carry(rep *UpgradeReport, name string, om, nm *ebpf.Map, spec *ebpf.CollectionSpec, oldProg *btf.Spec, seen map[string]map[string]struct{}) error {
	switch nm.Type() {
	case ebpf.RingBuf:
		return nil // events in flight are the reader's; the new ring starts empty
	case ebpf.ArrayOfMaps:
		if om.Type() != ebpf.ArrayOfMaps {
			return fmt.Errorf("was a %s, now a %s: run `xlbd detach` to start afresh", om.Type(), nm.Type())
		}
		return d.carryMaglev(rep, name, om, nm)
	case ebpf.PerCPUArray:
		if om.Type() != ebpf.PerCPUArray {
			return fmt.Errorf("was a %s, now a %s: run `xlbd detach` to start afresh", om.Type(), nm.Type())
		}
		return carryPerCPU(rep, name, om, nm, spec.Maps[name], spec.Types, oldProg)
	case ebpf.Hash, ebpf.LRUHash, ebpf.Array:
		if om.Type() != nm.Type() && !(isHash(om.Type()) && isHash(nm.Type())) {
			return fmt.Errorf("was a %s, now a %s: run `xlbd detach` to start afresh", om.Type(), nm.Type())
		}
		return d.copyEntries(rep, name, om, nm, spec.Maps[name], seen[name], false)
	}
	return fmt.Errorf("no way to carry a %s over: run `xlbd detach` to start afresh", nm.Type())
}

func isHash(t ebpf.MapType) bool { return t == ebpf.Hash || t == ebpf.LRUHash }

// copyEntries copies every entry of om into nm, translating key and value
// field by field (by name) where the layout changed. It reads and writes in
// batches. seen, when not nil, collects the old keys copied; a later pass
// given the same seen copies only keys added since, and never over an entry
// the new program made.
func (d *Dataplane) copyEntries(rep *UpgradeReport, name string, om, nm *ebpf.Map, spec *ebpf.MapSpec, seen map[string]struct{}, again bool) error {
	oldTypes, err := mapTypes(om)
	if err != nil {
		return err
	}
	tk, err := translatorFor(oldTypes, om.KeySize(), spec.Key, nm.KeySize())
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	tv, err := translatorFor(oldTypes, om.ValueSize(), spec.Value, nm.ValueSize())
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	const batch = 4096
	oks, ovs, nks, nvs := int(om.KeySize()), int(om.ValueSize()), int(nm.KeySize()), int(nm.ValueSize())
	oldKeys, okb := rawBatch(oks, batch)
	oldVals, ovb := rawBatch(ovs, batch)
	newKeys, nkb := rawBatch(nks, batch)
	newVals, nvb := rawBatch(nvs, batch)
	var cursor ebpf.MapBatchCursor
	for {
		n, lerr := om.BatchLookup(&cursor, oldKeys.Interface(), oldVals.Interface(), nil)
		if lerr != nil && !errors.Is(lerr, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("read old entries: %w", lerr)
		}
		m := 0
		for i := 0; i < n; i++ {
			k, v := okb[i*oks:(i+1)*oks], ovb[i*ovs:(i+1)*ovs]
			if seen != nil {
				if _, done := seen[string(k)]; done && again {
					continue
				}
				seen[string(k)] = struct{}{}
			}
			dk, dv := nkb[m*nks:(m+1)*nks], nvb[m*nvs:(m+1)*nvs]
			clear(dk)
			clear(dv)
			if tk(dk, k) != nil || tv(dv, v) != nil {
				rep.Dropped[name]++
				continue
			}
			if again {
				// Few, and each must not overwrite the new program's entry.
				if err := nm.Update(dk, dv, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
					return fmt.Errorf("write entry: %w", err)
				}
				rep.Carried[name]++
				continue
			}
			m++
		}
		if m > 0 {
			if _, err := nm.BatchUpdate(newKeys.Slice(0, m).Interface(), newVals.Slice(0, m).Interface(), nil); err != nil {
				return fmt.Errorf("write entries: %w (the new map is smaller than the old one holds?)", err)
			}
			rep.Carried[name] += m
		}
		if lerr != nil {
			return nil
		}
	}
}

// rawBatch is n elements of size bytes in the form the batch calls take (a
// slice of byte arrays), and the bytes behind it.
func rawBatch(size, n int) (reflect.Value, []byte) {
	s := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeFor[byte]())), n, n)
	return s, unsafe.Slice((*byte)(s.UnsafePointer()), size*n)
}

// carryPerCPU copies per-CPU counters and windows whose layout is unchanged.
// Arrays indexed by an enum are translated by the enumerators' names, so a
// renumbered reason keeps its count.
func carryPerCPU(rep *UpgradeReport, name string, om, nm *ebpf.Map, spec *ebpf.MapSpec, newTypes, oldProg *btf.Spec) error {
	oldTypes, err := mapTypes(om)
	if err != nil {
		return err
	}
	tv, err := translatorFor(oldTypes, om.ValueSize(), spec.Value, nm.ValueSize())
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	index := func(i uint32) (uint32, bool) { return i, i < nm.MaxEntries() }
	if enum := counterIndex[name]; enum != "" {
		index, err = enumIndex(newTypes, oldProg, enum)
		if err != nil {
			// Counted under unknown names: better lost than misattributed.
			rep.Dropped[name] += int(om.MaxEntries())
			return nil
		}
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	vals := make([][]byte, ncpu)
	out := make([][]byte, ncpu)
	for i := uint32(0); i < om.MaxEntries(); i++ {
		j, ok := index(i)
		if !ok {
			rep.Dropped[name]++
			continue
		}
		if err := om.Lookup(i, vals); err != nil {
			return fmt.Errorf("read entry %d: %w", i, err)
		}
		for c := range vals {
			out[c] = make([]byte, nm.ValueSize())
			if err := tv(out[c], vals[c]); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
		}
		if err := nm.Update(j, out, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write entry %d: %w", j, err)
		}
		rep.Carried[name]++
	}
	return nil
}

// counterIndex names the enum that indexes each enum-indexed counter array.
var counterIndex = map[string]string{"xlb_reasons": "xlb_reason", "xlb_flow_stats": "xlb_flow_stat"}

// enumIndex maps an old enumerator's value to the new one of the same name,
// read from the old and the new object's BTF. The old values come from the
// pinned ABI (a map's BTF has only its key and value; a program's only its
// functions).
func enumIndex(newTypes, oldTypes *btf.Spec, enum string) (func(uint32) (uint32, bool), error) {
	var ne *btf.Enum
	if err := newTypes.TypeByName(enum, &ne); err != nil {
		return nil, fmt.Errorf("enum %s: %w", enum, err)
	}
	var oe *btf.Enum
	if oldTypes == nil || oldTypes.TypeByName(enum, &oe) != nil {
		return nil, fmt.Errorf("the old build's enum %s is unknown: counters cannot be carried by name", enum)
	}
	byName := map[string]uint32{}
	for _, v := range ne.Values {
		byName[v.Name] = uint32(v.Value)
	}
	m := map[uint32]uint32{}
	for _, v := range oe.Values {
		if j, ok := byName[newEnumName(v.Name)]; ok {
			m[uint32(v.Value)] = j
		}
	}
	return func(i uint32) (uint32, bool) { j, ok := m[i]; return j, ok }, nil
}

// mapTypes is the BTF the kernel keeps for a map: its key and value types as
// the build that created it defined them.
func mapTypes(m *ebpf.Map) (*btf.Spec, error) {
	info, err := m.Info()
	if err != nil {
		return nil, fmt.Errorf("map info: %w", err)
	}
	id, ok := info.BTFID()
	if !ok {
		return nil, nil
	}
	h, err := btf.NewHandleFromID(id)
	if err != nil {
		return nil, fmt.Errorf("open map BTF: %w", err)
	}
	defer h.Close()
	s, err := h.Spec(nil)
	if err != nil {
		return nil, fmt.Errorf("read map BTF: %w", err)
	}
	return s, nil
}

// carryMaglev moves every Maglev table into the new outer map. A table of
// this build's size is shared as is. One of another size is stretched: new
// slot i takes old slot i*old/new, so each backend keeps its share of new
// flows (within a slot) until the daemon writes the table this size gives.
func (d *Dataplane) carryMaglev(rep *UpgradeReport, name string, om, nm *ebpf.Map) error {
	for k := uint32(0); k < om.MaxEntries() && k < nm.MaxEntries(); k++ {
		var inner *ebpf.Map
		if err := om.Lookup(&k, &inner); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return fmt.Errorf("open old table %d: %w", k, err)
		}
		err := d.carryTable(rep, k, inner, nm)
		inner.Close()
		if err != nil {
			return err
		}
		rep.Carried[name]++
	}
	return nil
}

func (d *Dataplane) carryTable(rep *UpgradeReport, k uint32, inner, nm *ebpf.Map) error {
	if inner.MaxEntries() == uint32(d.tableSize) && inner.ValueSize() == 4 {
		if err := nm.Update(&k, inner, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("install table %d: %w", k, err)
		}
		return nil
	}
	if inner.ValueSize() != 4 {
		return fmt.Errorf("table %d holds %d-byte slots: run `xlbd detach` to start afresh", k, inner.ValueSize())
	}
	rep.Resampled = true
	n := int(inner.MaxEntries())
	keys := make([]uint32, n)
	old := make([]uint32, n)
	var cursor ebpf.MapBatchCursor
	if got, err := inner.BatchLookup(&cursor, keys, old, nil); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) || got != n {
		return fmt.Errorf("read old table %d: %d of %d slots: %v", k, got, n, err)
	}
	keys = make([]uint32, d.tableSize)
	table := make([]uint32, d.tableSize)
	for i := range table {
		keys[i] = uint32(i)
		table[i] = old[int(uint64(i)*uint64(n)/uint64(d.tableSize))]
	}
	fresh, err := d.innerTable(k)
	if err != nil {
		return err
	}
	defer fresh.Close()
	if _, err := fresh.BatchUpdate(keys, table, nil); err != nil {
		return fmt.Errorf("fill table %d: %w", k, err)
	}
	return nil
}

// logUpgrade says what an upgrade did, one line.
func logUpgrade(log *slog.Logger, ifname string, rep UpgradeReport) {
	from := rep.From.String()
	if !rep.FromKnown {
		from = "unpinned (older build)"
	}
	log.Info("data plane upgraded in place", "interface", ifname, "from_abi", from, "to_abi", rep.To.String(),
		"carried", rep.Carried, "dropped", rep.Dropped, "maglev_resampled", rep.Resampled, "took", rep.Took)
}
