package config

import (
	"fmt"
	"net/netip"

	"xlb/loader/limits"
)

// checkFits refuses what can never work however the network is set up:
// addresses no packet can be forwarded to or from, and more services or
// backends than the data plane holds (which the daemon could only program
// in part).
func checkFits(cfg *Config, src *srcMap, d *diags) {
	backends := 0
	for i, s := range cfg.Services {
		path := fmt.Sprintf("services[%d]", i)
		if why := unusable(s.VIP); why != "" {
			d.errIn(src, path, "vip", ErrInvalid, "%s is %s: no client packet can reach it", s.VIP, why)
		} else if s.VIP.Is6() && s.VIP.IsLinkLocalUnicast() {
			d.errIn(src, path, "vip", ErrInvalid, "%s is a link-local address: only hosts on one segment reach it, and a routed client never can; use a global or unique local (fd00::/8) address", s.VIP)
		}
		if i == limits.MaxServices {
			d.errIn(src, path, "", ErrInvalid, "%d services: the data plane holds %d; %s", len(cfg.Services), limits.MaxServices, limits.HowToRaise)
		}
		if ss := s.SorryServer; ss != nil && ss.IP.IsValid() {
			if why := unusable(ss.IP); why != "" {
				d.errIn(src, path+".sorry_server", "ip", ErrInvalid, "%s is %s: no packet can be forwarded to it", ss.IP, why)
			}
		}
		for j, r := range s.Reals {
			if why := unusable(r.IP); why != "" {
				d.errIn(src, fmt.Sprintf("%s.reals[%d]", path, j), "ip", ErrInvalid, "%s is %s: no packet can be forwarded to it", r.IP, why)
			} else if r.IP.Is6() && r.IP.IsLinkLocalUnicast() {
				d.errIn(src, fmt.Sprintf("%s.reals[%d]", path, j), "ip", ErrInvalid, "%s is a link-local address: its checks would need an interface zone; give the real server a global or unique local address on the director's segment", r.IP)
			}
			if cp := fmt.Sprintf("%s.reals[%d].check", path, j); r.Check != nil && src.has(cp, "connect_ip") &&
				r.Check.ConnectIP.Is6() && r.Check.ConnectIP.IsLinkLocalUnicast() {
				// keepalived refuses it too without bind_if ("Checker link
				// local address ... requires a bind_if").
				d.errIn(src, cp, "connect_ip", ErrUnsupported, "%s is a link-local address: a check reaches it only through a named interface, "+
					"and xlb's checks take none (bind_if is ignored); check the real server's global or unique local address", r.Check.ConnectIP)
			}
			if backends++; backends == limits.MaxBackends+1 {
				d.errIn(src, fmt.Sprintf("%s.reals[%d]", path, j), "", ErrInvalid, backendsMsg, countBackends(cfg), limits.MaxBackends, limits.HowToRaise)
			}
		}
		if s.SorryServer != nil {
			if backends++; backends == limits.MaxBackends+1 {
				d.errIn(src, path+".sorry_server", "", ErrInvalid, backendsMsg, countBackends(cfg), limits.MaxBackends, limits.HowToRaise)
			}
		}
	}
	for i, v := range cfg.VRRP {
		for j, vip := range v.VIPs {
			a := vip.Prefix.Addr()
			why := unusable(a)
			if why == "" {
				continue
			}
			// keepalived.conf records each address's line; YAML only the list's.
			if p := fmt.Sprintf("vrrp[%d].vips[%d]", i, j); src.m[p].line > 0 {
				d.errIn(src, p, "", ErrInvalid, "%s is %s: it cannot be a virtual address", a, why)
			} else {
				d.errIn(src, fmt.Sprintf("vrrp[%d]", i), "vips", ErrInvalid, "%s is %s: it cannot be a virtual address", a, why)
			}
		}
	}
}

const backendsMsg = "%d backends (real servers and sorry servers, counted per service): the data plane holds %d; %s"

// countBackends is how many backend slots cfg takes: one per real server
// of each service and one per sorry server (the reconciler gives each an
// id; a sorry server cannot be one of its service's real servers).
func countBackends(cfg *Config) int {
	n := 0
	for _, s := range cfg.Services {
		n += len(s.Reals)
		if s.SorryServer != nil {
			n++
		}
	}
	return n
}

// unusable says why no packet can be forwarded to or from a, or "".
func unusable(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return ""
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}
