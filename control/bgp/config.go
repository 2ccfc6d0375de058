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

// Neighbor is one BGP peer (a router).
type Neighbor struct {
	Address netip.Addr
	PeerAS  uint32
	// LocalAddress is the source address of the session; unset: the
	// kernel's choice for Address.
	LocalAddress netip.Addr
	HoldTime     time.Duration
	Keepalive    time.Duration
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
		if !v.Address.Is4() {
			return fmt.Errorf("bgp: vip %s: must be an IPv4 address", v.Address)
		}
		if vips[v.Address] {
			return fmt.Errorf("bgp: vip %s given twice", v.Address)
		}
		vips[v.Address] = true
	}
	return nil
}

func (n Neighbor) check() error {
	switch {
	case !n.Address.Is4():
		return errors.New("address must be an IPv4 address")
	case n.PeerAS == 0:
		return errors.New("peer_as is required")
	case n.LocalAddress.IsValid() && !n.LocalAddress.Is4():
		return errors.New("local_address must be an IPv4 address")
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
