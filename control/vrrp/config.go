package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"xlb/control/script"
	"xlb/control/secret"
)

// State is a VRRP router state.
type State uint8

// The states of RFC 3768/5798, plus keepalived's FAULT (a tracked interface
// is down) and STOP (the instance has shut down).
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText makes State print as its keepalived name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PriorityOwner is the priority of the router that owns the addresses; it
// becomes master at once.
const PriorityOwner = 255

// VIP is one virtual_ipaddress line: "A.B.C.D[/len] dev IF" or
// "X:X::X[/len] dev IF".
type VIP struct {
	Prefix netip.Prefix
	// Dev is the interface the address is added to; empty means the
	// instance's interface.
	Dev string
	// Label is the address label (ip addr ... label), e.g. "eth0:vip".
	Label string
	// NoTrack (keepalived's no_track) keeps a Dev other than the
	// instance's interface out of the tracked links (TrackedLinks).
	NoTrack bool
}

// String writes the VIP in keepalived's form: "A.B.C.D/len [dev IF] [label L] [no_track]".
func (v VIP) String() string {
	s := v.Prefix.String()
	if v.Dev != "" {
		s += " dev " + v.Dev
	}
	if v.Label != "" {
		s += " label " + v.Label
	}
	if v.NoTrack {
		s += " no_track"
	}
	return s
}

// Config is one vrrp_instance, complete: the config package fills every
// default (keepalived's) before an Instance sees it, and New only checks the
// invariants below. config.VRRPInstance embeds it, so a keyword reaches the
// running instance without a copy.
type Config struct {
	Name      string
	Interface string
	VRID      uint8
	// Priority is 1-255; 255 makes this router the address owner.
	Priority uint8
	// Version is 2 or 3.
	Version uint8
	// AdvertInterval: v2 needs whole seconds (1-255), v3 centiseconds
	// (10ms-40.95s).
	AdvertInterval time.Duration
	// InitialState is StateBackup or StateMaster. Both start as BACKUP and wait Master_Down_Interval for a
	// better master, as keepalived 2.2 does, so a restarting node never
	// steals the VIPs from a live master; only priority 255 takes over at
	// once. The difference: keepalived ignores nopreempt with MASTER, we
	// do not.
	InitialState State
	NoPreempt    bool
	// PreemptDelay holds off preempting a lower-priority master for this long
	// after startup or after first seeing it (keepalived's preempt_delay).
	PreemptDelay time.Duration
	// AuthPass enables v2 "auth_type PASS"; only its first 8 bytes count.
	AuthPass secret.Secret
	VIPs     []VIP
	// ExcludedVIPs (keepalived's virtual_ipaddress_excluded) are added and
	// removed with VIPs but are not in the adverts.
	ExcludedVIPs []VIP
	// Routes and Rules (virtual_routes, virtual_rules) are installed while
	// MASTER, after the addresses, and removed before them otherwise.
	Routes []Route
	Rules  []Rule
	// UnicastSrc is the source address of adverts; zero means the
	// interface's first IPv4 address, or for IPv6 its link-local address
	// (RFC 5798 5.1.2.1), as keepalived.
	UnicastSrc netip.Addr
	// UnicastPeers switches from multicast to unicast adverts.
	UnicastPeers []netip.Addr
	// McastGroup is the group adverts are sent to, and the only destination
	// accepted, in multicast mode (keepalived's global_defs
	// vrrp_mcast_group4, or vrrp_mcast_group6 for an IPv6 instance).
	McastGroup netip.Addr
	// TrackInterfaces go FAULT when any is down (the instance's own
	// interface is always tracked, and so are the devices of VIPs, routes
	// and rules: TrackedLinks).
	TrackInterfaces []string
	// Notify scripts, each run as its own user and group (else
	// ScriptPolicy's). Notify gets "INSTANCE" NAME STATE PRIORITY appended,
	// as keepalived does.
	Notifies
	// ScriptPolicy is who runs notify and track scripts and whether an
	// insecure one is refused (script_user, enable_script_security).
	ScriptPolicy script.Policy
	// GARPMasterDelay is the pause before the second gratuitous ARP burst
	// after becoming master: 0 means no second burst (keepalived's
	// garp_master_delay 0). For IPv6 VIPs every garp_* setting governs the
	// unsolicited neighbour advertisements instead, as in keepalived
	// (vrrp_send_update sends one or the other by the VIP's family).
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is the number of gratuitous ARPs per burst.
	GARPMasterRepeat int
	// GARPMasterRefresh re-announces the VIPs this often while master: 0 is
	// off.
	GARPMasterRefresh time.Duration
	// GARPMasterRefreshRepeat is the number of gratuitous ARPs per refresh.
	GARPMasterRefreshRepeat int
	// GARPLowerPrioDelay and GARPLowerPrioRepeat are keepalived's
	// garp_lower_prio_*; carried for status, a lower-priority advert gets
	// one gratuitous ARP at once.
	GARPLowerPrioDelay  time.Duration
	GARPLowerPrioRepeat int
	// StartupDelay, CheckUnicastSrc, SkipCheckAdvAddr and Strict are
	// keepalived's vrrp_startup_delay, check_unicast_src,
	// skip_check_adv_addr and strict_mode, carried as configured: adverts
	// from outside UnicastPeers are always dropped, every advert's address
	// list is checked, and the config package applied strict mode's
	// corrections.
	StartupDelay     time.Duration
	CheckUnicastSrc  bool
	SkipCheckAdvAddr bool
	Strict           bool
	// HigherPrioSendAdvert (keepalived's higher_prio_send_advert): a master
	// that hears a better one sends one last advert of its own before it
	// steps down, so a master that has been in split brain with us hears of
	// us and re-announces the VIPs (keepalived.conf(5)).
	HigherPrioSendAdvert bool
	// TrackScripts move the priority or cause FAULT (track_script; see
	// Script).
	TrackScripts []Script
}

// ErrConfig is wrapped by every validation error.
var ErrConfig = errors.New("invalid vrrp config")

func cfgErr(name, format string, args ...any) error {
	return fmt.Errorf("%w: instance %q: %s", ErrConfig, name, fmt.Sprintf(format, args...))
}

// validate checks the invariants an Instance relies on, naming the first
// field that breaks one. It fills nothing in: defaults are the config
// package's.
func (c Config) validate() error {
	switch {
	case c.Name == "":
		return cfgErr(c.Name, "name is empty")
	case c.Interface == "":
		return cfgErr(c.Name, "interface is empty")
	case c.VRID == 0:
		return cfgErr(c.Name, "virtual_router_id must be 1-255")
	case c.Priority == 0:
		return cfgErr(c.Name, "priority must be 1-255")
	}
	switch c.Version {
	case 2:
		if c.AdvertInterval%time.Second != 0 || c.AdvertInterval < time.Second || c.AdvertInterval > 255*time.Second {
			return cfgErr(c.Name, "advert_int %v: version 2 needs whole seconds 1-255", c.AdvertInterval)
		}
	case 3:
		if c.AdvertInterval%(10*time.Millisecond) != 0 || c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > maxV3Intvl*10*time.Millisecond {
			return cfgErr(c.Name, "advert_int %v: version 3 needs centiseconds 0.01-40.95s", c.AdvertInterval)
		}
		if !c.AuthPass.IsZero() {
			return cfgErr(c.Name, "authentication is not part of VRRP version 3")
		}
	default:
		return cfgErr(c.Name, "version %d: want 2 or 3", c.Version)
	}
	if c.InitialState != StateBackup && c.InitialState != StateMaster {
		return cfgErr(c.Name, "initial state %v: want MASTER or BACKUP", c.InitialState)
	}
	if c.PreemptDelay < 0 {
		return cfgErr(c.Name, "preempt_delay %v is negative", c.PreemptDelay)
	}
	if len(c.VIPs) == 0 || len(c.VIPs) > maxAddrs {
		return cfgErr(c.Name, "%d virtual_ipaddress entries: want 1-%d", len(c.VIPs), maxAddrs)
	}
	v6 := c.IPv6()
	fam := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
	for _, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			return cfgErr(c.Name, "virtual_ipaddress %v: want an IPv4 or IPv6 address", v.Prefix)
		}
		if v.Prefix.Addr().Is6() != v6 {
			// keepalived's alloc_vrrp_vip: "address family must match
			// VRRP instance".
			return cfgErr(c.Name, "virtual_ipaddress %v: an instance's addresses are one family (its first is %s): use another vrrp_instance", v.Prefix, fam)
		}
		if v.Dev == "" {
			return cfgErr(c.Name, "virtual_ipaddress %v: no device", v.Prefix)
		}
	}
	for _, v := range c.ExcludedVIPs {
		if !v.Prefix.IsValid() || v.Dev == "" {
			return cfgErr(c.Name, "virtual_ipaddress_excluded %v: want an address and a device", v.Prefix)
		}
	}
	for _, r := range c.Routes {
		if err := r.validate(); err != nil {
			return cfgErr(c.Name, "virtual_routes: %v", err)
		}
	}
	for _, r := range c.Rules {
		if err := r.validate(); err != nil {
			return cfgErr(c.Name, "virtual_rules: %v", err)
		}
	}
	if v6 && c.Version != 3 {
		return cfgErr(c.Name, "version %d: IPv6 needs VRRP version 3 (RFC 5798; version 2 is IPv4 only)", c.Version)
	}
	if c.UnicastSrc.IsValid() && c.UnicastSrc.Is6() != v6 {
		return cfgErr(c.Name, "unicast_src_ip %v: want %s, the family of the instance's addresses", c.UnicastSrc, fam)
	}
	for _, p := range c.UnicastPeers {
		if p.Is6() != v6 || p.Zone() != "" {
			return cfgErr(c.Name, "unicast_peer %v: want %s, the family of the instance's addresses", p, fam)
		}
	}
	switch {
	case !v6 && (!c.McastGroup.Is4() || !c.McastGroup.IsMulticast()):
		return cfgErr(c.Name, "vrrp_mcast_group4 %v: want an IPv4 multicast address", c.McastGroup)
	case v6 && (!c.McastGroup.Is6() || !c.McastGroup.IsLinkLocalMulticast()):
		// keepalived refuses other groups too (vrrp_mcast_dstip_handler:
		// "not link-local multicast").
		return cfgErr(c.Name, "vrrp_mcast_group6 %v: want an IPv6 link-local multicast address (ff02::/16)", c.McastGroup)
	}
	if c.GARPMasterRepeat < 1 || c.GARPMasterRefreshRepeat < 1 {
		return cfgErr(c.Name, "garp_master_repeat and garp_master_refresh_repeat must be at least 1")
	}
	if c.GARPMasterDelay < 0 || c.GARPMasterRefresh < 0 || c.GARPLowerPrioDelay < 0 || c.GARPLowerPrioRepeat < 0 || c.StartupDelay < 0 {
		return cfgErr(c.Name, "garp_* and startup delays cannot be negative")
	}
	for _, sc := range c.TrackScripts {
		if _, err := sc.withDefaults(c.Name); err != nil {
			return err
		}
	}
	return nil
}

// IPv6 says the instance is an IPv6 virtual router: its addresses (all of
// one family, see validate) are IPv6.
func (c Config) IPv6() bool {
	return len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6()
}

// intervalUnits is the advert interval in the version's wire unit.
func intervalUnits(version uint8, d time.Duration) uint16 {
	if version == 2 {
		return uint16(d / time.Second)
	}
	return uint16(d / (10 * time.Millisecond))
}

// unitsInterval converts a wire interval back to a duration.
func unitsInterval(version uint8, u uint16) time.Duration {
	if version == 2 {
		return time.Duration(u) * time.Second
	}
	return time.Duration(u) * 10 * time.Millisecond
}

// skewTime is RFC 3768's (256 - priority)/256 s for v2 and RFC 5798's
// ((256 - priority) * Master_Adver_Interval) / 256 for v3, as keepalived
// computes them.
func skewTime(version, priority uint8, interval time.Duration) time.Duration {
	if version == 2 {
		interval = time.Second
	}
	return time.Duration(256-int64(priority)) * interval / 256
}

// masterDownInterval is 3 * Master_Adver_Interval + Skew_Time.
func masterDownInterval(version, priority uint8, interval time.Duration) time.Duration {
	return 3*interval + skewTime(version, priority, interval)
}

// UnmarshalText accepts every name String gives (any case), so a Config or
// a Status can come from JSON or YAML; "" means INIT. A Config's
// InitialState must still be MASTER or BACKUP (validate).
func (s *State) UnmarshalText(b []byte) error {
	name := strings.ToUpper(string(b))
	if name == "" {
		*s = StateInit
		return nil
	}
	for st := StateInit; st <= StateStop; st++ {
		if st.String() == name {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("%w: state %q: want MASTER or BACKUP", ErrConfig, b)
}

// Notifies are the notify scripts of an instance or a sync group, one per
// keepalived keyword.
type Notifies struct {
	NotifyMaster script.Command
	NotifyBackup script.Command
	NotifyFault  script.Command
	NotifyStop   script.Command
	Notify       script.Command
}

// Slot is the script a notify keyword (notify_master, notify_backup,
// notify_fault, notify_stop, notify) sets; nil for any other word.
func (n *Notifies) Slot(keyword string) *script.Command {
	switch keyword {
	case "notify_master":
		return &n.NotifyMaster
	case "notify_backup":
		return &n.NotifyBackup
	case "notify_fault":
		return &n.NotifyFault
	case "notify_stop":
		return &n.NotifyStop
	case "notify":
		return &n.Notify
	}
	return nil
}

// NotifyKeywords are the keywords Slot knows.
var NotifyKeywords = []string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"}
