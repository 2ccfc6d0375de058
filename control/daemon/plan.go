package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"xlb/control"
	"xlb/control/config"
	"xlb/lb"
	"xlb/loader"
)

// ifacePlan is what one attached interface carries: the services whose real
// servers are on its subnet.
type ifacePlan struct {
	name     string
	iface    *net.Interface
	services []serviceRef
}

// serviceRef ties a configured service to its data-plane key.
type serviceRef struct {
	key loader.ServiceKey
	cfg *config.Service
}

// planInterfaces assigns every service to the interface whose subnet holds its
// real servers, and fails (naming the service and server) for a server that no
// attached interface reaches directly: direct routing rewrites only the MAC.
// lookup and onLink are net.InterfaceByName and control.OnLink in xlbd.
func planInterfaces(cfg *config.Config, lookup func(string) (*net.Interface, error), onLink func(*net.Interface, netip.Addr) error) ([]*ifacePlan, error) {
	var plans []*ifacePlan
	var errs []error
	for _, name := range cfg.Interfaces {
		iface, err := lookup(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %q: %w", name, err))
			continue
		}
		plans = append(plans, &ifacePlan{name: name, iface: iface})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(plans) == 0 && len(cfg.Services) > 0 {
		return nil, errors.New("no interface to attach to: name one under interfaces (or in a vrrp_instance)")
	}
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		key := serviceKey(svc)
		var home *ifacePlan
		for _, p := range plans {
			if len(svc.Reals) == 0 || onLink(p.iface, svc.Reals[0].IP) == nil {
				home = p
				break
			}
		}
		if home == nil {
			errs = append(errs, fmt.Errorf("service %s: real server %s is on no subnet of %v: direct routing needs backends on the director's L2 segment", svc.Name, svc.Reals[0].IP, cfg.Interfaces))
			continue
		}
		for _, r := range svc.Reals[1:] {
			if err := onLink(home.iface, r.IP); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", svc.Name, err))
			}
		}
		if ss := svc.SorryServer; ss != nil {
			if err := onLink(home.iface, ss.IP); err != nil {
				errs = append(errs, fmt.Errorf("service %s: sorry server: %w", svc.Name, err))
			}
		}
		home.services = append(home.services, serviceRef{key: key, cfg: svc})
	}
	return plans, errors.Join(errs...)
}

func serviceKey(s *config.Service) loader.ServiceKey {
	return loader.ServiceKey{VIP: s.VIP, Port: s.Port, Proto: lb.Protocol(s.Protocol)}
}

// specs turns an interface's services into the reconciler's input.
func (p *ifacePlan) specs() []control.ServiceSpec {
	var out []control.ServiceSpec
	for _, ref := range p.services {
		spec := control.ServiceSpec{Key: ref.key, Balancing: ref.cfg.Balancing(), Quorum: ref.cfg.Quorum, Hysteresis: ref.cfg.Hysteresis}
		if ss := ref.cfg.SorryServer; ss != nil {
			spec.Sorry = &control.SorrySpec{IP: ss.IP, Inhibit: ss.Inhibit}
		}
		for _, r := range ref.cfg.Reals {
			spec.Backends = append(spec.Backends, control.BackendSpec{IP: r.IP, Weight: uint32(r.Weight), InhibitOnFailure: r.InhibitOnFailure})
		}
		out = append(out, spec)
	}
	return out
}

// macTargets are the distinct real-server addresses of a plan, each with its
// static MAC (nil: resolve it).
func (p *ifacePlan) macTargets() map[netip.Addr]net.HardwareAddr {
	out := map[netip.Addr]net.HardwareAddr{}
	for _, ref := range p.services {
		for _, r := range ref.cfg.Reals {
			if out[r.IP] == nil {
				out[r.IP] = r.MAC
			}
		}
		if ss := ref.cfg.SorryServer; ss != nil {
			if _, ok := out[ss.IP]; !ok {
				out[ss.IP] = nil
			}
		}
	}
	return out
}
