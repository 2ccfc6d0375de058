package config

import (
	"fmt"
	"strings"
)

// ParseHex reads keepalived's hex strings (lib/parser.c read_hex_str), as in
// payload and require_reply: hex digit pairs, spaces and tabs between bytes
// allowed, a lone digit before a space is one byte. With wildcards, x or X
// stands for any nibble and mask has those bits set; mask is nil when the
// string has none.
func ParseHex(s string, wildcards bool) (data, mask []byte, err error) {
	used := false
	nibble := func(c byte) (val, wild byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && (c == 'x' || c == 'X'):
			used = true
			return 0, 0x0f, true
		}
		return 0, 0, false
	}
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, w, ok := nibble(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("hex string %q: %q at offset %d is not a hex digit", s, s[i], i)
		}
		i++
		if i < len(s) && s[i] != ' ' {
			v2, w2, ok := nibble(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("hex string %q: %q at offset %d is not a hex digit", s, s[i], i)
			}
			v, w = v<<4|v2, w<<4|w2
			i++
		}
		data = append(data, v)
		mask = append(mask, w)
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("hex string %q: no bytes", strings.TrimSpace(s))
	}
	if !used {
		mask = nil
	}
	return data, mask, nil
}
