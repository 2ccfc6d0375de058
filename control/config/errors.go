package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinels wrapped by every *Error, for callers that branch on the kind.
var (
	// ErrSyntax: the file cannot be read as its format (braces, YAML structure, include).
	ErrSyntax = errors.New("syntax error")
	// ErrInvalid: a value is malformed, out of range or inconsistent.
	ErrInvalid = errors.New("invalid value")
	// ErrUnsupported: valid for keepalived, but xlb cannot honour it and
	// ignoring it would change behaviour.
	ErrUnsupported = errors.New("not supported by xlb")
)

// Error is one problem in a configuration file. Load and Parse return all of
// them joined (errors.Join); use errors.As on each to get the fields.
type Error struct {
	File    string
	Line    int    // 1-based; 0 when the problem is not at one line
	Context string // the enclosing block, e.g. "real_server 192.168.1.10 3306"
	Field   string // the keyword or key as written, e.g. "weight"
	Msg     string
	Kind    error // ErrSyntax, ErrInvalid or ErrUnsupported
}

func (e *Error) Error() string { return formatDiag(e.File, e.Line, e.Context, e.Field, e.Msg) }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

// Warning is a problem that does not stop the file from loading: something
// ignored safely, or a trap worth knowing (keepalived's own warnings).
type Warning struct {
	File    string
	Line    int
	Context string
	Field   string
	Msg     string
}

func (w Warning) String() string { return formatDiag(w.File, w.Line, w.Context, w.Field, w.Msg) }

func formatDiag(file string, line int, ctx, field, msg string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(line))
	}
	b.WriteString(": ")
	if ctx != "" {
		b.WriteString(ctx)
		b.WriteString(": ")
	}
	if field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

// pos is a place in a file.
type pos struct {
	file string
	line int
}

// srcEntry records where an object or a field of the typed config came from.
type srcEntry struct {
	pos
	ctx  string // objects only: how to name the object in a message
	name string // fields only: the keyword as written
	bad  bool   // the value was rejected while reading: validation stays quiet about it
}

// srcMap lets validation, which sees only the typed config, name the file,
// line and keyword of what it rejects. Keys are logical paths shared by both
// readers: "services[0]", "services[0].reals[1].weight", "vrrp[0].vrid", ...
type srcMap struct {
	file string
	m    map[string]srcEntry
	// spelling names a field that the file did not set, in the file's own
	// dialect ("vrid" is virtual_router_id in a keepalived.conf).
	spelling map[string]string
}

func newSrcMap(file string) *srcMap { return &srcMap{file: file, m: map[string]srcEntry{}} }

func (s *srcMap) object(path string, p pos, ctx string) {
	s.m[path] = srcEntry{pos: p, ctx: ctx}
}

// field records where a field was set; a keepalived-only keyword (field "")
// sets nothing validation looks at.
func (s *srcMap) field(path, field string, p pos, name string) {
	if field != "" {
		s.m[path+"."+field] = srcEntry{pos: p, name: name}
	}
}

// badField marks a field whose value was rejected: it counts as set (no
// default, no "required") and validation reports nothing more about it.
func (s *srcMap) badField(path, field string, p pos, name string) {
	if field != "" {
		s.m[path+"."+field] = srcEntry{pos: p, name: name, bad: true}
	}
}

// badObject marks an object that could not be read at all.
func (s *srcMap) badObject(path string, p pos) { s.m[path] = srcEntry{pos: p, bad: true} }

// isBad reports whether the field, or the object holding it, was rejected
// while reading.
func (s *srcMap) isBad(path, field string) bool {
	if field != "" && s.m[path+"."+field].bad {
		return true
	}
	for q := path; q != ""; q = parentPath(q) {
		if s.m[q].bad {
			return true
		}
	}
	return false
}

// locate returns the position, context and spelling for field of the object
// at path, falling back to the object's own line, then to its parents'.
func (s *srcMap) locate(path, field string) (pos, string, string) {
	name := field
	if sp, ok := s.spelling[field]; ok {
		name = sp
	}
	var p pos
	found := false
	if field != "" {
		if e, ok := s.m[path+"."+field]; ok {
			p, name, found = e.pos, e.name, true
		}
	}
	for q := path; q != ""; q = parentPath(q) {
		if e, ok := s.m[q]; ok {
			if !found {
				p, found = e.pos, true
			}
			return p, e.ctx, name
		}
	}
	if !found {
		p = pos{file: s.file}
	}
	return p, "", name
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// diags collects every error and warning of one load.
type diags struct {
	errs  []error
	warns []Warning
	// unreadable: the file's structure could not be read (YAML syntax,
	// unbalanced braces); validating what little was read would only add noise.
	unreadable bool
	// moreErrs and moreWarns count what was dropped past maxDiags (limits.go).
	moreErrs, moreWarns int
	// seen holds every message given, so that each is given once.
	seen map[string]bool
}

func (d *diags) err(p pos, ctx, field string, kind error, format string, args ...any) {
	e := &Error{File: p.file, Line: p.line, Context: ctx, Field: field, Msg: fmt.Sprintf(format, args...), Kind: kind}
	if d.again(e.Error()) || d.full() {
		return
	}
	d.errs = append(d.errs, e)
}

func (d *diags) warn(p pos, ctx, field string, format string, args ...any) {
	w := Warning{File: p.file, Line: p.line, Context: ctx, Field: field, Msg: fmt.Sprintf(format, args...)}
	if d.again("warning: "+w.String()) || d.fullWarns() {
		return
	}
	d.warns = append(d.warns, w)
}

// again reports whether the message was given already: a virtual_server
// read once per address of its group would say each thing that many times.
func (d *diags) again(msg string) bool {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[msg] {
		return true
	}
	d.seen[msg] = true
	return false
}

// errIn and warnIn report against the typed config through the source map.
func (d *diags) errIn(s *srcMap, path, field string, kind error, format string, args ...any) {
	if s.isBad(path, field) {
		return
	}
	p, ctx, name := s.locate(path, field)
	d.err(p, ctx, name, kind, format, args...)
}

func (d *diags) warnIn(s *srcMap, path, field string, format string, args ...any) {
	if s.isBad(path, field) {
		return
	}
	p, ctx, name := s.locate(path, field)
	d.warn(p, ctx, name, format, args...)
}

func (d *diags) joined() error { return errors.Join(d.errs...) }
