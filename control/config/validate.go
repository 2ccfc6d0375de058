package config

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"xlb/control/secret"
	"xlb/control/vrrp"
)

// maxIfName is IFNAMSIZ less the terminating NUL.
const maxIfName = 15

func netipAddrPort(a netip.Addr, p uint16) string {
	if !a.IsValid() {
		return fmt.Sprintf("?:%d", p)
	}
	return netip.AddrPortFrom(a, p).String()
}

// validate checks the defaulted config. It also applies keepalived's own
// corrections (nopreempt with state MASTER is cleared, with keepalived's
// warning), so both formats behave as keepalived would.
func validate(cfg *Config, src *srcMap, d *diags) {
	if len(cfg.Services) == 0 && len(cfg.VRRP) == 0 && len(d.errs) == 0 {
		d.err(pos{file: src.file}, "", "", ErrInvalid, "nothing configured: no virtual services and no VRRP instances")
	}
	validateInterfaces(cfg, src, d)
	names := map[string]string{}
	keys := map[string]string{}
	for i := range cfg.Services {
		validateService(&cfg.Services[i], fmt.Sprintf("services[%d]", i), src, d, names, keys)
	}
	vips := map[netip.Addr]string{}
	vrids := map[string]string{}
	vnames := map[string]string{}
	for i := range cfg.VRRP {
		validateVRRP(cfg, &cfg.VRRP[i], fmt.Sprintf("vrrp[%d]", i), src, d, vips, vrids, vnames)
	}
	validateSyncGroups(cfg, src, d)
	validateGARPGroups(cfg, src, d)
	checkFits(cfg, src, d) // addrcheck.go
	validateStaticMACs(cfg, src, d)
}

// validateStaticMACs refuses two static MACs for one address: the data plane
// keeps one MAC per backend address, whichever services list it.
func validateStaticMACs(cfg *Config, src *srcMap, d *diags) {
	type given struct {
		mac  string
		path string
	}
	first := map[netip.Addr]given{}
	for i := range cfg.Services {
		for j, r := range cfg.Services[i].Reals {
			if r.MAC == nil {
				continue
			}
			path := fmt.Sprintf("services[%d].reals[%d]", i, j)
			g, ok := first[r.IP]
			switch {
			case !ok:
				first[r.IP] = given{r.MAC.String(), path}
			case g.mac != r.MAC.String():
				d.errIn(src, path, "mac", ErrInvalid, "%s differs from %s given for %s at %s: one address has one MAC", r.MAC, g.mac, r.IP, where(src, g.path))
			}
		}
	}
}

// where names the place of an earlier item for "duplicate" messages.
func where(src *srcMap, path string) string {
	p, _, _ := src.locate(path, "")
	if p.line == 0 {
		return path
	}
	if p.file != src.file {
		return fmt.Sprintf("%s:%d", p.file, p.line)
	}
	return fmt.Sprintf("line %d", p.line)
}

func validIfName(s string) error {
	if s == "" {
		return fmt.Errorf("empty interface name")
	}
	if len(s) > maxIfName {
		return fmt.Errorf("interface name %q is longer than %d characters", s, maxIfName)
	}
	if strings.ContainsAny(s, "/ \t:") {
		return fmt.Errorf("%q is not an interface name", s)
	}
	return nil
}

func validateInterfaces(cfg *Config, src *srcMap, d *diags) {
	// None named: xlbd attaches to the interfaces whose subnets hold the
	// real servers (daemon.InferInterfaces), as a keepalived.conf with
	// virtual_servers only names none.
	seen := map[string]string{}
	for i, name := range cfg.Interfaces {
		p := fmt.Sprintf("interfaces[%d]", i)
		if err := validIfName(name); err != nil {
			d.errIn(src, p, "", ErrInvalid, "%v", err)
			continue
		}
		if first, dup := seen[name]; dup {
			d.errIn(src, p, "", ErrInvalid, "interface %s is listed twice (first at %s)", name, where(src, first))
			continue
		}
		seen[name] = p
	}
}

func validateService(s *Service, path string, src *srcMap, d *diags, names, keys map[string]string) {
	if !s.VIP.IsValid() {
		if !src.has(path, "vip") {
			d.errIn(src, path, "vip", ErrInvalid, "required")
		}
	}
	if s.Port == 0 && !src.has(path, "port") {
		d.errIn(src, path, "port", ErrInvalid, "required")
	}
	if !s.Scheduler.Known() {
		d.errIn(src, path, "scheduler", ErrUnsupported, "%q is not supported (rr, wrr, lc, wlc, sed, nq: weighted Maglev; sh, mh: source-IP affinity; fo: failover)", string(s.Scheduler))
	}
	if s.Method != MethodDR {
		d.errIn(src, path, "method", ErrUnsupported, "%q is not supported: xlb does DR (direct routing) only", string(s.Method))
	}
	if s.DelayLoop <= 0 {
		d.errIn(src, path, "delay_loop", ErrInvalid, "must be more than 0")
	}
	dupKey := false
	if s.VIP.IsValid() && s.Port != 0 {
		key := netipAddrPort(s.VIP, s.Port) + "/" + s.Protocol.String()
		if first, dup := keys[key]; dup {
			d.errIn(src, path, "", ErrInvalid, "%s is defined twice (first at %s)", key, where(src, first))
			dupKey = true
		} else {
			keys[key] = path
		}
	}
	switch first, dup := names[s.Name]; {
	case s.Name == "":
		d.errIn(src, path, "name", ErrInvalid, "must not be empty")
	case dup && !dupKey: // the same key already explains a same default name
		d.errIn(src, path, "name", ErrInvalid, "service name %q is used twice (first at %s)", s.Name, where(src, first))
	case !dup:
		names[s.Name] = path
	}
	if len(s.Reals) == 0 {
		d.warnIn(src, path, "", "no real servers: new flows to this service are dropped")
	}
	reals := map[string]string{}
	for j := range s.Reals {
		validateReal(s, &s.Reals[j], fmt.Sprintf("%s.reals[%d]", path, j), src, d, reals)
	}
	if ss := s.SorryServer; ss != nil {
		validateSorry(s, ss, path+".sorry_server", src, d)
	}
}

// validateSorry: the sorry server is a backend of the service, so it is an
// address of the VIP's family that is not the VIP and, because the data plane keys backends
// by address within a service, not one of the real servers.
func validateSorry(s *Service, ss *SorryServer, path string, src *srcMap, d *diags) {
	switch {
	case !ss.IP.IsValid():
		if !src.has(path, "ip") {
			d.errIn(src, path, "ip", ErrInvalid, "required")
		}
		return
	case s.VIP.IsValid() && ss.IP.Is4() != s.VIP.Is4():
		d.errIn(src, path, "ip", ErrInvalid, "%s", familyMix("sorry server", ss.IP, s.VIP))
		return
	case ss.IP == s.VIP:
		d.errIn(src, path, "ip", ErrInvalid, "%s is the VIP itself", ss.IP)
		return
	}
	if ss.Port == 0 && !src.has(path, "port") {
		d.errIn(src, path, "port", ErrInvalid, "required")
	}
	for _, r := range s.Reals {
		if r.IP == ss.IP {
			d.errIn(src, path, "ip", ErrInvalid, "%s is also a real server of this service: a sorry server must be another host", ss.IP)
			return
		}
	}
}

// familyMix is the error for a backend (real or sorry server) whose family
// is not its service's: direct routing forwards the client's packet
// unchanged, so a backend must accept the VIP's family (IPVS DR has the same
// rule).
func familyMix(what string, a, vip netip.Addr) string {
	return fmt.Sprintf("%s %s is %s, the VIP %s is %s: a service and its real servers are one address family (direct routing forwards the client's packet unchanged); write a virtual_server per family",
		what, a, familyName(a), vip, familyName(vip))
}

func familyName(a netip.Addr) string { return famName(a.Is6()) }

// famName names an address family.
func famName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func validateReal(s *Service, r *RealServer, path string, src *srcMap, d *diags, seen map[string]string) {
	if !r.IP.IsValid() {
		if !src.has(path, "ip") {
			d.errIn(src, path, "ip", ErrInvalid, "required")
		}
		return
	}
	if s.VIP.IsValid() && r.IP.Is4() != s.VIP.Is4() {
		d.errIn(src, path, "ip", ErrInvalid, "%s", familyMix("real server", r.IP, s.VIP))
		return
	}
	if r.IP == s.VIP {
		d.errIn(src, path, "", ErrInvalid, "%s is the VIP itself", r.IP)
	}
	key := netipAddrPort(r.IP, r.Port)
	if first, dup := seen[key]; dup {
		d.errIn(src, path, "", ErrInvalid, "real server %s is listed twice in this service (first at %s)", key, where(src, first))
	} else {
		seen[key] = path
	}
	if r.Port != s.Port && s.Port != 0 && r.Port != 0 {
		d.warnIn(src, path, "", "DR does not change ports: clients' packets reach %s on port %d; port %d is only checked", r.IP, s.Port, r.Port)
	}
	if r.Check != nil {
		validateCheck(r.Check, path+".check", src, d)
	}
}

func validateCheck(c *Check, path string, src *srcMap, d *diags) {
	if c.Interval <= 0 {
		d.errIn(src, path, "interval", ErrInvalid, "must be more than 0")
	}
	if c.ConnectTimeout <= 0 {
		d.errIn(src, path, "connect_timeout", ErrInvalid, "must be more than 0")
	}
	for _, kd := range checkKinds {
		if kd.block != nil && kd.block.isSet(c) && kd.kind != c.Kind {
			d.errIn(src, path, kd.block.key(), ErrInvalid, "settings given, but the check's kind is %s", c.Kind)
		}
	}
	switch c.Kind {
	case CheckTCP:
		if c.ConnectPort == MySQLPort {
			d.warnIn(src, path, "", "a TCP check on port %d: MySQL/MariaDB counts every bare connect-and-close as a connection error "+
				"and, after max_connect_errors (default 100), blocks this director's address (error 1129) until FLUSH HOSTS; "+
				"use MYSQL_CHECK (native: kind mysql), which logs in and quits cleanly", MySQLPort)
		}
	case CheckMySQL:
		m := c.MySQL
		if m.User == "" {
			hint := ""
			if !src.has(path, "kind") && !src.has(path, "mysql") {
				hint = fmt.Sprintf(" (the check kind defaults to mysql on port %d; set kind: tcp to accept the max_connect_errors risk)", MySQLPort)
			}
			d.errIn(src, path, "mysql.user", ErrInvalid, "required%s", hint)
		}
		if !m.Password.IsZero() && m.PasswordFile != "" {
			d.errIn(src, path, "mysql.password_file", ErrInvalid, "give password or password_file, not both")
		}
		if m.MaxReplicationLag > 0 && !m.ReplicationCheck {
			d.warnIn(src, path, "mysql.max_replication_lag", "also checks that replication runs (a NULL lag is down)")
		}
	case CheckExec:
		if len(c.Exec.Command) == 0 {
			d.errIn(src, path, "exec.command", ErrInvalid, "required")
		}
		if c.Exec.Timeout <= 0 {
			d.errIn(src, path, "exec.timeout", ErrInvalid, "must be more than 0")
		}
	case CheckHTTP:
		validateURL(c.HTTP.Path, c.HTTP.BodyRegex, c.HTTP.Digest, path, "http.", src, d)
		for i, u := range c.HTTP.More {
			validateURL(u.Path, u.BodyRegex, u.Digest, fmt.Sprintf("%s.http.urls[%d]", path, i), "", src, d)
		}
	case CheckDNS:
		if !dnsTypes[strings.ToUpper(c.DNS.Type)] {
			d.errIn(src, path, "dns.type", ErrInvalid, "%q: want one of A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY", c.DNS.Type)
		}
		if n := c.DNS.Name; (strings.HasPrefix(n, ".") && n != ".") || strings.Contains(n, "..") {
			d.errIn(src, path, "dns.name", ErrInvalid, "%q has an empty label", n)
		}
	case CheckSMTP:
		if h := c.SMTP.HeloName; h == "" || strings.ContainsAny(h, " \t") {
			d.errIn(src, path, "smtp.helo_name", ErrInvalid, "%q: want one word", h)
		}
	case CheckFile:
		if c.File.Path == "" {
			d.errIn(src, path, "file.path", ErrInvalid, "required (FILE_CHECK's track_file)")
		}
	case CheckUDP:
		u := c.UDP
		if _, _, err := ParseHex(u.Payload, false); u.Payload != "" && err != nil {
			d.errIn(src, path, "udp.payload", ErrInvalid, "%v", err)
		}
		if _, _, err := ParseHex(u.Reply, true); u.Reply != "" && err != nil {
			d.errIn(src, path, "udp.reply", ErrInvalid, "%v", err)
		}
		if u.Reply != "" && !u.RequireReply {
			d.errIn(src, path, "udp.reply", ErrInvalid, "reply data needs require_reply")
		}
		if u.MinReplyLen < 0 || u.MaxReplyLen > 65535 || u.MinReplyLen > u.MaxReplyLen {
			d.errIn(src, path, "udp.min_reply_length", ErrInvalid, "%d-%d: want 0 <= min <= max <= 65535 (keepalived: a check that always fails)", u.MinReplyLen, u.MaxReplyLen)
		}
	}
}

// validateURL checks one url block; fields are named prefix+"path" etc.
func validateURL(p, re, digest, path, prefix string, src *srcMap, d *diags) {
	switch {
	case p == "":
		d.errIn(src, path, prefix+"path", ErrInvalid, "required (keepalived drops a url without a path)")
	case !strings.HasPrefix(p, "/"):
		d.errIn(src, path, prefix+"path", ErrInvalid, "%q does not start with /", p)
	}
	if re != "" {
		if _, err := regexp.Compile(re); err != nil {
			d.errIn(src, path, prefix+"body_regex", ErrInvalid, "%v", err)
		}
	}
	if b, err := hex.DecodeString(digest); digest != "" && (err != nil || len(b) != md5.Size) {
		d.errIn(src, path, prefix+"digest", ErrInvalid, "%q: want the 32 hex digits of an MD5 (as genhash prints it)", digest)
	}
}

// dnsTypes are the query types keepalived's DNS_CHECK knows (check_dns.c).
var dnsTypes = map[string]bool{"A": true, "NS": true, "CNAME": true, "SOA": true, "MX": true, "TXT": true, "AAAA": true, "RRSIG": true, "DNSKEY": true}

func validateVRRP(cfg *Config, v *VRRPInstance, path string, src *srcMap, d *diags, vips map[netip.Addr]string, vrids, names map[string]string) {
	if v.Name == "" {
		d.errIn(src, path, "name", ErrInvalid, "required")
	} else if first, dup := names[v.Name]; dup {
		d.errIn(src, path, "name", ErrInvalid, "instance name %q is used twice (first at %s)", v.Name, where(src, first))
	} else {
		names[v.Name] = path
	}
	if v.Interface == "" {
		d.errIn(src, path, "interface", ErrInvalid, "required")
	} else if err := validIfName(v.Interface); err != nil {
		d.errIn(src, path, "interface", ErrInvalid, "%v", err)
	}
	if v.VRID == 0 {
		d.errIn(src, path, "vrid", ErrInvalid, "required (1..255)")
	} else {
		key := fmt.Sprintf("%s/%d", v.Interface, v.VRID)
		if first, dup := vrids[key]; dup {
			d.errIn(src, path, "vrid", ErrInvalid, "VRID %d is used twice on %s (first at %s)", v.VRID, v.Interface, where(src, first))
		} else {
			vrids[key] = path
		}
	}
	if v.Priority == 0 {
		d.errIn(src, path, "priority", ErrInvalid, "0 is out of range 1..255 (0 is reserved for a master giving up)")
	}
	if v.Strict {
		strictCorrections(v, path, src, d)
	}
	switch v.Version {
	case 2:
		if v.AdvertInterval < time.Second || v.AdvertInterval > 255*time.Second || v.AdvertInterval%time.Second != 0 {
			d.errIn(src, path, "advert_int", ErrInvalid, "%v: VRRPv2 wants whole seconds from 1 to 255 (use version 3 for less)", v.AdvertInterval)
		}
	case 3:
		if v.AdvertInterval < 10*time.Millisecond || v.AdvertInterval > 40950*time.Millisecond || v.AdvertInterval%(10*time.Millisecond) != 0 {
			d.errIn(src, path, "advert_int", ErrInvalid, "%v: VRRPv3 wants 0.01 to 40.95 seconds in steps of 0.01", v.AdvertInterval)
		}
	default:
		d.errIn(src, path, "version", ErrInvalid, "%d is not 2 or 3", v.Version)
	}
	switch {
	case v.AuthType == AuthPass && v.Version == 3:
		d.errIn(src, path, "auth_type", ErrInvalid, "authentication is only for version 2 (VRRPv3 has none)")
	case v.AuthType == AuthPass && v.AuthPass.IsZero():
		d.errIn(src, path, "auth_pass", ErrInvalid, "required with auth_type PASS")
	case v.AuthType == AuthNone && !v.AuthPass.IsZero():
		d.errIn(src, path, "auth_pass", ErrInvalid, "given with auth_type none")
	case v.AuthType == AuthPass && len(v.AuthPass.Reveal()) > 8:
		d.warnIn(src, path, "auth_pass", "longer than 8 characters: only the first 8 are used, as keepalived does")
	}
	if len(v.VIPs) == 0 {
		d.errIn(src, path, "vips", ErrInvalid, "no address: at least one is required")
	}
	for k, vip := range v.VIPs {
		vp := fmt.Sprintf("%s.vips[%d]", path, k)
		if err := validIfName(vip.Dev); err != nil {
			d.errIn(src, vp, "", ErrInvalid, "dev: %v", err)
		}
		if len(vip.Label) > maxIfName || strings.ContainsAny(vip.Label, " \t") {
			d.errIn(src, vp, "", ErrInvalid, "label: %q is not an address label (at most %d characters, no blanks)", vip.Label, maxIfName)
		}
		a := vip.Prefix.Addr()
		if first, dup := vips[a]; dup {
			d.errIn(src, vp, "", ErrInvalid, "%s is given twice (first at %s)", a, where(src, first))
		} else {
			vips[a] = vp
		}
	}
	validateFamily(v, path, src, d)
	for k, peer := range v.UnicastPeers {
		if peer == v.UnicastSrc {
			d.errIn(src, fmt.Sprintf("%s.unicast_peers[%d]", path, k), "", ErrInvalid, "%s is this director's own unicast_src_ip", peer)
		}
	}
	for k, t := range v.TrackInterfaces {
		if err := validIfName(t); err != nil {
			d.errIn(src, fmt.Sprintf("%s.track_interfaces[%d]", path, k), "", ErrInvalid, "%v", err)
		}
	}
	for k, name := range v.TrackServices {
		if !hasService(cfg, name) {
			d.errIn(src, fmt.Sprintf("%s.track_services[%d]", path, k), "", ErrInvalid, "no service is named %q", name)
		}
	}
	if len(v.TrackServices) > 0 && v.NoBackendPriorityDrop == 0 {
		d.errIn(src, path, "no_backend_priority_drop", ErrInvalid, "must be at least 1 with track_services")
	}
	keepalivedTraps(v, path, src, d)
}

// validateFamily holds an instance to one address family, as keepalived
// does (alloc_vrrp_vip, vrrp_srcip_handler, alloc_vrrp_unicast_peer: "MUST
// be of the same family"): its first address decides; IPv6 needs VRRP
// version 3. In multicast mode the first IPv6 address should be link-local
// (RFC 5798 5.2.9), which keepalived only warns about.
func validateFamily(v *VRRPInstance, path string, src *srcMap, d *diags) {
	if len(v.VIPs) == 0 {
		return
	}
	v6 := v.IPv6()
	fam := famName(v6)
	for k, vip := range v.VIPs {
		if vip.Prefix.Addr().Is6() != v6 {
			d.errIn(src, fmt.Sprintf("%s.vips[%d]", path, k), "", ErrInvalid,
				"%s: an instance's addresses are one family, and its first is %s: put the %s addresses in a vrrp_instance of their own",
				vip.Prefix, fam, famName(!v6))
		}
	}
	if v6 && v.Version == 2 {
		d.errIn(src, path, "version", ErrInvalid, "2 cannot carry IPv6 addresses (VRRPv2 is IPv4 only): use version 3, the default for an IPv6 instance (keepalived ignores version 2 here and speaks 3)")
	}
	if src.has(path, "mcast_dst_ip") && v.McastGroup.IsValid() {
		switch {
		case v.McastGroup.Is6() != v6:
			d.errIn(src, path, "mcast_dst_ip", ErrInvalid, "%s: want %s, the family of the instance's addresses", v.McastGroup, fam)
		case len(v.UnicastPeers) > 0:
			d.warnIn(src, path, "mcast_dst_ip", "ignored, as keepalived ignores it with unicast peers: adverts go to the peers")
		}
	}
	if v6 && len(v.UnicastPeers) == 0 && v.UnicastSrc.Is6() && !v.UnicastSrc.IsLinkLocalUnicast() {
		// keepalived sends from it, and xlb and keepalived both hear it
		// (hop limit 255 proves the sender on-link), but RFC 5798 has the
		// link-local address: a router that follows the RFC may not.
		d.warnIn(src, path, "unicast_src_ip", "%s is not link-local: RFC 5798 5.1.2.1 sends a multicast IPv6 advert from the interface's "+
			"link-local address; xlb and keepalived accept this one, a strict VRRP router may not (remove it to use the link-local address)", v.UnicastSrc)
	}
	if v.UnicastSrc.IsValid() && v.UnicastSrc.Is6() != v6 {
		d.errIn(src, path, "unicast_src_ip", ErrInvalid, "%s: want %s, the family of the instance's addresses", v.UnicastSrc, fam)
	}
	for k, peer := range v.UnicastPeers {
		if peer.Is6() != v6 {
			d.errIn(src, fmt.Sprintf("%s.unicast_peers[%d]", path, k), "", ErrInvalid, "%s: want %s, the family of the instance's addresses", peer, fam)
		}
	}
	switch {
	case !v6 || len(v.UnicastPeers) > 0 || v.VIPs[0].Prefix.Addr().IsLinkLocalUnicast():
	case v.Strict:
		d.warnIn(src, path, "vips", "the first IPv6 VIP address must be link local in strict mode (RFC 5798 5.2.9; keepalived reports a configuration error and runs on): a router that follows the RFC may expect it")
	default:
		d.warnIn(src, path, "vips", "the first IPv6 VIP address should be link local (RFC 5798 5.2.9; keepalived warns too): a router that follows the RFC may expect it")
	}
}

func hasService(cfg *Config, name string) bool {
	for i := range cfg.Services {
		if cfg.Services[i].Name == name {
			return true
		}
	}
	return false
}

// strictCorrections applies what keepalived's vrrp_complete_instance
// (keepalived/vrrp/vrrp.c) does to an instance in strict mode (vrrp_strict
// or strict_mode), with its messages: authentication is dropped, unicast
// peers are refused, state follows priority 255, preempt_delay and the
// lower-priority gratuitous ARPs are reset.
func strictCorrections(v *VRRPInstance, path string, src *srcMap, d *diags) {
	if v.AuthType != AuthNone || !v.AuthPass.IsZero() {
		d.warnIn(src, path, "auth_type", "Strict mode does not support authentication. Ignoring. (as keepalived)")
		v.AuthType, v.AuthPass = AuthNone, secret.Secret{}
	}
	if len(v.UnicastPeers) > 0 {
		d.errIn(src, path, "unicast_peers", ErrInvalid, "Unicast peers are not supported in strict mode (as keepalived, which refuses the instance)")
	}
	if owner := v.Priority == 255; (v.InitialState == vrrp.StateMaster) != owner {
		d.warnIn(src, path, "state", "State MASTER must match being address owner (as keepalived: state reset to %s)", map[bool]string{true: "MASTER", false: "BACKUP"}[owner])
		v.InitialState = vrrp.StateBackup
		if owner {
			v.InitialState = vrrp.StateMaster
		}
	}
	if v.PreemptDelay > 0 {
		d.warnIn(src, path, "preempt_delay", "preempt_delay is incompatible with strict mode - resetting (as keepalived)")
		v.PreemptDelay = 0
	}
	if v.GARPLowerPrioRepeat != 0 || v.GARPLowerPrioDelay != 0 {
		d.warnIn(src, path, "garp_lower_prio_repeat", "Strict mode requires no repeat garps. resetting (as keepalived)")
		v.GARPLowerPrioRepeat, v.GARPLowerPrioDelay = 0, 0
	}
	if v.HigherPrioSendAdvert {
		d.warnIn(src, path, "higher_prio_send_advert", "strict mode requires higher_prio_send_advert to be clear. resetting (as keepalived)")
		v.HigherPrioSendAdvert = false
	}
}

// keepalivedTraps applies keepalived's corrections with keepalived's own
// warnings (vrrp.c), so the same file behaves the same under both.
func keepalivedTraps(v *VRRPInstance, path string, src *srcMap, d *diags) {
	if !src.has(path, "priority") && v.Priority == vrrp.PriorityOwner {
		d.warnIn(src, path, "state", "state MASTER without priority: priority 255, the address owner, as keepalived "+
			"(it takes the VIPs at once and always preempts; set a priority below 255 to have it elected)")
	}
	if v.Priority == 255 && v.NoPreempt {
		d.warnIn(src, path, "nopreempt", "nopreempt is incompatible with priority 255 - resetting nopreempt (as keepalived: the address owner always takes the VIP)")
		v.NoPreempt = false
	}
	if v.InitialState == vrrp.StateMaster {
		if v.NoPreempt {
			d.warnIn(src, path, "nopreempt", "Warning - nopreempt will not work with initial state MASTER - clearing "+
				"(as keepalived: this director takes the VIP back whenever its priority is higher; use state BACKUP on both for nopreempt)")
			v.NoPreempt = false
		}
		if v.PreemptDelay > 0 {
			d.warnIn(src, path, "preempt_delay", "Warning - preempt delay will not work with initial state MASTER - clearing (as keepalived)")
			v.PreemptDelay = 0
		}
	}
	if v.NoPreempt && v.PreemptDelay > 0 {
		d.warnIn(src, path, "preempt_delay", "preempt_delay is incompatible with nopreempt mode - resetting (as keepalived)")
		v.PreemptDelay = 0
	}
}
