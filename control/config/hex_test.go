package config

import (
	"bytes"
	"testing"
)

func TestParseHex(t *testing.T) {
	cases := []struct {
		in         string
		data, mask []byte
		bad        bool
	}{
		{in: "0a0B ff", data: []byte{0x0a, 0x0b, 0xff}},
		{in: "1 2 3", data: []byte{1, 2, 3}},
		{in: "\tde ad", data: []byte{0xde, 0xad}},
		{in: "ax x5", data: []byte{0xa0, 0x05}, mask: []byte{0x0f, 0xf0}},
		{in: "", bad: true},
		{in: "zz", bad: true},
		{in: "1\t2", bad: true}, // keepalived ends a lone digit only at a space
	}
	for _, tc := range cases {
		data, mask, err := ParseHex(tc.in, true)
		if (err != nil) != tc.bad || !bytes.Equal(data, tc.data) || !bytes.Equal(mask, tc.mask) {
			t.Errorf("ParseHex(%q) = %x %x %v, want %x %x bad=%v", tc.in, data, mask, err, tc.data, tc.mask, tc.bad)
		}
	}
	if _, _, err := ParseHex("ax", false); err == nil {
		t.Error("wildcard accepted in a payload")
	}
}
