package daemon

import (
	"context"
	"errors"
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
// name gets the program attached again. Link down and up change nothing.
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
	// What changed before this subscription started is read now.
	d.relink(p, gone)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("link subscription ended")
			}
			if u.Attrs() != nil && u.Attrs().Name == p.plan.name {
				d.relink(p, gone)
			}
		}
	}
}

// relink brings p's program in line with its interface and says so.
func (d *Daemon) relink(p *plane, gone *bool) {
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
}
