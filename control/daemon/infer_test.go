package daemon

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// A file naming no interface gets, per service, the interface whose longest
// subnet holds its first real server, with the reason.
func TestInferInterfaces(t *testing.T) {
	cfg := parse(t, `
services:
  - {vip: 192.168.1.30, port: 3306, reals: [{ip: 192.168.1.10}, {ip: 192.168.1.11}]}
  - {vip: 192.168.1.31, port: 3306}
  - {vip: 10.1.0.30, port: 80, reals: [{ip: 10.1.2.3}]}
  - {vip: 192.168.1.32, port: 80, reals: [{ip: 192.168.1.12}]}
`)
	links := []hostLink{
		{"eth0", []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("fe80::1/64")}},
		{"eth1", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{"eth2", []netip.Prefix{netip.MustParsePrefix("10.1.2.9/24"), netip.MustParsePrefix("10.1.2.3/32")}},
	}
	got, err := inferInterfaces(cfg.Services, links)
	if err != nil {
		t.Fatal(err)
	}
	want := []InterfaceChoice{
		{"eth0", "its subnet 192.168.1.0/24 holds real server 192.168.1.10 of service 192.168.1.30:3306/tcp"},
		{"eth2", "its subnet 10.1.2.0/24 holds real server 10.1.2.3 of service 10.1.0.30:80/tcp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	_, err = inferInterfaces(cfg.Services, links[:1])
	if err == nil || !strings.Contains(err.Error(), "no interface of this host has a subnet holding service 10.1.0.30:80/tcp: real server 10.1.2.3") {
		t.Errorf("unreachable real server: %v", err)
	}
	_, err = inferInterfaces(cfg.Services[1:2], links)
	if err == nil || !strings.Contains(err.Error(), "no real server to choose one by") {
		t.Errorf("no real server: %v", err)
	}
}
