package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"xlb/control/config"
)

// A config that names no interface (a keepalived.conf with virtual_servers
// only: keepalived's LVS side needs none) is attached to the interfaces whose
// subnets hold its real servers, chosen here and said with the reason, at
// start, on reload and by xlbd check-config.

// InterfaceChoice is an interface chosen for a config that names none.
type InterfaceChoice struct {
	Name string
	Why  string // e.g. "its subnet 10.0.0.0/24 holds real server 10.0.0.2 of service 10.0.1.1:80/tcp"
}

// chooseInterfaces fills in the interfaces of a config that names none and
// logs which were chosen and why.
func chooseInterfaces(cfg *config.Config, log *slog.Logger) error {
	if len(cfg.Interfaces) > 0 || len(cfg.Services) == 0 {
		return nil
	}
	chosen, err := InferInterfaces(cfg)
	if err != nil {
		return err
	}
	for _, c := range chosen {
		log.Info("no interface named: attaching to the one the real servers are on", "interface", c.Name, "why", c.Why)
		cfg.Interfaces = append(cfg.Interfaces, c.Name)
	}
	return nil
}

// hostLink is an interface of the host and its subnets (not host routes,
// not link-local: as control.OnLink counts them).
type hostLink struct {
	name    string
	subnets []netip.Prefix
}

// InferInterfaces chooses the interfaces of cfg, which names none, among
// this host's up, non-loopback interfaces.
func InferInterfaces(cfg *config.Config) ([]InterfaceChoice, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var links []hostLink
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		l := hostLink{name: ifc.Name}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if p, err := netip.ParsePrefix(n.String()); err == nil {
					l.subnets = append(l.subnets, p)
				}
			}
		}
		links = append(links, l)
	}
	return inferInterfaces(cfg.Services, links)
}

// inferInterfaces gives each service with real servers the interface with
// the longest subnet holding its first real server (planInterfaces then
// checks the others); the interfaces come in the order services first need
// them. A service no interface reaches is an error naming it.
func inferInterfaces(svcs []config.Service, links []hostLink) ([]InterfaceChoice, error) {
	var out []InterfaceChoice
	chosen := map[string]bool{}
	var unreached []string
	for _, s := range svcs {
		if len(s.Reals) == 0 {
			continue
		}
		ip := s.Reals[0].IP.Unmap()
		best, subnet := "", netip.Prefix{}
		for _, l := range links {
			for _, p := range l.subnets {
				if p.Addr().Is4() == ip.Is4() && !p.Addr().IsLinkLocalUnicast() && p.Bits() < p.Addr().BitLen() &&
					p.Masked().Contains(ip) && (best == "" || p.Bits() > subnet.Bits()) {
					best, subnet = l.name, p.Masked()
				}
			}
		}
		switch {
		case best == "":
			unreached = append(unreached, fmt.Sprintf("service %s: real server %s", s.Name, ip))
		case !chosen[best]:
			chosen[best] = true
			out = append(out, InterfaceChoice{Name: best, Why: fmt.Sprintf("its subnet %s holds real server %s of service %s", subnet, ip, s.Name)})
		}
	}
	if len(unreached) > 0 {
		return out, fmt.Errorf("no interface named, and no interface of this host has a subnet holding %s: "+
			"name the interface (xlb_interface in global_defs; native: interfaces)", strings.Join(unreached, "; "))
	}
	if len(out) == 0 && len(svcs) > 0 {
		return nil, fmt.Errorf("no interface named and no real server to choose one by: name the interface (xlb_interface in global_defs; native: interfaces)")
	}
	return out, nil
}
