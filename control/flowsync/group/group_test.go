package group

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"224.0.0.81:8848", true},
		{"239.1.2.3:9000", true},
		{"[ff02::81]:8848", true},
		{"[ff02::1:3]:5355", true},
		{"[ff05::81]:8848", false},      // site scope: could be routed
		{"[ff12::81]:8848", true},       // transient, link-local scope
		{"[ff02::81%eth0]:8848", false}, // the interface is the sync one, not the config's
		{"192.168.1.1:8848", false},     // unicast
		{"[fe80::1]:8848", false},
		{"224.0.0.81:0", false},
		{"224.0.0.81", false},
		{"[ff02::81]", false},
		{"ff02::81:8848", false},
		{"", false},
	} {
		_, err := Parse(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q): %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	if Valid(Default) != nil || Valid(Default6) != nil {
		t.Error("a default is not valid")
	}
}
