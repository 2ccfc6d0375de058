package config

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"xlb/control/bgp"
	"xlb/control/secret"

	"gopkg.in/yaml.v3"
)

// BGPHowTo tells a keepalived.conf user how to announce VIPs by BGP:
// keepalived has no BGP, so the block exists in xlb's YAML only.
const BGPHowTo = "keepalived.conf has no BGP; to announce the VIPs by BGP (every director active, the routers " +
	"spreading clients by ECMP), convert the file on each director with a bgp block in place of VRRP: " +
	"xlbctl convert --bgp-local-as 65001 --bgp-router-id THIS_DIRECTOR --bgp-neighbor ROUTER:ROUTER_AS keepalived.conf > xlb.yaml, " +
	"configure the routers (ECMP, L4 hash, BFD; README, \"Active-active with BGP\") and run xlbd --config xlb.yaml " +
	"with the same --flow-sync-key on every director"

// bgpBlock reads the bgp block of xlb.yaml into cfg.BGP, with defaults, and
// returns the check to run once the services are read (an announced VIP
// must be a service's).
func (y *yreader) bgpBlock(f yfield, cfg *Config) func() {
	const ctx = "bgp"
	b := &bgp.Config{}
	cfg.BGP = b
	y.src.object("bgp", y.p(f.key), ctx)
	var localAS, routerID *yaml.Node
	vipLines := map[netip.Addr]int{}
	y.fields(f.val, ctx, map[string]func(yfield){
		"local_as": func(g yfield) { localAS = g.key; b.LocalAS = y.asn(g, ctx, "bgp") },
		"router_id": func(g yfield) {
			routerID = g.key
			b.RouterID, _ = yval(y, g, ctx, "bgp", "router_id", parseIPv4)
		},
		"withdraw_wait": func(g yfield) { b.WithdrawWait, _ = yval(y, g, ctx, "bgp", "withdraw_wait", ydur) },
		"communities":   func(g yfield) { b.Communities = y.communities(g, ctx) },
		"neighbors": func(g yfield) {
			seen := map[netip.Addr]int{}
			for i, n := range y.seq(g, ctx) {
				nb, ok := y.neighbor(n, fmt.Sprintf("bgp.neighbors[%d]", i))
				if !ok {
					continue
				}
				if first, dup := seen[nb.Address]; dup {
					y.d.err(y.p(n), "bgp neighbor", "address", ErrInvalid, "%s given twice (first at line %d)", nb.Address, first)
					continue
				}
				seen[nb.Address] = n.Line
				b.Neighbors = append(b.Neighbors, nb)
			}
		},
		"vips": func(g yfield) {
			for _, n := range y.seq(g, ctx) {
				v, ok := y.bgpVIP(n)
				if !ok {
					continue
				}
				if first, dup := vipLines[v.Address]; dup {
					y.d.err(y.p(n), "bgp vip", "address", ErrInvalid, "%s given twice (first at line %d)", v.Address, first)
					continue
				}
				vipLines[v.Address] = n.Line
				b.VIPs = append(b.VIPs, v)
			}
		},
	})
	if localAS == nil {
		y.d.err(y.p(f.key), ctx, "local_as", ErrInvalid, "required (this director's AS number)")
	}
	if routerID == nil {
		y.d.err(y.p(f.key), ctx, "router_id", ErrInvalid, "required (an IPv4 address of this director, even with IPv6 only: RFC 4271's BGP identifier)")
	}
	if len(b.Neighbors) == 0 {
		y.d.err(y.p(f.key), ctx, "neighbors", ErrInvalid, "at least one neighbor (router) is required")
	}
	b.Defaults()
	return func() {
		vips := map[netip.Addr]bool{}
		for _, s := range cfg.Services {
			vips[s.VIP] = true
		}
		for _, v := range b.VIPs {
			at := pos{file: y.file, line: vipLines[v.Address]}
			if !vips[v.Address] {
				y.d.err(at, "bgp vip", "address", ErrInvalid,
					"%s is no service's VIP: a director must not attract traffic it does not balance", v.Address)
			} else if err := b.CheckVIP(v.Address); err != nil && len(b.Neighbors) > 0 {
				y.d.err(at, "bgp vip", "address", ErrInvalid, "%s: %v", v.Address, err)
			}
		}
		if len(b.VIPs) > 0 || len(b.Neighbors) == 0 {
			return
		}
		// No vips list: every service's VIP is announced.
		seen := map[netip.Addr]bool{}
		for i, s := range cfg.Services {
			if !s.VIP.IsValid() || seen[s.VIP] {
				continue
			}
			seen[s.VIP] = true
			if err := b.CheckVIP(s.VIP); err != nil {
				y.d.errIn(y.src, fmt.Sprintf("services[%d]", i), "vip", ErrInvalid,
					"%s is announced by BGP (no bgp.vips list: every service's VIP): %v", s.VIP, err)
			}
		}
	}
}

// parseBGPAddr reads a neighbour's, source or next hop address: IPv4 or
// IPv6, unicast, not link-local.
func parseBGPAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	return a, bgp.CheckAddr(a)
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

// asn reads an AS number: 1-4294967295 (RFC 6793 four-octet).
func (y *yreader) asn(f yfield, ctx, path string) uint32 {
	x, _ := yval(y, f, ctx, path, f.key.Value, intIn(1, 1<<32-1))
	return uint32(x)
}

func (y *yreader) communities(f yfield, ctx string) []bgp.Community {
	var out []bgp.Community
	for _, n := range y.seq(f, ctx) {
		s, ok := y.scalar(n, ctx, f.key.Value)
		if !ok {
			continue
		}
		c, err := bgp.ParseCommunity(s)
		if err != nil {
			y.d.err(y.p(n), ctx, f.key.Value, ErrInvalid, "%v", err)
			continue
		}
		out = append(out, c)
	}
	return out
}

func (y *yreader) neighbor(n *yaml.Node, path string) (bgp.Neighbor, bool) {
	const ctx = "bgp neighbor"
	var nb bgp.Neighbor
	y.src.object(path, y.p(n), ctx)
	var pw, fams, nh *yaml.Node
	ok := y.fields(n, ctx, map[string]func(yfield){
		"address":       func(g yfield) { nb.Address, _ = yval(y, g, ctx, path, "address", parseBGPAddr) },
		"peer_as":       func(g yfield) { nb.PeerAS = y.asn(g, ctx, path) },
		"local_address": func(g yfield) { nb.LocalAddress, _ = yval(y, g, ctx, path, "local_address", parseBGPAddr) },
		"families": func(g yfield) {
			fams = g.key
			for _, m := range y.seq(g, ctx) {
				s, ok := y.scalar(m, ctx, "families")
				if !ok {
					continue
				}
				f, err := bgp.ParseFamily(s)
				if err == nil && slices.Contains(nb.Families, f) {
					err = fmt.Errorf("%s given twice", f)
				}
				if err != nil {
					y.d.err(y.p(m), ctx, "families", ErrInvalid, "%v", err)
					continue
				}
				nb.Families = append(nb.Families, f)
			}
			if g.val.Kind == yaml.SequenceNode && len(g.val.Content) == 0 {
				y.d.err(y.p(g.key), ctx, "families", ErrInvalid, "at least one of ipv4, ipv6 (unset: the family of address)")
			}
		},
		"ipv6_next_hop": func(g yfield) { nh = g.key; nb.IPv6NextHop, _ = yval(y, g, ctx, path, "ipv6_next_hop", parseBGPAddr) },
		"hold_time":     func(g yfield) { nb.HoldTime, _ = yval(y, g, ctx, path, "hold_time", ydur) },
		"keepalive":     func(g yfield) { nb.Keepalive, _ = yval(y, g, ctx, path, "keepalive", ydur) },
		"password_file": func(g yfield) { pw = g.val; nb.PasswordFile, _ = y.str(g, ctx, path, "password_file") },
		"multihop": func(g yfield) {
			x, _ := yval(y, g, ctx, path, "multihop", intIn(1, 255))
			nb.MultihopTTL = uint8(x)
		},
		"bfd": func(g yfield) { nb.BFD = y.bfd(g, path+".bfd") },
	})
	if !ok {
		return nb, false
	}
	if !nb.Address.IsValid() {
		y.d.err(y.p(n), ctx, "address", ErrInvalid, "required (the router's address)")
		return nb, false
	}
	if nb.PeerAS == 0 {
		y.d.err(y.p(n), ctx, "peer_as", ErrInvalid, "required (the router's AS number)")
	}
	if err := nb.CheckFamilies(); err != nil {
		at, field := n, "families"
		switch {
		case nb.LocalAddress.IsValid() && nb.LocalAddress.Is4() != nb.Address.Is4():
			field = "local_address"
		case nb.IPv6NextHop.IsValid() && nh != nil:
			at, field = nh, "ipv6_next_hop"
		case fams != nil:
			at = fams
		}
		y.d.err(y.p(at), ctx, field, ErrInvalid, "%v", err)
	}
	if pw != nil && nb.PasswordFile != "" {
		// Read at load, so check-config and a reload report an unreadable
		// file, and the password never sits in the config file itself.
		s, err := secret.FromFile(nb.PasswordFile)
		if err != nil {
			y.d.err(y.p(pw), ctx, "password_file", ErrInvalid, "%v", err)
		} else if len(s.Reveal()) > 80 {
			// TCP_MD5SIG_MAXKEYLEN in linux/tcp.h.
			y.d.err(y.p(pw), ctx, "password_file", ErrInvalid, "the TCP MD5 password is longer than the kernel's 80 bytes")
		}
		nb.Password = s
	}
	switch {
	case nb.HoldTime != 0 && nb.HoldTime < 3*time.Second:
		y.d.err(y.p(n), ctx, "hold_time", ErrInvalid, "0 or at least 3 s (RFC 4271 4.2)")
	case nb.Keepalive != 0 && nb.HoldTime != 0 && nb.Keepalive >= nb.HoldTime:
		y.d.err(y.p(n), ctx, "keepalive", ErrInvalid, "must be shorter than hold_time")
	case nb.Keepalive != 0 && nb.HoldTime == 0 && nb.Keepalive >= bgp.DefaultHoldTime:
		y.d.err(y.p(n), ctx, "keepalive", ErrInvalid, "must be shorter than the default hold_time (%v)", bgp.DefaultHoldTime)
	}
	return nb, true
}

// bfd reads "bfd: true" or a mapping (enabled, min_tx, min_rx, multiplier);
// a mapping without enabled: false turns BFD on.
func (y *yreader) bfd(f yfield, path string) bgp.BFD {
	const ctx = "bgp neighbor bfd"
	if f.val.Kind == yaml.ScalarNode {
		on, _ := yval(y, f, ctx, path, "bfd", parseBool)
		return bgp.BFD{Enabled: on}
	}
	b := bgp.BFD{Enabled: true}
	ms := func(s string) (time.Duration, error) {
		d, err := parseSeconds(s, true)
		if err == nil && d < time.Millisecond {
			err = fmt.Errorf("at least 0.001 (1 ms)")
		}
		return d, err
	}
	y.fields(f.val, ctx, map[string]func(yfield){
		"enabled": func(g yfield) { b.Enabled, _ = yval(y, g, ctx, path, "enabled", parseBool) },
		"min_tx":  func(g yfield) { b.MinTx, _ = yval(y, g, ctx, path, "min_tx", ms) },
		"min_rx":  func(g yfield) { b.MinRx, _ = yval(y, g, ctx, path, "min_rx", ms) },
		"multiplier": func(g yfield) {
			x, _ := yval(y, g, ctx, path, "multiplier", intIn(1, 255))
			b.Multiplier = uint32(x)
		},
	})
	return b
}

func (y *yreader) bgpVIP(n *yaml.Node) (bgp.VIP, bool) {
	const ctx = "bgp vip"
	var v bgp.VIP
	if n.Kind == yaml.ScalarNode {
		a, err := parseBGPAddr(n.Value)
		if err != nil {
			y.d.err(y.p(n), ctx, "address", ErrInvalid, "%v", err)
			return v, false
		}
		return bgp.VIP{Address: a}, true
	}
	u32 := func(g yfield) *uint32 {
		x, ok := yval(y, g, ctx, "bgp.vips", g.key.Value, intIn(0, 1<<32-1))
		if !ok {
			return nil
		}
		u := uint32(x)
		return &u
	}
	y.fields(n, ctx, map[string]func(yfield){
		"address":     func(g yfield) { v.Address, _ = yval(y, g, ctx, "bgp.vips", "address", parseBGPAddr) },
		"med":         func(g yfield) { v.MED = u32(g) },
		"local_pref":  func(g yfield) { v.LocalPref = u32(g) },
		"communities": func(g yfield) { v.Communities = y.communities(g, ctx) },
	})
	if !v.Address.IsValid() {
		y.d.err(y.p(n), ctx, "address", ErrInvalid, "required")
		return v, false
	}
	return v, true
}

// bgpNode writes the bgp block back (xlbctl convert), with the defaults
// Defaults filled in written out: the output says what runs.
func bgpNode(b *bgp.Config) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addInt(m, "local_as", int64(b.LocalAS))
	addStr(m, "router_id", b.RouterID.String())
	addStr(m, "withdraw_wait", formatDuration(b.WithdrawWait))
	if len(b.Communities) > 0 {
		addNode(m, "communities", communitySeq(b.Communities))
	}
	nbs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range b.Neighbors {
		nm := &yaml.Node{Kind: yaml.MappingNode}
		addStr(nm, "address", n.Address.String())
		addInt(nm, "peer_as", int64(n.PeerAS))
		if n.LocalAddress.IsValid() {
			addStr(nm, "local_address", n.LocalAddress.String())
		}
		fs := make([]string, len(n.Families))
		for i, f := range n.Families {
			fs[i] = string(f)
		}
		addNode(nm, "families", strSeq(fs))
		if n.IPv6NextHop.IsValid() {
			addStr(nm, "ipv6_next_hop", n.IPv6NextHop.String())
		}
		addStr(nm, "hold_time", formatDuration(n.HoldTime))
		addStr(nm, "keepalive", formatDuration(n.Keepalive))
		if n.PasswordFile != "" {
			addStr(nm, "password_file", n.PasswordFile)
		}
		if n.MultihopTTL > 0 {
			addInt(nm, "multihop", int64(n.MultihopTTL))
		}
		if n.BFD.Enabled {
			bm := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			addStr(bm, "min_tx", formatDuration(n.BFD.MinTx))
			addStr(bm, "min_rx", formatDuration(n.BFD.MinRx))
			addInt(bm, "multiplier", int64(n.BFD.Multiplier))
			addNode(nm, "bfd", bm)
		} else {
			addNode(nm, "bfd", scalar("!!bool", "false"))
		}
		nbs.Content = append(nbs.Content, nm)
	}
	addNode(m, "neighbors", nbs)
	if len(b.VIPs) > 0 {
		vs := &yaml.Node{Kind: yaml.SequenceNode}
		for _, v := range b.VIPs {
			vm := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			addStr(vm, "address", v.Address.String())
			if v.MED != nil {
				addInt(vm, "med", int64(*v.MED))
			}
			if v.LocalPref != nil {
				addInt(vm, "local_pref", int64(*v.LocalPref))
			}
			if len(v.Communities) > 0 {
				addNode(vm, "communities", communitySeq(v.Communities))
			}
			vs.Content = append(vs.Content, vm)
		}
		addNode(m, "vips", vs)
	}
	return m
}

func communitySeq(cs []bgp.Community) *yaml.Node {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strSeq(s)
}
