package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// A dual-stack keepalived.conf as keepalived users write it: an IPv6
// virtual_server and real servers beside IPv4 ones, an IPv6 connect_ip. It
// reads into the same fields as IPv4, converts to YAML and back unchanged,
// and the YAML names addresses as operators write them.
func TestDualStackServices(t *testing.T) {
	in := ka(`virtual_server 192.168.1.30 3306 {
    lvs_method DR
    real_server 192.168.1.11 3306 {
    }
}
virtual_server fd00:1::30 3306 {
    lvs_method DR
    lvs_sched wrr
    sorry_server fd00:1::99 3306
    real_server fd00:1::11 3306 {
        weight 2
        TCP_CHECK {
            connect_ip fd00:1::111
        }
    }
    real_server FD00:1:0::12 3306 {
        PING_CHECK {
        }
    }
}
`)
	cfg, _, err := Parse("ds.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 2 {
		t.Fatalf("%d services", len(cfg.Services))
	}
	s := cfg.Services[1]
	want := []netip.Addr{netip.MustParseAddr("fd00:1::11"), netip.MustParseAddr("fd00:1::12")}
	if s.VIP != netip.MustParseAddr("fd00:1::30") || s.Port != 3306 || len(s.Reals) != 2 || s.Reals[0].IP != want[0] || s.Reals[1].IP != want[1] {
		t.Fatalf("IPv6 service: %+v", s)
	}
	if s.Reals[0].Check == nil || s.Reals[0].Check.ConnectIP != netip.MustParseAddr("fd00:1::111") {
		t.Errorf("connect_ip: %+v", s.Reals[0].Check)
	}
	if c := s.Reals[1].Check; c == nil || c.Kind != CheckPing {
		t.Errorf("PING_CHECK on an IPv6 real server: %+v", c)
	}
	if s.SorryServer == nil || s.SorryServer.IP != netip.MustParseAddr("fd00:1::99") {
		t.Errorf("sorry server: %+v", s.SorryServer)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"vip: fd00:1::30", "ip: fd00:1::12"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("YAML lacks %q:\n%s", w, out)
		}
	}
	back, _, err := Parse("ds.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip differs\n%+v\n%+v", cfg, back)
	}
}

// In YAML a family mix names the file, line and field.
func TestFamilyMixYAML(t *testing.T) {
	in := `interfaces: [eth0]
services:
  - vip: fd00:1::30
    port: 3306
    reals:
      - ip: fd00:1::11
      - ip: 192.168.1.12
`
	_, _, err := Parse("m.yaml", []byte(in), FormatYAML)
	diffLines(t, "family mix", errStrings(err), []string{
		"m.yaml:7: real 192.168.1.12: ip: real server 192.168.1.12 is IPv4, the VIP fd00:1::30 is IPv6: a service and its real servers are one address family (direct routing forwards the client's packet unchanged); write a virtual_server per family",
	})
}
