package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"xlb/control/vrrp"
)

// Value parsers shared by both readers. Their errors are the message part of
// "file:line: context: field: message".

const maxDuration = 24 * time.Hour

// parseSeconds reads keepalived's seconds, decimals allowed ("3", "0.1"). The
// native format also takes Go durations ("1.5s", "100ms").
func parseSeconds(s string, allowUnit bool) (time.Duration, error) {
	var d time.Duration
	var err error
	if allowUnit && strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r == 'µ' }) >= 0 {
		d, err = time.ParseDuration(s)
	} else {
		if s == "" || strings.ContainsAny(s, "+-eE") || strings.Count(s, ".") > 1 {
			return 0, fmt.Errorf("%q is not a number of seconds", s)
		}
		d, err = time.ParseDuration(s + "s")
	}
	if err != nil {
		if allowUnit {
			return 0, fmt.Errorf("%q is not a duration (seconds, or e.g. 1.5s, 100ms)", s)
		}
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if d > maxDuration {
		return 0, fmt.Errorf("%q is longer than %v", s, maxDuration)
	}
	return d, nil
}

func parseInt(s string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range %d..%d", s, min, max)
		}
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if n < min || n > max {
		return 0, fmt.Errorf("%d is out of range %d..%d", n, min, max)
	}
	return n, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "yes", "true", "1":
		return true, nil
	case "off", "no", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on/off (yes/no, true/false)", s)
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// parseMcast4 reads vrrp_mcast_group4: an IPv4 multicast address.
func parseMcast4(s string) (netip.Addr, error) {
	return parseMcast(s, netip.Addr.Is4, netip.Addr.IsMulticast, "an IPv4 multicast address")
}

// parseMcast6 reads vrrp_mcast_group6: an IPv6 link-local multicast
// address (ff02::/16), as keepalived requires (vrrp_mcast_dstip_handler:
// "not link-local multicast").
func parseMcast6(s string) (netip.Addr, error) {
	return parseMcast(s, netip.Addr.Is6, netip.Addr.IsLinkLocalMulticast, "an IPv6 link-local multicast address (ff02::/16)")
}

// parseMcastDst reads an instance's mcast_dst_ip: either group's rule, by
// the address's family (vrrp_mcast_dstip_handler).
func parseMcastDst(s string) (netip.Addr, error) {
	if a, err := parseAddr(s); err == nil && a.Is6() {
		return parseMcast6(s)
	}
	return parseMcast4(s)
}

func parseMcast(s string, family, kind func(netip.Addr) bool, want string) (netip.Addr, error) {
	a, err := parseAddr(s)
	if err != nil {
		return a, err
	}
	if !family(a) || !kind(a) {
		return netip.Addr{}, fmt.Errorf("%q is not %s", s, want)
	}
	return a, nil
}

// parseUnicastMAC reads a real server's static MAC. The director rewrites
// client frames to it, so a group (broadcast, multicast) or zero address
// would flood the segment or send nowhere.
func parseUnicastMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	switch {
	case err != nil || len(m) != 6:
		return nil, fmt.Errorf("%q is not a 6-byte MAC address", s)
	case m[0]&1 != 0:
		return nil, fmt.Errorf("%q is a group (broadcast or multicast) MAC address: a real server needs a unicast one", s)
	case bytes.Equal(m, make([]byte, 6)):
		return nil, fmt.Errorf("%q is the zero MAC address", s)
	}
	return m, nil
}

func parsePort(s string) (uint16, error) {
	n, err := parseInt(s, 1, math.MaxUint16)
	return uint16(n), err
}

// vipIgnored is a word of an address line that is taken and ignored, and why.
type vipIgnored struct{ word, why string }

// vipDropped is a parseVIP error for a line keepalived reads and then skips
// whole ("skipping VIP"): the reader warns, as keepalived reports it and
// runs on, and leaves the address out.
type vipDropped string

func (e vipDropped) Error() string { return string(e) }

// vipFlagWhy are the address-line words keepalived's alloc_ipaddress
// (vrrp_ipaddress.c) takes without a value and xlb ignores, with why.
// no_track is not among them: it sets VIP.NoTrack, which keeps the VIP's dev
// out of the instance's tracked links (vrrp.Config.TrackedLinks).
var vipFlagWhy = map[string]string{
	"-nodad":        "ignored: xlb adds every IPv6 VIP without duplicate address detection (keepalived's default), so it is usable at once",
	"noprefixroute": "ignored: the kernel adds the VIP's prefix route; write /128 (/32) for an address with no route of its own",
	"home":          "ignored: a Mobile IPv6 home-address flag, nothing to a VIP",
	"mngtmpaddr":    "ignored: no temporary addresses are made from a VIP",
	"autojoin":      "ignored: a VIP is a unicast address",
}

// parseVIP reads a virtual_ipaddress line as keepalived's alloc_ipaddress
// does: A.B.C.D[/len] or X:X::X[/len] (no length: /32 or /128), then
// [dev IF] [label X] [brd ...] [scope ...] [preferred_lft N|forever]
// [no_track] and the address flags of vipFlagWhy. brd and scope are taken
// and ignored on IPv4, as they change nothing for a VIP. On IPv6, as
// keepalived: scope other than global is ignored with a warning ("Cannot
// specify scope for IPv6 addresses"), so is label ("Cannot specify label
// for IPv6 addresses"), and brd drops the whole address (vipDropped).
// preferred_lft is taken when it is what xlb applies anyway (keepalived's
// default: 0 for an IPv6 /128, so the host never uses it as a source
// address, forever otherwise); any other lifetime, peer and use_vmac are
// refused (ErrUnsupported); anything else is an error.
func parseVIP(words []string) (vrrp.VIP, []vipIgnored, error) {
	var v vrrp.VIP
	var ignored []vipIgnored
	if len(words) == 0 {
		return v, nil, fmt.Errorf("empty address line")
	}
	addr := words[0]
	var err error
	if strings.Contains(addr, "/") {
		v.Prefix, err = netip.ParsePrefix(addr)
		if err != nil {
			return v, nil, fmt.Errorf("%q is not an address or address/length", addr)
		}
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return v, nil, fmt.Errorf("%q is not an address or address/length", addr)
		}
		v.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if v.Prefix.Addr().Is4In6() {
		return v, nil, fmt.Errorf("%q is an IPv4-mapped IPv6 address: write the IPv4 address", addr)
	}
	v6 := v.Prefix.Addr().Is6()
	rest := words[1:]
	for len(rest) > 0 {
		word := rest[0]
		switch word {
		case "no_track":
			v.NoTrack = true
			rest = rest[1:]
			continue
		case "use_vmac":
			return v, nil, unsupported(vmacWhy)
		}
		if why, ok := vipFlagWhy[word]; ok {
			ignored = append(ignored, vipIgnored{word, why})
			rest = rest[1:]
			continue
		}
		if len(rest) < 2 {
			return v, nil, fmt.Errorf("%q wants a value", word)
		}
		val := rest[1]
		switch word {
		case "dev":
			if v.Dev != "" {
				return v, nil, fmt.Errorf("dev given twice (keepalived skips the address)")
			}
			v.Dev = val
		case "label":
			if v6 {
				ignored = append(ignored, vipIgnored{word, "ignored: IPv6 addresses have no label (keepalived ignores it too)"})
			} else {
				v.Label = val
			}
		case "brd", "broadcast":
			if v6 {
				return v, nil, vipDropped(fmt.Sprintf("%s: %s on an IPv6 address: the address is left out, as keepalived skips it "+
					"(IPv6 has no broadcast): remove %s %s to have it", v.Prefix, word, word, val))
			}
			ignored = append(ignored, vipIgnored{word, "ignored: changes nothing for a VIP"})
		case "scope":
			switch {
			case !isScope(val):
				ignored = append(ignored, vipIgnored{word, fmt.Sprintf("%q is not a scope (global, site, link, host, nowhere or 0..255): ignored, as keepalived does", val)})
			case !v6:
				ignored = append(ignored, vipIgnored{word, "ignored: changes nothing for a VIP"})
			case val != "global" && val != "0":
				ignored = append(ignored, vipIgnored{word, fmt.Sprintf("%s ignored, as keepalived ignores scope on IPv6 addresses (the kernel derives it from the address)", val)})
			}
		case "preferred_lft":
			if err := checkPreferredLft(v.Prefix, val); err != nil {
				return v, nil, err
			}
		case "peer":
			return v, nil, unsupported("peer: point-to-point VIPs are not supported: give the address with its prefix length")
		default:
			return v, nil, fmt.Errorf("%q is not supported on an address line (dev, label, brd, scope, preferred_lft, no_track are)", word)
		}
		rest = rest[2:]
	}
	return v, ignored, nil
}

// isScope reports whether s names an address scope as keepalived's
// find_rttables_scope reads it: rt_scopes' names or a number 0..255.
func isScope(s string) bool {
	switch s {
	case "global", "site", "link", "host", "nowhere":
		return true
	}
	_, err := strconv.ParseUint(s, 10, 8)
	return err == nil
}

// checkPreferredLft accepts a VIP's preferred_lft (seconds or forever)
// when it is the lifetime xlb gives the address (vipAddr in control/vrrp,
// keepalived's default): 0 for an IPv6 /128, forever otherwise.
func checkPreferredLft(p netip.Prefix, s string) error {
	const forever = math.MaxUint32
	n := uint64(forever)
	if s != "forever" {
		var err error
		if n, err = strconv.ParseUint(s, 10, 32); err != nil {
			return fmt.Errorf("preferred_lft %q is not a number of seconds up to %d or forever", s, uint32(forever))
		}
	}
	want, wants := uint64(forever), "forever"
	if p.Addr().Is6() && p.Bits() == 128 {
		want, wants = 0, "0"
	}
	if n != want {
		return unsupported(fmt.Sprintf("preferred_lft %s on %s: xlb gives a VIP keepalived's default lifetime, %s here "+
			"(an IPv6 /128 is deprecated, so the host never picks it as a source address; any other VIP is preferred forever): "+
			"use a /128 for an IPv6 VIP that must not be a source address, or remove preferred_lft", s, p, wants))
	}
	return nil
}

// parseStatusRange reads "200" or "200-299".
func parseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parseInt(lo, 100, 599)
	if err != nil {
		return StatusRange{}, fmt.Errorf("status code %w", err)
	}
	b := a
	if isRange {
		if b, err = parseInt(hi, 100, 599); err != nil {
			return StatusRange{}, fmt.Errorf("status code %w", err)
		}
		if b < a {
			return StatusRange{}, fmt.Errorf("status range %q is reversed", s)
		}
	}
	return StatusRange{Min: int(a), Max: int(b)}, nil
}

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}
