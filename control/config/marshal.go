package config

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/control/script"
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
			seq.Content = append(seq.Content, serviceNode(&cfg.Services[i], &cfg.Global))
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
	if st := cfg.Static; len(st.Addresses)+len(st.Routes)+len(st.Rules) > 0 {
		m := &yaml.Node{Kind: yaml.MappingNode}
		addLines(m, "addresses", st.Addresses)
		addLines(m, "routes", st.Routes)
		addLines(m, "rules", st.Rules)
		addNode(root, "static", m)
	}
	if len(cfg.SyncGroups) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range cfg.SyncGroups {
			seq.Content = append(seq.Content, syncGroupNode(&cfg.SyncGroups[i]))
		}
		addNode(root, "sync_groups", seq)
	}
	if len(cfg.GARPGroups) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range cfg.GARPGroups {
			seq.Content = append(seq.Content, garpGroupNode(&cfg.GARPGroups[i]))
		}
		addNode(root, "garp_groups", seq)
	}
	if cfg.BGP != nil {
		addNode(root, "bgp", bgpNode(cfg.BGP))
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

// serviceNode, realNode and checkNode write what differs from what the
// defaults would give the object where it stands (the same service, real
// server, interval).
func serviceNode(s *Service, g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	def := Service{VIP: s.VIP, Port: s.Port, Protocol: s.Protocol}
	serviceDefaults(&def, known("vip", "port", "protocol"), "")
	marshalRows(m, serviceFields, s, &def)
	reals := &yaml.Node{Kind: yaml.SequenceNode}
	for i := range s.Reals {
		reals.Content = append(reals.Content, realNode(s, &s.Reals[i], g))
	}
	addNode(m, "reals", reals)
	return m
}

func realNode(s *Service, r *RealServer, g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	var def RealServer
	realDefaults(&def, s, known(), "")
	marshalRows(m, realFields, r, &def)
	if r.Check != nil {
		addNode(m, "check", checkNode(s, r, r.Check, g))
	}
	return m
}

func checkNode(s *Service, r *RealServer, c *Check, g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	// Retry timing and MISC_CHECK's timeout follow the check's interval;
	// the interval itself, the service's delay_loop.
	def := Check{Kind: c.Kind, Interval: c.Interval}
	checkDefaults(&def, r, s, g, known("interval"), "", "")
	def.Interval = s.DelayLoop
	marshalRows(m, checkFields, c, &def)
	if kd := kindOf(c.Kind); kd != nil && kd.block != nil && kd.block.isSet(c) {
		addNode(m, kd.block.key(), kd.block.node(c, &def))
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
	if g.ScriptGroup != "" {
		addStr(m, "script_group", g.ScriptGroup)
	}
	return m
}

// addLines writes items as their keepalived-syntax lines.
func addLines[T fmt.Stringer](m *yaml.Node, key string, items []T) {
	if len(items) == 0 {
		return
	}
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = x.String()
	}
	addNode(m, key, strSeq(out))
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
func addNotifies(m *yaml.Node, master, backup, fault, stop, any script.Command) {
	addCommand(m, "notify_master", master)
	addCommand(m, "notify_backup", backup)
	addCommand(m, "notify_fault", fault)
	addCommand(m, "notify_stop", stop)
	addCommand(m, "notify", any)
}

func vrrpNode(v *VRRPInstance, g *Global) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	addStr(m, "name", v.Name)
	// What the defaults alone give an instance under this global_defs.
	var def VRRPInstance
	vrrpDefaults(&def, g, newSrcMap(""), "")
	if v.IPv6() {
		def.McastGroup = g.VRRP.McastGroup6
	}
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
	excluded := make([]vrrp.VIP, len(v.ExcludedVIPs))
	for i, vip := range v.ExcludedVIPs {
		if vip.Dev == v.Interface {
			vip.Dev = ""
		}
		excluded[i] = vip
	}
	addLines(m, "excluded_vips", excluded)
	addLines(m, "routes", v.Routes)
	addLines(m, "rules", v.Rules)
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

// addCommand writes a script, if set.
func addCommand(m *yaml.Node, key string, c script.Command) {
	if !c.IsZero() {
		addNode(m, key, commandNode(c))
	}
}

// commandNode is a script: its argv as a list, or, when it names its user,
// {command, user, group}.
func commandNode(c script.Command) *yaml.Node {
	if c.User == "" && c.Group == "" {
		return strSeq(c.Argv)
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	addNode(n, "command", strSeq(c.Argv))
	if c.User != "" {
		addStr(n, "user", c.User)
	}
	if c.Group != "" {
		addStr(n, "group", c.Group)
	}
	return n
}
