package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// connectRetry is how soon a session that could not connect tries again.
// GoBGP's default (RFC 4271's 120 s) would leave a director that started
// before its router out of the ECMP set for two minutes.
const connectRetry = 5

// Route is one VIP and whether this director should attract it, with the
// reason (shown by xlbctl bgp).
type Route struct {
	VIP      netip.Addr `json:"vip"`
	Announce bool       `json:"announce"`
	Reason   string     `json:"reason"`
}

// Prefix is the route announced for the VIP: its /32 or /128.
func (r Route) Prefix() netip.Prefix { return Prefix(r.VIP) }

// Speaker runs one GoBGP server and keeps the VIPs it announces in line
// with what Set asks.
type Speaker struct {
	log *slog.Logger

	mu        sync.Mutex
	srv       *server.BgpServer
	cfg       *Config
	announced map[netip.Addr]*apiutil.Path // what GoBGP was given, by VIP
	// nextHop6 is the IPv6 next hop each neighbour gets by export policy
	// (nextHop6Of), resolved when the neighbour is added; the zero Addr
	// when none could be found (IPv6 routes are then not sent to it).
	nextHop6 map[netip.Addr]netip.Addr
	routes   []Route // the last Set
	// transitions counts announce and withdraw operations since start.
	announces, withdraws uint64
	stopped              bool
}

// New returns a speaker with no BGP server; Configure starts one.
func New(log *slog.Logger) *Speaker {
	return &Speaker{log: log, announced: map[netip.Addr]*apiutil.Path{}, nextHop6: map[netip.Addr]netip.Addr{}}
}

// Configure starts, changes or (with nil) stops the BGP server. A change of
// local AS or router id restarts it; neighbours are added, removed or
// replaced one by one, so a reload that did not touch a session keeps it.
func (s *Speaker) Configure(ctx context.Context, cfg *Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg == nil {
		s.stopLocked()
		return nil
	}
	if s.srv != nil && (s.cfg.LocalAS != cfg.LocalAS || s.cfg.RouterID != cfg.RouterID) {
		s.log.Info("bgp: local AS or router id changed: restarting the BGP server")
		s.stopLocked()
	}
	if s.srv == nil {
		srv := server.NewBgpServer(server.LoggerOption(s.log.With("component", "gobgp"), nil))
		go srv.Serve()
		// ListenPort -1: xlbd dials its neighbours and accepts no session;
		// nothing listens on port 179 of a director.
		if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
			Asn: cfg.LocalAS, RouterId: cfg.RouterID.String(), ListenPort: -1,
		}}); err != nil {
			srv.Stop()
			return fmt.Errorf("start bgp: %w", err)
		}
		s.srv, s.cfg, s.stopped = srv, &Config{}, false
		clear(s.announced)
		clear(s.nextHop6)
	}
	var errs []error
	old := map[netip.Addr]Neighbor{}
	for _, n := range s.cfg.Neighbors {
		old[n.Address] = n
	}
	var added []Neighbor
	for _, n := range cfg.Neighbors {
		if was, ok := old[n.Address]; !ok || !reflect.DeepEqual(was, n) {
			added = append(added, n)
			nh, err := nextHop6Of(n, globalIPv6Towards)
			if err != nil {
				errs = append(errs, fmt.Errorf("neighbor %s: %w: its IPv6 routes are not sent", n.Address, err))
			}
			s.nextHop6[n.Address] = nh
		}
	}
	for a := range s.nextHop6 {
		if !slices.ContainsFunc(cfg.Neighbors, func(n Neighbor) bool { return n.Address == a }) {
			delete(s.nextHop6, a)
		}
	}
	// The policy is in place before a session that needs it is added.
	if err := setExportPolicy(ctx, s.srv, exportPolicy(cfg.Neighbors, s.nextHop6)); err != nil {
		errs = append(errs, fmt.Errorf("ipv6 next hop policy: %w", err))
	}
	for _, n := range added {
		if _, ok := old[n.Address]; ok {
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: n.Address.String()}); err != nil {
				errs = append(errs, fmt.Errorf("neighbor %s: %w", n.Address, err))
			}
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n)}); err != nil {
			errs = append(errs, fmt.Errorf("neighbor %s: %w", n.Address, err))
		}
	}
	for _, n := range cfg.Neighbors {
		delete(old, n.Address)
	}
	for a := range old {
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			errs = append(errs, fmt.Errorf("neighbor %s: %w", a, err))
		}
	}
	s.cfg = cfg
	// Attributes (MED, communities) may have changed: re-apply the last
	// decision with them.
	errs = append(errs, s.setLocked(s.routes))
	return errors.Join(errs...)
}

func peer(n Neighbor) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.PeerAS, AuthPassword: n.Password.Reveal()},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: uint64(n.HoldTime / time.Second), KeepaliveInterval: uint64(n.Keepalive / time.Second),
			ConnectRetry: connectRetry, IdleHoldTimeAfterReset: connectRetry,
		}},
	}
	for _, f := range n.Families {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: apiFamily(f), Enabled: true}})
	}
	if n.LocalAddress.IsValid() {
		p.Transport = &api.Transport{LocalAddress: n.LocalAddress.String()}
	}
	if n.MultihopTTL > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.MultihopTTL)}
	}
	if n.BFD.Enabled {
		p.Bfd = &api.BfdPeerConfig{Enabled: true, DetectionMultiplier: n.BFD.Multiplier,
			DesiredMinimumTxInterval: uint32(n.BFD.MinTx / time.Microsecond), RequiredMinimumReceive: uint32(n.BFD.MinRx / time.Microsecond)}
	}
	return p
}

// Set announces the routes marked Announce and withdraws every other VIP.
// It only hands GoBGP what changed: GoBGP sends the UPDATEs without
// blocking the caller on the network.
func (s *Speaker) Set(routes []Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(slices.Clone(routes))
}

func (s *Speaker) setLocked(routes []Route) error {
	s.routes = routes
	if s.srv == nil || s.stopped {
		return nil
	}
	want := map[netip.Addr]*apiutil.Path{}
	var errs []error
	for _, r := range routes {
		if !r.Announce {
			continue
		}
		p, err := s.path(r.VIP)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[r.VIP] = p
	}
	for vip, p := range s.announced {
		if _, ok := want[vip]; ok {
			continue
		}
		if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", vip, err))
			continue
		}
		delete(s.announced, vip)
		s.withdraws++
		s.log.Info("bgp: withdrawn", "vip", vip, "reason", reasonOf(routes, vip))
	}
	for vip, p := range want {
		if was, ok := s.announced[vip]; ok && reflect.DeepEqual(was.Attrs, p.Attrs) {
			continue
		}
		if _, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", vip, err))
			continue
		}
		s.announced[vip] = p
		s.announces++
		s.log.Info("bgp: announced", "vip", vip)
	}
	return errors.Join(errs...)
}

func reasonOf(routes []Route, vip netip.Addr) string {
	for _, r := range routes {
		if r.VIP == vip {
			return r.Reason
		}
	}
	return "no longer configured"
}

// path is the /32 or /128 of vip with its attributes (an IPv6 one in
// MP_REACH_NLRI, RFC 4760: GoBGP moves the next hop there). The next hop is
// left unspecified: GoBGP fills in the session's local address, the
// director's own address on the router's segment, unless the export policy
// sets the IPv6 one (exportPolicy).
func (s *Speaker) path(vip netip.Addr) (*apiutil.Path, error) {
	nlri, err := gbgp.NewIPAddrPrefix(Prefix(vip))
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", vip, err)
	}
	family, unspecified := gbgp.RF_IPv4_UC, netip.IPv4Unspecified()
	if vip.Is6() {
		family, unspecified = gbgp.RF_IPv6_UC, netip.IPv6Unspecified()
	}
	nh, err := gbgp.NewPathAttributeNextHop(unspecified)
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", vip, err)
	}
	attrs := []gbgp.PathAttributeInterface{gbgp.NewPathAttributeOrigin(gbgp.BGP_ORIGIN_ATTR_TYPE_IGP), nh}
	comms := slices.Clone(s.cfg.Communities)
	for _, v := range s.cfg.VIPs {
		if v.Address != vip {
			continue
		}
		if v.MED != nil {
			attrs = append(attrs, gbgp.NewPathAttributeMultiExitDisc(*v.MED))
		}
		if v.LocalPref != nil {
			attrs = append(attrs, gbgp.NewPathAttributeLocalPref(*v.LocalPref))
		}
		comms = append(comms, v.Communities...)
	}
	if len(comms) > 0 {
		vals := make([]uint32, len(comms))
		for i, c := range comms {
			vals[i] = uint32(c)
		}
		attrs = append(attrs, gbgp.NewPathAttributeCommunities(vals))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs}, nil
}

// Withdraw withdraws every VIP and keeps the sessions up: the routers move
// traffic away while this director still forwards what reaches it. Later
// Set calls are ignored until Configure restarts the server.
func (s *Speaker) Withdraw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.setLocked(nil)
	s.stopped = true
	return err
}

// Stop withdraws, waits the configured WithdrawWait for the routers to move
// traffic, then closes the sessions.
func (s *Speaker) Stop() {
	s.mu.Lock()
	wait := time.Duration(0)
	if s.srv != nil && len(s.announced) > 0 {
		wait = s.cfg.WithdrawWait
	}
	s.mu.Unlock()
	if err := s.Withdraw(); err != nil {
		s.log.Error("bgp: withdraw on stop", "error", err)
	}
	if wait > 0 {
		s.log.Info("bgp: routes withdrawn; waiting for the routers to move traffic before closing the sessions", "wait", wait)
		time.Sleep(wait)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Speaker) stopLocked() {
	if s.srv == nil {
		return
	}
	s.srv.Stop()
	s.srv, s.cfg = nil, nil
	clear(s.announced)
	clear(s.nextHop6)
}
