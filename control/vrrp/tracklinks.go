package vrrp

import "fmt"

// TrackedLink is a link whose going down puts the instance in FAULT, and
// the configuration line that makes it tracked.
type TrackedLink struct {
	Name string
	Why  string
}

// TrackedLinks are the links the instance goes FAULT on, each once, in this
// order: its interface, TrackInterfaces, then, as keepalived's
// vrrp_complete_instance (keepalived/vrrp/vrrp.c) adds them with weight 0,
// the dev of every VIP and excluded VIP (it could not be added again while
// that link is down), the dev of every virtual route and the iif and oif of
// every virtual rule, unless the line says no_track. keepalived skips a
// VIP on the instance's interface under dont_track_primary; xlb always
// tracks that interface, so such a VIP adds nothing.
func (c Config) TrackedLinks() []TrackedLink {
	var out []TrackedLink
	seen := map[string]bool{}
	add := func(name, why string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, TrackedLink{name, why})
		}
	}
	add(c.Interface, "interface")
	for _, n := range c.TrackInterfaces {
		add(n, "track_interface")
	}
	for _, vips := range []struct {
		kw   string
		list []VIP
	}{{"virtual_ipaddress", c.VIPs}, {"virtual_ipaddress_excluded", c.ExcludedVIPs}} {
		for _, v := range vips.list {
			if !v.NoTrack {
				add(v.Dev, fmt.Sprintf("%s %s", vips.kw, v))
			}
		}
	}
	for _, r := range c.Routes {
		if !r.NoTrack {
			add(r.Dev, fmt.Sprintf("virtual_routes %s", r))
		}
	}
	for _, r := range c.Rules {
		if !r.NoTrack {
			add(r.IIF, fmt.Sprintf("virtual_rules %s", r))
			add(r.OIF, fmt.Sprintf("virtual_rules %s", r))
		}
	}
	return out
}
