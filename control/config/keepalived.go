package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"xlb/lb"

	"xlb/control/flowsync/group"
	"xlb/control/secret"
	"xlb/control/vrrp"
)

// disposition says what happens to a keepalived keyword xlb does not implement.
type disposition struct {
	fatal bool   // error: ignoring it would change what the director does
	why   string // the message
}

func warnOnly(why string) disposition { return disposition{why: why} }
func fatal(why string) disposition    { return disposition{fatal: true, why: why} }

// Keywords xlb knows but does not implement, per block. Anything neither
// implemented nor listed is an unknown keyword: an error, except in
// global_defs (keepalived has scores of process-level settings there, none of
// which changes how traffic is balanced), where it is a warning.
var (
	ignoredTop = map[string]disposition{
		"linkbeat_interfaces": warnOnly("ignored: xlb watches links through netlink"),
		"vrrp_track_process":  fatal(trackProcessWhy),
	}
	// ignoredGlobal are the global_defs keywords with a message of their
	// own; any other unknown one is ignored with ignoredGlobalWhy.
	ignoredGlobal = map[string]disposition{}
	ignoredVRRP   = map[string]disposition{
		"smtp_alert":                 warnOnly("ignored: xlb sends no mail; use notify scripts"),
		"dont_track_primary":         warnOnly("ignored: xlb always goes to FAULT when the instance's interface is down"),
		"accept":                     warnOnly("ignored: the VIP is always accepted (xlb adds it to the interface)"),
		"no_accept":                  warnOnly("ignored: the VIP is always accepted (xlb adds it to the interface)"),
		"debug":                      warnOnly("ignored: use xlbd's log level"),
		"lvs_sync_daemon_interface":  warnOnly(flowSyncWhy),
		"unicast_ttl":                warnOnly("ignored: xlb sends adverts with TTL 255"),
		"notify_master_rx_lower_pri": warnOnly("ignored"),
		"notify_deleted":             warnOnly("ignored"),
		"version_force":              warnOnly("ignored"),
		"track_file":                 fatal("not supported: use a vrrp_script that reads the file and exits 0 while it holds 0"),
		"track_process":              fatal(trackProcessWhy),
		"track_bfd":                  fatal("not supported"),
		"use_vmac":                   fatal(vmacWhy),
		"vmac_xmit_base":             fatal(vmacWhy),
		"garp_interval":              fatal(instancePacingWhy),
		"gna_interval":               fatal(instancePacingWhy),
	}
	ignoredVS = map[string]disposition{
		"omega": warnOnly("ignored: xlb runs no quorum_down or notify_down scripts at shutdown"),
		// keepalived ignores both since 1.2.20 (a NAT-only setting).
		"nat_mask":                warnOnly("ignored, as keepalived has since 1.2.20"),
		"net_mask":                warnOnly("ignored, as keepalived has since 1.2.20"),
		"sorry_server_lvs_method": warnOnly("ignored: xlb reaches the sorry server by DR (direct routing), like every real server"),
		"ha_suspend":              warnOnly("ignored: checks run on both directors"),
		"smtp_alert":              warnOnly("ignored: xlb sends no mail"),
		"warmup":                  warnOnly("ignored: xlb staggers the first checks itself"),
		"ip_family":               warnOnly("ignored: taken from the VIP"),
		"persistence_engine":      fatal("not supported"),
		"ops":                     fatal("not supported: one-packet scheduling"),
		"lvs_flags":               fatal("not supported"),
		"sh-port":                 fatal("not supported: sh hashes the client address only"),
		"sh-fallback":             fatal("not supported"),
		"mh-port":                 fatal("not supported: mh hashes the client address only"),
		"mh-fallback":             fatal("not supported"),
		"flag-1":                  fatal("not supported"),
		"flag-2":                  fatal("not supported"),
		"flag-3":                  fatal("not supported"),
		"real_server_group":       fatal("not supported"),
		"virtual_server_group":    fatal("not supported"),
		"tunnel_type":             fatal("not supported: xlb does DR (direct routing) only"),
		"persistence_netmask":     fatal("not supported"),
		"retry_before_failover":   fatal("not supported"),
	}
	ignoredRS = map[string]disposition{
		"smtp_alert": warnOnly("ignored: xlb sends no mail"),
		"warmup":     warnOnly("ignored: xlb staggers the first checks itself"),
		"uthreshold": warnOnly(thresholdWhy),
		"lthreshold": warnOnly(thresholdWhy),
		"BFD_CHECK":  fatal("not supported: use TCP_CHECK or MISC_CHECK"),
	}
	ignoredCheck = map[string]disposition{
		"warmup":        warnOnly("ignored: xlb staggers the first checks itself"),
		"bindto":        warnOnly("ignored: checks use the route's source address"),
		"bind_port":     warnOnly("ignored: checks use an ephemeral source port"),
		"bind_if":       warnOnly("ignored: checks use the route's interface"),
		"fwmark":        warnOnly("ignored: checks are not marked"),
		"http_protocol": warnOnly("ignored: checks speak HTTP/1.1"),
		"alpha":         warnOnly("ignored here: set alpha on the virtual_server"),
	}
	ignoredURL = map[string]disposition{}
)

// What xlb does with VRRP keywords it carries but does not act on as
// keepalived would, said at the keyword's line.
const (
	lowerPrioWhy        = "carried, not applied: on a lower-priority advert xlb re-sends its advert and one gratuitous ARP at once"
	startupDelayWhy     = "carried, not applied: xlb's instances start in BACKUP and wait a full master-down interval before taking over"
	skipCheckAdvAddrWhy = "carried, not applied: xlb checks the address list of every advert"
	strictWhy           = "strict RFC mode, as keepalived: PASS authentication is dropped, unicast peers are refused, " +
		"state MASTER needs priority 255, preempt_delay and lower-priority gratuitous ARPs are off"
)

// Why xlb refuses or ignores keepalived features that have a replacement.
const (
	vmacWhy = "not supported: keepalived's use_vmac moves the VIPs to a macvlan with the VRRP MAC 00:00:5e:00:01:VRID, " +
		"but xlb's XDP program runs on the parent interface and answers with its MAC; remove use_vmac: " +
		"on failover xlb's gratuitous ARPs move clients and switches to the new master's MAC"
	trackProcessWhy = "not supported: xlb does not watch processes (keepalived uses the kernel's process events); " +
		"track it with a vrrp_script such as script \"/usr/bin/pgrep -x NAME\" (interval, rise and fall as needed)"
	flowSyncWhy = "accepted, not needed: xlb's flow sync replaces the IPVS sync daemon: with a key (xlbd run --flow-sync-key FILE, " +
		"the same on both directors; xlbd check-config says whether it is on) xlbd syncs flows on every interface it serves, " +
		"on master and backup alike, so no interface, instance or sync id is needed; lvs_sync_daemon's group and port (IPv4 or IPv6), " +
		"when given, become flow sync's group"
)

// thresholdWhy: IPVS stops sending new connections to a real server above
// uthreshold active connections and resumes below lthreshold. Enforcing that
// needs a count of each backend's open connections, which the XDP data plane
// does not keep: its flow table is an LRU of flows, whose entries are
// evicted or left to age out rather than removed when a connection closes,
// so a count from it would drift and shut a healthy server out. Refusing the
// keyword would refuse whole files over a limit the server can enforce
// itself, so it is accepted with this warning.
const thresholdWhy = "ignored, not enforced: the XDP data plane keeps no reliable per-server connection count " +
	"(its flow table is an LRU, not a connection tracker); new flows reach the server at any count: " +
	"limit connections on the server itself (MySQL: max_connections)"

// ignoredGlobalWhy: global_defs keywords other than those xlb reads are ignored with this warning.
const ignoredGlobalWhy = "ignored: not used by xlb"

// keepalivedSpelling names the fields validation may find missing or wrong
// in keepalived's words.
var keepalivedSpelling = map[string]string{
	"vrid":         "virtual_router_id",
	"vips":         "virtual_ipaddress",
	"scheduler":    "lvs_sched",
	"method":       "lvs_method",
	"interval":     "delay_loop",
	"mysql.user":   "user",
	"exec.command": "misc_path",
	"exec.timeout": "misc_timeout",
	"http.path":    "path",
}

type kreader struct {
	d   *diags
	src *srcMap
	cfg *Config
	// trackFiles are the top-level track_file blocks read so far: a
	// FILE_CHECK names one defined above it, as in keepalived.
	trackFiles map[string]FileCheck
	// scripts are the vrrp_script blocks read so far: keepalived resolves
	// a track_script while parsing the instance (alloc_track_script in
	// vrrp_track.c), so only a script defined above it counts.
	scripts map[string]vrrp.Script
	// groupTracks are the vrrp_sync_groups' tracking, added to their
	// members once all are read (syncgroup.go).
	groupTracks []groupTracking
	// groups are the virtual_server_groups, all read first (vsgroup.go).
	groups vsGroups
}

// quiet is k reporting nothing: for what was reported once already.
func (k *kreader) quiet() *kreader {
	q := *k
	q.d = &diags{}
	return &q
}

// topBlock is a top-level block xlb reads: named ones take one NAME.
type topBlock struct {
	named bool
	read  func(*kreader, *stmt)
}

var topBlocks = map[string]topBlock{
	"global_defs":      {false, (*kreader).global},
	"vrrp_instance":    {true, (*kreader).vrrpInstance},
	"virtual_server":   {false, (*kreader).virtualServer},
	"track_file":       {true, (*kreader).trackFile},
	"vrrp_track_file":  {true, (*kreader).trackFile}, // keepalived's deprecated synonym
	"vrrp_script":      {true, (*kreader).vrrpScript},
	"vrrp_sync_group":  {true, (*kreader).syncGroup},
	"garp_group":       {false, (*kreader).garpGroup},
	"static_ipaddress": {false, (*kreader).static},
	"static_routes":    {false, (*kreader).static},
	"static_rules":     {false, (*kreader).static},
}

// readKeepalived turns parsed keepalived.conf statements into a config whose
// unset fields are still zero (applyDefaults fills them, driven by src).
func readKeepalived(stmts []*stmt, d *diags, src *srcMap) *Config {
	k := &kreader{d: d, src: src, cfg: &Config{}}
	src.spelling = keepalivedSpelling
	for _, s := range stmts {
		if s.key.text == "virtual_server_group" && k.wantBlock(s, "") && k.wantArgs(s, "", 1, "NAME") {
			k.serverGroup(s)
		}
	}
	for _, s := range stmts {
		b, ok := topBlocks[s.key.text]
		switch {
		case s.key.text == "virtual_server_group":
		case !ok:
			k.other(s, "", ignoredTop, false)
		case k.wantBlock(s, "") && (!b.named || k.wantArgs(s, "", 1, "NAME")):
			b.read(k, s)
		}
	}
	k.resolveSyncGroups()
	return k.cfg
}

// other reports a keyword that is not implemented in this block.
func (k *kreader) other(s *stmt, ctx string, table map[string]disposition, unknownIsWarning bool) {
	if disp, ok := table[s.key.text]; ok {
		if disp.fatal {
			k.d.err(s.line(), ctx, s.key.text, ErrUnsupported, "%s", disp.why)
		} else {
			k.d.warn(s.line(), ctx, s.key.text, "%s", disp.why)
		}
		return
	}
	if unknownIsWarning {
		k.d.warn(s.line(), ctx, s.key.text, "%s", ignoredGlobalWhy)
		return
	}
	k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "unknown keyword")
}

func (k *kreader) wantBlock(s *stmt, ctx string) bool {
	if !s.hasBlock {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants a { ... } block")
		return false
	}
	return true
}

func (k *kreader) noBlock(s *stmt, ctx string) bool {
	if s.hasBlock {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "takes no { ... } block")
		return false
	}
	return true
}

func (k *kreader) wantArgs(s *stmt, ctx string, n int, usage string) bool {
	if len(s.args) != n {
		if n == 0 {
			k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "takes no value")
		} else {
			k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants %s", usage)
		}
		return false
	}
	return true
}

// one checks a "keyword VALUE" statement and returns VALUE.
func (k *kreader) one(s *stmt, ctx string) (string, bool) {
	if !k.noBlock(s, ctx) || !k.wantArgs(s, ctx, 1, "one value") {
		return "", false
	}
	return s.args[0].text, true
}

// val parses "keyword VALUE" with parse, reporting its error at the line;
// on success it records the field at path.
func val[T any](k *kreader, s *stmt, ctx, path, field string, parse func(string) (T, error)) (T, bool) {
	var zero T
	text, ok := k.one(s, ctx)
	if !ok {
		k.src.badField(path, field, s.line(), s.key.text)
		return zero, false
	}
	v, err := parse(text)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			// Understood and refused: the default stands in, so the
			// rest of the block is still checked as usual.
			k.d.err(s.line(), ctx, s.key.text, ErrUnsupported, "%v", err)
			return zero, false
		}
		k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "%v", err)
		k.src.badField(path, field, s.line(), s.key.text)
		return zero, false
	}
	k.src.field(path, field, s.line(), s.key.text)
	return v, true
}

func (k *kreader) flag(s *stmt, ctx, path, field string) bool {
	if !k.noBlock(s, ctx) {
		return false
	}
	if len(s.args) == 0 {
		k.src.field(path, field, s.line(), s.key.text)
		return true
	}
	b, ok := val(k, s, ctx, path, field, parseBool)
	return ok && b
}

func intIn(min, max int64) func(string) (int64, error) {
	return func(s string) (int64, error) { return parseInt(s, min, max) }
}

func (k *kreader) global(s *stmt) {
	const ctx = "global_defs"
	k.src.object("global", s.line(), ctx)
	for _, c := range s.block {
		if r := rowFor(globalFields, c.key.text); r != nil {
			readKA(k, r, c, ctx, "global", &k.cfg.Global)
			continue
		}
		switch c.key.text {
		case "script_user":
			// keepalived's "script_user USER [GROUP]": every script that names
			// no user runs as USER (control/script).
			if usr, group, ok := k.userGroup(c, ctx); ok {
				k.cfg.Global.ScriptUser, k.cfg.Global.ScriptGroup = usr, group
				k.src.field("global", "script_user", c.line(), c.key.text)
			}
		case "lvs_sync_daemon":
			k.lvsSyncDaemon(c, ctx)
		case "xlb_interface":
			// xlb's own keyword: keepalived warns about it and carries on.
			if !k.noBlock(c, ctx) {
				continue
			}
			if len(c.args) == 0 {
				k.d.err(c.line(), ctx, c.key.text, ErrSyntax, "wants one or more interface names")
				continue
			}
			for _, a := range c.args {
				k.src.object(fmt.Sprintf("interfaces[%d]", len(k.cfg.Interfaces)), c.line(), ctx+": "+c.key.text)
				k.cfg.Interfaces = append(k.cfg.Interfaces, a.text)
			}
		default:
			k.other(c, ctx, ignoredGlobal, true)
		}
	}
}

// lvsSyncDaemon reads keepalived's "lvs_sync_daemon INTERFACE INSTANCE [id
// N] [maxlen N] [port N] [ttl N] [group ADDR]" (keepalived.conf(5)): its
// group and port, IPv4 or IPv6, become flow sync's group, so flows travel
// where the operator sent IPVS's; the rest says nothing to xlb, whose flow
// sync runs on every interface it serves (a warning says so).
func (k *kreader) lvsSyncDaemon(s *stmt, ctx string) {
	if !k.noBlock(s, ctx) {
		return
	}
	k.d.warn(s.line(), ctx, s.key.text, "%s", flowSyncWhy)
	if len(s.args) < 2 {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants an interface and a vrrp_instance name, then options")
		return
	}
	addr, port, set := group.Default.Addr(), group.Default.Port(), false
	opts := s.args[2:]
	for i := 0; i < len(opts); i += 2 {
		name := opts[i].text
		if i+1 == len(opts) {
			k.d.err(opts[i].pos, ctx, s.key.text+" "+name, ErrSyntax, "wants a value")
			return
		}
		v := opts[i+1]
		var err error
		switch name {
		case "group":
			if addr, err = parseAddr(v.text); err == nil {
				set = true
			}
		case "port":
			var n int64
			if n, err = parseInt(v.text, 1, 65535); err == nil {
				port, set = uint16(n), true
			}
		case "ttl":
			if v.text != "255" {
				k.d.warn(v.pos, ctx, s.key.text+" ttl", "ignored: flow sync sends with TTL (hop limit) 255 and accepts nothing else")
			}
		case "id", "maxlen":
		default:
			err = fmt.Errorf("unknown option %q: want id, maxlen, port, ttl or group", name)
		}
		if err != nil {
			k.d.err(v.pos, ctx, s.key.text+" "+name, ErrInvalid, "%v", err)
			return
		}
	}
	if !set {
		return
	}
	g := netip.AddrPortFrom(addr, port)
	if err := group.Valid(g); err != nil {
		k.d.err(s.line(), ctx, s.key.text+" group", ErrInvalid, "%v", err)
		return
	}
	k.cfg.Global.FlowSyncGroup = g
	k.src.field("global", "flow_sync_group", s.line(), s.key.text)
}

func parseState(s string) (vrrp.State, error) {
	switch strings.ToUpper(s) {
	case "MASTER":
		return vrrp.StateMaster, nil
	case "BACKUP":
		return vrrp.StateBackup, nil
	}
	return vrrp.StateInit, fmt.Errorf("%q is not MASTER or BACKUP", s)
}

func (k *kreader) vrrpInstance(s *stmt) {
	v := VRRPInstance{Config: vrrp.Config{Name: s.args[0].text}}
	path := fmt.Sprintf("vrrp[%d]", len(k.cfg.VRRP))
	ctx := "vrrp_instance " + v.Name
	k.src.object(path, s.line(), ctx)
	k.src.field(path, "name", s.line(), "vrrp_instance")
	fam := instanceFamily(s.block)
	for i, c := range s.block {
		if k.familyGate(s.block, i, fam, ctx) {
			continue
		}
		if r := rowFor(vrrpFields, c.key.text); r != nil {
			readKA(k, r, c, ctx, path, &v)
			continue
		}
		switch c.key.text {
		case "authentication":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.authentication(c, &v, path, ctx)
			}
		case "virtual_ipaddress":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.vips(c, &v, fam, path, ctx+": "+c.key.text)
			}
		case "unicast_peer":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.unicastPeers(c, &v, fam, path, ctx+": "+c.key.text)
			}
		case "track_interface":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.trackInterfaces(c, &v, path, ctx+": "+c.key.text)
			}
		case "track_script":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.trackScripts(c, &v, path, ctx+": "+c.key.text)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			*v.Slot(c.key.text) = k.script(c, ctx, path, c.key.text)
		case "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				k.masterOnly(c, &v, path, ctx+": "+c.key.text)
			}

		default:
			k.other(c, ctx, ignoredVRRP, false)
		}
	}
	k.cfg.VRRP = append(k.cfg.VRRP, v)
}

func (k *kreader) authentication(s *stmt, v *VRRPInstance, path, ctx string) {
	ctx += ": authentication"
	for _, c := range s.block {
		switch c.key.text {
		case "auth_type":
			x, ok := k.one(c, ctx)
			if !ok {
				k.src.badField(path, "auth_type", c.line(), c.key.text)
				continue
			}
			switch strings.ToUpper(x) {
			case "PASS":
				v.AuthType = AuthPass
				k.src.field(path, "auth_type", c.line(), c.key.text)
			case "AH":
				k.d.err(c.line(), ctx, c.key.text, ErrUnsupported, "AH is not supported (use PASS, or none)")
				k.src.badField(path, "auth_type", c.line(), c.key.text)
			default:
				k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "%q is not PASS or AH", x)
				k.src.badField(path, "auth_type", c.line(), c.key.text)
			}
		case "auth_pass":
			if x, ok := k.one(c, ctx); ok {
				v.AuthPass = secret.New(x)
				k.src.field(path, "auth_pass", c.line(), c.key.text)
			} else {
				k.src.badField(path, "auth_pass", c.line(), c.key.text)
			}
		default:
			k.other(c, ctx, nil, false)
		}
	}
}

func words(s *stmt) []string {
	w := []string{s.key.text}
	for _, a := range s.args {
		w = append(w, a.text)
	}
	return w
}

func (k *kreader) vips(s *stmt, v *VRRPInstance, fam kaFamily, path, ctx string) {
	k.src.field(path, "vips", s.line(), s.key.text)
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			k.src.badField(path, "vips", s.line(), s.key.text)
			continue
		}
		vip, ignored, err := parseVIP(words(c))
		var dropped vipDropped
		switch {
		case errors.As(err, &dropped):
			k.d.warn(c.line(), ctx, "", "%v", err)
			continue
		case err != nil:
			kind := ErrInvalid
			if errors.Is(err, ErrUnsupported) {
				kind = ErrUnsupported
			}
			k.d.err(c.line(), ctx, "", kind, "%v", err)
			k.src.badField(path, "vips", s.line(), s.key.text)
			continue
		case fam.differs(vip.Prefix.Addr().Is6()):
			k.d.warn(c.line(), ctx, "", "%s ignored, as keepalived ignores it (\"address family must match VRRP instance\"): "+
				"the instance is %s (from %s); put the %s addresses in a vrrp_instance of their own",
				vip.Prefix, fam.name(), fam.where(), otherFamily(fam.v6))
			continue
		}
		for _, w := range ignored {
			k.d.warn(c.line(), ctx, w.word, "%s", w.why)
		}
		k.src.object(fmt.Sprintf("%s.vips[%d]", path, len(v.VIPs)), c.line(), ctx)
		v.VIPs = append(v.VIPs, vip)
	}
}

func (k *kreader) unicastPeers(s *stmt, v *VRRPInstance, fam kaFamily, path, ctx string) {
	k.src.field(path, "unicast_peers", s.line(), s.key.text)
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			continue
		}
		a, err := parseAddr(c.key.text)
		if err != nil {
			k.d.err(c.line(), ctx, "", ErrInvalid, "%v", err)
			continue
		}
		if fam.differs(a.Is6()) {
			k.d.warn(c.line(), ctx, "", "%s ignored, as keepalived skips it: the instance is %s (from %s) and its addresses are one family",
				a, fam.name(), fam.where())
			continue
		}
		if len(c.args) > 0 {
			k.d.warn(c.line(), ctx, c.args[0].text, "ignored: xlb checks TTL 255 on every advert")
		}
		k.src.object(fmt.Sprintf("%s.unicast_peers[%d]", path, len(v.UnicastPeers)), c.line(), ctx)
		v.UnicastPeers = append(v.UnicastPeers, a)
	}
}

func (k *kreader) trackInterfaces(s *stmt, v *VRRPInstance, path, ctx string) {
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			continue
		}
		if len(c.args) > 0 {
			// keepalived's "IF weight N" lowers the priority instead of going to FAULT.
			k.d.err(c.line(), ctx, c.key.text, ErrUnsupported, "a weight on a tracked interface is not supported (a tracked interface going down means FAULT)")
			continue
		}
		k.src.object(fmt.Sprintf("%s.track_interfaces[%d]", path, len(v.TrackInterfaces)), c.line(), ctx)
		v.TrackInterfaces = append(v.TrackInterfaces, c.key.text)
	}
}

// inheritable are the check keywords keepalived also accepts on the
// virtual_server and real_server as defaults for the checks below them.
var inheritable = map[string]bool{
	"connect_timeout": true, "retry": true, "nb_get_retry": true, "delay_before_retry": true, "virtualhost": true,
}

func (k *kreader) virtualServer(s *stmt) {
	ctx := "virtual_server " + s.argText()
	switch {
	case len(s.args) > 0 && s.args[0].text == "fwmark":
		k.d.err(s.line(), ctx, "", ErrUnsupported, "virtual_server fwmark is %s", fwmarkWhy)
	case len(s.args) > 0 && s.args[0].text == "group":
		k.groupServer(s, ctx)
	case len(s.args) != 2:
		k.d.err(s.line(), ctx, "", ErrSyntax, "wants IP PORT")
	default:
		path := fmt.Sprintf("services[%d]", len(k.cfg.Services))
		k.src.object(path, s.line(), ctx)
		var svc Service
		k.header(s, ctx, path, "vip", &svc.VIP, &svc.Port)
		k.serviceBlock(s, ctx, path, svc)
	}
}

// groupServer reads `virtual_server group NAME { }` once per address and
// port of the group: a service each, reported on once.
func (k *kreader) groupServer(s *stmt, ctx string) {
	if len(s.args) != 2 {
		k.d.err(s.line(), ctx, "", ErrSyntax, "wants group NAME")
		return
	}
	entries, ok := k.groups[s.args[1].text]
	if !ok {
		k.d.err(s.line(), ctx, "", ErrInvalid, "virtual_server_group %q is not defined", s.args[1].text)
		return
	}
	r := k
	for i, e := range entries {
		if i == 1 {
			r = k.quiet()
		}
		path := fmt.Sprintf("services[%d]", len(k.cfg.Services))
		k.src.object(path, s.line(), ctx)
		k.src.field(path, "vip", e.at.line(), e.at.key.text)
		k.src.field(path, "port", e.at.line(), e.at.key.text)
		r.serviceBlock(s, ctx, path, Service{VIP: e.vip, Port: e.port})
	}
	if len(entries) == 0 {
		k.d.warn(s.line(), ctx, "", "virtual_server_group %q has no address: no service", s.args[1].text)
	}
}

// serviceBlock reads a virtual_server's block into svc, the service at path.
func (k *kreader) serviceBlock(s *stmt, ctx, path string, svc Service) {
	var inhibitLine *stmt
	var defaults []*stmt
	var reals []*stmt
	for _, c := range s.block {
		switch key := c.key.text; {
		case key == "real_server":
			reals = append(reals, c)
		case inheritable[key]:
			if k.checkDefault(c, ctx) {
				defaults = append(defaults, c)
			}
		case key == "sorry_server_inhibit":
			inhibitLine = c
		case readRow(k, serviceFields, c, ctx, path, &svc):
		default:
			k.other(c, ctx, ignoredVS, false)
		}
	}
	given := func(field string) bool {
		return slices.ContainsFunc(s.block, func(c *stmt) bool { return slices.Contains(rowFor(serviceFields, field).ka, c.key.text) })
	}
	if !given("lvs_method") {
		k.d.warn(s.line(), ctx, "lvs_method", "not set: keepalived would use NAT; xlb forwards by DR (direct routing)")
	}
	if !given("protocol") {
		// keepalived: "no protocol set - defaulting to UDP" (check/check_data.c,
		// since 2017; IPVS itself took protocol 0 as UDP before that).
		svc.Protocol = lb.UDP
		k.src.field(path, "protocol", s.line(), s.key.text) // set here: not TCP by rowDefaults
		k.d.warn(s.line(), ctx, "protocol", "not set: keepalived defaults to UDP, and so does xlb; write `protocol TCP` for a TCP service such as MySQL")
	}
	if inhibitLine != nil {
		// keepalived reads sorry_server_inhibit in any order and applies it
		// to the sorry server, so without one it does nothing.
		if svc.SorryServer == nil {
			k.d.warn(inhibitLine.line(), ctx, "sorry_server_inhibit", "ignored: no sorry_server in this virtual_server")
		} else {
			readRow(k, sorryFields, inhibitLine, ctx, path+".sorry_server", svc.SorryServer)
		}
	}
	for _, c := range reals {
		if k.wantBlock(c, ctx) {
			k.realServer(c, &svc, path, defaults)
		}
	}
	k.cfg.Services = append(k.cfg.Services, svc)
}

// header reads the IP (field ipField) and PORT of a virtual_server or
// real_server line (PORT optional for a real_server).
func (k *kreader) header(s *stmt, ctx, path, ipField string, ip *netip.Addr, port *uint16) {
	kw := s.key.text
	var err error
	if *ip, err = parseAddr(s.args[0].text); err != nil {
		k.d.err(s.line(), ctx, "", ErrInvalid, "%v", err)
		k.src.badField(path, ipField, s.line(), kw)
	} else {
		k.src.field(path, ipField, s.line(), kw)
	}
	if len(s.args) < 2 {
		return
	}
	if *port, err = parsePort(s.args[1].text); err != nil {
		k.d.err(s.line(), ctx, "", ErrInvalid, "port %v", err)
		k.src.badField(path, "port", s.line(), kw)
	} else {
		k.src.field(path, "port", s.line(), kw)
	}
}

// checkDefault validates a check keyword given on a virtual_server or
// real_server, where it is a default for the checks below.
func (k *kreader) checkDefault(s *stmt, ctx string) bool {
	n := len(k.d.errs)
	scratch := &kreader{d: k.d, src: newSrcMap(""), cfg: k.cfg}
	scratch.checkStmt(&Check{HTTP: &HTTPCheck{}}, s, "scratch", ctx)
	return len(k.d.errs) == n
}

func (k *kreader) realServer(s *stmt, svc *Service, svcPath string, vsDefaults []*stmt) {
	ctx := "real_server " + s.argText()
	if len(s.args) != 1 && len(s.args) != 2 {
		k.d.err(s.line(), ctx, "", ErrSyntax, "wants IP [PORT]")
		return
	}
	path := fmt.Sprintf("%s.reals[%d]", svcPath, len(svc.Reals))
	k.src.object(path, s.line(), ctx)
	var rs RealServer
	k.header(s, ctx, path, "ip", &rs.IP, &rs.Port)
	defaults := append([]*stmt(nil), vsDefaults...)
	var checks []*stmt
	for _, c := range s.block {
		switch key := c.key.text; {
		case inheritable[key] || key == "delay_loop":
			if k.checkDefault(c, ctx) {
				defaults = append(defaults, c)
			}
		case kindNamed(key) != nil:
			checks = append(checks, c)
		case readRow(k, realFields, c, ctx, path, &rs):
		default:
			k.other(c, ctx, ignoredRS, false)
		}
	}
	for i, c := range checks {
		if i > 0 {
			k.d.err(c.line(), ctx, c.key.text, ErrUnsupported, "a second check: xlb runs one check per real server (first at line %d)", checks[0].line().line)
			continue
		}
		if k.wantBlock(c, ctx) {
			rs.Check = k.check(c, path+".check", ctx+": "+c.key.text, defaults)
		}
	}
	svc.Reals = append(svc.Reals, rs)
}

func (k *kreader) check(s *stmt, path, ctx string, defaults []*stmt) *Check {
	kd := kindNamed(s.key.text)
	c := &Check{Kind: kd.kind}
	k.src.object(path, s.line(), ctx)
	k.src.field(path, "kind", s.line(), s.key.text)
	if kd.block != nil {
		kd.block.ensure(c)
	}
	if s.key.text == "SSL_GET" {
		c.HTTP.SSL = true
		k.src.field(path, "http.ssl", s.line(), s.key.text)
	}
	// Defaults from above were reported where they stand: replay them quietly.
	quiet := k.quiet()
	for _, d := range defaults {
		if d.key.text == "nb_get_retry" {
			continue // not read above the check by keepalived (see checkStmt)
		}
		quiet.checkStmt(c, d, path, ctx)
	}
	urls := 0
	enableSNI := false
	for _, x := range s.block {
		if k.checkStmt(c, x, path, ctx) {
			continue
		}
		switch key := x.key.text; {
		case c.Kind == CheckHTTP && key == "url":
			if k.wantBlock(x, ctx) && k.wantArgs(x, ctx, 0, "") {
				k.url(c.HTTP, x, path, ctx+": url", urls)
				urls++
			}
		case c.Kind == CheckHTTP && key == "enable_sni":
			enableSNI = k.flag(x, ctx, path, "http.enable_sni")
		case c.Kind == CheckSMTP && key == "host":
			k.d.err(x.line(), ctx, "host", ErrUnsupported, "SMTP_CHECK host blocks (deprecated in keepalived) are not supported: write one SMTP_CHECK with connect_ip/connect_port")
		case c.Kind == CheckFile && key == "track_file":
			k.fileCheck(c.File, x, path, ctx)
		default:
			k.other(x, ctx, ignoredCheck, false)
		}
	}
	if enableSNI && c.HTTP.SNI == "" {
		// ssl_connect (check_ssl.c): sni_name, else the virtualhost.
		c.HTTP.SNI = c.HTTP.Host
		k.src.field(path, "http.sni", s.line(), "enable_sni")
	}
	return c
}

// checkStmt reads a keyword of the check's rows: the common ones, then its
// kind's. keepalived installs nb_get_retry only inside HTTP_GET and SSL_GET
// (check_http.c): anywhere else it is an unknown keyword it skips. rise and
// fall are xlb's own, for MYSQL_CHECK; virtualhost stands in the HTTP_GET
// block as well as in its url blocks.
func (k *kreader) checkStmt(c *Check, s *stmt, path, ctx string) bool {
	switch key := s.key.text; {
	case key == "nb_get_retry" && c.Kind != CheckHTTP:
		k.d.warn(s.line(), ctx, s.key.text, "ignored, as keepalived ignores it outside HTTP_GET and SSL_GET: use retry")
		return true
	case (key == "rise" || key == "fall") && c.Kind != CheckMySQL:
		return false
	case key == "virtualhost":
		return c.HTTP != nil && readRow(k, urlFields, s, ctx, path+".http", c.HTTP.firstURL())
	}
	if readRow(k, checkFields, s, ctx, path, c) {
		return true
	}
	kd := kindOf(c.Kind)
	return kd != nil && kd.block != nil && kd.block.readKA(k, s, ctx, path, c)
}

// url reads the n-th url block of an HTTP check: the first into the check
// itself, a further one into HTTPCheck.More.
func (k *kreader) url(h *HTTPCheck, s *stmt, path, ctx string, n int) {
	view, upath := h.firstURL(), path+".http"
	if n > 0 {
		upath = fmt.Sprintf("%s.http.urls[%d]", path, len(h.More))
		k.src.object(upath, s.line(), ctx)
		h.More = append(h.More, HTTPURL{})
		view = h.More[len(h.More)-1].view()
	}
	for _, c := range s.block {
		if !readRow(k, urlFields, c, ctx, upath, view) {
			k.other(c, ctx, ignoredURL, false)
		}
	}
}

// fileCheck reads FILE_CHECK's track_file NAME: the top-level track_file
// block of that name defined above gives the path and, unless the check
// sets its own, the weight.
func (k *kreader) fileCheck(f *FileCheck, s *stmt, path, ctx string) {
	name, ok := k.one(s, ctx)
	if !ok {
		return
	}
	tf, found := k.trackFiles[name]
	if !found {
		k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "track_file %q is not defined above", name)
		return
	}
	if k.src.has(path, "file.weight") {
		tf.Weight, tf.Reverse = f.Weight, f.Reverse
	}
	*f = tf
	k.src.field(path, "file.path", s.line(), s.key.text)
	k.src.field(path, "file.weight", s.line(), s.key.text)
}

// trackFile reads a top-level track_file block (trackers/track_file.c):
// file PATH, weight W [reverse] (-254..254, default 1); init_file is warned
// about, since xlb does not create the file.
func (k *kreader) trackFile(s *stmt) {
	name := s.args[0].text
	ctx := "track_file " + name
	tf := FileCheck{Weight: 1}
	for _, c := range s.block {
		switch c.key.text {
		case "file":
			if x, ok := k.one(c, ctx); ok {
				tf.Path = x
			}
		case "weight":
			if w, rev, ok := k.fileWeight(c, ctx); ok {
				if w < -254 || w > 254 {
					k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "%d is out of range -254..254", w)
					continue
				}
				tf.Weight, tf.Reverse = w, rev
			}
		case "init_file":
			k.d.warn(c.line(), ctx, c.key.text, "ignored: xlb does not create the file; a missing file reads as 0")
		default:
			k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "unknown keyword")
		}
	}
	if tf.Path == "" {
		k.d.err(s.line(), ctx, "file", ErrInvalid, "required")
		return
	}
	if k.trackFiles == nil {
		k.trackFiles = map[string]FileCheck{}
	}
	k.trackFiles[name] = tf
}

// fileWeight reads "weight W [reverse]".
func (k *kreader) fileWeight(s *stmt, ctx string) (int, bool, bool) {
	if !k.noBlock(s, ctx) || len(s.args) < 1 || len(s.args) > 2 || len(s.args) == 2 && s.args[1].text != "reverse" && s.args[1].text != "noreverse" {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants W [reverse]")
		return 0, false, false
	}
	w, err := intIn(-(1<<31 - 1), 1<<31-1)(s.args[0].text)
	if err != nil {
		k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "%v", err)
		return 0, false, false
	}
	return int(w), len(s.args) == 2 && s.args[1].text == "reverse", true
}
