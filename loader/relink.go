package loader

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ErrLinkGone is Relink's error while the interface does not exist: the
// kernel detached the program with the netdev; the maps (and their flows)
// stay pinned for when it returns.
var ErrLinkGone = errors.New("interface gone")

// linkAlive says whether l still attaches a program to an interface: the
// kernel keeps an XDP link whose netdev was deleted, attached to nothing
// (ifindex 0), and Update on it fails.
func linkAlive(l link.Link) bool {
	info, err := l.Info()
	if err != nil {
		return false
	}
	x := info.XDP()
	return x != nil && x.Ifindex != 0
}

// Relink makes the program follow the interface after a link change while
// keeping every map (flows, services, counters): a new MAC (bond failover,
// an operator) needs a program loaded with it in .rodata, swapped into the
// link atomically; a netdev deleted and re-created under the same name
// needs the dead link replaced by one on the new netdev. It reports whether
// it changed anything; with no change needed it does nothing.
func (d *Dataplane) Relink(mode AttachMode) (bool, error) {
	if d.dir == "" {
		return false, errors.New("relink: data plane not attached")
	}
	iface, err := net.InterfaceByName(d.ifname)
	if err != nil {
		return false, fmt.Errorf("%s: %w: %w", d.ifname, ErrLinkGone, err)
	}
	alive := d.link != nil && linkAlive(d.link)
	sameMAC := bytes.Equal(iface.HardwareAddr, d.MAC())
	if alive && sameMAC {
		if info, err := d.link.Info(); err == nil && int(info.XDP().Ifindex) == iface.Index {
			return false, nil
		}
	}
	prog := d.objs.XlbXdp
	if !sameMAC {
		if prog, err = d.loadProgram(iface.HardwareAddr); err != nil {
			return false, err
		}
	}
	if alive {
		err = d.link.Update(prog)
	} else {
		err = d.replaceDeadLink(iface, mode, prog)
	}
	if err != nil {
		if prog != d.objs.XlbXdp {
			prog.Close()
		}
		return false, err
	}
	if prog != d.objs.XlbXdp {
		progPath := filepath.Join(d.dir, "prog")
		if err := os.Remove(progPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, fmt.Errorf("replace pinned program: %w", err)
		}
		old := d.objs.XlbXdp
		d.objs.XlbXdp = prog
		d.mac.Store(&iface.HardwareAddr)
		old.Close()
		if err := prog.Pin(progPath); err != nil {
			return true, fmt.Errorf("pin program: %w", err)
		}
	}
	return true, nil
}

// loadProgram loads the program for mac against this data plane's maps.
func (d *Dataplane) loadProgram(mac net.HardwareAddr) (*ebpf.Program, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("interface MAC %q is not a 6-byte Ethernet address", mac)
	}
	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	if _, err := configure(spec, mac, d.opts); err != nil {
		return nil, err
	}
	repl := map[string]*ebpf.Map{}
	for _, nm := range d.maps() {
		repl[nm.name] = *nm.m
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	var progs xlbPrograms
	if err := spec.LoadAndAssign(&progs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load xlb program: %+v", verr)
		}
		return nil, fmt.Errorf("load xlb program for MAC %s: %w", mac, err)
	}
	return progs.XlbXdp, nil
}

// replaceDeadLink unpins a link left attached to nothing and attaches prog
// to iface with a new pinned link.
func (d *Dataplane) replaceDeadLink(iface *net.Interface, mode AttachMode, prog *ebpf.Program) error {
	linkPath := filepath.Join(d.dir, "link")
	if d.link != nil {
		_ = d.link.Unpin()
		d.link.Close()
		d.link = nil
	}
	if err := os.Remove(linkPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove dead pinned link: %w", err)
	}
	flags := link.XDPDriverMode
	if mode == Generic {
		flags = link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index, Flags: flags})
	if err != nil {
		return fmt.Errorf("attach XDP to %s in %s mode: %w", iface.Name, mode, err)
	}
	if err := l.Pin(linkPath); err != nil {
		l.Close()
		return fmt.Errorf("pin XDP link: %w", err)
	}
	d.link = l
	return nil
}
