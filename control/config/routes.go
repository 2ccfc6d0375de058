package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"xlb/control/vrrp"
)

// Routing tables by the names ip(8) always knows (rt_tables' reserved ones).
var tableNames = map[string]int{"main": 254, "local": 255, "default": 253}

func parseTable(s string) (int, error) {
	if n, ok := tableNames[s]; ok {
		return n, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("table %q: want a number 1..4294967295, main, local or default", s)
	}
	return int(n), nil
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if s == "default" {
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an address/length", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or address/length", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// routeWords are the ip-route words xlb installs; keepalived takes more
// (or, mtu, encap, nexthop...), which are refused with this list.
const routeWords = "src, to, via/gw, dev, scope, table, metric, no_track, and the types blackhole, unreachable, prohibit"

// parseRoute reads one virtual_routes or static_routes line as keepalived's
// alloc_route (vrrp_iproute.c) does, for the words xlb installs.
func parseRoute(w []string) (vrrp.Route, error) {
	var r vrrp.Route
	if len(w) > 0 && slices.Contains(vrrp.RouteTypes, w[0]) {
		r.Type, w = w[0], w[1:]
	}
	for len(w) > 0 {
		word := w[0]
		if word == "no_track" {
			r.NoTrack, w = true, w[1:]
			continue
		}
		switch word {
		case "src", "via", "gw", "dev", "scope", "table", "metric", "preference", "priority", "to":
			if len(w) < 2 {
				return r, fmt.Errorf("%q wants a value", word)
			}
		}
		var err error
		switch word {
		case "src":
			r.Src, err = parseAddr(w[1])
		case "via", "gw":
			r.Gateway, err = parseAddr(w[1])
		case "dev":
			r.Dev = w[1]
			err = validIfName(w[1])
		case "scope":
			if !slices.Contains(vrrp.RouteScopes, w[1]) {
				err = fmt.Errorf("scope %q: want global, link or host", w[1])
			}
			r.Scope = w[1]
		case "table":
			r.Table, err = parseTable(w[1])
		case "metric", "preference", "priority":
			var n uint64
			n, err = strconv.ParseUint(w[1], 10, 32)
			r.Metric = int(n)
		case "to":
			r.Dst, err = parsePrefixOrAddr(w[1])
		default:
			if r.Dst.IsValid() {
				return r, fmt.Errorf("%q is not supported by xlb (it installs %s)", word, routeWords)
			}
			if r.Dst, err = parsePrefixOrAddr(word); err != nil {
				return r, fmt.Errorf("%q is not supported by xlb (it installs %s)", word, routeWords)
			}
			w = w[1:]
			continue
		}
		if err != nil {
			return r, err
		}
		w = w[2:]
	}
	if !r.Dst.IsValid() {
		return r, fmt.Errorf("no destination")
	}
	for _, a := range []netip.Addr{r.Src, r.Gateway} {
		if a.IsValid() && a.Is4() != r.Dst.Addr().Is4() {
			return r, fmt.Errorf("mixes IPv4 and IPv6")
		}
	}
	if r.Type != "" && r.Gateway.IsValid() {
		return r, fmt.Errorf("a %s route has no gateway", r.Type)
	}
	return r, nil
}

// parseRule reads one virtual_rules or static_rules line (alloc_rule in
// vrrp_iprule.c) for the words xlb installs.
func parseRule(w []string) (vrrp.Rule, error) {
	var r vrrp.Rule
	for len(w) > 0 {
		if w[0] == "no_track" {
			r.NoTrack, w = true, w[1:]
			continue
		}
		if len(w) < 2 {
			return r, fmt.Errorf("%q wants a value", w[0])
		}
		var err error
		switch w[0] {
		case "from":
			if w[1] != "all" {
				r.From, err = parsePrefixOrAddr(w[1])
			}
		case "to":
			if w[1] != "all" {
				r.To, err = parsePrefixOrAddr(w[1])
			}
		case "table", "lookup":
			r.Table, err = parseTable(w[1])
		case "priority", "preference", "pref":
			var n uint64
			n, err = strconv.ParseUint(w[1], 10, 32)
			r.Priority = int(n)
		case "iif":
			r.IIF, err = w[1], validIfName(w[1])
		case "oif":
			r.OIF, err = w[1], validIfName(w[1])
		default:
			return r, fmt.Errorf("%q is not supported by xlb (it installs from, to, iif, oif, table, priority; no_track is taken)", w[0])
		}
		if err != nil {
			return r, err
		}
		w = w[2:]
	}
	if r.Table == 0 {
		return r, fmt.Errorf("no table: xlb installs rules that look up a table")
	}
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is4() != r.To.Addr().Is4() {
		return r, fmt.Errorf("mixes IPv4 and IPv6")
	}
	return r, nil
}

// lines reads a block of one entry per line with parse, reporting each bad
// line where it stands.
func lines[T any](k *kreader, s *stmt, ctx string, parse func([]string) (T, error)) []T {
	var out []T
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			continue
		}
		x, err := parse(words(c))
		if err != nil {
			k.d.err(c.line(), ctx, "", ErrInvalid, "%v", err)
			continue
		}
		out = append(out, x)
	}
	return out
}

// vipLine is parseVIP for the address blocks that take no option worth a
// warning (virtual_ipaddress_excluded, static_ipaddress).
func vipLine(w []string) (vrrp.VIP, error) {
	v, _, err := parseVIP(w)
	return v, err
}

// masterOnly reads an instance's virtual_ipaddress_excluded, virtual_routes
// or virtual_rules block.
func (k *kreader) masterOnly(s *stmt, v *VRRPInstance, path, ctx string) {
	switch s.key.text {
	case "virtual_ipaddress_excluded":
		v.ExcludedVIPs = append(v.ExcludedVIPs, lines(k, s, ctx, vipLine)...)
		k.src.field(path, "excluded_vips", s.line(), s.key.text)
	case "virtual_routes":
		v.Routes = append(v.Routes, lines(k, s, ctx, parseRoute)...)
		k.src.field(path, "routes", s.line(), s.key.text)
	case "virtual_rules":
		v.Rules = append(v.Rules, lines(k, s, ctx, parseRule)...)
		k.src.field(path, "rules", s.line(), s.key.text)
	}
}

// static reads a top-level static_ipaddress, static_routes or static_rules
// block: xlbd installs them at start, whatever the VRRP state, and removes
// them when it stops, as keepalived's vrrp_daemon.c does.
func (k *kreader) static(s *stmt) {
	ctx := s.key.text
	k.src.object("static", s.line(), ctx)
	switch s.key.text {
	case "static_ipaddress":
		for _, a := range lines(k, s, ctx, vipLine) {
			if a.Dev == "" {
				k.d.err(s.line(), ctx, "", ErrInvalid, "%s: wants dev IF", a.Prefix)
				continue
			}
			k.cfg.Static.Addresses = append(k.cfg.Static.Addresses, a)
		}
	case "static_routes":
		k.cfg.Static.Routes = append(k.cfg.Static.Routes, lines(k, s, ctx, parseRoute)...)
	case "static_rules":
		k.cfg.Static.Rules = append(k.cfg.Static.Rules, lines(k, s, ctx, parseRule)...)
	}
}
