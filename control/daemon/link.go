package daemon

import (
	"bytes"
	"context"
	"errors"
	"net"
	"time"

	"github.com/vishvananda/netlink"

	"xlb/loader"
)

// resubscribeDelay paces new link subscriptions after one failed (ENOBUFS
// after a burst of events, a closed socket).
const resubscribeDelay = time.Second

// followLink keeps p's program on its interface across link changes, with
// every map kept: a new MAC reloads the program with it (else every frame
// would go to the stack), a netdev deleted and re-created under the same
// name gets the program attached again, and the neighbour tracker and flow
// sync move to it (else backend MACs would never be resolved or followed
// again, and the peers' flows never heard). Link down and up change nothing.
// Events lost by the subscription are made up for by resubscribing and
// re-reading the link.
func (d *Daemon) followLink(ctx context.Context, p *plane) {
	gone := false
	for ctx.Err() == nil {
		err := d.watchLink(ctx, p, &gone)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("link events lost: resubscribing and re-reading the link", "interface", p.plan.name, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(resubscribeDelay):
		}
	}
}

// watchLink follows one subscription until it fails or ctx ends.
func (d *Daemon) watchLink(ctx context.Context, p *plane, gone *bool) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	// What changed before this subscription started is read now. Sockets
	// that could not move yet (a new netdev without its IPv4 address) are
	// tried again every resubscribeDelay.
	var retry <-chan time.Time
	relink := func() {
		retry = nil
		if !d.relink(p, gone) {
			retry = time.After(resubscribeDelay)
		}
	}
	relink()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry:
			relink()
		case err := <-errc:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("link subscription ended")
			}
			if u.Attrs() != nil && u.Attrs().Name == p.plan.name {
				relink()
			}
		}
	}
}

// relink brings p's program and its sockets in line with its interface and
// says so; false: some sockets could not move yet.
func (d *Daemon) relink(p *plane, gone *bool) bool {
	changed, err := p.dp.Relink(d.opts.Mode)
	switch {
	case errors.Is(err, loader.ErrLinkGone):
		if !*gone {
			d.log.Error("interface gone: nothing is forwarded on it; the flows stay pinned and forwarding resumes when it returns", "interface", p.plan.name)
		}
		*gone = true
	case err != nil:
		d.log.Error("data plane could not follow a link change", "interface", p.plan.name, "error", err)
	case changed || *gone:
		d.log.Warn("data plane follows the interface: program reloaded or re-attached, flows kept", "interface", p.plan.name, "mac", p.dp.MAC().String())
		*gone = false
	}
	return err != nil || d.moveSockets(p)
}

// netdevSockets are sockets bound to one netdev that can move to the netdev
// now carrying its name: control.Neighbours, flowsync.Syncer. (VRRP
// instances follow their interfaces themselves, from their link events.)
type netdevSockets interface {
	Interface() *net.Interface
	Reopen(*net.Interface) error
}

// socketUser is one user of netdevSockets on a plane, and when its sockets
// no longer serve.
type socketUser struct {
	what    string
	sockets netdevSockets
	moved   func(was, now *net.Interface) bool
}

// socketUsers are p's users of interface-bound sockets.
func (p *plane) socketUsers() []socketUser {
	var us []socketUser
	if p.neigh != nil {
		us = append(us, socketUser{"neighbour tracking", p.neigh, neighboursMoved})
	}
	if p.sync != nil {
		us = append(us, socketUser{"flow sync", p.sync, netdevMoved})
	}
	return us
}

// moveSockets moves each of p's socket users to the netdev now named
// p.plan.name when theirs no longer serves; false when some could not (each
// error said once).
func (d *Daemon) moveSockets(p *plane) bool {
	iface, err := net.InterfaceByName(p.plan.name)
	if err != nil {
		return true // gone again: the next event says so
	}
	if p.moveErr == nil {
		p.moveErr = map[string]string{}
	}
	ok := true
	for _, u := range p.socketUsers() {
		if !u.moved(u.sockets.Interface(), iface) {
			continue
		}
		if err := u.sockets.Reopen(iface); err != nil {
			if err.Error() != p.moveErr[u.what] {
				d.log.Error(u.what+" could not follow the interface yet: tried again every second", "interface", p.plan.name, "error", err)
			}
			p.moveErr[u.what] = err.Error()
			ok = false
			continue
		}
		delete(p.moveErr, u.what)
		d.log.Info(u.what+" follows the interface", "interface", p.plan.name, "ifindex", iface.Index)
	}
	return ok
}

// netdevMoved: sockets bound to was no longer serve now (a new netdev).
func netdevMoved(was, now *net.Interface) bool { return was.Index != now.Index }

// neighboursMoved: neighbour sockets opened on was no longer serve now (a
// new netdev, or a new MAC that solicitations carry).
func neighboursMoved(was, now *net.Interface) bool {
	return netdevMoved(was, now) || !bytes.Equal(was.HardwareAddr, now.HardwareAddr)
}
