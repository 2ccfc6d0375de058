package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// The keepalived.conf syntax, read line by line as keepalived's read_line
// (lib/parser.c) does:
//   - `#` and `!` start a comment anywhere outside double quotes; `\#` and
//     `\!` are the characters themselves (decomment);
//   - a line starting `@ID` is kept only when ID is the config id, `@^ID`
//     only when it is not (conditional configuration);
//   - `$NAME=VALUE` defines a parameter, and `$NAME` followed by a blank or
//     the end of the line, or `${NAME}` anywhere, is replaced by its value,
//     recursively; a value whose lines end in `\` spans several lines
//     (parameter substitution). Only in such a definition does a trailing
//     `\` continue a line;
//   - `include GLOB` (and includer/m/w/b/a) splices files in, relative to
//     the including file;
//   - then words separated by blanks, double quotes grouping blanks into one
//     word, and `{` ... `}` blocks whose opening brace is on the statement's
//     line or the next one.

type tokKind int

const (
	tokWord tokKind = iota
	tokOpen
	tokClose
)

type token struct {
	kind     tokKind
	text     string
	quoted   bool
	pos      pos
	off, end int // where the token is in its logical line
}

// stmt is one keyword with its arguments and, when it opens one, its block.
type stmt struct {
	key      token
	args     []token
	hasBlock bool
	block    []*stmt
	src      string // the logical line the statement is on
}

func (s *stmt) line() pos { return s.key.pos }

// text is the statement as written on its line, from its keyword to its
// last argument: what keepalived re-reads for the keywords it installs with
// install_keyword_quoted (scripts).
func (s *stmt) text() string {
	end := s.key.end
	if n := len(s.args); n > 0 {
		end = s.args[n-1].end
	}
	if s.src == "" || s.key.off > end || end > len(s.src) {
		return strings.TrimSpace(s.key.text + " " + s.argText())
	}
	return s.src[s.key.off:end]
}

// argText joins the arguments as written, for messages.
func (s *stmt) argText() string {
	parts := make([]string, len(s.args))
	for i, a := range s.args {
		parts[i] = a.text
	}
	return strings.Join(parts, " ")
}

// includer reads the files an include names; nil disables include (fuzzing).
type includer struct {
	glob     func(pattern string) ([]string, error)
	readFile func(name string, limit int64) ([]byte, error)
	// realPath resolves symlinks, so a loop through a link is still a loop.
	realPath func(name string) (string, error)
}

// osIncluder reads real files.
func osIncluder() *includer {
	return &includer{glob: filepath.Glob, readFile: readCapped, realPath: realPath}
}

func realPath(name string) (string, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// parseKeepalived reads a keepalived.conf (name, already read as data) and
// every file it includes into statements. The parser is a loop over a stack,
// never a recursion, so no input can overflow the stack.
func parseKeepalived(name string, data []byte, d *diags, inc *includer, configID string) []*stmt {
	lr := lineReader{d: d, inc: inc, configID: configID, defs: stdDefs(configID), total: int64(len(data)), nfiles: 1}
	lr.push(name, data)
	return parseStatements(&lr, d)
}

// frame is one open block: where its statements go and what opened it.
type frame struct {
	opener token
	out    *[]*stmt
}

func parseStatements(lr *lineReader, d *diags) []*stmt {
	var top []*stmt
	stack := []frame{{out: &top}}
	var cur *stmt     // the statement whose words are being read on this line
	var pending *stmt // ended by a line end; a `{` first on a later line opens its block
	nstmts := 0
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		for _, t := range tokenize(line, d) {
			f := &stack[len(stack)-1]
			switch t.kind {
			case tokWord:
				if cur != nil {
					cur.args = append(cur.args, t)
					continue
				}
				pending = nil
				if nstmts++; nstmts > maxStatements {
					d.stop(t.pos, "", ErrSyntax, "more than %d statements: not a configuration xlb can hold", maxStatements)
					return top
				}
				cur = &stmt{key: t, src: line.text}
				*f.out = append(*f.out, cur)
			case tokOpen:
				owner := cur
				if owner == nil {
					owner = pending
				}
				cur, pending = nil, nil
				if len(stack) > maxBlockDepth {
					d.stop(t.pos, "", ErrSyntax, "blocks nested deeper than %d", maxBlockDepth)
					return top
				}
				if owner == nil {
					d.err(t.pos, "", "", ErrSyntax, "{ without a keyword before it")
					stack = append(stack, frame{opener: t, out: new([]*stmt)})
					continue
				}
				owner.hasBlock = true
				stack = append(stack, frame{opener: t, out: &owner.block})
			case tokClose:
				cur, pending = nil, nil
				if len(stack) == 1 {
					d.err(t.pos, "", "", ErrSyntax, "unexpected }")
					d.unreadable = true
					continue
				}
				stack = stack[:len(stack)-1]
			}
		}
		if cur != nil {
			pending, cur = cur, nil
		}
	}
	for len(stack) > 1 {
		f := stack[len(stack)-1]
		d.err(f.opener.pos, "", "", ErrSyntax, "block opened here has no closing }")
		d.unreadable = true
		stack = stack[:len(stack)-1]
	}
	return top
}

// tokenize splits one logical line into words and braces. As keepalived's
// alloc_strvec_r: a double quote starts a word that runs to the next double
// quote, blanks included; an unmatched quote drops the rest of the line.
func tokenize(l srcLine, d *diags) []token {
	var toks []token
	s := l.text
	for j := 0; j < len(s); {
		c := s[j]
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r':
			j++
		case c == '{':
			toks = append(toks, token{kind: tokOpen, text: "{", pos: l.pos, off: j, end: j + 1})
			j++
		case c == '}':
			toks = append(toks, token{kind: tokClose, text: "}", pos: l.pos, off: j, end: j + 1})
			j++
		case c == '"':
			// A backslash inside quotes keeps the next character in, so
			// a script's \" stays for splitWords (keepalived reads script
			// lines with alloc_strvec_quoted, which skips escapes too).
			end := j + 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				d.err(l.pos, "", "", ErrSyntax, "unterminated quoted string")
				return toks
			}
			toks = append(toks, token{kind: tokWord, text: s[j+1 : end], quoted: true, pos: l.pos, off: j, end: end + 1})
			j = end + 1
		default:
			k := j
			for k < len(s) && !strings.ContainsRune(" \t\f\v\r{}\"", rune(s[k])) {
				k++
			}
			toks = append(toks, token{kind: tokWord, text: s[j:k], pos: l.pos, off: j, end: k})
			j = k
		}
	}
	return toks
}

// badText rejects what no config line holds: invalid UTF-8 and control
// characters other than blanks.
func badText(line string) string {
	plain := true
	for i := 0; i < len(line) && plain; i++ {
		c := line[i]
		plain = c >= 0x20 && c < 0x7f || c == '\t'
	}
	if plain {
		return ""
	}
	if !utf8.ValidString(line) {
		return "line is not valid UTF-8"
	}
	for _, r := range line {
		if r < 0x20 && r != '\t' && r != '\f' && r != '\v' && r != '\r' || r == 0x7f {
			return fmt.Sprintf("control character %U in line", r)
		}
	}
	return ""
}

// decomment is keepalived's decomment (lib/parser.c): it trims blanks, cuts
// the line at the first `#` or `!` outside double quotes, turns `\#` and
// `\!` outside quotes into `#` and `!`, and reports a trailing `\` (kept on
// the line, as keepalived keeps it) so a definition can continue. An
// unterminated quote is reported by tokenize, as keepalived's alloc_strvec_r
// does.
func decomment(s string) (out string, cont bool) {
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] == '#' || s[0] == '!' {
		return "", false
	}
	if !strings.ContainsAny(s, "\"\\#!") {
		return strings.TrimRight(s, " \t"), false
	}
	var b strings.Builder
	quote := false
	i := 0
scan:
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				break scan
			}
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				b.WriteByte(s[i+1])
			} else {
				b.WriteString(s[i : i+2])
			}
			i += 2
			continue
		case !quote && (c == '#' || c == '!'):
			break scan
		}
		b.WriteByte(c)
		i++
	}
	out = strings.TrimRight(b.String(), " \t")
	if cont {
		out += `\`
	}
	return out, cont
}

// srcLine is one logical line and where it came from.
type srcLine struct {
	text string
	pos  pos
}

// kfile is a file being read.
type kfile struct {
	name string
	real string // resolved path, for include loops; empty when unknown
	data string
	off  int
	line int
	rest []string // further files of the same include, read after this one
	at   pos      // the include line
}

// lineReader yields the logical lines of a keepalived.conf: comments
// removed, conditional lines selected, parameters defined and substituted,
// included files spliced in.
type lineReader struct {
	d        *diags
	inc      *includer
	configID string
	files    []*kfile  // the include stack, innermost last
	queue    []srcLine // further lines of multi-line parameters, next last
	defs     map[string]*paramDef
	multi    *paramDef // the multi-line definition being read
	seq      *seqLines // the ~SEQ or ~LST line being expanded (seq.go)
	total    int64     // bytes read by this load
	nfiles   int       // files read by this load
	looped   bool      // an include loop or fan-out was reported: no further include is followed
	work     int       // bytes written by parameter substitution (maxExpandBytes)
	lines    int       // lines added by multi-line parameters (maxExpandLines)
	// A file included many times (a template, a fan-out) is read once.
	globs map[string]globResult
	reads map[string]readResult
}

type globResult struct {
	names []string
	err   error
}

type readResult struct {
	real string
	data string
	err  error
}

func (r *lineReader) glob(pattern string) ([]string, error) {
	if g, ok := r.globs[pattern]; ok {
		return g.names, g.err
	}
	names, err := r.inc.glob(pattern)
	if r.globs == nil {
		r.globs = map[string]globResult{}
	}
	r.globs[pattern] = globResult{names, err}
	return names, err
}

func (r *lineReader) read(name string) readResult {
	if c, ok := r.reads[name]; ok {
		return c
	}
	var c readResult
	if r.inc.realPath != nil {
		c.real, _ = r.inc.realPath(name)
	}
	var data []byte
	data, c.err = r.inc.readFile(name, maxFileBytes)
	c.data = string(data)
	if r.reads == nil {
		r.reads = map[string]readResult{}
	}
	r.reads[name] = c
	return c
}

// abort reports an error that makes the rest of the input meaningless and
// stops reading.
func (r *lineReader) abort(p pos, kind error, msg string) {
	r.d.stop(p, "", kind, "%s", msg)
	r.files, r.queue, r.multi, r.seq = nil, nil, nil, nil
}

func (r *lineReader) push(name string, data []byte) {
	f := &kfile{name: name, data: string(data)}
	if r.inc != nil && r.inc.realPath != nil {
		if rp, err := r.inc.realPath(name); err == nil {
			f.real = rp
		}
	}
	r.files = append(r.files, f)
}

// physical returns the next non-empty physical line, decommented, popping
// finished files.
func (r *lineReader) physical() (srcLine, bool) {
	for len(r.files) > 0 {
		f := r.files[len(r.files)-1]
		if f.off >= len(f.data) {
			r.files = r.files[:len(r.files)-1]
			if len(f.rest) > 0 && !r.looped {
				r.open(f.rest, f.at)
			}
			continue
		}
		raw := f.data[f.off:]
		if n := strings.IndexByte(raw, '\n'); n >= 0 {
			raw = raw[:n]
			f.off += n + 1
		} else {
			f.off = len(f.data)
		}
		f.line++
		p := pos{file: f.name, line: f.line}
		raw = strings.TrimRight(raw, "\r")
		if len(raw) > maxLineBytes {
			r.d.err(p, "", "", ErrSyntax, "line longer than %d bytes (keepalived ignores such a line)", maxLineBytes)
			continue
		}
		if bad := badText(raw); bad != "" {
			r.d.err(p, "", "", ErrSyntax, "%s", bad)
			continue
		}
		if raw == "" {
			// An empty line ends a multi-line definition (read_line).
			r.endMulti()
			continue
		}
		text, _ := decomment(raw)
		if text == "" {
			continue
		}
		return srcLine{text: text, pos: p}, true
	}
	return srcLine{}, false
}

func (r *lineReader) endMulti() {
	if r.multi != nil && r.multi.value == "" {
		r.multi.multiline = false
	}
	r.multi = nil
}

// next returns the next line for the tokenizer.
func (r *lineReader) next() (srcLine, bool) {
	for {
		var l srcLine
		if len(r.queue) > 0 {
			l = r.queue[len(r.queue)-1]
			r.queue = r.queue[:len(r.queue)-1]
		} else if r.seq != nil {
			if l = r.seq.step(r); r.seq.next == r.seq.n {
				r.seq = nil
			}
		} else {
			var ok bool
			if l, ok = r.physical(); !ok {
				r.endMulti()
				return srcLine{}, false
			}
			if r.multi != nil {
				r.continueMulti(l.text)
				continue
			}
		}
		text, ok := r.process(l)
		if !ok {
			continue
		}
		if isInclude(text) {
			r.include(srcLine{text: text, pos: l.pos})
			continue
		}
		if strings.HasSuffix(text, `\`) {
			r.d.warn(l.pos, "", "", `trailing \ ignored: keepalived continues a line only in a $NAME= definition`)
			text = strings.TrimRight(strings.TrimSuffix(text, `\`), " \t")
		}
		return srcLine{text: text, pos: l.pos}, true
	}
}

// continueMulti adds one line to the multi-line definition being read, as
// read_line does: a trailing `\` continues it, and a line that is only `\`
// adds nothing.
func (r *lineReader) continueMulti(text string) {
	def := r.multi
	if strings.HasSuffix(text, `\`) {
		text = strings.TrimRight(strings.TrimSuffix(text, `\`), " \t") + "\n"
		if len(text) >= 2 {
			def.value += text
		}
		return
	}
	def.value += text
	r.endMulti()
}

// process applies conditional configuration, definitions and substitution
// to one line; false means the line yields nothing.
func (r *lineReader) process(l srcLine) (string, bool) {
	buf := l.text
	for range 8 {
		if buf == "" {
			return "", false
		}
		if buf[0] == '@' {
			var ok bool
			if buf, ok = r.conditional(buf); !ok {
				return "", false
			}
		}
		if buf != "" && buf[0] == '$' {
			if def := r.define(buf); def != nil {
				if def.multiline {
					r.multi = def
				}
				return "", false
			}
		}
		if strings.HasPrefix(buf, "~SEQ") || strings.HasPrefix(buf, "~LST") {
			r.sequence(buf, l.pos)
			return "", false
		}
		if buf == "" || buf[0] == '~' || !strings.Contains(buf, "$") {
			return buf, buf != ""
		}
		out, changed, err := r.substitute(buf, l.pos)
		if errors.Is(err, errExpansion) {
			r.abort(l.pos, ErrInvalid, err.Error())
			return "", false
		}
		if err != nil {
			r.d.err(l.pos, "", "", ErrInvalid, "%v", err)
			return "", false
		}
		if !changed {
			return buf, true
		}
		buf, _ = decomment(out)
		if buf == "" || (buf[0] != '@' && !strings.Contains(buf, "$")) {
			return buf, buf != ""
		}
	}
	r.d.err(l.pos, "", "", ErrInvalid, "parameter substitution does not settle: each pass leaves a conditional or a parameter to replace")
	return "", false
}

// conditional strips a matching `@ID ` or `@^ID ` prefix; a line for
// another config id, or with nothing after the id, yields nothing.
func (r *lineReader) conditional(buf string) (string, bool) {
	rev := strings.HasPrefix(buf, "@^")
	ofs := 1
	if rev {
		ofs = 2
	}
	end := strings.IndexAny(buf[ofs:], " \t")
	if end < 0 {
		return "", false
	}
	if (buf[ofs:ofs+end] == r.configID) == rev {
		return "", false
	}
	return strings.TrimLeft(buf[ofs+end:], " \t"), true
}

func isInclude(buf string) bool {
	if !strings.HasPrefix(buf, "include") || len(buf) < 9 {
		return false
	}
	if buf[7] == ' ' || buf[7] == '\t' {
		return true
	}
	return strings.IndexByte("rmwba", buf[7]) >= 0 && (buf[8] == ' ' || buf[8] == '\t')
}

// include splices in the files an include line names. keepalived reads
// every include variant alike once the files exist; a pattern matching
// nothing is an error here, since a missing include silently loses services.
func (r *lineReader) include(l srcLine) {
	words := tokenize(l, r.d)
	if len(words) != 2 || words[1].kind != tokWord {
		r.d.err(l.pos, "", "include", ErrSyntax, "wants exactly one file name or pattern")
		return
	}
	if r.inc == nil {
		r.d.err(l.pos, "", "include", ErrUnsupported, "include is not available here")
		return
	}
	if r.looped {
		return
	}
	if len(r.files) > maxIncludeDepth {
		r.d.err(l.pos, "", "include", ErrSyntax, "includes nested deeper than %d", maxIncludeDepth)
		return
	}
	arg := words[1].text
	pattern := arg
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(l.pos.file), pattern)
	}
	names, err := r.glob(pattern)
	if err != nil {
		r.d.err(l.pos, "", "include", ErrSyntax, "%q: %v", arg, err)
		return
	}
	if len(names) == 0 {
		r.d.err(l.pos, "", "include", ErrInvalid, "%q matches no file", arg)
		return
	}
	r.open(names, l.pos)
}

// open pushes the first of names that can be read; the others are read when
// it ends (nextSibling). Only the files on the stack are the includes being
// read, so a file met there again is a loop.
func (r *lineReader) open(names []string, at pos) {
	for i, name := range names {
		c := r.read(name)
		f := &kfile{name: name, real: c.real, rest: names[i+1:], at: at}
		if j := slices.IndexFunc(r.files, func(o *kfile) bool { return f.real != "" && o.real == f.real }); j >= 0 {
			chain := make([]string, 0, len(r.files)-j+1)
			for _, o := range r.files[j:] {
				chain = append(chain, o.name)
			}
			r.d.stop(at, "include", ErrInvalid, "include loop: %s", strings.Join(append(chain, name), " -> "))
			r.looped = true
			return
		}
		if r.nfiles++; r.nfiles > maxFiles {
			r.d.stop(at, "include", ErrInvalid, "more than %d files read: includes multiply without end", maxFiles)
			r.looped = true
			return
		}
		data, err := c.data, c.err
		if err == nil && int64(len(data)) > maxTotalBytes-r.total {
			err = fmt.Errorf("%s: %w", name, errTooBig(maxFileBytes))
		}
		if err != nil {
			if errors.Is(err, errFileTooBig) && r.total+maxFileBytes > maxTotalBytes {
				err = fmt.Errorf("%w (the files of one load together hold at most %d MiB)", err, maxTotalBytes>>20)
			}
			r.d.err(at, "", "include", ErrInvalid, "%v", err)
			continue
		}
		r.total += int64(len(data))
		f.data = data
		r.files = append(r.files, f)
		return
	}
}

// quotedWords splits a script statement into words as keepalived's
// alloc_strvec_quoted (lib/parser.c) does: blanks separate words, single or
// double quotes group them (and are removed; `a"b c"d` is one word), and a
// backslash keeps itself and the next character, for splitWords to read.
func quotedWords(s string) ([]string, error) { return splitQuoted(s, false) }

// splitWords splits a command line into argv the way keepalived does for
// scripts (alloc_strvec_quoted_escaped in lib/parser.c): blanks separate
// words, single or double quotes group them, and a backslash escapes, in or
// out of quotes, as in the shell's $'...': \a \b \E \f \n \r \t \v, \NNN
// (octal), \xHH, \cC (control C); any other \C is C.
func splitWords(s string) ([]string, error) { return splitQuoted(s, true) }

// splitQuoted is keepalived's alloc_strvec_quoted_escaped_common: escapes
// says whether a backslash escape is read (splitWords) or kept as written
// (quotedWords).
func splitQuoted(s string, escapes bool) ([]string, error) {
	var out []string
	var cur []byte
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("\\ at the end with nothing to escape")
			}
			if escapes {
				var b byte
				b, i = unescape(s, i+1)
				cur = append(cur, b)
			} else {
				cur = append(cur, c, s[i+1])
				i++
			}
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case strings.IndexByte(" \t\f\n\r\v", c) >= 0:
			if inWord {
				out = append(out, string(cur))
				cur = cur[:0]
				inWord = false
			}
		default:
			cur, inWord = append(cur, c), true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, string(cur))
	}
	return out, nil
}

// unescape reads the escape whose first character is s[i] and returns the
// byte and the index of its last character.
func unescape(s string, i int) (byte, int) {
	isOct := func(c byte) bool { return c >= '0' && c <= '7' }
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s):
		v, ok := hex(s[i+1])
		if !ok {
			return c, i
		}
		i++
		if i+1 < len(s) {
			if w, ok := hex(s[i+1]); ok {
				v, i = v<<4|w, i+1
			}
		}
		return v, i
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 1
	case isOct(c):
		v := c - '0'
		for n := 0; n < 2 && i+1 < len(s) && isOct(s[i+1]); n++ {
			i++
			v = v<<3 + s[i] - '0'
		}
		return v, i
	}
	if e := strings.IndexByte("abEfnrtv", c); e >= 0 {
		return "\a\b\x1b\f\n\r\t\v"[e], i
	}
	return c, i
}
