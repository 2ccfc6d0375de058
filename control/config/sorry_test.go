package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const sorryKA = `global_defs { xlb_interface eth0 }
virtual_server 10.0.0.1 80 {
    lvs_method DR
    sorry_server_inhibit
    sorry_server 10.0.0.9 8080
    real_server 10.0.0.2 80 {
    }
}
`

func TestSorryServerKeepalived(t *testing.T) {
	cfg, _, err := Parse("t.conf", []byte(sorryKA), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	want := &SorryServer{IP: netip.MustParseAddr("10.0.0.9"), Port: 8080, Inhibit: true}
	if got := cfg.Services[0].SorryServer; !reflect.DeepEqual(got, want) {
		t.Fatalf("sorry server %+v, want %+v", got, want)
	}
	// Round trip through the native format keeps it.
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("out.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back.Services[0].SorryServer, want) {
		t.Fatalf("after round trip %+v, want %+v\n%s", back.Services[0].SorryServer, want, out)
	}
}

func TestSorryServerNative(t *testing.T) {
	in := "interfaces: [e]\nservices:\n  - vip: 10.0.0.1\n    port: 80\n    sorry_server: {ip: 10.0.0.9, port: 80}\n    reals: [{ip: 10.0.0.2}]\n"
	cfg, _, err := Parse("in.yaml", []byte(in), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	want := &SorryServer{IP: netip.MustParseAddr("10.0.0.9"), Port: 80}
	if got := cfg.Services[0].SorryServer; !reflect.DeepEqual(got, want) {
		t.Fatalf("sorry server %+v, want %+v", got, want)
	}
}

func TestSorryServerErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"no port":          {"sorry_server 10.0.0.9", "t.conf:4: virtual_server 10.0.0.1 80: sorry_server: wants IP PORT"},
		"bad address":      {"sorry_server 10.0.0.300 80", "t.conf:4: virtual_server 10.0.0.1 80: sorry_server:"},
		"bad port":         {"sorry_server 10.0.0.9 0", "t.conf:4: virtual_server 10.0.0.1 80: sorry_server: port"},
		"a real server":    {"sorry_server 10.0.0.2 80", "t.conf:4: virtual_server 10.0.0.1 80: sorry_server: 10.0.0.2 is also a real server of this service"},
		"the VIP":          {"sorry_server 10.0.0.1 80", "t.conf:4: virtual_server 10.0.0.1 80: sorry_server: 10.0.0.1 is the VIP itself"},
		"loopback":         {"sorry_server 127.0.0.1 80", "127.0.0.1 is"},
		"inhibit no sorry": {"sorry_server_inhibit", ""},
	} {
		t.Run(name, func(t *testing.T) {
			in := "global_defs { xlb_interface eth0 }\nvirtual_server 10.0.0.1 80 {\n    lvs_method DR\n    " + tc.in + "\n    real_server 10.0.0.2 80 {\n    }\n}\n"
			_, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range warns {
					if strings.Contains(w.String(), "sorry_server_inhibit: ignored: no sorry_server") {
						return
					}
				}
				t.Fatalf("no warning for sorry_server_inhibit without sorry_server: %v", warns)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHysteresis(t *testing.T) {
	in := strings.Replace(sorryKA, "    lvs_method DR\n", "    lvs_method DR\n    quorum 3\n    hysteresis 1\n", 1)
	cfg, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if strings.Contains(w.String(), "hysteresis") {
			t.Fatalf("hysteresis warned: %v", w)
		}
	}
	if s := cfg.Services[0]; s.Quorum != 3 || s.Hysteresis != 1 {
		t.Fatalf("quorum %d hysteresis %d, want 3 and 1", s.Quorum, s.Hysteresis)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("out.yaml", out, FormatYAML)
	if err != nil || back.Services[0].Hysteresis != 1 {
		t.Fatalf("round trip: %v %+v\n%s", err, back, out)
	}
	bad := strings.Replace(sorryKA, "    lvs_method DR\n", "    lvs_method DR\n    hysteresis -1\n", 1)
	if _, _, err := Parse("t.conf", []byte(bad), FormatKeepalived); err == nil || !strings.Contains(err.Error(), "t.conf:4: virtual_server 10.0.0.1 80: hysteresis: -1 is out of range") {
		t.Fatalf("hysteresis -1: %v", err)
	}
}

func TestQuorumScripts(t *testing.T) {
	in := strings.Replace(sorryKA, "    lvs_method DR\n", "    lvs_method DR\n    quorum_up \"/bin/echo up\"\n    quorum_down /bin/true\n", 1)
	cfg, _, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if !reflect.DeepEqual(s.QuorumUp.Argv, []string{"/bin/echo", "up"}) || !reflect.DeepEqual(s.QuorumDown.Argv, []string{"/bin/true"}) {
		t.Fatalf("quorum_up %q quorum_down %q", s.QuorumUp, s.QuorumDown)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("out.yaml", out, FormatYAML)
	if err != nil || !reflect.DeepEqual(back.Services[0].QuorumUp, s.QuorumUp) || !reflect.DeepEqual(back.Services[0].QuorumDown, s.QuorumDown) {
		t.Fatalf("round trip: %v\n%s", err, out)
	}
}
