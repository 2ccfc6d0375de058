package config

import (
	"fmt"
	"strconv"
	"strings"
)

// keepalived's sequence lines (read_line, add_seq and add_lst in
// lib/parser.c): `~SEQ(NAME, [START, [STEP,]] END) TEXT` yields TEXT once per
// number from START (default 1, or -1 when END < 0) to END by STEP (default
// +1 or -1), with $NAME defined as the number (~SEQx: in hex);
// `~LST(NAME, V1, V2, ...) TEXT` once per value, and `~LST({A, B}, {1, 2},
// {3, 4}) TEXT` once per set of values (missing ones blank). Each yielded line
// is then read like a line of the file. The numbers of ~SEQ may use
// parameters. A sequence inside a sequence is refused (keepalived does not
// expand one either), and one yielding more lines than parameter substitution
// may add (maxExpandLines) is an error before anything is yielded.

// seqLines is the sequence being expanded.
type seqLines struct {
	names []string
	sets  func(i int) []string // the values of step i
	n     int                  // steps
	next  int
	text  string
	pos   pos
}

// step defines the next step's parameters and returns its line.
func (s *seqLines) step(r *lineReader) srcLine {
	for i, v := range s.sets(s.next) {
		r.defs[s.names[i]] = &paramDef{value: v}
	}
	s.next++
	return srcLine{text: s.text, pos: s.pos}
}

// sequence reads a ~SEQ or ~LST line into r.seq.
func (r *lineReader) sequence(buf string, at pos) {
	kw := buf[:4]
	if r.seq != nil {
		r.d.err(at, "", kw, ErrUnsupported, "a sequence inside a sequence is not expanded (keepalived does not either): write it out")
		return
	}
	var s *seqLines
	var err error
	if kw == "~SEQ" {
		s, err = r.parseSeq(buf[4:], at)
	} else {
		s, err = parseLst(buf[4:])
	}
	switch {
	case err != nil:
		r.d.err(at, "", kw, ErrSyntax, "%v", err)
	case s.n > maxExpandLines-r.lines:
		r.d.err(at, "", kw, ErrInvalid, "yields %d lines: more than the %d that parameters may add to one load", s.n, maxExpandLines)
	default:
		r.lines += s.n
		s.pos = at
		r.seq = s
	}
}

// parseSeq reads `[x](NAME, [START, [STEP,]] END) TEXT`.
func (r *lineReader) parseSeq(p string, at pos) (*seqLines, error) {
	const usage = "wants ~SEQ(NAME, END), ~SEQ(NAME, START, END) or ~SEQ(NAME, START, STEP, END), then the line"
	hex := strings.HasPrefix(p, "x")
	p = strings.TrimLeft(strings.TrimPrefix(p, "x"), " \t")
	args, text, ok := parens(p)
	if !ok {
		return nil, fmt.Errorf("%s", usage)
	}
	name, nums, ok := strings.Cut(args, ",")
	name = strings.TrimSpace(name)
	if !ok || !validName(name) {
		return nil, fmt.Errorf("%s", usage)
	}
	if strings.Contains(nums, "$") {
		out, _, err := r.substitute(nums, at)
		if err != nil {
			return nil, err
		}
		nums = out
	}
	var v []int64
	for _, f := range strings.Split(nums, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 0, 64)
		if err != nil || len(v) == 3 {
			return nil, fmt.Errorf("%s", usage)
		}
		v = append(v, n)
	}
	var start, step, end int64
	switch len(v) {
	case 1:
		end, start, step = v[0], 1, 1
		if end < 0 {
			start = -1
		}
		if end < 1 {
			step = -1
		}
	case 2:
		start, end, step = v[0], v[1], 1
		if start > end {
			step = -1
		}
	case 3:
		start, step, end = v[0], v[1], v[2]
		if step == 0 || start < end && step < 0 || start > end && step > 0 {
			return nil, fmt.Errorf("start %d, step %d, end %d: the step must be non-zero and lead from start to end", start, step, end)
		}
	}
	if hex && (start < 0 || end < 0) {
		return nil, fmt.Errorf("~SEQx is only for numbers from 0")
	}
	// Counted in floating point: an int64 span can overflow.
	n := int(min((float64(end)-float64(start))/float64(step), float64(maxExpandLines))) + 1
	return &seqLines{names: []string{name}, n: n, text: text, sets: func(i int) []string {
		x := start + int64(i)*step
		if hex {
			return []string{strconv.FormatInt(x, 16)}
		}
		return []string{strconv.FormatInt(x, 10)}
	}}, nil
}

// parseLst reads `(NAME, V, ...) TEXT` or `({A, B}, {1, 2}, ...) TEXT`.
func parseLst(p string) (*seqLines, error) {
	const usage = "wants ~LST(NAME, VALUE, ...) or ~LST({NAME, NAME}, {VALUE, VALUE}, ...), then the line"
	args, text, ok := parens(strings.TrimLeft(p, " \t"))
	if !ok {
		return nil, fmt.Errorf("%s", usage)
	}
	items, ok := lstItems(args)
	if !ok || len(items) < 2 {
		return nil, fmt.Errorf("%s", usage)
	}
	names := items[0]
	for _, n := range names {
		if !validName(n) {
			return nil, fmt.Errorf("%s", usage)
		}
	}
	sets := items[1:]
	for _, set := range sets {
		if len(set) > len(names) {
			return nil, fmt.Errorf("%d values for %d names", len(set), len(names))
		}
	}
	return &seqLines{names: names, n: len(sets), text: text, sets: func(i int) []string {
		vals := make([]string, len(names)) // missing values are blank
		copy(vals, sets[i])
		return vals
	}}, nil
}

// lstItems splits `A, {B, C}, D` into [[A] [B C] [D]].
func lstItems(s string) ([][]string, bool) {
	var items [][]string
	s = strings.TrimSpace(s)
	for {
		var item []string
		if rest, ok := strings.CutPrefix(s, "{"); ok {
			body, after, ok := strings.Cut(rest, "}")
			if !ok {
				return nil, false
			}
			for _, v := range strings.Split(body, ",") {
				item = append(item, strings.TrimSpace(v))
			}
			s = strings.TrimSpace(after)
		} else {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				i = len(s)
			}
			item, s = []string{strings.TrimSpace(s[:i])}, s[i:]
		}
		items = append(items, item)
		if s == "" {
			return items, true
		}
		if s[0] != ',' {
			return nil, false
		}
		s = strings.TrimSpace(s[1:])
	}
}

// parens splits `(ARGS) TEXT`; TEXT may not be empty.
func parens(p string) (string, string, bool) {
	if !strings.HasPrefix(p, "(") {
		return "", "", false
	}
	args, text, ok := strings.Cut(p[1:], ")")
	text = strings.TrimLeft(text, " \t")
	return args, text, ok && text != ""
}

func validName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
