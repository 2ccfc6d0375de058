package config

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// keepalived's parameter substitution (keepalived.conf(5) "Parameter
// substitution"; check_definition, find_definition and replace_param in
// lib/parser.c), done the same way so a templated keepalived.conf means the
// same to xlb.

// paramDef is one $NAME: a value, or a function for the predefined ones.
type paramDef struct {
	value     string // lines of a multi-line value are separated by \n
	multiline bool
	fn        func(r *lineReader, params []string) (string, error)
	minParams int
	maxParams int
	numeric   bool
}

// stdDefs are keepalived's predefined parameters (set_std_definitions);
// a definition in the file overrides them.
func stdDefs(configID string) map[string]*paramDef {
	return map[string]*paramDef{
		"_PWD": {fn: func(r *lineReader, _ []string) (string, error) {
			if len(r.files) == 0 {
				return os.Getwd()
			}
			return filepath.Abs(filepath.Dir(r.files[len(r.files)-1].name))
		}},
		"_INSTANCE": {value: configID},
		"_RANDOM": {maxParams: 2, numeric: true, fn: func(_ *lineReader, p []string) (string, error) {
			lo, hi := uint64(0), uint64(32767)
			var err error
			if len(p) > 0 {
				lo, err = strconv.ParseUint(p[0], 10, 32)
			}
			if len(p) > 1 && err == nil {
				hi, err = strconv.ParseUint(p[1], 10, 32)
			}
			if err != nil {
				return "", fmt.Errorf("${_RANDOM}: %w", err)
			}
			hi = max(hi, lo)
			return strconv.FormatUint(lo+rand.Uint64N(hi-lo+1), 10), nil
		}},
		"_ENV": {minParams: 1, maxParams: 1, fn: func(_ *lineReader, p []string) (string, error) {
			if len(p) != 1 {
				return "", fmt.Errorf("${_ENV NAME} wants the name of an environment variable")
			}
			return os.Getenv(p[0]), nil
		}},
		"_HASH": {value: "#"},
		"_BANG": {value: "!"},
	}
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// define reads `$NAME=VALUE` (no blank before `=`, blanks after it
// skipped); a value ending in `\` continues on the next lines. A line that
// is not a definition returns nil and is read as configuration.
func (r *lineReader) define(buf string) *paramDef {
	if len(buf) < 2 || !isNameStart(buf[1]) {
		return nil
	}
	i := 2
	for i < len(buf) && buf[i] != '=' {
		if !isNameChar(buf[i]) {
			return nil
		}
		i++
	}
	if i == len(buf) {
		return nil
	}
	def := &paramDef{value: strings.TrimLeft(buf[i+1:], " \t")}
	if v, ok := strings.CutSuffix(def.value, `\`); ok {
		def.value = strings.TrimRight(v, " \t")
		if def.value != "" {
			def.value += "\n"
		}
		def.multiline = true
	}
	r.defs[buf[1:i]] = def
	return def
}

var errExpansion = fmt.Errorf("parameter substitution produces more than %d MiB or %d lines: a parameter that multiplies itself?", maxExpandBytes>>20, maxExpandLines)

// paramRef is one use of a parameter.
type paramRef struct {
	def    *paramDef
	span   int // bytes after the `$`
	params []string
}

// lookup reads a use of a parameter at s (just after a `$`): `NAME`
// followed by a blank, `,`, `)` or the end of the line, or `{NAME}` or
// `{NAME PARAMS}`. A multi-line parameter is used only at the end of a line.
func (r *lineReader) lookup(s string) (paramRef, bool, error) {
	braces := strings.HasPrefix(s, "{")
	off := 0
	if braces {
		off = 1
	}
	if off >= len(s) || !isNameStart(s[off]) {
		return paramRef{}, false, nil
	}
	e := off + 1
	for e < len(s) && isNameChar(s[e]) {
		e++
	}
	name := s[off:e]
	ref := paramRef{span: e}
	last := e == len(s)
	if braces {
		p, ps, pe := e, -1, -1
		for p < len(s) && (s[p] == ' ' || s[p] == '\t' || isNameChar(s[p])) {
			if s[p] != ' ' && s[p] != '\t' {
				if ps < 0 {
					ps = p
				}
				pe = p
			}
			p++
		}
		if ps >= 0 && pe+1 != p || p >= len(s) || s[p] != '}' {
			return paramRef{}, false, nil
		}
		if ps >= 0 {
			ref.params = strings.Fields(s[ps : pe+1])
		}
		ref.span, last = p+1, p+1 == len(s)
	} else if e < len(s) && !strings.ContainsRune(" \t,)", rune(s[e])) {
		return paramRef{}, false, nil
	}
	def := r.defs[name]
	if def == nil || def.multiline && !last {
		return paramRef{}, false, nil
	}
	if len(ref.params) > 0 {
		if def.maxParams == 0 {
			return paramRef{}, false, nil
		}
		if len(ref.params) < def.minParams || len(ref.params) > def.maxParams {
			return paramRef{}, false, fmt.Errorf("parameter %s takes %d to %d arguments, not %d", name, def.minParams, def.maxParams, len(ref.params))
		}
		for _, p := range ref.params {
			if _, err := strconv.ParseUint(p, 10, 32); def.numeric && err != nil {
				return paramRef{}, false, fmt.Errorf("parameter %s takes numbers only, not %q", name, p)
			}
		}
	}
	ref.def = def
	return ref, true, nil
}

// substitute replaces every parameter in buf. The text put in is scanned
// again (keepalived's substitution is recursive); further lines of a
// multi-line parameter are read next, at the line that used it.
func (r *lineReader) substitute(buf string, at pos) (string, bool, error) {
	found := false
	for cur, n := 0, 0; ; {
		k := strings.IndexByte(buf[cur:], '$')
		if k < 0 || cur+k+1 >= len(buf) {
			return buf, found, nil
		}
		k += cur
		ref, ok, err := r.lookup(buf[k+1:])
		if err != nil {
			return "", false, err
		}
		if !ok {
			cur = k + 1
			continue
		}
		if n++; n > maxExpansions {
			return "", false, fmt.Errorf("parameter substitution does not end after %d replacements (a parameter that contains itself?)", maxExpansions)
		}
		found = true
		value := ref.def.value
		if ref.def.fn != nil {
			if value, err = ref.def.fn(r, ref.params); err != nil {
				return "", false, err
			}
		}
		if ref.def.multiline {
			first, rest, more := strings.Cut(value, "\n")
			value = first
			if more {
				lines := strings.Split(rest, "\n")
				for i := len(lines) - 1; i >= 0; i-- {
					r.queue = append(r.queue, srcLine{text: lines[i], pos: at})
				}
				if r.lines += len(lines); r.lines > maxExpandLines {
					return "", false, errExpansion
				}
			}
		}
		buf = buf[:k] + value + buf[k+1+ref.span:]
		if r.work += len(buf); r.work > maxExpandBytes {
			return "", false, errExpansion
		}
		if len(buf) > maxLineBytes {
			return "", false, fmt.Errorf("line longer than %d bytes after parameter substitution", maxLineBytes)
		}
		// A value starting with ~ ends the substitution (replace_param).
		if strings.HasPrefix(strings.TrimLeft(value, " \t"), "~") {
			return buf, found, nil
		}
		cur = k
	}
}
