package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/control/vrrp"
)

// The pace of gratuitous ARPs and unsolicited neighbour advertisements:
// global_defs' vrrp_garp_interval and vrrp_gna_interval (fields_global.go)
// and top-level garp_group blocks (native: garp_groups), read as keepalived
// reads them (acassen/keepalived 9cbce3e: core/global_parser.c
// vrrp_garp_interval_handler, vrrp/vrrp_parser.c garp_group_*_handler) and
// applied per interface by vrrp.Pacer (vrrp_if.c, vrrp_arp.c, vrrp_ndisc.c).

// maxPace is keepalived's largest interval: UINT_MAX microseconds
// (read_decimal_unsigned_strvec(..., UINT_MAX, TIMER_HZ_DIGITS)).
const maxPace = 4294967295 * time.Microsecond

func pacingDoc(what string) string {
	return "seconds between two " + what + " on one interface, whichever instances send them (keepalived's resolution, 1 µs, " +
		"up to 4294.967295); an interface in a garp_group takes the group's instead"
}

// instancePacingWhy: keepalived has no per-instance interval; it reports
// these keywords unknown in a vrrp_instance.
const instancePacingWhy = "not a vrrp_instance keyword (keepalived reports it unknown): the spacing is per interface, " +
	"shared by the instances on it: set vrrp_garp_interval / vrrp_gna_interval in global_defs, " +
	"or garp_group { interface IF; garp_interval SECONDS } for that interface"

// paceValue is an interval in seconds with keepalived's resolution (1 µs)
// and range. keepalived refuses a global 0 with a warning and keeps its
// default, which is 0, so 0 is taken here and means the same: no pacing.
type paceValue struct{ p *time.Duration }

func (v paceValue) set(s string, native bool) error {
	d, err := parseSeconds(s, native)
	switch {
	case err != nil:
		return err
	case d%time.Microsecond != 0:
		return fmt.Errorf("%q is finer than keepalived's resolution of 1 µs (at most 6 decimal places)", s)
	case d > maxPace:
		return fmt.Errorf("%q is out of range 0..4294.967295 seconds", s)
	}
	*v.p = d
	return nil
}
func (v paceValue) flag() bool       { return false }
func (v paceValue) node() *yaml.Node { return scalar("!!str", formatDuration(*v.p)) }
func (v paceValue) get() any         { return *v.p }

// garpGroupFields are garp_group's keywords (native: an item of
// garp_groups). interface adds one interface, interfaces { ... } several
// (keepalived says to use one of them per block, and takes both).
var garpGroupFields = []field[vrrp.GARPGroup]{
	{ka: []string{"garp_interval"}, key: "garp_interval", val: func(g *vrrp.GARPGroup) value { return paceValue{&g.GARPInterval} },
		def: "0", doc: "seconds between two gratuitous ARPs on the group's interfaces, all of them together", show: true},
	{ka: []string{"gna_interval"}, key: "gna_interval", val: func(g *vrrp.GARPGroup) value { return paceValue{&g.GNAInterval} },
		def: "0", doc: "the same for unsolicited neighbour advertisements", show: true},
	{ka: []string{"interfaces"}, key: "interfaces", val: func(g *vrrp.GARPGroup) value { return ifaceList{p: &g.Interfaces, block: true} },
		def: "none", doc: "`interfaces { IF ... }`; native: a list"},
	{ka: []string{"interface"}, val: func(g *vrrp.GARPGroup) value { return ifaceList{p: &g.Interfaces} },
		def: "none", doc: "one interface"},
}

// ifaceList is garp_group's interfaces: one word (interface) or a block of
// them (interfaces), a YAML list.
type ifaceList struct {
	p     *[]string
	block bool
}

func (v ifaceList) set(string, bool) error { return nil }
func (v ifaceList) flag() bool             { return false }
func (v ifaceList) node() *yaml.Node       { return strSeq(*v.p) }
func (v ifaceList) get() any               { return *v.p }

func (v ifaceList) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	add := func(name string, line pos) {
		k.src.object(fmt.Sprintf("%s.interfaces[%d]", path, len(*v.p)), line, ctx)
		*v.p = append(*v.p, name)
	}
	if !v.block {
		name, ok := k.one(s, ctx)
		if ok {
			add(name, s.line())
			k.src.field(path, "interfaces", s.line(), s.key.text)
		}
		return ok
	}
	if !k.wantBlock(s, ctx) || !k.wantArgs(s, ctx, 0, "") {
		return false
	}
	k.src.field(path, "interfaces", s.line(), s.key.text)
	n := len(*v.p)
	for _, c := range s.block {
		if k.noBlock(c, ctx+": interfaces") {
			for _, w := range words(c) {
				add(w, c.line())
			}
		}
	}
	if len(*v.p) == n {
		// garp_group_interfaces_handler: "Warning - empty garp_group interfaces block".
		k.d.warn(s.line(), ctx, s.key.text, "empty garp_group interfaces block (as keepalived)")
	}
	return true
}

func (v ifaceList) readYAML(y *yreader, f yfield, ctx, path, key string) {
	y.src.field(path, key, y.p(f.key), f.key.Value)
	for _, n := range y.seq(f, ctx) {
		if s, ok := y.scalar(n, ctx, f.key.Value); ok {
			y.src.object(fmt.Sprintf("%s.interfaces[%d]", path, len(*v.p)), y.p(n), ctx)
			*v.p = append(*v.p, s)
		}
	}
}

// garpGroup reads a top-level garp_group block.
func (k *kreader) garpGroup(s *stmt) {
	const ctx = "garp_group"
	path := fmt.Sprintf("garp_groups[%d]", len(k.cfg.GARPGroups))
	k.src.object(path, s.line(), ctx)
	if len(s.args) > 0 {
		k.d.err(s.line(), ctx, "", ErrSyntax, "takes no name, only a { ... } block")
	}
	var g vrrp.GARPGroup
	for _, c := range s.block {
		if !readRow(k, garpGroupFields, c, ctx, path, &g) {
			k.other(c, ctx, nil, false)
		}
	}
	k.cfg.GARPGroups = append(k.cfg.GARPGroups, g)
}

// garpGroup reads one item of garp_groups.
func (y *yreader) garpGroup(n *yaml.Node, path string) vrrp.GARPGroup {
	var g vrrp.GARPGroup
	y.src.object(path, y.p(n), path)
	if !y.fields(n, path, yamlHandlers(y, garpGroupFields, path, path, &g, nil)) {
		y.src.badObject(path, y.p(n))
	}
	return g
}

// garpGroupNode writes a garp group for MarshalNative.
func garpGroupNode(g *vrrp.GARPGroup) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	marshalRows(m, garpGroupFields, g, &vrrp.GARPGroup{})
	return m
}

// validateGARPGroups applies keepalived's rules: a group that sets neither
// interval is dropped (garp_group_end_handler: "does not have any delay set
// - removing"), so its interfaces keep the global intervals; an interface
// already in an earlier group stays there ("garp_group already specified
// for %s - ignoring"). An interval of a second or more is kept with a
// warning, as keepalived logs "is very large".
func validateGARPGroups(cfg *Config, src *srcMap, d *diags) {
	for _, kw := range []struct {
		key string
		d   time.Duration
	}{{"vrrp_garp_interval", cfg.Global.VRRP.GARPInterval}, {"vrrp_gna_interval", cfg.Global.VRRP.GNAInterval}} {
		if kw.d >= time.Second {
			d.warnIn(src, "global", kw.key, "%s is very large (as keepalived warns): a burst of 5 takes %v", formatDuration(kw.d), 4*kw.d)
		}
	}
	owner := map[string]int{}
	var kept []vrrp.GARPGroup
	for i, g := range cfg.GARPGroups {
		path := fmt.Sprintf("garp_groups[%d]", i)
		if !src.has(path, "garp_interval") && !src.has(path, "gna_interval") {
			d.warnIn(src, path, "", "garp group %d does not have any delay set - removing (as keepalived): its interfaces take the global vrrp_garp_interval and vrrp_gna_interval", i+1)
			continue
		}
		for _, kw := range []struct {
			key string
			d   time.Duration
		}{{"garp_interval", g.GARPInterval}, {"gna_interval", g.GNAInterval}} {
			if kw.d >= time.Second {
				d.warnIn(src, path, kw.key, "%s is very large (as keepalived warns): a burst of 5 takes %v", formatDuration(kw.d), 4*kw.d)
			}
		}
		var ifaces []string
		for j, name := range g.Interfaces {
			ip := fmt.Sprintf("%s.interfaces[%d]", path, j)
			switch first, dup := owner[name]; {
			case name == "" || len(name) > maxIfName:
				d.errIn(src, ip, "interfaces", ErrInvalid, "%q is not an interface name (1 to %d characters)", name, maxIfName)
			case dup:
				d.warnIn(src, ip, "interfaces", "garp_group already specified for %s - ignoring (as keepalived: garp group %d, the first to name it, applies)", name, first+1)
			default:
				owner[name] = i
				ifaces = append(ifaces, name)
			}
		}
		if len(ifaces) == 0 {
			d.warnIn(src, path, "interfaces", "garp group %d applies to no interface", i+1)
		}
		g.Interfaces = ifaces
		kept = append(kept, g)
	}
	cfg.GARPGroups = kept
}
