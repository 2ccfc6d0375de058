// Package loader loads xlb's XDP program, attaches it to an interface, pins
// it, and gives the control plane a typed API over its maps.
//
// Everything is pinned under one bpffs directory per interface
// (/sys/fs/bpf/xlb/<ifname>): the maps, the program and the XDP link. A
// restarted daemon calls Open again: it reuses the pinned maps (services,
// backends, Maglev tables, the flow table and its counters survive) and
// atomically swaps its freshly loaded program into the pinned link, so
// forwarding never stops. Detach removes everything.
package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"xlb/loader/bpffs"
)

// DefaultPinRoot holds one directory per attached interface.
const DefaultPinRoot = "/sys/fs/bpf/xlb"

// AttachMode selects how the XDP program is attached.
type AttachMode int

const (
	// Native runs the program in the driver: the fast path, and the default.
	Native AttachMode = iota
	// Generic runs it after the stack's skb allocation: slower, works anywhere.
	Generic
)

func (m AttachMode) String() string {
	if m == Generic {
		return "generic"
	}
	return "native"
}

// Options tune loading. The zero value is usable.
type Options struct {
	// PinRoot is the bpffs directory under which <ifname>/ is pinned.
	// Default DefaultPinRoot. Ignored by Load, which pins nothing.
	PinRoot string
	// MaxFlows overrides the flow table's size (default: XLB_MAX_FLOWS,
	// 1048576). A pinned table of another size is copied into one of this
	// size (an upgrade, see Open).
	MaxFlows uint32
	// Mode selects native (default) or generic XDP.
	Mode AttachMode
	// FlowEvents makes the program report every flow it records, for
	// FlowEventReader (flow sync between directors).
	FlowEvents bool
	// HashSeed seeds the flow hash that picks a new flow's backend. Set it
	// per deployment, alike on both directors (they must pick alike), and
	// keep it secret: whoever knows it can aim connections at one backend.
	// 0 means DefaultHashSeed, which is public.
	HashSeed uint32
	// FlowInsertsPerCPU is how many flows each CPU may add to the flow table
	// per second; past it, flows are forwarded by the Maglev pick without an
	// entry, so a flood cannot evict established flows faster. Default:
	// the flow table's size / 64 (16384 for 1M flows).
	FlowInsertsPerCPU uint32
	// Log receives what an upgrade of pinned maps did. Default slog.Default().
	Log *slog.Logger
}

// DefaultHashSeed is the flow hash's seed when Options.HashSeed is 0. It is
// public: a deployment that keeps it lets anyone predict the backend of a
// flow, so callers should warn when it is in use.
const DefaultHashSeed = 0x9e3779b9

func (o Options) hashSeed() uint32 {
	if o.HashSeed == 0 {
		return DefaultHashSeed
	}
	return o.HashSeed
}

// PinRoot is root, or DefaultPinRoot when root is empty: the one place the
// default applies, for every entry point that takes a root.
func PinRoot(root string) string {
	if root == "" {
		return DefaultPinRoot
	}
	return root
}

// pinDir is where the data plane of ifname is pinned under root.
func pinDir(root, ifname string) string { return filepath.Join(PinRoot(root), ifname) }

// Dataplane is a loaded xlb program and its maps.
type Dataplane struct {
	objs      xlbObjects
	innerSpec *ebpf.MapSpec
	tableSize int
	mac       atomic.Pointer[net.HardwareAddr] // Relink changes it while others read MAC()
	hashSeed  uint32
	abi       ABIHash
	spec      *ebpf.CollectionSpec // as loaded: what the pinned ABI describes
	flowCount flowCountCache

	lastUpgrade *UpgradeReport

	link   link.Link
	ifname string
	dir    string
	opts   Options // what Relink loads a program with
}

// Load loads the program and fresh, unpinned maps without attaching them:
// what tests and benchmarks feed through BPF_PROG_TEST_RUN. mac plays the
// attached interface's own address.
func Load(mac net.HardwareAddr, opts Options) (*Dataplane, error) {
	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	return load(spec, abiOf(spec), mac, opts, "")
}

// load loads spec (as built: load configures it) with the maps pinned in
// pinDir, or fresh unpinned maps when pinDir is "".
func load(spec *ebpf.CollectionSpec, abi ABIHash, mac net.HardwareAddr, opts Options, pinDir string) (*Dataplane, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("interface MAC %q is not a 6-byte Ethernet address", mac)
	}
	cfg, err := configure(spec, mac, opts)
	if err != nil {
		return nil, err
	}
	inner := spec.Maps["xlb_maglev"].InnerMap
	if inner == nil {
		return nil, errors.New("BPF object has no Maglev inner map spec")
	}

	d := &Dataplane{innerSpec: inner.Copy(), tableSize: int(inner.MaxEntries), hashSeed: cfg.HashSeed, opts: opts, abi: abi, spec: spec}
	d.mac.Store(&mac)
	var collOpts ebpf.CollectionOptions
	if pinDir != "" {
		collOpts.Maps.PinPath = pinDir
	} else {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}
	if err := spec.LoadAndAssign(&d.objs, &collOpts); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load xlb program: %+v", verr)
		}
		return nil, fmt.Errorf("load xlb objects: %w", err)
	}
	return d, nil
}

// configure applies opts to the object before it is loaded: map sizes and
// the load-time constants in .rodata.
func configure(spec *ebpf.CollectionSpec, mac net.HardwareAddr, opts Options) (xlbXlbConfig, error) {
	// Both families' tables alike (a test's previous build has no IPv6 ones).
	if opts.MaxFlows != 0 {
		for _, name := range []string{"xlb_flows", "xlb_flows6"} {
			if m := spec.Maps[name]; m != nil {
				m.MaxEntries = opts.MaxFlows
			}
		}
	}
	maxFlows := spec.Maps["xlb_flows"].MaxEntries
	// A small flow table (tests) gets as small a new-flow table.
	for _, name := range []string{"xlb_new_flows", "xlb_new_flows6"} {
		if nf := spec.Maps[name]; nf != nil && nf.MaxEntries > maxFlows {
			nf.MaxEntries = maxFlows
		}
	}
	cfg := xlbXlbConfig{HashSeed: opts.hashSeed(), InsertsPerWindow: opts.FlowInsertsPerCPU}
	copy(cfg.Mac[:], mac)
	if opts.FlowEvents {
		cfg.FlowEvents = 1
	}
	if cfg.InsertsPerWindow == 0 {
		cfg.InsertsPerWindow = max(maxFlows/64, 1)
	}
	if err := spec.Variables["xlb_cfg"].Set(cfg); err != nil {
		return cfg, fmt.Errorf("set load-time config: %w", err)
	}
	return cfg, nil
}

// Open loads xlb for ifname and makes it forward: pinned maps under
// PinRoot/ifname are reused, and a pinned XDP link gets the new program
// atomically; without one the program is attached and the link pinned.
//
// Maps pinned by a build of another ABI (or with another flow-table size)
// are upgraded in place without a pause in forwarding: see upgrade. What
// cannot be carried over is refused with ErrUpgradeRefused, which says what
// to do; nothing pinned changes then.
func Open(ifname string, opts Options) (*Dataplane, error) {
	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	return openSpec(ifname, opts, spec)
}

func openSpec(ifname string, opts Options, spec *ebpf.CollectionSpec) (*Dataplane, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	dir := pinDir(opts.PinRoot, ifname)
	if err := bpffs.Ensure(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pin directory: %w", err)
	}
	if err := finishUpgrade(dir); err != nil {
		return nil, fmt.Errorf("finish an interrupted upgrade in %s: %w", dir, err)
	}
	abi := abiOf(spec)
	pinned, known, err := readPinnedABI(dir)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(filepath.Join(dir, "xlb_flows"))
	hasMaps := statErr == nil
	if !hasMaps || (known && pinned == abi) {
		if !hasMaps {
			// The ABI before the maps: an xlbctl that finds them finds it too.
			if err := pinABI(filepath.Join(dir, abiPin), abi, spec); err != nil {
				return nil, err
			}
		}
		d, err := load(spec, abi, iface.HardwareAddr, opts, dir)
		if err == nil {
			return d.finishOpen(iface, opts, dir)
		}
		if !errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, err
		}
		// Same ABI, other sizes (MaxFlows): carried over like an ABI change.
	}
	d, err := load(spec, abi, iface.HardwareAddr, opts, "")
	if err != nil {
		return nil, err
	}
	rep, err := d.upgrade(spec, dir, pinned, known)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("upgrade the data plane pinned in %s from abi %s to %s: %w", dir, pinned, abi, err)
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	logUpgrade(log, ifname, rep)
	d.lastUpgrade = &rep
	return d.finishOpen(iface, opts, dir)
}

func (d *Dataplane) finishOpen(iface *net.Interface, opts Options, dir string) (*Dataplane, error) {
	d.ifname, d.dir = iface.Name, dir
	if err := d.attach(iface, opts.Mode); err != nil {
		d.Close()
		return nil, err
	}
	if err := pinABI(filepath.Join(dir, abiPin), d.abi, d.spec); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// ABI is the ABI of this data plane's maps.
func (d *Dataplane) ABI() ABIHash { return d.abi }

// LastUpgrade is what Open carried over from maps of another build, or nil
// when it adopted or created the pins.
func (d *Dataplane) LastUpgrade() *UpgradeReport { return d.lastUpgrade }

func (d *Dataplane) attach(iface *net.Interface, mode AttachMode) error {
	linkPath := filepath.Join(d.dir, "link")
	if l, err := link.LoadPinnedLink(linkPath, nil); err == nil && !linkAlive(l) {
		// The netdev this link attached to was deleted: a new one of the
		// same name gets a new link; the pinned maps carry the flows over.
		l.Close()
		if err := d.replaceDeadLink(iface, mode, d.objs.XlbXdp); err != nil {
			return err
		}
	} else if err == nil {
		if err := l.Update(d.objs.XlbXdp); err != nil {
			l.Close()
			return fmt.Errorf("replace the program in pinned link %s: %w", linkPath, err)
		}
		d.link = l
	} else if errors.Is(err, os.ErrNotExist) {
		flags := link.XDPDriverMode
		if mode == Generic {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: d.objs.XlbXdp, Interface: iface.Index, Flags: flags})
		if err != nil {
			if mode == Native && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
				return fmt.Errorf("attach XDP to %s in native mode: the driver does not support native XDP (use generic mode): %w", iface.Name, err)
			}
			return fmt.Errorf("attach XDP to %s in %s mode: %w", iface.Name, mode, err)
		}
		if err := l.Pin(linkPath); err != nil {
			l.Close()
			return fmt.Errorf("pin XDP link: %w", err)
		}
		d.link = l
	} else {
		return fmt.Errorf("open pinned link %s: %w", linkPath, err)
	}
	progPath := filepath.Join(d.dir, "prog")
	if err := os.Remove(progPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace pinned program: %w", err)
	}
	if err := d.objs.XlbXdp.Pin(progPath); err != nil {
		return fmt.Errorf("pin program: %w", err)
	}
	return nil
}

// PinDir is where this data plane is pinned ("" when loaded by Load).
func (d *Dataplane) PinDir() string { return d.dir }

// Program is the XDP program, for BPF_PROG_TEST_RUN.
func (d *Dataplane) Program() *ebpf.Program { return d.objs.XlbXdp }

// MAC is the interface address the program treats as its own.
func (d *Dataplane) MAC() net.HardwareAddr {
	if m := d.mac.Load(); m != nil {
		return *m
	}
	return nil // a read-only view of the pins (OpenPinned) has no program
}

// TableSize is the number of slots in a Maglev table of this build.
func (d *Dataplane) TableSize() int { return d.tableSize }

// Close releases this process's handles. Pinned objects stay, and so does
// forwarding: a later Open picks them up.
func (d *Dataplane) Close() error {
	var errs []error
	if d.link != nil {
		errs = append(errs, d.link.Close())
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// Detach stops forwarding on the interface and removes every pinned object.
func (d *Dataplane) Detach() error {
	if d.dir == "" {
		return d.Close()
	}
	var errs []error
	if d.link != nil {
		errs = append(errs, d.link.Unpin())
	}
	errs = append(errs, d.objs.XlbXdp.Unpin())
	for _, nm := range d.maps() {
		errs = append(errs, (*nm.m).Unpin())
	}
	if err := os.Remove(filepath.Join(d.dir, abiPin)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	errs = append(errs, d.Close())
	if err := os.Remove(d.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// namedMap is one map of the object: its name (which is also its pin's
// name) and the handle that holds it.
type namedMap struct {
	name string
	m    **ebpf.Map
}

// maps lists every map of the object, read from the `ebpf:"name"` tags bpf2go
// put on xlbMaps: the generated struct is the one table of map names, so a map
// added in C is pinned, reopened and unpinned with no list to update here.
func (d *Dataplane) maps() []namedMap {
	v := reflect.ValueOf(&d.objs.xlbMaps).Elem()
	out := make([]namedMap, 0, v.NumField())
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Tag.Get("ebpf"); name != "" {
			out = append(out, namedMap{name: name, m: v.Field(i).Addr().Interface().(**ebpf.Map)})
		}
	}
	return out
}

// ErrNotPinned is returned by OpenPinned when no xlb is pinned for the interface.
var ErrNotPinned = errors.New("no xlb data plane pinned")

// OpenPinned opens the maps an xlbd pinned for ifname, without loading or
// attaching anything: what xlbctl reads, whether or not xlbd is running.
func OpenPinned(ifname string, root string) (*Dataplane, error) {
	dir := pinDir(root, ifname)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (is xlbd attached to %s?)", dir, ErrNotPinned, ifname)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	abi := abiOf(spec)
	if err := checkPinnedABI(dir, abi); err != nil {
		return nil, err
	}
	d := &Dataplane{ifname: ifname, dir: dir, abi: abi, tableSize: int(spec.Maps["xlb_maglev"].InnerMap.MaxEntries)}
	for _, nm := range d.maps() {
		mp, err := ebpf.LoadPinnedMap(filepath.Join(dir, nm.name), nil)
		if err != nil {
			d.objs.Close()
			return nil, fmt.Errorf("open pinned map %s: %w", nm.name, err)
		}
		*nm.m = mp
	}
	return d, nil
}

// Pinned lists the interfaces with an xlb data plane pinned under root.
func Pinned(root string) ([]string, error) {
	entries, err := os.ReadDir(PinRoot(root))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// DetachPinned stops forwarding on ifname and removes everything pinned for
// it, whether or not a daemon holds it open: without its pin and once its
// holders close, the kernel releases the link, which detaches the program.
func DetachPinned(ifname, root string) error {
	dir := pinDir(root, ifname)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", dir, ErrNotPinned)
		}
		return err
	}
	linkPath := filepath.Join(dir, "link")
	if l, err := link.LoadPinnedLink(linkPath, nil); err == nil {
		// Detach explicitly: a running daemon may still hold the link open.
		if err := l.Detach(); err != nil {
			l.Close()
			return fmt.Errorf("detach XDP link of %s: %w", ifname, err)
		}
		if err := l.Unpin(); err != nil {
			l.Close()
			return fmt.Errorf("unpin XDP link of %s: %w", ifname, err)
		}
		l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open pinned link %s: %w", linkPath, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove pins of %s: %w", ifname, err)
	}
	return nil
}
