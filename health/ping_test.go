package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"

	"xlb/test/testutil"
)

// nsListen opens ICMP sockets inside ns and records each try.
func nsListen(ns *testutil.NetNS, opened *[]string) func(network, address string) (*icmp.PacketConn, error) {
	return func(network, address string) (*icmp.PacketConn, error) {
		var c *icmp.PacketConn
		err := ns.Do(func() error {
			var err error
			c, err = icmp.ListenPacket(network, address)
			return err
		})
		if err != nil {
			network += " refused"
		}
		*opened = append(*opened, network)
		return c, err
	}
}

// TestPingCheck pings inside a namespace of its own: 127.0.0.1 there answers
// until the namespace's icmp_echo_ignore_all is set, and an address on a
// link whose peer has no address never answers.
func TestPingCheck(t *testing.T) {
	testutil.RequirePriv(t)
	noLeak(t)
	ns := testutil.NewNetNS(t, "ping")
	ns.MustRun(t, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.MustRun(t, "ip", "link", "set", "v0", "up")
	ns.MustRun(t, "ip", "link", "set", "v1", "up")
	ns.MustRun(t, "ip", "route", "add", "192.0.2.0/24", "dev", "v0")
	sysctl := func(key, val string) {
		ns.MustRun(t, "sh", "-c", "echo '"+val+"' > /proc/sys/net/ipv4/"+key)
	}
	var opened []string
	check := func(addr string) Result {
		t.Helper()
		c, err := NewPing(PingConfig{Addr: addr, Listen: nsListen(ns, &opened)})
		if err != nil {
			t.Fatal(err)
		}
		return checkWithin(c, 500*time.Millisecond)
	}

	// A new namespace's ping_group_range is "1 0": nobody may open a ping
	// socket, so the raw socket is used.
	sysctl("ping_group_range", "1 0")
	if r := check("127.0.0.1"); !r.OK || !strings.Contains(r.Reason, "echo reply from 127.0.0.1 seq 1") {
		t.Fatalf("raw socket: %+v", r)
	}
	if strings.Join(opened, ",") != "udp4 refused,ip4:icmp" {
		t.Fatalf("sockets opened %v, want a refused datagram socket then a raw one", opened)
	}
	opened = nil
	sysctl("ping_group_range", "0 2147483647")
	if r := check("127.0.0.1:3306"); !r.OK {
		t.Fatalf("datagram socket: %+v", r)
	}
	if strings.Join(opened, ",") != "udp4" {
		t.Fatalf("sockets opened %v, want the datagram socket", opened)
	}

	sysctl("icmp_echo_ignore_all", "1")
	for _, mode := range []string{"0 2147483647", "1 0"} {
		sysctl("ping_group_range", mode)
		if r := check("127.0.0.1"); r.OK || !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Reason, "no echo reply from 127.0.0.1") {
			t.Fatalf("host ignoring pings (ping_group_range %s): %+v", mode, r)
		}
	}
	sysctl("icmp_echo_ignore_all", "0")
	if r := check("192.0.2.7"); r.OK || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("address nobody owns: %+v", r)
	}

	// IPv6: ICMPv6 echo, the same two sockets (ping_group_range governs
	// both families' datagram sockets).
	for _, tc := range []struct{ groups, want string }{{"1 0", "udp6 refused,ip6:ipv6-icmp"}, {"0 2147483647", "udp6"}} {
		sysctl("ping_group_range", tc.groups)
		opened = nil
		if r := check("[::1]:3306"); !r.OK || !strings.Contains(r.Reason, "echo reply from ::1 seq") {
			t.Fatalf("IPv6 (ping_group_range %s): %+v", tc.groups, r)
		}
		if strings.Join(opened, ",") != tc.want {
			t.Fatalf("IPv6 sockets opened %v, want %s", opened, tc.want)
		}
	}
	ns.MustRun(t, "sysctl", "-qw", "net.ipv6.icmp.echo_ignore_all=1")
	if r := check("::1"); r.OK || !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Reason, "no echo reply from ::1") {
		t.Fatalf("IPv6 host ignoring pings: %+v", r)
	}
}

func TestPingConfigErrors(t *testing.T) {
	for _, addr := range []string{"", "db1", "fe80::1%eth0", "10.0.0.300"} {
		if _, err := NewPing(PingConfig{Addr: addr}); err == nil {
			t.Errorf("%q accepted", addr)
		}
	}
}
