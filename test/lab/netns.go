package lab

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// run runs a command and returns its combined output, with the command line
// in the error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inNS runs a command inside a named namespace. nsenter, not "ip netns
// exec": the latter remounts /sys and would hide the bpffs pins.
func inNS(ns string, name string, args ...string) (string, error) {
	return run("nsenter", append([]string{"--net=/run/netns/" + ns, "--", name}, args...)...)
}

// NSDialer opens TCP connections from inside a namespace. A goroutine locked
// to a thread in the namespace makes the sockets; once made, a socket stays
// in its namespace wherever it is used.
type NSDialer struct {
	reqs chan dialReq
	done chan struct{}
}

type dialReq struct {
	ctx  context.Context
	addr string
	resp chan dialResp
}

type dialResp struct {
	c   net.Conn
	err error
}

// NewNSDialer starts a dialer for namespace ns.
func NewNSDialer(ns string) (*NSDialer, error) {
	d := &NSDialer{reqs: make(chan dialReq), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for {
			select {
			case <-d.done:
				return
			case r := <-d.reqs:
				var nd net.Dialer
				c, err := nd.DialContext(r.ctx, "tcp", r.addr)
				r.resp <- dialResp{c, err}
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("dialer in netns %s: %w", ns, err)
	}
	return d, nil
}

// DialContext connects to addr from the namespace.
func (d *NSDialer) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, addr: addr, resp: make(chan dialResp, 1)}
	select {
	case d.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.done:
		return nil, net.ErrClosed
	}
	resp := <-r.resp
	return resp.c, resp.err
}

// Close stops the dialer; connections it made stay open.
func (d *NSDialer) Close() { close(d.done) }
