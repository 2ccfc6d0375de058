package vrrp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Route is one line of keepalived's virtual_routes or static_routes, in the
// subset of ip-route(8) xlb installs: "[TYPE] [src IP] [to] PREFIX [via|gw
// IP] [dev IF] [scope S] [table N] [metric N]". A virtual route is added
// while the instance is MASTER and removed otherwise (keepalived's
// vrrp_handle_iproutes); a static one for as long as xlbd runs.
type Route struct {
	Dst     netip.Prefix
	Src     netip.Addr
	Gateway netip.Addr
	Dev     string
	// Type is "" (unicast), "blackhole", "unreachable" or "prohibit".
	Type string
	// Scope is "" (the kernel's choice), "link", "host" or "global".
	Scope  string
	Table  int // 0: main
	Metric int
	// NoTrack (keepalived's no_track) keeps Dev out of a virtual route's
	// tracked links (TrackedLinks).
	NoTrack bool
}

// RouteTypes and RouteScopes are the words Route takes.
var (
	RouteTypes  = []string{"blackhole", "unreachable", "prohibit"}
	RouteScopes = []string{"global", "link", "host"}
)

// String writes the route as keepalived (and ip route) read it.
func (r Route) String() string {
	var w []string
	if r.Type != "" {
		w = append(w, r.Type)
	}
	if r.Src.IsValid() {
		w = append(w, "src", r.Src.String())
	}
	w = append(w, r.Dst.String())
	if r.Gateway.IsValid() {
		w = append(w, "via", r.Gateway.String())
	}
	if r.Dev != "" {
		w = append(w, "dev", r.Dev)
	}
	if r.Scope != "" {
		w = append(w, "scope", r.Scope)
	}
	if r.Table != 0 {
		w = append(w, "table", strconv.Itoa(r.Table))
	}
	if r.Metric != 0 {
		w = append(w, "metric", strconv.Itoa(r.Metric))
	}
	if r.NoTrack {
		w = append(w, "no_track")
	}
	return strings.Join(w, " ")
}

// Rule is one line of virtual_rules or static_rules, in the subset of
// ip-rule(8) xlb installs: "[from PREFIX] [to PREFIX] [iif IF] [oif IF]
// table N [priority N]".
type Rule struct {
	From, To netip.Prefix
	IIF, OIF string
	Table    int
	// Priority is the rule's preference; 0: the kernel picks one.
	Priority int
	// NoTrack (keepalived's no_track) keeps IIF and OIF out of a virtual
	// rule's tracked links (TrackedLinks).
	NoTrack bool
}

// String writes the rule as keepalived (and ip rule) read it.
func (r Rule) String() string {
	var w []string
	if r.From.IsValid() {
		w = append(w, "from", r.From.String())
	}
	if r.To.IsValid() {
		w = append(w, "to", r.To.String())
	}
	if r.IIF != "" {
		w = append(w, "iif", r.IIF)
	}
	if r.OIF != "" {
		w = append(w, "oif", r.OIF)
	}
	w = append(w, "table", strconv.Itoa(r.Table))
	if r.Priority != 0 {
		w = append(w, "priority", strconv.Itoa(r.Priority))
	}
	if r.NoTrack {
		w = append(w, "no_track")
	}
	return strings.Join(w, " ")
}

func (r Route) validate() error {
	if !r.Dst.IsValid() {
		return fmt.Errorf("route %q: no destination", r)
	}
	for _, a := range []netip.Addr{r.Src, r.Gateway} {
		if a.IsValid() && a.Is4() != r.Dst.Addr().Is4() {
			return fmt.Errorf("route %q mixes IPv4 and IPv6", r)
		}
	}
	if r.Type != "" && r.Gateway.IsValid() {
		return fmt.Errorf("route %q: a %s route has no gateway", r, r.Type)
	}
	return nil
}

func (r Rule) validate() error {
	if r.Table <= 0 {
		return fmt.Errorf("rule %q: wants a table", r)
	}
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is4() != r.To.Addr().Is4() {
		return fmt.Errorf("rule %q mixes IPv4 and IPv6", r)
	}
	return nil
}
