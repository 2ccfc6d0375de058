package config

import (
	"fmt"
	"strings"
	"testing"

	"xlb/loader/limits"
)

// Addresses no packet can be forwarded to or from are errors at their line,
// in both formats.
func TestUnusableAddresses(t *testing.T) {
	in := ka(`vrrp_instance V {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  10.0.0.1/24
  0.0.0.0
  224.0.0.18/32
 }
}
virtual_server 127.0.0.1 80 {
 lvs_method DR
 real_server 10.0.0.2 80 {
 }
}
virtual_server 10.0.0.1 80 {
 lvs_method DR
 real_server 255.255.255.255 80 {
 }
 real_server 239.1.1.1 80 {
 }
 real_server 127.0.0.5 80 {
 }
 real_server 10.0.0.3 80 {
 }
}
`)
	_, _, err := Parse("t.conf", []byte(in), FormatKeepalived)
	diffLines(t, "keepalived.conf", errStrings(err), []string{
		"t.conf:7: vrrp_instance V: virtual_ipaddress: 0.0.0.0 is the unspecified address: it cannot be a virtual address",
		"t.conf:8: vrrp_instance V: virtual_ipaddress: 224.0.0.18 is a multicast address: it cannot be a virtual address",
		"t.conf:11: virtual_server 127.0.0.1 80: virtual_server: 127.0.0.1 is a loopback address: no client packet can reach it",
		"t.conf:18: real_server 255.255.255.255 80: real_server: 255.255.255.255 is the broadcast address: no packet can be forwarded to it",
		"t.conf:20: real_server 239.1.1.1 80: real_server: 239.1.1.1 is a multicast address: no packet can be forwarded to it",
		"t.conf:22: real_server 127.0.0.5 80: real_server: 127.0.0.5 is a loopback address: no packet can be forwarded to it",
	})

	yml := `interfaces: [eth0]
services:
  - vip: 0.0.0.0
    port: 80
    reals:
      - ip: 127.0.0.1
vrrp:
  - name: V
    interface: eth0
    vrid: 1
    vips: [10.0.0.1/24, 255.255.255.255]
`
	_, _, err = Parse("t.yaml", []byte(yml), FormatYAML)
	got := strings.Join(errStrings(err), "\n")
	for _, want := range []string{
		"t.yaml:3: services[0]: vip: 0.0.0.0 is the unspecified address: no client packet can reach it",
		"t.yaml:6: real 127.0.0.1: ip: 127.0.0.1 is a loopback address: no packet can be forwarded to it",
		`t.yaml:11: vrrp "V": vips: 255.255.255.255 is the broadcast address: it cannot be a virtual address`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// A config the data plane cannot hold fails check-config with the limit
// and how to raise it, at the first service or real server past it.
func TestCapacity(t *testing.T) {
	services := func(n, reals int) string {
		var b strings.Builder
		b.WriteString("global_defs {\n xlb_interface eth0\n}\n")
		for i := range n {
			fmt.Fprintf(&b, "virtual_server 10.%d.%d.1 80 {\n lvs_method DR\n", i/250, i%250)
			for j := range reals {
				fmt.Fprintf(&b, " real_server 10.200.%d.%d 80 {\n }\n", j/250, j%250+1)
			}
			b.WriteString("}\n")
		}
		return b.String()
	}
	if _, _, err := Parse("t.conf", []byte(services(limits.MaxServices, 4)), FormatKeepalived); err != nil {
		t.Fatalf("%d services, 4 reals each: %v", limits.MaxServices, errStrings(err)[:1])
	}
	_, _, err := Parse("t.conf", []byte(services(limits.MaxServices+2, 1)), FormatKeepalived)
	line := 3 + limits.MaxServices*5 + 1 // 5 lines per service with one real server
	diffLines(t, "services", errStrings(err), []string{
		fmt.Sprintf("t.conf:%d: virtual_server 10.4.23.1 80: 1025 services: the data plane holds 1023; %s", line, limits.HowToRaise),
	})
	_, _, err = Parse("t.conf", []byte(services(2, 2100)), FormatKeepalived)
	line = 3 + 2 + 2100*2 + 1 + 2 + (limits.MaxBackends-2100)*2 + 1 // the 1996th real server of the second service
	diffLines(t, "backends", errStrings(err), []string{
		fmt.Sprintf("t.conf:%d: real_server 10.200.7.246 80: 4200 backends (real servers and sorry servers, counted per service): the data plane holds 4095; %s", line, limits.HowToRaise),
	})
}

// A sorry server takes a backend slot of its own (the reconciler gives it an
// id): check-config counts it, so a config whose sorry servers overflow the
// data plane fails at the sorry server's line, not in the daemon.
func TestCapacityCountsSorryServers(t *testing.T) {
	conf := func(reals int) string {
		var b strings.Builder
		b.WriteString("global_defs {\n xlb_interface eth0\n}\nvirtual_server 10.0.0.1 80 {\n lvs_method DR\n")
		b.WriteString(" sorry_server 10.201.0.1 80\n")
		for j := range reals {
			fmt.Fprintf(&b, " real_server 10.200.%d.%d 80 {\n }\n", j/250, j%250+1)
		}
		b.WriteString("}\n")
		return b.String()
	}
	if _, _, err := Parse("t.conf", []byte(conf(limits.MaxBackends-1)), FormatKeepalived); err != nil {
		t.Fatalf("%d real servers and a sorry server: %v", limits.MaxBackends-1, errStrings(err)[:1])
	}
	_, _, err := Parse("t.conf", []byte(conf(limits.MaxBackends)), FormatKeepalived)
	diffLines(t, "errors", errStrings(err), []string{
		fmt.Sprintf("t.conf:6: virtual_server 10.0.0.1 80: %d backends (real servers and sorry servers, counted per service): the data plane holds %d; %s",
			limits.MaxBackends+1, limits.MaxBackends, limits.HowToRaise),
	})
}
