package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
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

// VIP is one virtual_ipaddress line: "A.B.C.D[/len] dev IF".
type VIP struct {
	Prefix netip.Prefix
	// Dev is the interface the address is added to; empty means the
	// instance's interface.
	Dev string
	// Label is the address label (ip addr ... label), e.g. "eth0:vip".
	Label string
}

// Config is one vrrp_instance. Zero values mean keepalived's defaults where
// the field comment says so.
type Config struct {
	Name      string
	Interface string
	VRID      uint8
	// Priority is 1-255; 255 makes this router the address owner. 0 means 100.
	Priority uint8
	// Version is 2 or 3; 0 means 2.
	Version uint8
	// AdvertInterval is 0 for 1s; v2 needs whole seconds (1-255), v3
	// centiseconds (10ms-40.95s).
	AdvertInterval time.Duration
	// InitialState is StateBackup (the zero value means that too) or
	// StateMaster. Both start as BACKUP and wait Master_Down_Interval for a
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
	AuthPass string
	VIPs     []VIP
	// UnicastSrc is the source address of adverts; zero means the
	// interface's first IPv4 address.
	UnicastSrc netip.Addr
	// UnicastPeers switches from multicast to unicast adverts.
	UnicastPeers []netip.Addr
	// McastGroup is the group adverts are sent to, and the only destination
	// accepted, in multicast mode (keepalived's global_defs
	// vrrp_mcast_group4); zero means 224.0.0.18.
	McastGroup netip.Addr
	// TrackInterfaces go FAULT when any is down (the instance's own
	// interface is always tracked).
	TrackInterfaces []string
	// Notify scripts, each an argv. Notify gets "INSTANCE" NAME STATE PRIORITY
	// appended, as keepalived does.
	NotifyMaster []string
	NotifyBackup []string
	NotifyFault  []string
	NotifyStop   []string
	Notify       []string
	// GARPMasterDelay is the pause before the second gratuitous ARP burst
	// after becoming master: 0 means 5s, negative means no second burst.
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is the number of gratuitous ARPs per burst: 0 means 5.
	GARPMasterRepeat int
	// GARPMasterRefresh re-announces the VIPs this often while master: 0 is
	// off.
	GARPMasterRefresh time.Duration
	// GARPMasterRefreshRepeat is the number of gratuitous ARPs per refresh:
	// 0 means 1.
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

// withDefaults returns c with keepalived's defaults filled in, or an error
// naming the first bad field.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, cfgErr(c.Name, "name is empty")
	}
	if c.Interface == "" {
		return c, cfgErr(c.Name, "interface is empty")
	}
	if c.VRID == 0 {
		return c, cfgErr(c.Name, "virtual_router_id must be 1-255")
	}
	if c.Priority == 0 {
		c.Priority = 100
	}
	if c.Version == 0 {
		c.Version = 2
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = time.Second
	}
	switch c.Version {
	case 2:
		if c.AdvertInterval%time.Second != 0 || c.AdvertInterval > 255*time.Second || c.AdvertInterval < 0 {
			return c, cfgErr(c.Name, "advert_int %v: version 2 needs whole seconds 1-255", c.AdvertInterval)
		}
	case 3:
		if c.AdvertInterval%(10*time.Millisecond) != 0 || c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > maxV3Intvl*10*time.Millisecond {
			return c, cfgErr(c.Name, "advert_int %v: version 3 needs centiseconds 0.01-40.95s", c.AdvertInterval)
		}
		if c.AuthPass != "" {
			return c, cfgErr(c.Name, "authentication is not part of VRRP version 3")
		}
	default:
		return c, cfgErr(c.Name, "version %d: want 2 or 3", c.Version)
	}
	switch c.InitialState {
	case StateInit:
		c.InitialState = StateBackup
	case StateBackup, StateMaster:
	default:
		return c, cfgErr(c.Name, "initial state %v: want MASTER or BACKUP", c.InitialState)
	}
	if c.PreemptDelay < 0 {
		return c, cfgErr(c.Name, "preempt_delay %v is negative", c.PreemptDelay)
	}
	if len(c.VIPs) == 0 || len(c.VIPs) > maxAddrs {
		return c, cfgErr(c.Name, "%d virtual_ipaddress entries: want 1-%d", len(c.VIPs), maxAddrs)
	}
	vips := make([]VIP, len(c.VIPs))
	for i, v := range c.VIPs {
		if !v.Prefix.IsValid() || !v.Prefix.Addr().Is4() {
			return c, cfgErr(c.Name, "virtual_ipaddress %v: want an IPv4 address", v.Prefix)
		}
		if v.Dev == "" {
			v.Dev = c.Interface
		}
		vips[i] = v
	}
	c.VIPs = vips
	if c.UnicastSrc.IsValid() && !c.UnicastSrc.Is4() {
		return c, cfgErr(c.Name, "unicast_src_ip %v: want IPv4", c.UnicastSrc)
	}
	for _, p := range c.UnicastPeers {
		if !p.Is4() {
			return c, cfgErr(c.Name, "unicast_peer %v: want IPv4", p)
		}
	}
	if !c.McastGroup.IsValid() {
		c.McastGroup = Group
	}
	if !c.McastGroup.Is4() || !c.McastGroup.IsMulticast() {
		return c, cfgErr(c.Name, "vrrp_mcast_group4 %v: want an IPv4 multicast address", c.McastGroup)
	}
	if c.GARPMasterDelay == 0 {
		c.GARPMasterDelay = 5 * time.Second
	}
	if c.GARPMasterRepeat == 0 {
		c.GARPMasterRepeat = 5
	}
	if c.GARPMasterRefreshRepeat == 0 {
		c.GARPMasterRefreshRepeat = 1
	}
	if c.GARPMasterRepeat < 0 || c.GARPMasterRefresh < 0 {
		return c, cfgErr(c.Name, "garp_master_repeat and garp_master_refresh cannot be negative")
	}
	scripts := make([]Script, len(c.TrackScripts))
	for i, sc := range c.TrackScripts {
		var err error
		if scripts[i], err = sc.withDefaults(c.Name); err != nil {
			return c, err
		}
	}
	c.TrackScripts = scripts
	return c, nil
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

// UnmarshalText accepts the keepalived names MASTER and BACKUP (any case),
// so a Config can come from JSON or YAML; "" and INIT mean the default.
func (s *State) UnmarshalText(b []byte) error {
	switch strings.ToUpper(string(b)) {
	case "", "INIT":
		*s = StateInit
	case "MASTER":
		*s = StateMaster
	case "BACKUP":
		*s = StateBackup
	default:
		return fmt.Errorf("%w: state %q: want MASTER or BACKUP", ErrConfig, b)
	}
	return nil
}
