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
)

// A field is one row: its keepalived keyword(s), its native YAML key (also
// its name in the source map), how its value is read and written, its
// default and its documentation. The keepalived reader, the YAML reader, the
// marshaller and README.md's keyword table all walk the same rows, so a new
// keyword is one row.
type field[S any] struct {
	ka   []string       // keepalived keywords, the usual spelling first
	key  string         // native YAML key and source-map field name
	val  func(*S) value // the typed value the row reads and writes
	def  string         // the default, for README.md
	doc  string         // what it does, for README.md
	warn string         // said at a keepalived keyword's line: what xlb does not do with it
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

type addrValue struct {
	p     *netip.Addr
	parse func(string) (netip.Addr, error)
}

func (v addrValue) set(s string, _ bool) error {
	a, err := v.parse(s)
	if err == nil {
		*v.p = a
	}
	return err
}
func (v addrValue) flag() bool       { return false }
func (v addrValue) node() *yaml.Node { return scalar("!!str", v.p.String()) }
func (v addrValue) get() any         { return *v.p }

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

// readKA reads one keepalived statement into the row's field of target.
func readKA[S any](k *kreader, r *field[S], s *stmt, ctx, path string, target *S) {
	v := r.val(target)
	ok := false
	if v.flag() && len(s.args) == 0 {
		if ok = k.noBlock(s, ctx); ok {
			_ = v.set("on", false)
			k.src.field(path, r.key, s.line(), s.key.text)
		}
	} else {
		_, ok = val(k, s, ctx, path, r.key, func(text string) (struct{}, error) { return struct{}{}, v.set(text, false) })
	}
	if ok && r.warn != "" {
		k.d.warn(s.line(), ctx, s.key.text, "%s", r.warn)
	}
}

// yamlHandlers turns rows into the YAML reader's key handlers.
func yamlHandlers[S any](y *yreader, rows []field[S], ctx, path string, target *S, more map[string]func(yfield)) map[string]func(yfield) {
	h := map[string]func(yfield){}
	for i := range rows {
		r := &rows[i]
		h[r.key] = func(f yfield) {
			v := r.val(target)
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
		v := rows[i].val(obj)
		if !reflect.DeepEqual(v.get(), rows[i].val(def).get()) {
			addNode(m, rows[i].key, v.node())
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
		status := "supported"
		if r.warn != "" {
			status = "accepted, warns: " + r.warn
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", strings.Join(kws, ", "), r.key, r.def, status, r.doc)
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
