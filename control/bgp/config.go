// Package bgp announces this director's VIPs to routers over BGP, so that N
// directors behind the routers' ECMP all carry traffic (issue 14). It is a
// thin layer over GoBGP used as a library (github.com/osrg/gobgp/v4): the
// BGP and BFD state machines are GoBGP's; this package turns "announce these
// VIPs, with these attributes, to these neighbours" into GoBGP calls and
// reports what GoBGP says back.
//
// v4.8.0 is used: v4 is the line with native BFD (since v4.6, so a dead
// director leaves the ECMP set in well under a second without a separate
// bfdd), v4.8.0 is the newest release the module proxy serves and carries
// the BFD fixes made after 4.6; its library API takes netip types and
// log/slog, as xlb does.
package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"xlb/control/secret"
)

// Config is the bgp block of xlb.yaml. The config package reads it (with
// file and line for every error) and applies Defaults; Check holds the
// invariants the speaker relies on.
type Config struct {
	LocalAS  uint32
	RouterID netip.Addr
	// WithdrawWait is how long a stopping xlbd keeps running after it
	// withdrew its routes, so the routers move traffic before the sessions
	// close; the pinned data plane keeps forwarding meanwhile.
	WithdrawWait time.Duration
	// Communities are attached to every announced VIP.
	Communities []Community
	Neighbors   []Neighbor
	// VIPs lists what is announced and with which attributes; empty: every
	// service's VIP, with no MED or local preference.
	VIPs []VIP
}

// Neighbor is one BGP peer (a router), over IPv4 or IPv6.
type Neighbor struct {
	Address netip.Addr
	PeerAS  uint32
	// LocalAddress is the source address of the session (the family of
	// Address); unset: the kernel's choice for Address.
	LocalAddress netip.Addr
	// Families are the address families the session carries (MP-BGP,
	// RFC 4760); unset: the family of Address. An IPv4 session may carry
	// IPv6 too; an IPv6 session carries IPv6 only (IPv4 routes with an IPv6
	// next hop need RFC 8950, which xlb does not negotiate).
	Families []Family
	// IPv6NextHop is the next hop of the IPv6 VIPs sent to this
	// neighbour. Unset: on an IPv6 session its source address (GoBGP's
	// next-hop-self); on an IPv4 session the director's global IPv6
	// address on the interface towards the neighbour, as FRR does.
	IPv6NextHop netip.Addr
	HoldTime    time.Duration
	Keepalive   time.Duration
	// PasswordFile holds the TCP MD5 (RFC 2385) password; Password is what
	// the config package read from it.
	PasswordFile string
	Password     secret.Secret `json:"-"`
	// MultihopTTL > 0 allows an eBGP neighbour that many hops away.
	MultihopTTL uint8
	BFD         BFD
}

// BFD is a neighbour's BFD session (RFC 5880/5881, GoBGP's own).
type BFD struct {
	Enabled    bool
	MinTx      time.Duration // desired minimum transmit interval
	MinRx      time.Duration // required minimum receive interval
	Multiplier uint32        // detection time = multiplier x the negotiated interval
}

// VIP is one announced address and its attributes.
type VIP struct {
	Address     netip.Addr
	MED         *uint32
	LocalPref   *uint32
	Communities []Community
}

// Family is an address family a session carries: IPv4 or IPv6 unicast.
type Family string

// The families, written as in the config (bird's channel names).
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// FamilyOf is a's family.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// ParseFamily reads ipv4 or ipv6.
func ParseFamily(s string) (Family, error) {
	switch f := Family(strings.ToLower(s)); f {
	case IPv4, IPv6:
		return f, nil
	}
	return "", fmt.Errorf("family %q: want ipv4 or ipv6", s)
}

// Carries reports whether the session carries family f.
func (n Neighbor) Carries(f Family) bool {
	if len(n.Families) == 0 {
		return f == FamilyOf(n.Address)
	}
	return slices.Contains(n.Families, f)
}

// Community is a standard BGP community (RFC 1997), written AS:VALUE.
type Community uint32

func (c Community) String() string { return fmt.Sprintf("%d:%d", uint32(c)>>16, uint32(c)&0xffff) }

// MarshalText writes AS:VALUE.
func (c Community) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads AS:VALUE.
func (c *Community) UnmarshalText(b []byte) error {
	v, err := ParseCommunity(string(b))
	*c = v
	return err
}

// ParseCommunity reads AS:VALUE, each part 0-65535.
func ParseCommunity(s string) (Community, error) {
	as, val, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("community %q: want AS:VALUE", s)
	}
	a, err1 := strconv.ParseUint(as, 10, 16)
	v, err2 := strconv.ParseUint(val, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("community %q: AS and VALUE are each 0-65535", s)
	}
	return Community(a<<16 | v), nil
}

// Defaults of the fields left unset. Hold and keepalive are RFC 4271's
// suggested 90 s and a third of it: BFD, not the hold time, is what detects
// a dead director quickly. BFD at 100 ms x 3 detects in 300 ms (issue 14
// asks for under a second). The withdraw wait covers a router's BGP
// processing and FIB update with a margin (bird and FRR take milliseconds).
const (
	DefaultHoldTime      = 90 * time.Second
	DefaultWithdrawWait  = 3 * time.Second
	DefaultBFDInterval   = 100 * time.Millisecond
	DefaultBFDMultiplier = 3
)

// Defaults fills what is unset.
func (c *Config) Defaults() {
	if c.WithdrawWait == 0 {
		c.WithdrawWait = DefaultWithdrawWait
	}
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		if n.HoldTime == 0 {
			n.HoldTime = DefaultHoldTime
		}
		if n.Keepalive == 0 {
			n.Keepalive = n.HoldTime / 3
		}
		if len(n.Families) == 0 {
			n.Families = []Family{FamilyOf(n.Address)}
		}
		if n.BFD.Enabled {
			if n.BFD.MinTx == 0 {
				n.BFD.MinTx = DefaultBFDInterval
			}
			if n.BFD.MinRx == 0 {
				n.BFD.MinRx = DefaultBFDInterval
			}
			if n.BFD.Multiplier == 0 {
				n.BFD.Multiplier = DefaultBFDMultiplier
			}
		}
	}
}

// Check reports the first broken invariant; the config package reports
// each with its file and line before this is reached.
func (c *Config) Check() error {
	if c.LocalAS == 0 {
		return errors.New("bgp: local_as is required")
	}
	if !c.RouterID.Is4() {
		return errors.New("bgp: router_id must be an IPv4 address")
	}
	if len(c.Neighbors) == 0 {
		return errors.New("bgp: at least one neighbor is required")
	}
	seen := map[netip.Addr]bool{}
	for _, n := range c.Neighbors {
		if err := n.check(); err != nil {
			return fmt.Errorf("bgp: neighbor %s: %w", n.Address, err)
		}
		if seen[n.Address] {
			return fmt.Errorf("bgp: neighbor %s given twice", n.Address)
		}
		seen[n.Address] = true
	}
	vips := map[netip.Addr]bool{}
	for _, v := range c.VIPs {
		if err := c.CheckVIP(v.Address); err != nil {
			return fmt.Errorf("bgp: vip %s: %w", v.Address, err)
		}
		if vips[v.Address] {
			return fmt.Errorf("bgp: vip %s given twice", v.Address)
		}
		vips[v.Address] = true
	}
	return nil
}

// CheckVIP says why vip cannot be announced with this config: it must be a
// unicast address, and some neighbour must carry its family.
func (c *Config) CheckVIP(vip netip.Addr) error {
	if err := CheckAddr(vip); err != nil {
		return err
	}
	f := FamilyOf(vip)
	for _, n := range c.Neighbors {
		if n.Carries(f) {
			return nil
		}
	}
	if f == IPv6 {
		return errors.New("an IPv6 VIP needs a session that carries IPv6, and no neighbor does: add an IPv6 neighbor, " +
			"or \"families: [ipv4, ipv6]\" to an IPv4 one (MP-BGP), or do not announce it (bgp.vips lists what is announced)")
	}
	return errors.New("an IPv4 VIP needs a session that carries IPv4, and no neighbor does: add an IPv4 neighbor " +
		"(xlb sends no IPv4 routes over an IPv6 session: that needs RFC 8950), or do not announce it (bgp.vips lists what is announced)")
}

// CheckAddr refuses what cannot be a neighbour, a source, a next hop or an
// announced VIP: no address, unspecified, multicast, link-local (a session
// to fe80:: needs an interface zone, which xlb does not take) or IPv4-mapped.
func CheckAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("an address is required")
	case a.Zone() != "" || a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is link-local: use a global or ULA address", a)
	case a.Is4In6():
		return fmt.Errorf("%s is IPv4-mapped: write the IPv4 address", a)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%s is not a unicast address", a)
	}
	return nil
}

func (n Neighbor) check() error {
	if err := CheckAddr(n.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if n.LocalAddress.IsValid() {
		if err := CheckAddr(n.LocalAddress); err != nil {
			return fmt.Errorf("local_address: %w", err)
		}
	}
	if n.IPv6NextHop.IsValid() {
		if err := CheckAddr(n.IPv6NextHop); err != nil {
			return fmt.Errorf("ipv6_next_hop: %w", err)
		}
	}
	if err := n.CheckFamilies(); err != nil {
		return err
	}
	switch {
	case n.PeerAS == 0:
		return errors.New("peer_as is required")
	case n.HoldTime != 0 && n.HoldTime < 3*time.Second:
		// RFC 4271 4.2: a hold time is 0 or at least 3 seconds.
		return errors.New("hold_time must be at least 3 s")
	case n.Keepalive >= n.HoldTime && n.HoldTime != 0:
		return errors.New("keepalive must be shorter than hold_time")
	case n.BFD.Enabled && (n.BFD.MinTx < time.Millisecond || n.BFD.MinRx < time.Millisecond):
		return errors.New("bfd intervals must be at least 1 ms")
	case n.BFD.Enabled && (n.BFD.Multiplier < 1 || n.BFD.Multiplier > 255):
		return errors.New("bfd multiplier must be 1-255")
	}
	return nil
}

// CheckFamilies holds the family mix rules of a neighbour (the config
// package reports them with file and line).
func (n Neighbor) CheckFamilies() error {
	switch {
	case n.LocalAddress.IsValid() && n.LocalAddress.Is4() != n.Address.Is4():
		return fmt.Errorf("local_address %s and address %s are of different families", n.LocalAddress, n.Address)
	case n.Address.Is6() && n.Carries(IPv4):
		return errors.New("an IPv6 session carries ipv6 only (IPv4 routes with an IPv6 next hop need RFC 8950, " +
			"which xlb does not negotiate): add an IPv4 neighbor for the IPv4 VIPs")
	case !n.Carries(IPv4) && !n.Carries(IPv6):
		return errors.New("families: at least one of ipv4, ipv6")
	case n.IPv6NextHop.IsValid() && !n.IPv6NextHop.Is6():
		return fmt.Errorf("ipv6_next_hop %s is not an IPv6 address", n.IPv6NextHop)
	case n.IPv6NextHop.IsValid() && !n.Carries(IPv6):
		return errors.New("ipv6_next_hop is set but the session does not carry ipv6 (families)")
	}
	return nil
}
