package config

import (
	"fmt"
	"strings"
	"testing"
)

// ~SEQ and ~LST lines expand as keepalived's read_line expands them: the
// real servers and their weights below come from the sequences alone.
func TestSequences(t *testing.T) {
	in := `$BASE=10.0.0
$LAST=3
global_defs { xlb_interface eth0 }
virtual_server 10.0.1.1 80 {
    lvs_method DR
    protocol TCP
~SEQ(N, 1, $LAST) real_server ${BASE}.$N 80 { weight $N }
~SEQ(N, 20, -5, 10) real_server ${BASE}.$N 80 { weight 7 }
~SEQ(N, 2) real_server ${BASE}.10$N 80 { }
~LST(N, 40, 41) real_server ${BASE}.$N 80 { }
~LST({N, W}, {50, 5}, {51}) real_server ${BASE}.$N 80 { weight ${W}0 }
}
virtual_server fd00::1 80 {
    lvs_method DR
    protocol TCP
~SEQx(H, 10, 11) real_server fd00::$H 80 { }
}
`
	cfg, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), nil)
	var got []string
	for _, s := range cfg.Services {
		for _, r := range s.Reals {
			got = append(got, fmt.Sprintf("%s w%d", r.IP, r.Weight))
		}
	}
	diffLines(t, "reals", got, []string{
		"10.0.0.1 w1", "10.0.0.2 w2", "10.0.0.3 w3", // ~SEQ(N, START, END), END a parameter
		"10.0.0.20 w7", "10.0.0.15 w7", "10.0.0.10 w7", // a negative step
		"10.0.0.101 w1", "10.0.0.102 w1", // ~SEQ(N, END)
		"10.0.0.40 w1", "10.0.0.41 w1", // ~LST(N, ...)
		"10.0.0.50 w50", "10.0.0.51 w0", // sets; the missing W is blank
		"fd00::a w1", "fd00::b w1", // ~SEQx
	})
}

func TestSequenceErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no line", "~SEQ(N, 3)\n", "t.conf:1: ~SEQ: wants ~SEQ(NAME, END)"},
		{"not a number", "~SEQ(N, 1, x) a\n", "t.conf:1: ~SEQ: wants ~SEQ(NAME, END)"},
		{"four numbers", "~SEQ(N, 1, 2, 3, 4) a\n", "t.conf:1: ~SEQ: wants ~SEQ(NAME, END)"},
		{"step the wrong way", "~SEQ(N, 1, -1, 3) a\n", "t.conf:1: ~SEQ: start 1, step -1, end 3: the step must be non-zero and lead from start to end"},
		{"negative hex", "~SEQx(N, -2, 3) a\n", "t.conf:1: ~SEQ: ~SEQx is only for numbers from 0"},
		{"too many lines", "~SEQ(N, 0, 9223372036854775807) a\n", "t.conf:1: ~SEQ: yields 200001 lines: more than the 200000 that parameters may add to one load"},
		{"too many lines over several", "~SEQ(N, 150000) $X=$N\n~SEQ(N, 60000) b\n", "t.conf:2: ~SEQ: yields 60000 lines: more than the 200000"},
		{"nested", "~SEQ(N, 2) ~SEQ(M, 2) x\n", "t.conf:1: ~SEQ: a sequence inside a sequence is not expanded"},
		{"too many values", "~LST({A, B}, {1, 2, 3}) x\n", "t.conf:1: ~LST: 3 values for 2 names"},
		{"bad list", "~LST(A) x\n", "t.conf:1: ~LST: wants ~LST(NAME, VALUE, ...)"},
		{"bad name", "~LST(1A, 2) x\n", "t.conf:1: ~LST: wants ~LST(NAME, VALUE, ...)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseWith("t.conf", []byte(tc.in), Options{Format: FormatKeepalived, ConfigID: "x"})
			if got := errStrings(err); len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("errors %q, want first to start with %q", got, tc.want)
			}
		})
	}
}
