package config

import (
	"strings"

	"gopkg.in/yaml.v3"

	"xlb/control/vrrp"
)

// vrrpFields are vrrp_instance's one-value keywords (native: an item of
// vrrp). The blocks (authentication, virtual_ipaddress, unicast_peer,
// track_interface) and the notify commands are read by hand in keepalived.go
// and yaml.go; what xlb does not implement is in ignoredVRRP.
var vrrpFields = []field[VRRPInstance]{
	{ka: []string{"state"}, key: "state", val: func(v *VRRPInstance) value { return stateValue{&v.InitialState} },
		def: "MASTER with priority 255, else BACKUP", doc: "initial state"},
	{ka: []string{"interface"}, key: "interface", val: func(v *VRRPInstance) value { return strValue{&v.Interface} },
		def: "global default_interface; required", doc: ""},
	{ka: []string{"virtual_router_id"}, key: "vrid", val: func(v *VRRPInstance) value { return intRange(&v.VRID, 1, 255) },
		def: "required", doc: "1..255, unique per interface"},
	{ka: []string{"priority"}, key: "priority", val: func(v *VRRPInstance) value { return intRange(&v.Priority, 1, 255) },
		def: "255 with state MASTER, else 100 (keepalived)", doc: "1..255 (255 = address owner)"},
	{ka: []string{"version"}, key: "version", val: func(v *VRRPInstance) value { return intRange(&v.Version, 2, 3) },
		def: "global vrrp_version (2)", doc: "the instance's own wins over global_defs, as in keepalived"},
	{ka: []string{"advert_int"}, key: "advert_int", val: func(v *VRRPInstance) value { return durValue{&v.AdvertInterval} },
		def: "1s", doc: "v2: whole seconds 1..255; v3: 0.01..40.95 s in 0.01 steps"},
	{ka: []string{"nopreempt"}, key: "nopreempt", val: func(v *VRRPInstance) value { return boolValue{&v.NoPreempt} },
		def: "off", doc: "cleared with state MASTER or priority 255, with keepalived's warnings"},
	{ka: []string{"preempt_delay"}, key: "preempt_delay", val: func(v *VRRPInstance) value { return durValue{&v.PreemptDelay} },
		def: "0", doc: "cleared with state MASTER, nopreempt or strict mode, as keepalived"},
	{ka: []string{"unicast_src_ip", "mcast_src_ip"}, key: "unicast_src_ip", val: func(v *VRRPInstance) value { return addrValue{&v.UnicastSrc, parseAddr} },
		def: "the interface's primary address (IPv6: its link-local one)", doc: "source of adverts, of the instance's family; for an IPv6 instance in multicast mode RFC 5798 5.1.2.1 wants the link-local one (another is warned, and heard by xlb and keepalived)"},
	{ka: []string{"mcast_dst_ip"}, key: "mcast_dst_ip", val: func(v *VRRPInstance) value { return addrValue{&v.McastGroup, parseMcastDst} },
		def: "global vrrp_mcast_group4 or vrrp_mcast_group6, by family", doc: "the group adverts go to: IPv4 multicast, or IPv6 link-local multicast (ff02::/16); ignored with unicast peers, as keepalived"},
	{ka: []string{"garp_master_delay"}, key: "garp_master_delay", val: func(v *VRRPInstance) value { return durValue{&v.GARPMasterDelay} },
		def: "global vrrp_garp_master_delay (5s)", doc: "0: no second burst"},
	{ka: []string{"garp_master_repeat"}, key: "garp_master_repeat", val: func(v *VRRPInstance) value { return intRange(&v.GARPMasterRepeat, 1, 255) },
		def: "global vrrp_garp_master_repeat (5)", doc: "gratuitous ARPs per burst"},
	{ka: []string{"garp_master_refresh"}, key: "garp_master_refresh", val: func(v *VRRPInstance) value { return durValue{&v.GARPMasterRefresh} },
		def: "global vrrp_garp_master_refresh (0, never)", doc: "re-announce the VIPs this often while master"},
	{ka: []string{"garp_master_refresh_repeat"}, key: "garp_master_refresh_repeat", val: func(v *VRRPInstance) value { return intRange(&v.GARPMasterRefreshRepeat, 1, 255) },
		def: "global vrrp_garp_master_refresh_repeat (1)", doc: "gratuitous ARPs per refresh"},
	{ka: []string{"garp_lower_prio_delay"}, key: "garp_lower_prio_delay", val: func(v *VRRPInstance) value { return durValue{&v.GARPLowerPrioDelay} },
		def: "global vrrp_garp_lower_prio_delay; 0 in strict mode", doc: "", warn: lowerPrioWhy},
	{ka: []string{"garp_lower_prio_repeat"}, key: "garp_lower_prio_repeat", val: func(v *VRRPInstance) value { return intRange(&v.GARPLowerPrioRepeat, 0, 255) },
		def: "global vrrp_garp_lower_prio_repeat; 0 in strict mode", doc: "", warn: lowerPrioWhy},
	{ka: []string{"check_unicast_src"}, key: "check_unicast_src", val: func(v *VRRPInstance) value { return boolValue{&v.CheckUnicastSrc} },
		def: "global vrrp_check_unicast_src", doc: "xlb always drops adverts from outside unicast_peer"},
	{ka: []string{"skip_check_adv_addr"}, key: "skip_check_adv_addr", val: func(v *VRRPInstance) value { return boolValue{&v.SkipCheckAdvAddr} },
		def: "global vrrp_skip_check_adv_addr", doc: "", warn: skipCheckAdvAddrWhy},
	{ka: []string{"higher_prio_send_advert"}, key: "higher_prio_send_advert", val: func(v *VRRPInstance) value { return boolValue{&v.HigherPrioSendAdvert} },
		def: "global vrrp_higher_prio_send_advert; off in strict mode", doc: "a master hearing a better one sends one last advert before stepping down"},
	{ka: []string{"strict_mode"}, key: "strict_mode", val: func(v *VRRPInstance) value { return boolValue{&v.Strict} },
		def: "global vrrp_strict", doc: "keepalived's strict corrections, with its messages", warn: strictWhy},
}

// stateValue is an initial VRRP state: MASTER or BACKUP, any case.
type stateValue struct{ p *vrrp.State }

func (v stateValue) set(s string, _ bool) error {
	st, err := parseState(s)
	if err == nil {
		*v.p = st
	}
	return err
}
func (v stateValue) flag() bool { return false }
func (v stateValue) node() *yaml.Node {
	return scalar("!!str", strings.ToLower(v.p.String()))
}
func (v stateValue) get() any { return *v.p }

// scriptFields are vrrp_script's one-value keywords (native: an item of a
// vrrp instance's track_scripts). script, weight (which takes "reverse") and
// user are read by hand; keepalived's handlers and ranges are in
// keepalived/vrrp/vrrp_parser.c (vrrp_vscript_*_handler, acassen/keepalived
// 9cbce3e).
var scriptFields = []field[vrrp.Script]{
	{ka: []string{"interval"}, key: "interval", val: func(s *vrrp.Script) value { return durValue{&s.Interval} },
		def: "1s", doc: "between runs"},
	{ka: []string{"timeout"}, key: "timeout", val: func(s *vrrp.Script) value { return durValue{&s.Timeout} },
		def: "interval", doc: "a run taking longer is killed and fails"},
	{ka: []string{"weight"}, key: "weight", val: func(s *vrrp.Script) value { return intRange(&s.Weight, -253, 253) },
		def: "0", doc: "-253..253: added while succeeding if > 0, while failing if < 0; 0: FAULT while failing; a track_script's own weight wins"},
	{ka: []string{"rise"}, key: "rise", val: func(s *vrrp.Script) value { return intRange(&s.Rise, 1, 1<<31-1) },
		def: "1", doc: "successes that make a failing script good"},
	{ka: []string{"fall"}, key: "fall", val: func(s *vrrp.Script) value { return intRange(&s.Fall, 1, 1<<31-1) },
		def: "1", doc: "failures that make a good script fail"},
	{ka: []string{"init_fail"}, key: "init_fail", val: func(s *vrrp.Script) value { return boolValue{&s.InitFail} },
		def: "off", doc: "start failing, so rise successes are needed first"},
}
