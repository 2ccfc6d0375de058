package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"xlb/control/vrrp"
)

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in        string
		allowUnit bool
		want      time.Duration
		err       string
	}{
		{"3", false, 3 * time.Second, ""},
		{"0.1", false, 100 * time.Millisecond, ""},
		{"0.01", false, 10 * time.Millisecond, ""},
		{".5", false, 500 * time.Millisecond, ""},
		{"1.5s", false, 0, `"1.5s" is not a number of seconds`},
		{"1.5s", true, 1500 * time.Millisecond, ""},
		{"100ms", true, 100 * time.Millisecond, ""},
		{"2", true, 2 * time.Second, ""},
		{"-1", false, 0, `"-1" is not a number of seconds`},
		{"-1s", true, 0, `"-1s" is negative`},
		{"1e3", false, 0, `"1e3" is not a number of seconds`},
		{"1.2.3", false, 0, `"1.2.3" is not a number of seconds`},
		{"", false, 0, `"" is not a number of seconds`},
		{"86401", false, 0, `"86401" is longer than 24h0m0s`},
		{"soon", true, 0, `"soon" is not a duration (seconds, or e.g. 1.5s, 100ms)`},
	} {
		got, err := parseSeconds(tc.in, tc.allowUnit)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseSeconds(%q, %v) error %v, want %q", tc.in, tc.allowUnit, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSeconds(%q, %v) = %v, %v; want %v", tc.in, tc.allowUnit, got, err, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"/bin/check a b", []string{"/bin/check", "a", "b"}, false},
		{"  /bin/check   'a b'  \"c d\" ", []string{"/bin/check", "a b", "c d"}, false},
		{"x ''", []string{"x", ""}, false},
		{`x "it's"`, []string{"x", "it's"}, false},
		{"x 'open", nil, true},
		// keepalived.conf(5) "Quoted strings": escapes in and out of quotes.
		{`/n.sh ' spaces\\x20f\x69le ' '\"s p a c e \"' a\ b`, []string{"/n.sh", ` spaces\x20file `, `"s p a c e "`, "a b"}, false},
		{`x \t\101\cA\E\q\\ "\""`, []string{"x", "\tA\x01\x1bq\\", `"`}, false},
		{`x \`, nil, true},
		{"", nil, false},
	} {
		got, err := splitWords(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseVIP(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    vrrp.VIP
		ignored []string
		err     string
	}{
		{[]string{"192.168.1.30"}, vrrp.VIP{Prefix: netip.MustParsePrefix("192.168.1.30/32")}, nil, ""},
		{[]string{"192.168.1.30/24", "dev", "eth0", "label", "eth0:1"}, vrrp.VIP{Prefix: netip.MustParsePrefix("192.168.1.30/24"), Dev: "eth0", Label: "eth0:1"}, nil, ""},
		{[]string{"10.0.0.1/24", "brd", "10.0.0.255", "scope", "global"}, vrrp.VIP{Prefix: netip.MustParsePrefix("10.0.0.1/24")}, []string{"brd", "scope"}, ""},
		// IPv6 as keepalived writes it: no length is /128; scope and
		// label are taken and ignored, as keepalived does.
		{[]string{"2001:db8::1"}, vrrp.VIP{Prefix: netip.MustParsePrefix("2001:db8::1/128")}, nil, ""},
		{[]string{"fd00::10/64", "dev", "eth0"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fd00::10/64"), Dev: "eth0"}, nil, ""},
		{[]string{"fe80::12/64", "dev", "eth1", "scope", "link", "label", "eth1:v"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fe80::12/64"), Dev: "eth1"}, []string{"scope", "label"}, ""},
		{[]string{"fe80::12%eth0"}, vrrp.VIP{}, nil, `"fe80::12%eth0" is not an address or address/length`},
		{[]string{"::ffff:10.0.0.1"}, vrrp.VIP{}, nil, `"::ffff:10.0.0.1" is an IPv4-mapped IPv6 address: write the IPv4 address`},
		{[]string{"fd00::1/129"}, vrrp.VIP{}, nil, `"fd00::1/129" is not an address or address/length`},
		{[]string{"10.0.0.1/33"}, vrrp.VIP{}, nil, `"10.0.0.1/33" is not an address or address/length`},
		{[]string{"10.0.0.1", "dev"}, vrrp.VIP{}, nil, `"dev" wants a value`},
		// keepalived's other address words (alloc_ipaddress): no_track
		// sets NoTrack (the dev is not tracked); preferred_lft is taken at the lifetime
		// xlb applies; on IPv6 scope global is taken, brd drops the line.
		{[]string{"fd00::10/64", "no_track", "dev", "eth0"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fd00::10/64"), Dev: "eth0", NoTrack: true}, nil, ""},
		{[]string{"fd00::10/64", "preferred_lft", "forever"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fd00::10/64")}, nil, ""},
		{[]string{"fd00::10", "preferred_lft", "0"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fd00::10/128")}, nil, ""},
		{[]string{"10.0.0.1/24", "preferred_lft", "4294967295"}, vrrp.VIP{Prefix: netip.MustParsePrefix("10.0.0.1/24")}, nil, ""},
		{[]string{"fd00::10/64", "scope", "global", "-nodad", "home"}, vrrp.VIP{Prefix: netip.MustParsePrefix("fd00::10/64")}, []string{"-nodad", "home"}, ""},
		{[]string{"fd00::10/64", "preferred_lft", "0"}, vrrp.VIP{}, nil, "preferred_lft 0 on fd00::10/64: xlb gives a VIP keepalived's default lifetime, forever here " +
			"(an IPv6 /128 is deprecated, so the host never picks it as a source address; any other VIP is preferred forever): " +
			"use a /128 for an IPv6 VIP that must not be a source address, or remove preferred_lft"},
		{[]string{"fd00::10/64", "preferred_lft", "soon"}, vrrp.VIP{}, nil, `preferred_lft "soon" is not a number of seconds up to 4294967295 or forever`},
		{[]string{"fd00::10/64", "brd", "fd00::ff"}, vrrp.VIP{}, nil, "fd00::10/64: brd on an IPv6 address: the address is left out, as keepalived skips it (IPv6 has no broadcast): remove brd fd00::ff to have it"},
		{[]string{"10.0.0.1", "peer", "10.0.0.2"}, vrrp.VIP{}, nil, "peer: point-to-point VIPs are not supported: give the address with its prefix length"},
	} {
		got, ignored, err := parseVIP(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseVIP(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		var words []string
		for _, w := range ignored {
			words = append(words, w.word)
		}
		if err != nil || got != tc.want || !reflect.DeepEqual(words, tc.ignored) {
			t.Errorf("parseVIP(%q) = %+v %q %v; want %+v %q", tc.in, got, words, err, tc.want, tc.ignored)
		}
	}
}

// An address line xlb understands and cannot do is ErrUnsupported; one
// keepalived skips whole is vipDropped (the reader warns); a malformed one
// is neither.
func TestParseVIPErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		line                 string
		unsupported, dropped bool
	}{
		{"fd00::10/64 preferred_lft 0", true, false},
		{"10.0.0.1/24 preferred_lft 60", true, false},
		{"10.0.0.1 peer 10.0.0.2", true, false},
		{"10.0.0.1 use_vmac", true, false},
		{"fd00::10/64 brd fd00::ff", false, true},
		{"fd00::10/64 broadcast +", false, true},
		{"fd00::10/64 preferred_lft never", false, false},
		{"fd00::10/64 bogus 1", false, false},
	} {
		_, _, err := parseVIP(strings.Fields(tc.line))
		var dropped vipDropped
		if err == nil || errors.Is(err, ErrUnsupported) != tc.unsupported || errors.As(err, &dropped) != tc.dropped {
			t.Errorf("parseVIP(%q) = %v; want unsupported %v, dropped %v", tc.line, err, tc.unsupported, tc.dropped)
		}
	}
}

func TestParseStatusRange(t *testing.T) {
	for in, want := range map[string]StatusRange{"200": {200, 200}, "200-299": {200, 299}, "404-404": {404, 404}} {
		if got, err := parseStatusRange(in); err != nil || got != want {
			t.Errorf("parseStatusRange(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got, _ := parseStatusRange(in); got.String() != in && in != "404-404" {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"99", "600", "299-200", "2xx", "200-", ""} {
		if _, err := parseStatusRange(in); err == nil {
			t.Errorf("parseStatusRange(%q) accepted", in)
		}
	}
}
