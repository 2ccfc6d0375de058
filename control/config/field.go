package config

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/control/script"
	"xlb/control/secret"
)

// A field is one row: its keepalived keyword(s), its native YAML key (also
// its name in the source map), how its value is read and written, its
// default and its documentation. The keepalived reader, the YAML reader, the
// marshaller and README.md's keyword table all walk the same rows, so a new
// keyword is one row.
type field[S any] struct {
	ka   []string       // keepalived keywords, the usual spelling first
	arg  string         // how keepalived.conf gives it when no keyword does (a block's header), for README.md
	key  string         // native YAML key and source-map field name; "" for a keepalived-only keyword
	val  func(*S) value // the typed value the row reads and writes
	def  string         // the default, for README.md
	init string         // the default as native YAML spells it, set by rowDefaults; "" when it depends on other fields
	doc  string         // what it does, for README.md
	warn string         // said at a keepalived keyword's line: what xlb does not do with it
	show bool           // MarshalNative writes it even at its default (required, or worth seeing)
}

// value is one typed field of the config that a row reads and writes.
type value interface {
	// set parses text and stores it; native allows Go durations ("1.5s").
	set(text string, native bool) error
	// flag reports whether a bare keepalived keyword means true.
	flag() bool
	// node writes the value for MarshalNative.
	node() *yaml.Node
	// get returns the value, to compare with the default.
	get() any
}

type durValue struct{ p *time.Duration }

func (v durValue) set(s string, native bool) error {
	d, err := parseSeconds(s, native)
	if err == nil {
		*v.p = d
	}
	return err
}
func (v durValue) flag() bool       { return false }
func (v durValue) node() *yaml.Node { return scalar("!!str", formatDuration(*v.p)) }
func (v durValue) get() any         { return *v.p }

type intValue[T ~uint8 | ~int | ~uint16 | ~uint32] struct {
	p        *T
	min, max int64
}

func (v intValue[T]) set(s string, _ bool) error {
	n, err := parseInt(s, v.min, v.max)
	if err == nil {
		*v.p = T(n)
	}
	return err
}
func (v intValue[T]) flag() bool { return false }
func (v intValue[T]) node() *yaml.Node {
	return scalar("!!int", strconv.FormatInt(int64(*v.p), 10))
}
func (v intValue[T]) get() any { return *v.p }

func intRange[T ~uint8 | ~int | ~uint16 | ~uint32](p *T, min, max int64) value {
	return intValue[T]{p: p, min: min, max: max}
}

type boolValue struct{ p *bool }

func (v boolValue) set(s string, _ bool) error {
	b, err := parseBool(s)
	if err == nil {
		*v.p = b
	}
	return err
}
func (v boolValue) flag() bool       { return true }
func (v boolValue) node() *yaml.Node { return scalar("!!bool", strconv.FormatBool(*v.p)) }
func (v boolValue) get() any         { return *v.p }

type strValue struct{ p *string }

func (v strValue) set(s string, _ bool) error { *v.p = s; return nil }
func (v strValue) flag() bool                 { return false }
func (v strValue) node() *yaml.Node           { return scalar("!!str", *v.p) }
func (v strValue) get() any                   { return *v.p }

// parsedValue is a value read by its own parser and written by String.
type parsedValue[T interface{ String() string }] struct {
	p     *T
	parse func(string) (T, error)
}

func (v parsedValue[T]) set(s string, _ bool) error {
	a, err := v.parse(s)
	if err == nil {
		*v.p = a
	}
	return err
}
func (v parsedValue[T]) flag() bool       { return false }
func (v parsedValue[T]) node() *yaml.Node { return scalar("!!str", (*v.p).String()) }
func (v parsedValue[T]) get() any         { return *v.p }

// addrValue is an address; groupValue is flow sync's group:port (package
// group checks it).
type (
	addrValue  = parsedValue[netip.Addr]
	groupValue = parsedValue[netip.AddrPort]
)

// rowFor returns the row a keepalived keyword names.
func rowFor[S any](rows []field[S], keyword string) *field[S] {
	for i := range rows {
		for _, k := range rows[i].ka {
			if k == keyword {
				return &rows[i]
			}
		}
	}
	return nil
}

// A kaValue reads its own keepalived statement: several words, or a block.
// It records the field in the source map itself.
type kaValue interface {
	readKA(k *kreader, s *stmt, ctx, path, key string) bool
}

// A yamlValue reads its own YAML node: a list or a mapping.
type yamlValue interface {
	readYAML(y *yreader, f yfield, ctx, path, key string)
}

// A bareValue gives a bare keepalived keyword a value of its own (a bool's
// is "on", through flag).
type bareValue interface{ bare() string }

// readKA reads one keepalived statement into the row's field of target.
func readKA[S any](k *kreader, r *field[S], s *stmt, ctx, path string, target *S) {
	v := r.val(target)
	ok := false
	bare, hasBare := "", v.flag()
	if hasBare {
		bare = "on"
	} else if b, isBare := v.(bareValue); isBare {
		bare, hasBare = b.bare(), true
	}
	switch kv, own := v.(kaValue); {
	case own:
		ok = kv.readKA(k, s, ctx, path, r.key)
	case hasBare && len(s.args) == 0:
		if ok = k.noBlock(s, ctx); ok {
			_ = v.set(bare, false)
			k.src.field(path, r.key, s.line(), s.key.text)
		}
	default:
		_, ok = val(k, s, ctx, path, r.key, func(text string) (struct{}, error) { return struct{}{}, v.set(text, false) })
	}
	if ok && r.warn != "" {
		k.d.warn(s.line(), ctx, s.key.text, "%s", r.warn)
	}
}

// readRow reads s with the row of rows its keyword names; false: none does.
func readRow[S any](k *kreader, rows []field[S], s *stmt, ctx, path string, target *S) bool {
	r := rowFor(rows, s.key.text)
	if r != nil {
		readKA(k, r, s, ctx, path, target)
	}
	return r != nil
}

// yamlHandlers turns rows into the YAML reader's key handlers.
func yamlHandlers[S any](y *yreader, rows []field[S], ctx, path string, target *S, more map[string]func(yfield)) map[string]func(yfield) {
	h := map[string]func(yfield){}
	for i := range rows {
		r := &rows[i]
		if r.key == "" {
			continue
		}
		h[r.key] = func(f yfield) {
			v := r.val(target)
			if yv, own := v.(yamlValue); own {
				yv.readYAML(y, f, ctx, path, r.key)
				return
			}
			_, _ = yval(y, f, ctx, path, r.key, func(text string) (struct{}, error) { return struct{}{}, v.set(text, true) })
		}
	}
	for k, f := range more {
		h[k] = f
	}
	return h
}

// marshalRows writes every row whose value differs from the one the
// defaults would give (def: the same object, defaulted from nothing).
func marshalRows[S any](m *yaml.Node, rows []field[S], obj, def *S) {
	for i := range rows {
		r := &rows[i]
		v := r.val(obj)
		if r.key != "" && (r.show || !reflect.DeepEqual(v.get(), r.val(def).get())) {
			addNode(m, r.key, v.node())
		}
	}
}

// rowDefaults sets every field of obj that the file left unset and whose
// row has a constant default (init) to that default.
func rowDefaults[S any](rows []field[S], obj *S, src *srcMap, path string) {
	for i := range rows {
		if r := &rows[i]; r.init != "" && !src.has(path, r.key) {
			if err := r.val(obj).set(r.init, true); err != nil {
				panic(fmt.Sprintf("config: default %q of %s: %v", r.init, r.key, err))
			}
		}
	}
}

// keywordTable is README.md's table of a block's rows, then of the
// keywords the block takes without implementing them, or refuses.
func keywordTable[S any](rows []field[S], other map[string]disposition) string {
	var b strings.Builder
	b.WriteString("| keepalived.conf | YAML | default | status | notes |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		kws := make([]string, len(r.ka))
		for i, k := range r.ka {
			kws[i] = "`" + k + "`"
		}
		ka := strings.Join(kws, ", ")
		if r.arg != "" {
			ka = strings.TrimPrefix(ka+", "+r.arg, ", ")
		}
		if ka == "" {
			ka = "(native only)"
		}
		key := "(keepalived.conf only)"
		if r.key != "" {
			key = "`" + r.key + "`"
		}
		status := "supported"
		if r.warn != "" {
			status = "accepted, warns: " + r.warn
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", ka, key, r.def, status, r.doc)
	}
	for _, kw := range slices.Sorted(maps.Keys(other)) {
		status := "accepted, warns: "
		if other[kw].fatal {
			status = "refused, error: "
		}
		fmt.Fprintf(&b, "| `%s` | | | %s%s | |\n", kw, status, other[kw].why)
	}
	return b.String()
}

// textValue is a value read from one word by parse (native: the YAML
// reader's spelling) and written back by format.
type textValue[T any] struct {
	p      *T
	parse  func(s string, native bool) (T, error)
	format func(T) string
}

func (v textValue[T]) set(s string, native bool) error {
	x, err := v.parse(s, native)
	if err == nil {
		*v.p = x
	}
	return err
}
func (v textValue[T]) flag() bool       { return false }
func (v textValue[T]) node() *yaml.Node { return scalar("!!str", v.format(*v.p)) }
func (v textValue[T]) get() any         { return *v.p }

// bareDur is a duration that a bare keepalived keyword sets to a value of
// its own (persistence_timeout: 360 s).
type bareDur struct {
	durValue
	bareSecs string
}

func (v bareDur) bare() string { return v.bareSecs }

// argvValue is a command: several keepalived words (or one quoted string
// split like keepalived's), a YAML list or string.
type argvValue struct{ p *[]string }

func (v argvValue) set(string, bool) error { return nil }
func (v argvValue) flag() bool             { return false }
func (v argvValue) node() *yaml.Node       { return strSeq(*v.p) }
func (v argvValue) get() any               { return *v.p }
func (v argvValue) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	*v.p = k.scriptArgv(s, ctx, path, key)
	return *v.p != nil
}
func (v argvValue) readYAML(y *yreader, f yfield, ctx, path, key string) {
	*v.p = y.argv(f, ctx, path, key)
}

// commandValue is a notify script: keepalived's SCRIPT [USER [GROUP]]
// (kascript.go), a YAML list or string, or {command, user, group}.
type commandValue struct{ p *script.Command }

func (v commandValue) set(string, bool) error { return nil }
func (v commandValue) flag() bool             { return false }
func (v commandValue) node() *yaml.Node       { return commandNode(*v.p) }
func (v commandValue) get() any               { return *v.p }
func (v commandValue) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	*v.p = k.script(s, ctx, path, key)
	return !v.p.IsZero()
}
func (v commandValue) readYAML(y *yreader, f yfield, ctx, path, key string) {
	*v.p = y.command(f, ctx, path, key)
}

// statusValue is a list of HTTP status codes and ranges ("200", "200-299").
type statusValue struct{ p *[]StatusRange }

func (v statusValue) set(s string, _ bool) error {
	*v.p = nil
	for _, w := range strings.Fields(s) {
		r, err := parseStatusRange(w)
		if err != nil {
			return err
		}
		*v.p = append(*v.p, r)
	}
	return nil
}
func (v statusValue) flag() bool { return false }
func (v statusValue) get() any   { return *v.p }
func (v statusValue) node() *yaml.Node {
	codes := make([]string, len(*v.p))
	for i, sc := range *v.p {
		codes[i] = sc.String()
	}
	return strSeq(codes)
}
func (v statusValue) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	if !k.noBlock(s, ctx) {
		return false
	}
	if len(s.args) == 0 {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants one or more codes or ranges (200, 200-299)")
		return false
	}
	for _, a := range s.args {
		r, err := parseStatusRange(a.text)
		if err != nil {
			k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "%v", err)
			continue
		}
		*v.p = append(*v.p, r)
	}
	k.src.field(path, key, s.line(), s.key.text)
	return true
}
func (v statusValue) readYAML(y *yreader, f yfield, ctx, path, key string) {
	for _, sn := range y.seq(f, ctx) {
		if s, ok := y.scalar(sn, ctx, f.key.Value); ok {
			r, err := parseStatusRange(s)
			if err != nil {
				y.d.err(y.p(sn), ctx, f.key.Value, ErrInvalid, "%v", err)
				continue
			}
			*v.p = append(*v.p, r)
		}
	}
	y.src.field(path, key, y.p(f.key), f.key.Value)
}

// secretValue is a password: kept as a secret.Secret, written in clear by
// MarshalNative alone.
type secretValue struct{ p *secret.Secret }

func (v secretValue) set(s string, _ bool) error { *v.p = secret.New(s); return nil }
func (v secretValue) flag() bool                 { return false }
func (v secretValue) node() *yaml.Node           { return scalar("!!str", v.p.Reveal()) }
func (v secretValue) get() any                   { return v.p.Reveal() }

// optBool is a bool that may be left unset (nil: not checked).
type optBool struct{ p **bool }

func (v optBool) set(s string, _ bool) error {
	b, err := parseBool(s)
	if err == nil {
		*v.p = &b
	}
	return err
}
func (v optBool) flag() bool       { return false }
func (v optBool) node() *yaml.Node { return scalar("!!bool", strconv.FormatBool(**v.p)) }
func (v optBool) get() any         { return *v.p }

// userValue is keepalived's "user USER [GROUP]": the group goes to group.
type userValue struct {
	strValue
	group *string
}

func (v userValue) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	usr, group, ok := k.userGroup(s, ctx)
	if !ok {
		return false
	}
	*v.p, *v.group = usr, group
	k.src.field(path, key, s.line(), s.key.text)
	return true
}
