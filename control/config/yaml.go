package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/control/script"
	"xlb/control/secret"
	"xlb/control/vrrp"
)

// The native format is read through yaml.v3's Node API rather than Unmarshal
// so that every value keeps its line and unknown keys can be rejected with it.

type yreader struct {
	d    *diags
	src  *srcMap
	file string
}

type yfield struct {
	key *yaml.Node // its Line and Value name the field in messages
	val *yaml.Node
}

func readYAML(file string, data []byte, d *diags, src *srcMap) *Config {
	y := &yreader{d: d, src: src, file: file}
	cfg := &Config{}
	var doc yaml.Node
	if err := unmarshalNode(data, &doc); err != nil {
		// yaml.v3's message already reads "yaml: line N: ...".
		d.err(pos{file: file, line: yamlErrLine(err)}, "", "", ErrSyntax, "%s", yamlErrMsg(err))
		d.unreadable = true
		return cfg
	}
	if len(doc.Content) == 0 {
		return cfg
	}
	root := deref(doc.Content[0])
	var bgpCheck func()
	y.fields(root, "", map[string]func(yfield){
		"global": func(f yfield) {
			src.object("global", y.p(f.key), "global")
			y.fields(f.val, "global", yamlHandlers(y, globalFields, "global", "global", &cfg.Global, map[string]func(yfield){
				"script_user":  func(g yfield) { cfg.Global.ScriptUser, _ = y.str(g, "global", "global", "script_user") },
				"script_group": func(g yfield) { cfg.Global.ScriptGroup, _ = y.str(g, "global", "global", "script_group") },
			}))
		},
		"interfaces": func(f yfield) {
			for i, n := range y.seq(f, "") {
				if s, ok := y.scalar(n, "", "interfaces"); ok {
					src.object(fmt.Sprintf("interfaces[%d]", i), y.p(n), "interfaces")
					cfg.Interfaces = append(cfg.Interfaces, s)
				}
			}
		},
		"services": func(f yfield) {
			for i, n := range y.seq(f, "") {
				cfg.Services = append(cfg.Services, y.service(n, fmt.Sprintf("services[%d]", i)))
			}
		},
		"vrrp": func(f yfield) {
			for i, n := range y.seq(f, "") {
				cfg.VRRP = append(cfg.VRRP, y.vrrp(n, fmt.Sprintf("vrrp[%d]", i)))
			}
		},
		"static": func(f yfield) {
			src.object("static", y.p(f.key), "static")
			y.fields(f.val, "static", map[string]func(yfield){
				"addresses": func(g yfield) { cfg.Static.Addresses = yamlLines(y, g, "static", vipLine) },
				"routes":    func(g yfield) { cfg.Static.Routes = yamlLines(y, g, "static", parseRoute) },
				"rules":     func(g yfield) { cfg.Static.Rules = yamlLines(y, g, "static", parseRule) },
			})
		},
		"sync_groups": func(f yfield) {
			for i, n := range y.seq(f, "") {
				cfg.SyncGroups = append(cfg.SyncGroups, y.syncGroup(n, fmt.Sprintf("sync_groups[%d]", i)))
			}
		},
		"garp_groups": func(f yfield) {
			for i, n := range y.seq(f, "") {
				cfg.GARPGroups = append(cfg.GARPGroups, y.garpGroup(n, fmt.Sprintf("garp_groups[%d]", i)))
			}
		},
		"bgp": func(f yfield) { bgpCheck = y.bgpBlock(f, cfg) }, // bgp.go
	})
	if bgpCheck != nil {
		bgpCheck()
	}
	return cfg
}

// unmarshalNode turns a panic inside yaml.v3 (it has had some on hostile
// input) into an error, so a bad file can never bring the daemon down.
func unmarshalNode(data []byte, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return yaml.Unmarshal(data, doc)
}

// yamlErrMsg drops yaml.v3's "yaml: line N: " prefix: the line is ours to print.
func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			return rest
		}
	}
	return msg
}

func yamlErrLine(err error) int {
	var line int
	if _, e := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); e == nil {
		return line
	}
	return 0
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// valueOf returns the value of key in mapping n (the last, if given twice),
// or nil: to name an object in messages before reading it.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	var v *yaml.Node
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v = n.Content[i+1]
		}
	}
	return v
}

// nameCtx names an object in messages: by its name when it has one
// (`service "web"`), else by its path.
func nameCtx(n *yaml.Node, path, what string) string {
	if name := valueOf(n, "name"); name != nil && name.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%s %q", what, name.Value)
	}
	return path
}

func (y *yreader) p(n *yaml.Node) pos { return pos{file: y.file, line: n.Line} }

// fields walks a mapping, calling the handler of each key; unknown and
// repeated keys are errors at their line.
func (y *yreader) fields(n *yaml.Node, ctx string, handlers map[string]func(yfield)) bool {
	n = deref(n)
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true
	}
	if n.Kind != yaml.MappingNode {
		y.d.err(y.p(n), ctx, "", ErrSyntax, "wants a mapping (key: value)")
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if first, dup := seen[k.Value]; dup {
			y.d.err(y.p(k), ctx, k.Value, ErrSyntax, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		h, ok := handlers[k.Value]
		if !ok {
			y.d.err(y.p(k), ctx, k.Value, ErrInvalid, "unknown field")
			continue
		}
		if v == nil {
			continue
		}
		h(yfield{key: k, val: v})
	}
	return true
}

func (y *yreader) seq(f yfield, ctx string) []*yaml.Node {
	if f.val.Kind == yaml.ScalarNode && f.val.Tag == "!!null" {
		return nil
	}
	if f.val.Kind != yaml.SequenceNode {
		y.d.err(y.p(f.val), ctx, f.key.Value, ErrSyntax, "wants a list")
		return nil
	}
	out := make([]*yaml.Node, 0, len(f.val.Content))
	for _, n := range f.val.Content {
		out = append(out, deref(n))
	}
	return out
}

func (y *yreader) scalar(n *yaml.Node, ctx, field string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		y.d.err(pos{file: y.file, line: line}, ctx, field, ErrSyntax, "wants a single value")
		return "", false
	}
	return n.Value, true
}

// value reads a scalar field with parse and records where it was set.
func yval[T any](y *yreader, f yfield, ctx, path, field string, parse func(string) (T, error)) (T, bool) {
	var zero T
	s, ok := y.scalar(f.val, ctx, f.key.Value)
	if !ok {
		y.src.badField(path, field, y.p(f.key), f.key.Value)
		return zero, false
	}
	v, err := parse(s)
	if err != nil {
		y.d.err(y.p(f.val), ctx, f.key.Value, ErrInvalid, "%v", err)
		y.src.badField(path, field, y.p(f.key), f.key.Value)
		return zero, false
	}
	y.src.field(path, field, y.p(f.key), f.key.Value)
	return v, true
}

func ident(s string) (string, error) { return s, nil }

func ydur(s string) (time.Duration, error) { return parseSeconds(s, true) }

func (y *yreader) str(f yfield, ctx, path, field string) (string, bool) {
	return yval(y, f, ctx, path, field, ident)
}

// command reads a script: its argv (see argv), or {command: ARGV, user: U,
// group: G} to run it as U and G, as keepalived's `SCRIPT USER GROUP`.
func (y *yreader) command(f yfield, ctx, path, field string) script.Command {
	if n := deref(f.val); n == nil || n.Kind != yaml.MappingNode {
		return script.Command{Argv: y.argv(f, ctx, path, field)}
	}
	var c script.Command
	ok := y.fields(f.val, ctx+": "+f.key.Value, map[string]func(yfield){
		"command": func(g yfield) { c.Argv = y.words(g, ctx) },
		"user":    func(g yfield) { c.User, _ = y.str(g, ctx, path, field+".user") },
		"group":   func(g yfield) { c.Group, _ = y.str(g, ctx, path, field+".group") },
	})
	if !ok || len(c.Argv) == 0 {
		if ok {
			y.d.err(y.p(f.key), ctx, f.key.Value, ErrInvalid, "wants a command")
		}
		y.src.badField(path, field, y.p(f.key), f.key.Value)
		return script.Command{}
	}
	y.src.field(path, field, y.p(f.key), f.key.Value)
	return c
}

// argv reads a command as a list of words or as one string split like keepalived's.
func (y *yreader) argv(f yfield, ctx, path, field string) []string {
	out := y.words(f, ctx)
	if len(out) == 0 {
		y.src.badField(path, field, y.p(f.key), f.key.Value)
		return nil
	}
	y.src.field(path, field, y.p(f.key), f.key.Value)
	return out
}

func (y *yreader) words(f yfield, ctx string) []string {
	var out []string
	if f.val.Kind == yaml.SequenceNode {
		for _, n := range y.seq(f, ctx) {
			if s, ok := y.scalar(n, ctx, f.key.Value); ok {
				out = append(out, s)
			}
		}
	} else {
		s, ok := y.scalar(f.val, ctx, f.key.Value)
		if !ok {
			return nil
		}
		var err error
		if out, err = splitWords(s); err != nil {
			y.d.err(y.p(f.val), ctx, f.key.Value, ErrSyntax, "%v", err)
			return nil
		}
	}
	if len(out) == 0 {
		y.d.err(y.p(f.val), ctx, f.key.Value, ErrInvalid, "wants a command")
	}
	return out
}

func (y *yreader) service(n *yaml.Node, path string) Service {
	var s Service
	ctx := nameCtx(n, path, "service")
	y.src.object(path, y.p(n), ctx)
	ok := y.fields(n, ctx, yamlHandlers(y, serviceFields, ctx, path, &s, map[string]func(yfield){
		"reals": func(f yfield) {
			for i, rn := range y.seq(f, ctx) {
				s.Reals = append(s.Reals, y.real(rn, fmt.Sprintf("%s.reals[%d]", path, i)))
			}
		},
	}))
	if !ok {
		y.src.badObject(path, y.p(n))
	}
	return s
}

func (y *yreader) real(n *yaml.Node, path string) RealServer {
	var r RealServer
	ctx := path
	if ip := valueOf(n, "ip"); ip != nil && ip.Value != "" {
		ctx = "real " + ip.Value
		if port := valueOf(n, "port"); port != nil && port.Value != "" {
			ctx += " " + port.Value
		}
	}
	y.src.object(path, y.p(n), ctx)
	ok := y.fields(n, ctx, yamlHandlers(y, realFields, ctx, path, &r, map[string]func(yfield){
		"check": func(f yfield) {
			y.src.object(path+".check", y.p(f.key), ctx+": check")
			r.Check = y.check(f.val, path+".check", ctx+": check")
		},
	}))
	if !ok {
		y.src.badObject(path, y.p(n))
	}
	return r
}

func (y *yreader) check(n *yaml.Node, path, ctx string) *Check {
	c := &Check{}
	h := yamlHandlers(y, checkFields, ctx, path, c, nil)
	for _, kd := range checkKinds {
		if b := kd.block; b != nil {
			h[b.key()] = func(f yfield) { b.readYAML(y, f, ctx, path, c) }
		}
	}
	if !y.fields(n, ctx, h) {
		y.src.badObject(path, y.p(n))
	}
	if c.Kind == "" {
		// A lone kind block says the kind.
		var only []CheckKind
		for _, kd := range checkKinds {
			if kd.block != nil && kd.block.isSet(c) {
				only = append(only, kd.kind)
			}
		}
		if len(only) == 1 {
			c.Kind = only[0]
		}
	}
	return c
}

func (y *yreader) vrrp(n *yaml.Node, path string) VRRPInstance {
	var v VRRPInstance
	ctx := nameCtx(n, path, "vrrp")
	y.src.object(path, y.p(n), ctx)
	u8 := func(f yfield, field string, min int64) uint8 {
		x, _ := yval(y, f, ctx, path, field, intIn(min, 255))
		return uint8(x)
	}
	list := func(f yfield, field string, each func(*yaml.Node, string)) {
		for i, e := range y.seq(f, ctx) {
			p := fmt.Sprintf("%s.%s[%d]", path, field, i)
			y.src.object(p, y.p(e), ctx+": "+f.key.Value)
			each(e, p)
		}
	}
	ok := y.fields(n, ctx, yamlHandlers(y, vrrpFields, ctx, path, &v, y.withNotifies(&v.Notifies, ctx, path, map[string]func(yfield){
		"name": func(f yfield) { v.Name, _ = y.str(f, ctx, path, "name") },
		"auth_type": func(f yfield) {
			v.AuthType, _ = yval(y, f, ctx, path, "auth_type", func(s string) (AuthType, error) {
				switch t := AuthType(strings.ToLower(s)); t {
				case AuthNone, AuthPass:
					return t, nil
				}
				return "", fmt.Errorf("%q is not none or pass", s)
			})
		},
		"auth_pass": func(f yfield) {
			p, _ := y.str(f, ctx, path, "auth_pass")
			v.AuthPass = secret.New(p)
		},
		"vips": func(f yfield) {
			y.src.field(path, "vips", y.p(f.key), f.key.Value)
			list(f, "vips", func(e *yaml.Node, p string) {
				if vip, ok := y.vip(e, ctx+": vips"); ok {
					v.VIPs = append(v.VIPs, vip)
				} else {
					y.src.badField(path, "vips", y.p(f.key), f.key.Value)
				}
			})
		},
		"unicast_peers": func(f yfield) {
			list(f, "unicast_peers", func(e *yaml.Node, p string) {
				if s, ok := y.scalar(e, ctx, f.key.Value); ok {
					a, err := parseAddr(s)
					if err != nil {
						y.d.err(y.p(e), ctx, f.key.Value, ErrInvalid, "%v", err)
						return
					}
					v.UnicastPeers = append(v.UnicastPeers, a)
				}
			})
		},
		"track_interfaces": func(f yfield) {
			list(f, "track_interfaces", func(e *yaml.Node, p string) {
				if s, ok := y.scalar(e, ctx, f.key.Value); ok {
					v.TrackInterfaces = append(v.TrackInterfaces, s)
				}
			})
		},
		"track_scripts": func(f yfield) {
			list(f, "track_scripts", func(e *yaml.Node, p string) {
				if sc, ok := y.trackScript(e, ctx+": track_scripts", p); ok {
					v.TrackScripts = append(v.TrackScripts, sc)
				}
			})
		},
		"excluded_vips": func(f yfield) {
			y.src.field(path, "excluded_vips", y.p(f.key), f.key.Value)
			v.ExcludedVIPs = yamlLines(y, f, ctx, vipLine)
		},
		"routes": func(f yfield) {
			y.src.field(path, "routes", y.p(f.key), f.key.Value)
			v.Routes = yamlLines(y, f, ctx, parseRoute)
		},
		"rules": func(f yfield) {
			y.src.field(path, "rules", y.p(f.key), f.key.Value)
			v.Rules = yamlLines(y, f, ctx, parseRule)
		},
		"track_services": func(f yfield) {
			list(f, "track_services", func(e *yaml.Node, p string) {
				if s, ok := y.scalar(e, ctx, f.key.Value); ok {
					v.TrackServices = append(v.TrackServices, s)
				}
			})
		},
		"no_backend_priority_drop": func(f yfield) { v.NoBackendPriorityDrop = u8(f, "no_backend_priority_drop", 1) },
	})))
	if !ok {
		y.src.badObject(path, y.p(n))
	}
	return v
}

// yamlLines reads a list of keepalived-syntax lines ("10.9.0.0/24 via
// 10.0.0.1") with parse.
func yamlLines[T any](y *yreader, f yfield, ctx string, parse func([]string) (T, error)) []T {
	var out []T
	for _, n := range y.seq(f, ctx) {
		s, ok := y.scalar(n, ctx, f.key.Value)
		if !ok {
			continue
		}
		x, err := parse(strings.Fields(s))
		if err != nil {
			y.d.err(y.p(n), ctx, f.key.Value, ErrInvalid, "%v", err)
			continue
		}
		out = append(out, x)
	}
	return out
}

// syncGroup reads one item of sync_groups: name, members and the group's
// notify commands (its tracking is written on each member).
func (y *yreader) syncGroup(n *yaml.Node, path string) vrrp.SyncGroupConfig {
	var g vrrp.SyncGroupConfig
	ctx := path
	y.src.object(path, y.p(n), ctx)
	ok := y.fields(n, ctx, y.withNotifies(&g.Notifies, ctx, path, map[string]func(yfield){
		"name": func(f yfield) { g.Name, _ = y.str(f, ctx, path, "name") },
		"members": func(f yfield) {
			y.src.field(path, "members", y.p(f.key), f.key.Value)
			for _, e := range y.seq(f, ctx) {
				if s, ok := y.scalar(e, ctx, f.key.Value); ok {
					g.Members = append(g.Members, s)
				}
			}
		},
	}))
	if !ok {
		y.src.badObject(path, y.p(n))
	}
	return g
}

// vip reads "A.B.C.D[/len] [dev IF] [label X] [no_track]" or {address, dev,
// label, no_track}.
func (y *yreader) vip(n *yaml.Node, ctx string) (vrrp.VIP, bool) {
	if n.Kind == yaml.MappingNode {
		var words []string
		var addr, dev, label string
		var noTrack bool
		y.fields(n, ctx, map[string]func(yfield){
			"address": func(f yfield) { addr, _ = y.scalar(f.val, ctx, "address") },
			"dev":     func(f yfield) { dev, _ = y.scalar(f.val, ctx, "dev") },
			"label":   func(f yfield) { label, _ = y.scalar(f.val, ctx, "label") },
			"no_track": func(f yfield) {
				if f.val.Decode(&noTrack) != nil {
					y.d.err(y.p(f.val), ctx, "no_track", ErrInvalid, "%q: want true or false", f.val.Value)
				}
			},
		})
		words = append(words, addr)
		if dev != "" {
			words = append(words, "dev", dev)
		}
		if label != "" {
			words = append(words, "label", label)
		}
		if noTrack {
			words = append(words, "no_track")
		}
		v, ignored, err := parseVIP(words)
		if err == nil && len(ignored) > 0 {
			err = fmt.Errorf("%s: %s", ignored[0].word, ignored[0].why)
		}
		if err != nil {
			y.d.err(y.p(n), ctx, "", ErrInvalid, "%v", err)
			return v, false
		}
		return v, true
	}
	s, ok := y.scalar(n, ctx, "")
	if !ok {
		return vrrp.VIP{}, false
	}
	v, ignored, err := parseVIP(strings.Fields(s))
	if err == nil && len(ignored) > 0 {
		err = fmt.Errorf("%q is not supported here (dev, label, no_track are): %s", ignored[0].word, ignored[0].why)
	}
	if err != nil {
		y.d.err(y.p(n), ctx, "", ErrInvalid, "%v", err)
		return v, false
	}
	return v, true
}

// trackScript reads one item of track_scripts: a whole vrrp_script with the
// instance's weight already in it, {name, command, interval, timeout,
// weight, rise, fall, init_fail, user, group}.
func (y *yreader) trackScript(n *yaml.Node, ctx, path string) (vrrp.Script, bool) {
	var sc vrrp.Script
	ok := y.fields(n, ctx, yamlHandlers(y, scriptFields, ctx, path, &sc, map[string]func(yfield){
		"name":    func(f yfield) { sc.Name, _ = y.str(f, ctx, path, "name") },
		"command": func(f yfield) { sc.Command = y.argv(f, ctx, path, "command") },
		"user":    func(f yfield) { sc.User, _ = y.str(f, ctx, path, "user") },
		"group":   func(f yfield) { sc.Group, _ = y.str(f, ctx, path, "group") },
	}))
	if !ok {
		return sc, false
	}
	if sc.Name == "" || len(sc.Command) == 0 {
		y.d.err(y.p(n), ctx, "", ErrInvalid, "wants a name and a command")
		return sc, false
	}
	return sc, true
}

// withNotifies adds the notify command keys (vrrp.NotifyKeywords) to the
// handlers h of a VRRP instance or a sync group.
func (y *yreader) withNotifies(n *vrrp.Notifies, ctx, path string, h map[string]func(yfield)) map[string]func(yfield) {
	for _, kw := range vrrp.NotifyKeywords {
		h[kw] = func(f yfield) { *n.Slot(kw) = y.command(f, ctx, path, kw) }
	}
	return h
}
