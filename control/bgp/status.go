package bgp

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// Status is the speaker's state for xlbctl bgp and the metrics.
type Status struct {
	LocalAS  uint32     `json:"local_as"`
	RouterID netip.Addr `json:"router_id"`
	Sessions []Session  `json:"sessions"`
	// Routes: every VIP, whether it is announced, and why (or why not).
	Routes []RouteStatus `json:"routes"`
	// Announces and Withdraws count route changes since start.
	Announces uint64 `json:"announces"`
	Withdraws uint64 `json:"withdraws"`
}

// RouteStatus is a VIP as decided and as handed to GoBGP.
type RouteStatus struct {
	Route
	Announced bool `json:"announced"`
}

// Session is one neighbour as GoBGP reports it.
type Session struct {
	Neighbor netip.Addr `json:"neighbor"`
	PeerAS   uint32     `json:"peer_as"`
	// State is the BGP FSM state (idle, connect, active, opensent,
	// openconfirm, established).
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"` // established since
	// BFD is the BFD session state (up, down, init, admin_down), empty
	// without BFD.
	BFD string `json:"bfd,omitempty"`
	// BFDTransitions counts BFD sessions going down.
	BFDTransitions uint64 `json:"bfd_failures,omitempty"`
	// Families are the address families the session carries.
	Families []Family `json:"families,omitempty"`
	// IPv6NextHop is the next hop set on the IPv6 routes sent to the
	// neighbour; unset: the session's source address.
	IPv6NextHop netip.Addr `json:"ipv6_next_hop,omitzero"`
	// Sent is the number of prefixes advertised to the neighbour.
	Sent uint64 `json:"prefixes_sent"`
	// Flops counts the session leaving established.
	Flops uint32 `json:"flops"`
}

// Established reports whether the session is up.
func (s Session) Established() bool { return s.State == "established" }

// Status asks GoBGP for the sessions; it returns nil when no BGP is
// configured.
func (s *Speaker) Status() *Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	st := &Status{LocalAS: s.cfg.LocalAS, RouterID: s.cfg.RouterID, Announces: s.announces, Withdraws: s.withdraws}
	for _, r := range s.routes {
		_, on := s.announced[r.VIP]
		st.Routes = append(st.Routes, RouteStatus{Route: r, Announced: on})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		ss := session(p)
		ss.IPv6NextHop = s.nextHop6[ss.Neighbor]
		st.Sessions = append(st.Sessions, ss)
	})
	slices.SortFunc(st.Sessions, func(a, b Session) int { return a.Neighbor.Compare(b.Neighbor) })
	return st
}

func session(p *api.Peer) Session {
	var out Session
	if c := p.GetConf(); c != nil {
		out.Neighbor, _ = netip.ParseAddr(c.NeighborAddress)
		out.PeerAS = c.PeerAsn
	}
	ps := p.GetState()
	out.State = strings.ToLower(strings.TrimPrefix(ps.GetSessionState().String(), "SESSION_STATE_"))
	out.Flops = ps.GetFlops()
	if b := ps.GetBfdState(); b != nil && p.GetBfd().GetEnabled() {
		out.BFD = strings.ToLower(strings.TrimPrefix(b.GetSessionState().String(), "BFD_SESSION_STATE_"))
		out.BFDTransitions = b.GetFailureTransitions()
	}
	if up := p.GetTimers().GetState().GetUptime(); up != nil && out.Established() {
		out.Since = up.AsTime()
	}
	for _, a := range p.GetAfiSafis() {
		out.Sent += a.GetState().GetAdvertised()
		switch a.GetConfig().GetFamily().GetAfi() {
		case api.Family_AFI_IP:
			out.Families = append(out.Families, IPv4)
		case api.Family_AFI_IP6:
			out.Families = append(out.Families, IPv6)
		}
	}
	return out
}
