package flowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"xlb/loader"
)

// DefaultGroup is the multicast group and port flow sync uses (IPVS's group).
var DefaultGroup = netip.MustParseAddrPort("224.0.0.81:8848")

// Dataplane is what a Syncer reads and writes: *loader.Dataplane.
type Dataplane interface {
	FlowEventReader() (*loader.FlowEventReader, error)
	SetFlow(loader.FlowKey, uint32) error
	Services() (map[loader.ServiceKey]loader.Service, error)
	Backends() (map[uint32]loader.Backend, error)
}

// Status counts what a Syncer did.
type Status struct {
	Interface string            `json:"interface"`
	Group     string            `json:"group"`
	Sent      uint64            `json:"flows_sent"`
	Received  uint64            `json:"flows_received"`
	Applied   uint64            `json:"flows_applied"`
	Dropped   map[string]uint64 `json:"dropped"`
}

// Syncer sends this director's recorded flows to its peers and applies
// theirs.
type Syncer struct {
	dp    Dataplane
	iface *net.Interface
	group netip.AddrPort
	log   *slog.Logger

	sent, received, applied atomic.Uint64
	mu                      sync.Mutex
	dropped                 map[string]uint64
	ids                     snapshot
}

// New returns a syncer for dp on iface.
func New(dp Dataplane, iface *net.Interface, group netip.AddrPort, log *slog.Logger) *Syncer {
	return &Syncer{dp: dp, iface: iface, group: group, log: log, dropped: map[string]uint64{}}
}

// Status is a snapshot of the counters.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Interface: s.iface.Name, Group: s.group.String(), Sent: s.sent.Load(), Received: s.received.Load(),
		Applied: s.applied.Load(), Dropped: map[string]uint64{}}
	for k, v := range s.dropped {
		st.Dropped[k] = v
	}
	return st
}

func (s *Syncer) drop(reason string) {
	s.mu.Lock()
	s.dropped[reason]++
	s.mu.Unlock()
}

// Run sends and receives until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	wait, err := s.Start(ctx)
	if err != nil {
		return err
	}
	wait()
	return nil
}

// Start opens the sockets (in the calling thread's network namespace) and
// syncs in the background until ctx ends; wait blocks until it has stopped.
func (s *Syncer) Start(ctx context.Context) (wait func(), err error) {
	rx, err := net.ListenMulticastUDP("udp4", s.iface, net.UDPAddrFromAddrPort(s.group))
	if err != nil {
		return nil, fmt.Errorf("flow sync: join %s on %s: %w", s.group, s.iface.Name, err)
	}
	tx, err := s.sender()
	if err != nil {
		rx.Close()
		return nil, err
	}
	events, err := s.dp.FlowEventReader()
	if err != nil {
		rx.Close()
		tx.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.receive(rx) }()
	go func() { defer wg.Done(); s.send(ctx, events, tx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		rx.Close()
		events.Close()
	}()
	// The caller's logger names the interface (xlbd: one logger per plane).
	s.log.Info("flow sync running", "group", s.group)
	return func() {
		wg.Wait()
		tx.Close()
	}, nil
}

// sender is a UDP socket that sends to the group out of iface only, with TTL
// 1 (the peer is on the same segment) and without looping back to us.
func (s *Syncer) sender() (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(
				unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(s.iface.Index)}),
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1),
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
			)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":0")
	if err != nil {
		return nil, fmt.Errorf("flow sync: sender socket: %w", err)
	}
	return pc.(*net.UDPConn), nil
}

// send batches the ring's events into datagrams: up to MaxEntries, or what
// came within 20ms.
func (s *Syncer) send(ctx context.Context, events *loader.FlowEventReader, tx *net.UDPConn) {
	dst := net.UDPAddrFromAddrPort(s.group)
	var batch []Entry
	flush := func() {
		if len(batch) == 0 {
			return
		}
		b, err := Encode(batch)
		if err == nil {
			_, err = tx.WriteToUDP(b, dst)
		}
		if err != nil {
			s.log.Warn("flow sync send", "error", err, "flows", len(batch))
			s.drop("send_error")
		} else {
			s.sent.Add(uint64(len(batch)))
		}
		batch = batch[:0]
	}
	deadline := time.Now().Add(20 * time.Millisecond)
	for ctx.Err() == nil {
		ev, err := events.Read(time.Until(deadline))
		switch {
		case errors.Is(err, loader.ErrReaderClosed):
			flush()
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			flush()
			deadline = time.Now().Add(20 * time.Millisecond)
			continue
		case err != nil:
			s.log.Warn("flow sync: read flow event", "error", err)
			continue
		}
		ip, ok := s.ids.backendIP(s.dp, ev.BackendID)
		if !ok {
			s.drop("unknown_local_backend")
			continue
		}
		batch = append(batch, Entry{Flow: ev.Flow, Backend: ip})
		if len(batch) == MaxEntries {
			flush()
		}
		if time.Now().After(deadline) {
			flush()
			deadline = time.Now().Add(20 * time.Millisecond)
		}
	}
}

func (s *Syncer) receive(rx *net.UDPConn) {
	buf := make([]byte, 2048)
	own := map[netip.Addr]bool{}
	if addrs, err := s.iface.Addrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok {
					own[ip] = true
				}
			}
		}
	}
	for {
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if own[from.Addr().Unmap()] {
			continue
		}
		entries, err := Decode(buf[:n])
		if err != nil {
			s.drop("malformed")
			continue
		}
		s.received.Add(uint64(len(entries)))
		for _, e := range entries {
			id, reason := s.ids.backendID(s.dp, e)
			if reason != "" {
				s.drop(reason)
				continue
			}
			if err := s.dp.SetFlow(e.Flow, id); err != nil {
				s.drop("write_error")
				continue
			}
			s.applied.Add(1)
		}
	}
}

// snapshot caches the data plane's services and backends, refreshed when a
// lookup misses (at most every 100ms).
type snapshot struct {
	mu       sync.Mutex
	at       time.Time
	services map[loader.ServiceKey]loader.Service
	backends map[uint32]loader.Backend
}

// refresh re-reads the maps once the snapshot is a second old, or, after a
// miss (force), once it is 100ms old: a burst of misses costs one read.
func (c *snapshot) refresh(dp Dataplane, force bool) {
	maxAge := time.Second
	if force {
		maxAge = 100 * time.Millisecond
	}
	if time.Since(c.at) < maxAge {
		return
	}
	svcs, err1 := dp.Services()
	bes, err2 := dp.Backends()
	if err1 == nil && err2 == nil {
		c.services, c.backends, c.at = svcs, bes, time.Now()
	}
}

func (c *snapshot) backendIP(dp Dataplane, id uint32) (netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh(dp, false)
	b, ok := c.backends[id]
	if !ok {
		c.refresh(dp, true)
		b, ok = c.backends[id]
	}
	return b.IP, ok
}

// backendID finds the local id of an entry's backend, or why it cannot be
// used here; a service or backend it does not know yet triggers a re-read.
func (c *snapshot) backendID(dp Dataplane, e Entry) (uint32, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh(dp, false)
	id, reason := c.find(e)
	if reason == "unknown_service" || reason == "unknown_backend" {
		c.refresh(dp, true)
		id, reason = c.find(e)
	}
	return id, reason
}

func (c *snapshot) find(e Entry) (uint32, string) {
	key := loader.ServiceKey{VIP: e.Flow.VIP.Addr(), Port: e.Flow.VIP.Port(), Proto: e.Flow.Proto}
	svc, ok := c.services[key]
	if !ok {
		return 0, "unknown_service"
	}
	for id, b := range c.backends {
		if b.ServiceID == svc.ID && b.IP == e.Backend {
			if b.State != loader.BackendActive && b.State != loader.BackendDrained {
				return 0, "backend_not_usable"
			}
			return id, ""
		}
	}
	return 0, "unknown_backend"
}
