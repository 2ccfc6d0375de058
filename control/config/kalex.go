package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// The keepalived.conf syntax: words separated by blanks, one statement per
// line, `{` ... `}` blocks whose opening brace is on the statement's line or
// the next one, `#` and `!` starting a comment at the start of a word, double
// quotes grouping blanks into one word, and `include GLOB` anywhere, relative
// to the including file.

type tokKind int

const (
	tokWord tokKind = iota
	tokOpen
	tokClose
	tokEOL
)

type token struct {
	kind   tokKind
	text   string
	quoted bool
	pos    pos
}

// stmt is one keyword with its arguments and, when it opens one, its block.
type stmt struct {
	key      token
	args     []token
	hasBlock bool
	block    []*stmt
}

func (s *stmt) line() pos { return s.key.pos }

// argText joins the arguments as written, for messages.
func (s *stmt) argText() string {
	parts := make([]string, len(s.args))
	for i, a := range s.args {
		parts[i] = a.text
	}
	return strings.Join(parts, " ")
}

// lexKeepalived splits data into tokens; an unterminated quote is an error
// and the rest of its line is dropped.
func lexKeepalived(file string, data []byte, d *diags) []token {
	var toks []token
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		p := pos{file: file, line: i + 1}
		line = strings.TrimSuffix(line, "\r")
		if bad := badText(line); bad != "" {
			d.err(p, "", "", ErrSyntax, "%s", bad)
			toks = append(toks, token{kind: tokEOL, pos: p})
			continue
		}
		j := 0
	scan:
		for j < len(line) {
			c := line[j]
			switch {
			case c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r':
				j++
			case c == '#' || c == '!':
				break scan
			case c == '{':
				toks = append(toks, token{kind: tokOpen, text: "{", pos: p})
				j++
			case c == '}':
				toks = append(toks, token{kind: tokClose, text: "}", pos: p})
				j++
			case c == '"':
				end := strings.IndexByte(line[j+1:], '"')
				if end < 0 {
					d.err(p, "", "", ErrSyntax, "unterminated quoted string")
					break scan
				}
				toks = append(toks, token{kind: tokWord, text: line[j+1 : j+1+end], quoted: true, pos: p})
				j += end + 2
			default:
				k := j
				for k < len(line) && !strings.ContainsRune(" \t\f\v\r{}\"", rune(line[k])) {
					k++
				}
				toks = append(toks, token{kind: tokWord, text: line[j:k], pos: p})
				j = k
			}
		}
		toks = append(toks, token{kind: tokEOL, pos: p})
	}
	return toks
}

// badText rejects what no config line holds: invalid UTF-8 and control
// characters other than blanks.
func badText(line string) string {
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

// includer reads the files an include names; nil disables include (fuzzing).
type includer struct {
	glob     func(pattern string) ([]string, error)
	readFile func(name string) ([]byte, error)
}

const maxIncludeDepth = 8

type kparser struct {
	toks  []token
	i     int
	d     *diags
	inc   *includer
	depth int
}

// parseKeepalived lexes and parses one file, splicing included files in.
func parseKeepalived(file string, data []byte, d *diags, inc *includer, depth int) []*stmt {
	p := &kparser{toks: lexKeepalived(file, data, d), d: d, inc: inc, depth: depth}
	return p.body(nil)
}

func (p *kparser) peek() *token {
	if p.i >= len(p.toks) {
		return nil
	}
	return &p.toks[p.i]
}

// body parses statements up to the closing brace of opener (or EOF at top level).
func (p *kparser) body(opener *token) []*stmt {
	var out []*stmt
	for {
		t := p.peek()
		switch {
		case t == nil:
			if opener != nil {
				p.d.err(opener.pos, "", "", ErrSyntax, "block opened here has no closing }")
				p.d.unreadable = true
			}
			return out
		case t.kind == tokEOL:
			p.i++
		case t.kind == tokClose:
			p.i++
			if opener != nil {
				return out
			}
			p.d.err(t.pos, "", "", ErrSyntax, "unexpected }")
			p.d.unreadable = true
		case t.kind == tokOpen:
			p.i++
			p.d.err(t.pos, "", "", ErrSyntax, "{ without a keyword before it")
			p.body(t)
		default:
			s := p.statement()
			if s.key.text == "include" && !s.key.quoted {
				out = append(out, p.include(s)...)
				continue
			}
			out = append(out, s)
		}
	}
}

func (p *kparser) statement() *stmt {
	s := &stmt{key: p.toks[p.i]}
	p.i++
	for {
		t := p.peek()
		if t == nil || t.kind == tokClose {
			return s
		}
		switch t.kind {
		case tokWord:
			s.args = append(s.args, *t)
			p.i++
		case tokOpen:
			p.i++
			s.hasBlock = true
			s.block = p.body(t)
			return s
		case tokEOL:
			p.i++
			// A brace alone on the next line still opens this statement's block.
			if n := p.peek(); n != nil && n.kind == tokOpen {
				p.i++
				s.hasBlock = true
				s.block = p.body(n)
			}
			return s
		}
	}
}

func (p *kparser) include(s *stmt) []*stmt {
	if s.hasBlock || len(s.args) != 1 {
		p.d.err(s.line(), "", "include", ErrSyntax, "wants exactly one file name or pattern")
		return nil
	}
	if p.inc == nil {
		p.d.err(s.line(), "", "include", ErrUnsupported, "include is not available here")
		return nil
	}
	if p.depth >= maxIncludeDepth {
		p.d.err(s.line(), "", "include", ErrSyntax, "includes nested deeper than %d (a loop?)", maxIncludeDepth)
		return nil
	}
	pattern := s.args[0].text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(s.key.pos.file), pattern)
	}
	names, err := p.inc.glob(pattern)
	if err != nil {
		p.d.err(s.line(), "", "include", ErrSyntax, "%q: %v", s.args[0].text, err)
		return nil
	}
	if len(names) == 0 {
		// keepalived carries on, but a missing include silently loses services.
		p.d.err(s.line(), "", "include", ErrInvalid, "%q matches no file", s.args[0].text)
		return nil
	}
	var out []*stmt
	for _, name := range names {
		data, err := p.inc.readFile(name)
		if err != nil {
			p.d.err(s.line(), "", "include", ErrInvalid, "%v", err)
			continue
		}
		out = append(out, parseKeepalived(name, data, p.d, p.inc, p.depth+1)...)
	}
	return out
}

// splitWords splits a command line into argv the way keepalived does for
// scripts: blanks separate words, single or double quotes group them.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
