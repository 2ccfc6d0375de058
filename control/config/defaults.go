package config

import (
	"fmt"
	"path/filepath"
	"time"

	"xlb/control/vrrp"
	"xlb/health/kadefaults"
	"xlb/lb"
)

// Every default of the configuration, in one place (this file: the constants
// below, the defaults that depend on other fields listed after them, and
// applyDefaults, the one code that fills them in); README.md repeats them for
// users. keepalived's value is used wherever keepalived has one, so a
// keepalived.conf means the same to xlb as to keepalived. The retry timing
// keepalived varies per checker comes from health/kadefaults (checkTiming),
// the table the health monitor's tests hold to keepalived's.
const (
	DefaultProtocol  = lb.TCP
	DefaultScheduler = Scheduler("wlc") // ipvsadm's default
	DefaultMethod    = MethodDR
	DefaultDelayLoop = 60 * time.Second // keepalived
	// DefaultBarePersistenceTimeout is what persistence_timeout without a
	// value means (keepalived).
	DefaultBarePersistenceTimeout = 360 * time.Second
	DefaultQuorum                 = 1 // keepalived
	DefaultWeight                 = 1 // keepalived

	// TCP_CHECK's; retry and delay_before_retry differ per checker in
	// keepalived: see checkTiming.
	DefaultConnectTimeout   = 5 * time.Second // keepalived
	DefaultRetry            = 1               // keepalived
	DefaultDelayBeforeRetry = 1 * time.Second // keepalived
	DefaultRise             = 1
	DefaultFall             = 1
	DefaultHTTPPath         = "/"
	DefaultDNSType          = "SOA"                        // keepalived's DNS_DEFAULT_TYPE
	DefaultHeloName         = "smtpchecker.keepalived.org" // keepalived's SMTP_DEFAULT_HELO
	DefaultMaxReplyLen      = 255                          // keepalived's UDP_CHECK max_reply_length
	// MySQLPort is where a check without a kind defaults to mysql: a bare
	// TCP check there gets the director blocked (max_connect_errors).
	MySQLPort = 3306

	DefaultVRRPVersion             = 2
	DefaultPriority                = 100 // keepalived
	DefaultAdvertInterval          = 1 * time.Second
	DefaultState                   = vrrp.StateBackup
	DefaultGARPMasterDelay         = 5 * time.Second // keepalived
	DefaultGARPMasterRepeat        = 5               // keepalived
	DefaultGARPMasterRefreshRepeat = 1               // keepalived
	DefaultNoBackendPriorityDrop   = 50
)

// DefaultMcastGroup4 is VRRP's IPv4 group (RFC 3768 5.2.2), keepalived's
// vrrp_mcast_group4 default.
var DefaultMcastGroup4 = vrrp.Group

// DefaultMcastGroup6 is VRRP's IPv6 group (RFC 5798 5.1.2.2), keepalived's
// vrrp_mcast_group6 default.
var DefaultMcastGroup6 = vrrp.Group6

// DefaultStatusCodes are the HTTP statuses that pass when none are given (keepalived: any 2xx).
var DefaultStatusCodes = []StatusRange{{Min: 200, Max: 299}}

// Defaults that depend on other fields, also listed in README.md:
//   - Service.Name: "VIP:PORT/proto"
//   - RealServer.Port: the service's port
//   - RealServer.InhibitOnFailure: the service's
//   - Check.Kind: mysql when the checked port is 3306, else tcp
//   - Check.Interval: the service's delay_loop
//   - Check.ConnectIP, Check.ConnectPort: the real server's
//   - ExecCheck.Timeout: the check's interval (keepalived's misc_timeout)
//   - VRRPInstance.Priority: 255 with state MASTER, else 100 (keepalived)
//   - VRRPInstance.InitialState: MASTER with priority 255, else BACKUP
//   - VRRPInstance.AuthType: pass when auth_pass is set, else none
//   - VIP.Dev (also of excluded_vips): the instance's interface
//   - VRRPInstance.Interface: global default_interface
//   - VRRPInstance.Version, GARP*, McastGroup, StartupDelay,
//     CheckUnicastSrc, SkipCheckAdvAddr, Strict, HigherPrioSendAdvert:
//     global_defs' vrrp_* value
//     (keepalived's defaults above when global_defs has none)
//   - Global.VRRP.GARPLowerPrioDelay, GARPLowerPrioRepeat: the global
//     garp_master delay and repeat (keepalived); 0 in a strict instance
//   - ExecCheck.User, Group: global script_user
//   - Config.Interfaces: the VRRP instances' interfaces, in order

func (s *srcMap) has(path, field string) bool {
	_, ok := s.m[path+"."+field]
	return ok
}

// applyDefaults fills every field the file did not set; src says what it set,
// because zero is a valid value for many fields (weight 0, retry 0).
func applyDefaults(cfg *Config, src *srcMap, baseDir string) {
	globalVRRPDefaults(&cfg.Global.VRRP, src)
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		sp := fmt.Sprintf("services[%d]", i)
		serviceDefaults(svc, src, sp)
		for j := range svc.Reals {
			rs := &svc.Reals[j]
			rp := fmt.Sprintf("%s.reals[%d]", sp, j)
			realDefaults(rs, svc, src, rp)
			if rs.Check != nil {
				checkDefaults(rs.Check, rs, svc, &cfg.Global, src, rp+".check", baseDir)
			}
		}
	}
	for i := range cfg.SyncGroups {
		cfg.SyncGroups[i].ScriptPolicy = cfg.Global.ScriptPolicy()
	}
	for i := range cfg.VRRP {
		v := &cfg.VRRP[i]
		vp := fmt.Sprintf("vrrp[%d]", i)
		vrrpDefaults(v, &cfg.Global, src, vp)
		if !src.has(vp, "auth_type") {
			v.AuthType = AuthNone
			if !v.AuthPass.IsZero() {
				v.AuthType = AuthPass
			}
		}
		if !src.has(vp, "no_backend_priority_drop") && len(v.TrackServices) > 0 {
			v.NoBackendPriorityDrop = DefaultNoBackendPriorityDrop
		}
		for _, vips := range [][]vrrp.VIP{v.VIPs, v.ExcludedVIPs} {
			for k := range vips {
				if vips[k].Dev == "" {
					vips[k].Dev = v.Interface
				}
			}
		}
	}
	if len(cfg.Interfaces) == 0 {
		seen := map[string]bool{}
		for i, v := range cfg.VRRP {
			if v.Interface != "" && !seen[v.Interface] {
				seen[v.Interface] = true
				if e, ok := src.m[fmt.Sprintf("vrrp[%d].interface", i)]; ok {
					src.object(fmt.Sprintf("interfaces[%d]", len(cfg.Interfaces)), e.pos, fmt.Sprintf("vrrp_instance %s", v.Name))
				}
				cfg.Interfaces = append(cfg.Interfaces, v.Interface)
			}
		}
	}
}

// serviceDefaults, realDefaults and checkDefaults: the rows' constant
// defaults (fields_lvs.go, from the constants above), then those that
// depend on other fields.
func serviceDefaults(svc *Service, src *srcMap, sp string) {
	rowDefaults(serviceFields, svc, src, sp)
	if !src.has(sp, "name") {
		svc.Name = fmt.Sprintf("%s/%s", netipAddrPort(svc.VIP, svc.Port), svc.Protocol)
	}
}

func realDefaults(rs *RealServer, svc *Service, src *srcMap, rp string) {
	if !src.has(rp, "port") {
		rs.Port = svc.Port
	}
	rowDefaults(realFields, rs, src, rp)
	if !src.has(rp, "inhibit_on_failure") {
		rs.InhibitOnFailure = svc.InhibitOnFailure
	}
}

// known is a source map in which the fields named were set: what
// MarshalNative's defaults-from-nothing take as given.
func known(fields ...string) *srcMap {
	s := newSrcMap("")
	for _, f := range fields {
		s.field("", f, pos{}, f)
	}
	return s
}

// globalVRRPDefaults gives global_defs' VRRP defaults keepalived's values
// (global_data.c, vrrp.c).
func globalVRRPDefaults(g *VRRPDefaults, src *srcMap) {
	if !src.has("global", "vrrp_version") {
		g.Version = DefaultVRRPVersion
	}
	if !src.has("global", "vrrp_mcast_group4") {
		g.McastGroup4 = DefaultMcastGroup4
	}
	if !src.has("global", "vrrp_mcast_group6") {
		g.McastGroup6 = DefaultMcastGroup6
	}
	if !src.has("global", "vrrp_garp_master_delay") {
		g.GARPMasterDelay = DefaultGARPMasterDelay
	}
	if !src.has("global", "vrrp_garp_master_repeat") {
		g.GARPMasterRepeat = DefaultGARPMasterRepeat
	}
	if !src.has("global", "vrrp_garp_master_refresh_repeat") {
		g.GARPMasterRefreshRepeat = DefaultGARPMasterRefreshRepeat
	}
	// keepalived's vrrp_complete_init: the lower-priority GARPs default to
	// the master ones.
	if !src.has("global", "vrrp_garp_lower_prio_delay") {
		g.GARPLowerPrioDelay = g.GARPMasterDelay
	}
	if !src.has("global", "vrrp_garp_lower_prio_repeat") {
		g.GARPLowerPrioRepeat = g.GARPMasterRepeat
	}
}

// vrrpDefaults fills an instance's VRRP fields from global_defs, as
// keepalived's alloc_vrrp and vrrp_complete_instance do: the instance's own
// keyword wins. A strict instance sends no lower-priority GARPs (vrrp.c).
func vrrpDefaults(v *VRRPInstance, g *Global, src *srcMap, vp string) {
	gv := &g.VRRP
	// keepalived's vrrp_complete_instance derives each of priority and
	// state from the other when only one is given: state MASTER alone is
	// the address owner (255), priority 255 alone starts as MASTER.
	if !src.has(vp, "priority") {
		v.Priority = DefaultPriority
		if src.has(vp, "state") && v.InitialState == vrrp.StateMaster {
			v.Priority = vrrp.PriorityOwner
		}
	}
	if !src.has(vp, "advert_int") {
		v.AdvertInterval = DefaultAdvertInterval
	}
	if !src.has(vp, "state") {
		v.InitialState = DefaultState
		if v.Priority == vrrp.PriorityOwner {
			v.InitialState = vrrp.StateMaster
		}
	}
	if !src.has(vp, "interface") && v.Interface == "" {
		v.Interface = g.DefaultInterface
	}
	if !src.has(vp, "strict_mode") {
		v.Strict = gv.Strict
	}
	if !src.has(vp, "version") {
		v.Version = gv.Version
		if v.IPv6() {
			// keepalived's vrrp_complete_instance: an IPv6 instance
			// without a version of its own speaks 3 whatever vrrp_version
			// says (v2 is IPv4 only).
			v.Version = 3
		}
	}
	if !src.has(vp, "garp_master_delay") {
		v.GARPMasterDelay = gv.GARPMasterDelay
	}
	if !src.has(vp, "garp_master_repeat") {
		v.GARPMasterRepeat = gv.GARPMasterRepeat
	}
	if !src.has(vp, "garp_master_refresh") {
		v.GARPMasterRefresh = gv.GARPMasterRefresh
	}
	if !src.has(vp, "garp_master_refresh_repeat") {
		v.GARPMasterRefreshRepeat = gv.GARPMasterRefreshRepeat
	}
	if !src.has(vp, "garp_lower_prio_delay") && !v.Strict {
		v.GARPLowerPrioDelay = gv.GARPLowerPrioDelay
	}
	if !src.has(vp, "garp_lower_prio_repeat") && !v.Strict {
		v.GARPLowerPrioRepeat = gv.GARPLowerPrioRepeat
	}
	if !src.has(vp, "check_unicast_src") {
		v.CheckUnicastSrc = gv.CheckUnicastSrc
	}
	if !src.has(vp, "skip_check_adv_addr") {
		v.SkipCheckAdvAddr = gv.SkipCheckAdvAddr
	}
	if !src.has(vp, "higher_prio_send_advert") && !v.Strict {
		v.HigherPrioSendAdvert = gv.HigherPrioSendAdvert
	}
	if !src.has(vp, "mcast_dst_ip") {
		v.McastGroup = gv.McastGroup4
		if v.IPv6() {
			v.McastGroup = gv.McastGroup6
		}
	}
	v.StartupDelay = gv.StartupDelay
	v.ScriptPolicy = g.ScriptPolicy()
}

func checkDefaults(c *Check, rs *RealServer, svc *Service, g *Global, src *srcMap, cp, baseDir string) {
	if !src.has(cp, "connect_ip") {
		c.ConnectIP = rs.IP
	}
	if !src.has(cp, "connect_port") {
		c.ConnectPort = rs.Port
	}
	if c.Kind == "" {
		c.Kind = CheckTCP
		if c.ConnectPort == MySQLPort {
			c.Kind = CheckMySQL
		}
	}
	if kd := kindOf(c.Kind); kd != nil && kd.block != nil {
		kd.block.ensure(c)
		kd.block.defaults(c, src, cp)
	}
	switch c.Kind {
	case CheckMySQL:
		c.MySQL.PasswordFile = absPath(c.MySQL.PasswordFile, baseDir)
	case CheckExec:
		if !src.has(cp, "exec.user") {
			c.Exec.User, c.Exec.Group = g.ScriptUser, g.ScriptGroup
		}
		c.Exec.Secure = g.EnableScriptSecurity
	case CheckFile:
		c.File.Path = absPath(c.File.Path, baseDir)
	}
	if !src.has(cp, "interval") {
		c.Interval = svc.DelayLoop
		if src.isBad(svcPath(cp), "delay_loop") {
			src.badField(cp, "interval", pos{}, "")
		}
	}
	rowDefaults(checkFields, c, src, cp)
	retry, delay := checkTiming(c.Kind, c.Interval)
	if !src.has(cp, "retry") {
		c.Retry = retry
	}
	if !src.has(cp, "delay_before_retry") {
		c.DelayBeforeRetry = delay
	}
	if c.Exec != nil && !src.has(cp, "exec.timeout") {
		c.Exec.Timeout = c.Interval
		if src.isBad(cp, "interval") {
			src.badField(cp, "exec.timeout", pos{}, "")
		}
	}
}

// checkTiming is keepalived's retry and delay_before_retry for a kind of
// check with this interval: they differ per checker (HTTP_GET waits 3 s
// before a retry, MISC_CHECK does not retry), from the one table in
// health/kadefaults.
func checkTiming(kind CheckKind, interval time.Duration) (int, time.Duration) {
	d, ok := kadefaults.For(kind.Keepalived())
	if !ok {
		return DefaultRetry, DefaultDelayBeforeRetry
	}
	return d.Retry, d.RetryDelay(interval)
}

// absPath resolves a relative file name against the config file's
// directory, so the file is still found from a converted copy elsewhere.
func absPath(p, baseDir string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if abs, err := filepath.Abs(filepath.Join(baseDir, p)); err == nil {
		return abs
	}
	return p
}

// svcPath is the service path of a check path: "services[0].reals[1].check" -> "services[0]".
func svcPath(checkPath string) string { return parentPath(parentPath(checkPath)) }
