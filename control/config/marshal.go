package config

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/control/vrrp"
)

// MarshalNative writes cfg as native YAML that loads back to an equal Config
// (what xlbctl convert prints). Values equal to their defaults are left out,
// so the output shows what the user chose. Unlike every other way of printing
// a Config it writes passwords in clear: the output must work as a config
// file, as the keepalived.conf it came from did. A password_file stays a
// reference to the file.
func MarshalNative(cfg *Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	if g := globalNode(&cfg.Global); len(g.Content) > 0 {
		addNode(root, "global", g)
	}
	if !slices.Equal(cfg.Interfaces, vrrpInterfaces(cfg.VRRP)) {
		addNode(root, "interfaces", strSeq(cfg.Interfaces))
	}
	if len(cfg.Services) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range cfg.Services {
			seq.Content = append(seq.Content, serviceNode(&cfg.Services[i], cfg.Global.ScriptUser))
		}
		addNode(root, "services", seq)
	}
	if len(cfg.VRRP) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range cfg.VRRP {
			seq.Content = append(seq.Content, vrrpNode(&cfg.VRRP[i], &cfg.Global))
		}
		addNode(root, "vrrp", seq)
	}
	if len(cfg.SyncGroups) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range cfg.SyncGroups {
			seq.Content = append(seq.Content, syncGroupNode(&cfg.SyncGroups[i]))
		}
		addNode(root, "sync_groups", seq)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, fmt.Errorf("marshal native config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal native config: %w", err)
	}
	return buf.Bytes(), nil
}

func vrrpInterfaces(vs []VRRPInstance) []string {
	var out []string
	for _, v := range vs {
		if v.Interface != "" && !slices.Contains(out, v.Interface) {
			out = append(out, v.Interface)
		}
	}
	return out
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func addNode(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar("!!str", key), v)
}

func addStr(m *yaml.Node, key, v string) { addNode(m, key, scalar("!!str", v)) }

func addInt(m *yaml.Node, key string, v int64) {
	addNode(m, key, scalar("!!int", strconv.FormatInt(v, 10)))
}

func addBool(m *yaml.Node, key string, v bool) {
	addNode(m, key, scalar("!!bool", strconv.FormatBool(v)))
}

func addDur(m *yaml.Node, key string, d time.Duration) { addStr(m, key, formatDuration(d)) }

// formatDuration prefers "60s" and "100ms" to Go's "1m0s".
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

func strSeq(ss []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, scalar("!!str", s))
	}
	return n
}

func serviceNode(s *Service, scriptUser string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	if s.Name != fmt.Sprintf("%s/%s", netipAddrPort(s.VIP, s.Port), s.Protocol) {
		addStr(m, "name", s.Name)
	}
	addStr(m, "vip", s.VIP.String())
	addInt(m, "port", int64(s.Port))
	addStr(m, "protocol", s.Protocol.String())
	addStr(m, "scheduler", string(s.Scheduler))
	if s.PersistenceTimeout != 0 {
		addDur(m, "persistence_timeout", s.PersistenceTimeout)
	}
	addStr(m, "method", string(s.Method))
	addDur(m, "delay_loop", s.DelayLoop)
	if s.InhibitOnFailure {
		addBool(m, "inhibit_on_failure", true)
	}
	if s.Alpha {
		addBool(m, "alpha", true)
	}
	if s.Quorum != DefaultQuorum {
		addInt(m, "quorum", int64(s.Quorum))
	}
	if len(s.QuorumUp) > 0 {
		addNode(m, "quorum_up", strSeq(s.QuorumUp))
	}
	if len(s.QuorumDown) > 0 {
		addNode(m, "quorum_down", strSeq(s.QuorumDown))
	}
	if s.Hysteresis != 0 {
		addInt(m, "hysteresis", int64(s.Hysteresis))
	}
	if ss := s.SorryServer; ss != nil {
		sm := &yaml.Node{Kind: yaml.MappingNode}
		addStr(sm, "ip", ss.IP.String())
		addInt(sm, "port", int64(ss.Port))
		if ss.Inhibit {
			addBool(sm, "inhibit", true)
		}
		addNode(m, "sorry_server", sm)
	}
	reals := &yaml.Node{Kind: yaml.SequenceNode}
	for i := range s.Reals {
		reals.Content = append(reals.Content, realNode(s, &s.Reals[i], scriptUser))
	}
	addNode(m, "reals", reals)
	return m
}

func realNode(s *Service, r *RealServer, scriptUser string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addStr(m, "ip", r.IP.String())
	if r.Port != s.Port {
		addInt(m, "port", int64(r.Port))
	}
	addInt(m, "weight", int64(r.Weight))
	if r.InhibitOnFailure != s.InhibitOnFailure {
		addBool(m, "inhibit_on_failure", r.InhibitOnFailure)
	}
	if r.MAC != nil {
		addStr(m, "mac", r.MAC.String())
	}
	if len(r.NotifyUp) > 0 {
		addNode(m, "notify_up", strSeq(r.NotifyUp))
	}
	if len(r.NotifyDown) > 0 {
		addNode(m, "notify_down", strSeq(r.NotifyDown))
	}
	if r.Check != nil {
		addNode(m, "check", checkNode(s, r, r.Check, scriptUser))
	}
	return m
}

func checkNode(s *Service, r *RealServer, c *Check, scriptUser string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addStr(m, "kind", string(c.Kind))
	if c.Interval != s.DelayLoop {
		addDur(m, "interval", c.Interval)
	}
	if c.ConnectTimeout != DefaultConnectTimeout {
		addDur(m, "connect_timeout", c.ConnectTimeout)
	}
	retry, delay := checkTiming(c.Kind, c.Interval)
	if c.Retry != retry {
		addInt(m, "retry", int64(c.Retry))
	}
	if c.DelayBeforeRetry != delay {
		addDur(m, "delay_before_retry", c.DelayBeforeRetry)
	}
	if c.Rise != DefaultRise {
		addInt(m, "rise", int64(c.Rise))
	}
	if c.Fall != DefaultFall {
		addInt(m, "fall", int64(c.Fall))
	}
	if c.ConnectIP != r.IP {
		addStr(m, "connect_ip", c.ConnectIP.String())
	}
	if c.ConnectPort != r.Port {
		addInt(m, "connect_port", int64(c.ConnectPort))
	}
	switch {
	case c.MySQL != nil:
		my := &yaml.Node{Kind: yaml.MappingNode}
		addStr(my, "user", c.MySQL.User)
		if !c.MySQL.Password.IsZero() {
			addStr(my, "password", c.MySQL.Password.Reveal())
		}
		if c.MySQL.PasswordFile != "" {
			addStr(my, "password_file", c.MySQL.PasswordFile)
		}
		if c.MySQL.ReplicationCheck {
			addBool(my, "check_replication", true)
		}
		if c.MySQL.MaxReplicationLag != 0 {
			addDur(my, "max_replication_lag", c.MySQL.MaxReplicationLag)
		}
		if c.MySQL.ReadOnly != nil {
			addBool(my, "read_only", *c.MySQL.ReadOnly)
		}
		addNode(m, "mysql", my)
	case c.Exec != nil:
		e := &yaml.Node{Kind: yaml.MappingNode}
		addNode(e, "command", strSeq(c.Exec.Command))
		if c.Exec.Timeout != c.Interval {
			addDur(e, "timeout", c.Exec.Timeout)
		}
		if c.Exec.Dynamic {
			addBool(e, "dynamic", true)
		}
		if c.Exec.User != scriptUser {
			addStr(e, "user", c.Exec.User)
		}
		addNode(m, "exec", e)
	case c.HTTP != nil:
		h := &yaml.Node{Kind: yaml.MappingNode}
		addStr(h, "path", c.HTTP.Path)
		if !slices.Equal(c.HTTP.StatusCodes, DefaultStatusCodes) {
			codes := make([]string, len(c.HTTP.StatusCodes))
			for i, sc := range c.HTTP.StatusCodes {
				codes[i] = sc.String()
			}
			addNode(h, "status_codes", strSeq(codes))
		}
		if c.HTTP.BodyRegex != "" {
			addStr(h, "body_regex", c.HTTP.BodyRegex)
		}
		if c.HTTP.Host != "" {
			addStr(h, "host", c.HTTP.Host)
		}
		if c.HTTP.Digest != "" {
			addStr(h, "digest", c.HTTP.Digest)
		}
		if c.HTTP.SSL {
			addBool(h, "ssl", true)
		}
		if c.HTTP.SNI != "" {
			addStr(h, "sni", c.HTTP.SNI)
		}
		if len(c.HTTP.More) > 0 {
			urls := &yaml.Node{Kind: yaml.SequenceNode}
			for _, u := range c.HTTP.More {
				un := &yaml.Node{Kind: yaml.MappingNode}
				addStr(un, "path", u.Path)
				if !slices.Equal(u.StatusCodes, DefaultStatusCodes) {
					codes := make([]string, len(u.StatusCodes))
					for i, sc := range u.StatusCodes {
						codes[i] = sc.String()
					}
					addNode(un, "status_codes", strSeq(codes))
				}
				if u.BodyRegex != "" {
					addStr(un, "body_regex", u.BodyRegex)
				}
				if u.Host != "" {
					addStr(un, "host", u.Host)
				}
				if u.Digest != "" {
					addStr(un, "digest", u.Digest)
				}
				urls.Content = append(urls.Content, un)
			}
			addNode(h, "urls", urls)
		}
		addNode(m, "http", h)
	case c.DNS != nil:
		d := &yaml.Node{Kind: yaml.MappingNode}
		addStr(d, "type", c.DNS.Type)
		addStr(d, "name", c.DNS.Name)
		addNode(m, "dns", d)
	case c.SMTP != nil:
		sm := &yaml.Node{Kind: yaml.MappingNode}
		addStr(sm, "helo_name", c.SMTP.HeloName)
		addNode(m, "smtp", sm)
	case c.File != nil:
		fn := &yaml.Node{Kind: yaml.MappingNode}
		addStr(fn, "path", c.File.Path)
		addInt(fn, "weight", int64(c.File.Weight))
		if c.File.Reverse {
			addBool(fn, "reverse", true)
		}
		addNode(m, "file", fn)
	case c.UDP != nil:
		u := &yaml.Node{Kind: yaml.MappingNode}
		if c.UDP.Payload != "" {
			addStr(u, "payload", c.UDP.Payload)
		}
		if c.UDP.RequireReply {
			addBool(u, "require_reply", true)
		}
		if c.UDP.Reply != "" {
			addStr(u, "reply", c.UDP.Reply)
		}
		if c.UDP.MinReplyLen != 0 {
			addInt(u, "min_reply_length", int64(c.UDP.MinReplyLen))
		}
		if c.UDP.MaxReplyLen != DefaultMaxReplyLen {
			addInt(u, "max_reply_length", int64(c.UDP.MaxReplyLen))
		}
		addNode(m, "udp", u)
	}
	return m
}

func globalNode(g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	var def Global
	globalVRRPDefaults(&def.VRRP, newSrcMap(""))
	// The lower-priority GARPs default to this file's master ones.
	def.VRRP.GARPLowerPrioDelay, def.VRRP.GARPLowerPrioRepeat = g.VRRP.GARPMasterDelay, g.VRRP.GARPMasterRepeat
	marshalRows(m, globalFields, g, &def)
	if g.ScriptUser != "" {
		addStr(m, "script_user", g.ScriptUser)
	}
	return m
}

// syncGroupNode writes a sync group; its tracking is already on its members.
func syncGroupNode(g *vrrp.SyncGroupConfig) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addStr(m, "name", g.Name)
	addNode(m, "members", strSeq(g.Members))
	addNotifies(m, g.NotifyMaster, g.NotifyBackup, g.NotifyFault, g.NotifyStop, g.Notify)
	return m
}

// addNotifies writes the notify commands of an instance or sync group.
func addNotifies(m *yaml.Node, master, backup, fault, stop, any []string) {
	for _, n := range []struct {
		key  string
		argv []string
	}{{"notify_master", master}, {"notify_backup", backup}, {"notify_fault", fault}, {"notify_stop", stop}, {"notify", any}} {
		if len(n.argv) > 0 {
			addNode(m, n.key, strSeq(n.argv))
		}
	}
}

func vrrpNode(v *VRRPInstance, g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addStr(m, "name", v.Name)
	// What the defaults alone give an instance under this global_defs.
	var def VRRPInstance
	vrrpDefaults(&def, g, newSrcMap(""), "")
	marshalRows(m, vrrpFields, v, &def)
	if v.AuthType == AuthPass {
		addStr(m, "auth_type", string(v.AuthType))
		addStr(m, "auth_pass", v.AuthPass.Reveal())
	}
	vips := &yaml.Node{Kind: yaml.SequenceNode}
	for _, vip := range v.VIPs {
		if vip.Dev == v.Interface {
			vip.Dev = ""
		}
		vips.Content = append(vips.Content, scalar("!!str", vip.String()))
	}
	addNode(m, "vips", vips)
	if len(v.UnicastPeers) > 0 {
		peers := make([]string, len(v.UnicastPeers))
		for i, p := range v.UnicastPeers {
			peers[i] = p.String()
		}
		addNode(m, "unicast_peers", strSeq(peers))
	}
	if len(v.TrackInterfaces) > 0 {
		addNode(m, "track_interfaces", strSeq(v.TrackInterfaces))
	}
	addNotifies(m, v.NotifyMaster, v.NotifyBackup, v.NotifyFault, v.NotifyStop, v.Notify)
	if len(v.TrackScripts) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.TrackScripts {
			sc := &v.TrackScripts[i]
			n := &yaml.Node{Kind: yaml.MappingNode}
			addStr(n, "name", sc.Name)
			addNode(n, "command", strSeq(sc.Command))
			marshalRows(n, scriptFields, sc, &vrrp.Script{})
			if sc.User != "" {
				addStr(n, "user", sc.User)
			}
			if sc.Group != "" {
				addStr(n, "group", sc.Group)
			}
			seq.Content = append(seq.Content, n)
		}
		addNode(m, "track_scripts", seq)
	}
	if len(v.TrackServices) > 0 {
		addNode(m, "track_services", strSeq(v.TrackServices))
	}
	var defaultDrop uint8 // what applyDefaults gives
	if len(v.TrackServices) > 0 {
		defaultDrop = DefaultNoBackendPriorityDrop
	}
	if v.NoBackendPriorityDrop != defaultDrop {
		addInt(m, "no_backend_priority_drop", int64(v.NoBackendPriorityDrop))
	}
	return m
}
