package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"xlb/lb"
	"xlb/loader/limits"
)

// lvsService is what a virtual_server VIP PORT with lvs_method DR and no
// other keyword reads as: every default applied.
func lvsService(vip string, port uint16, reals ...RealServer) Service {
	a := netip.MustParseAddr(vip)
	return Service{Name: netipAddrPort(a, port) + "/tcp", VIP: a, Port: port, Protocol: lb.TCP, Scheduler: DefaultScheduler,
		Method: MethodDR, DelayLoop: DefaultDelayLoop, Quorum: DefaultQuorum, Reals: reals}
}

func lvsReal(ip string, port uint16) RealServer {
	return RealServer{IP: netip.MustParseAddr(ip), Port: port, Weight: DefaultWeight}
}

// wantServices parses a keepalived.conf and compares the whole services
// and the warnings with what the case wants.
func wantServices(t *testing.T, in string, want []Service, warns []string) {
	t.Helper()
	cfg, w, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(cfg.Services, want) {
		t.Errorf("services\n got %+v\nwant %+v", cfg.Services, want)
	}
	diffLines(t, "warnings", warnStrings(w), warns)
}

// uthreshold and lthreshold are accepted with a warning and change nothing:
// xlb cannot enforce them (thresholdWhy).
func TestThresholdsWarned(t *testing.T) {
	wantServices(t, ka(`virtual_server 10.0.0.1 3306 {
    lvs_method DR
    protocol TCP
    real_server 10.0.0.2 3306 {
        uthreshold 500
        lthreshold 100
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`), []Service{lvsService("10.0.0.1", 3306, func() RealServer {
		r := lvsReal("10.0.0.2", 3306)
		r.Check = &Check{Kind: CheckTCP, Interval: DefaultDelayLoop, ConnectTimeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
			Rise: 1, Fall: 1, ConnectIP: r.IP, ConnectPort: 3306}
		return r
	}())}, []string{
		"t.conf:6: real_server 10.0.0.2 3306: uthreshold: " + thresholdWhy,
		"t.conf:7: real_server 10.0.0.2 3306: lthreshold: " + thresholdWhy,
		"t.conf:8: real_server 10.0.0.2 3306: TCP_CHECK: a TCP check on port 3306: MySQL/MariaDB counts every bare connect-and-close as a connection error " +
			"and, after max_connect_errors (default 100), blocks this director's address (error 1129) until FLUSH HOSTS; " +
			"use MYSQL_CHECK (native: kind mysql), which logs in and quits cleanly",
	})
}

// A virtual_server_group's addresses and ranges each become a service with
// the block's settings and real servers, in the group's order; the group may
// stand after the virtual_server naming it, as in keepalived.
func TestServerGroup(t *testing.T) {
	svc := func(vip string, port uint16) Service {
		s := lvsService(vip, port, lvsReal("10.0.0.2", port), lvsReal("10.0.0.3", port))
		s.Scheduler, s.Reals[1].Weight = "fo", 2
		return s
	}
	want := []Service{svc("10.0.0.100", 3306), svc("10.0.1.10", 3306), svc("10.0.1.11", 3306), svc("10.0.1.12", 3306),
		svc("10.0.2.254", 3306), svc("10.0.2.255", 3306), svc("10.0.3.0", 3306), svc("10.0.4.8", 3307), svc("10.0.4.9", 3307)}
	wantServices(t, ka(`virtual_server group DB {
    lvs_sched fo
    lvs_method DR
    protocol TCP
    real_server 10.0.0.2 {
    }
    real_server 10.0.0.3 {
        weight 2
    }
}
virtual_server_group DB {
    10.0.0.100 3306
    10.0.1.10-12 3306
    10.0.2.254-10.0.3.0 3306
    10.0.4.8/31 3307
}
`), want, nil)
}

func TestServerGroupErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"fwmark and bad entries", ka(`virtual_server_group G {
    fwmark 1
    10.0.0.1
    10.0.0.1 0
    10.0.0.9-3 80
    10.0.0.1-10.0.0.0 80
    10.0.0.1-300 80
    10.0.0.1/24 80
    fd00::1-10.0.0.2 80
    10.0.0.5 80 {
    }
}
virtual_server group G {
    lvs_method DR
}
virtual_server group H {
}
virtual_server group {
}
`), []string{
			"t.conf:3: virtual_server_group G: fwmark: " + fwmarkWhy,
			"t.conf:4: virtual_server_group G: 10.0.0.1: wants ADDRESS PORT (ADDRESS: A, A-N, A-B or A/LEN): xlb balances one port per service",
			"t.conf:5: virtual_server_group G: 10.0.0.1: wants ADDRESS PORT (ADDRESS: A, A-N, A-B or A/LEN): xlb balances one port per service",
			`t.conf:6: virtual_server_group G: 10.0.0.9-3: range "10.0.0.9-3" does not end after its start`,
			`t.conf:7: virtual_server_group G: 10.0.0.1-10.0.0.0: range "10.0.0.1-10.0.0.0" ends before its start`,
			`t.conf:8: virtual_server_group G: 10.0.0.1-300: range end "300" is not a number up to 255`,
			`t.conf:9: virtual_server_group G: 10.0.0.1/24: "10.0.0.1/24" has host bits set (write 10.0.0.0/24)`,
			`t.conf:10: virtual_server_group G: fd00::1-10.0.0.2: "fd00::1-10.0.0.2" mixes address families`,
			"t.conf:11: virtual_server_group G: 10.0.0.5: takes no { ... } block",
			`t.conf:17: virtual_server group H: virtual_server_group "H" is not defined`,
			"t.conf:19: virtual_server group: wants group NAME",
		}},
		{"more addresses than the data plane holds", ka(`virtual_server_group BIG {
    10.1.0.0/16 80
}
virtual_server group BIG {
    lvs_method DR
}
`), []string{
			"t.conf:3: virtual_server_group BIG: 10.1.0.0/16: the group holds more than 1023 addresses and ports: the data plane holds 1023 services; " + limits.HowToRaise,
		}},
		{"an error in the block is said once", ka(`virtual_server_group G {
    10.0.0.1-3 80
}
virtual_server group G {
    lvs_method DR
    lvs_sched lblc
    real_server 10.0.0.9 80 {
        weight x
    }
    real_server 10.0.0.2 80 {
    }
}
`), []string{
			`t.conf:7: virtual_server group G: lvs_sched: "lblc" is not supported (rr, wrr, lc, wlc, sed, nq: weighted Maglev; sh, mh: source-IP affinity; fo: failover)`,
			`t.conf:9: real_server 10.0.0.9 80: weight: "x" is not an integer`,
			`t.conf:11: real_server 10.0.0.2 80: 10.0.0.2 is the VIP itself`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("t.conf", []byte(tc.in), FormatKeepalived)
			if err == nil {
				t.Fatal("no error")
			}
			diffLines(t, "errors", errStrings(err), tc.want)
		})
	}
}

// A keepalived.conf with virtual_servers only names no interface and loads:
// xlbd chooses the interface from the real servers' subnet
// (daemon.InferInterfaces), as keepalived needs none for LVS.
func TestLVSOnlyNamesNoInterface(t *testing.T) {
	cfg, warns, err := Parse("t.conf", []byte("virtual_server 10.0.0.1 80 {\n    lvs_method DR\n    protocol TCP\n    real_server 10.0.0.2 80 {\n    }\n}\n"), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), nil)
	if len(cfg.Interfaces) != 0 || !reflect.DeepEqual(cfg.Services, []Service{lvsService("10.0.0.1", 80, lvsReal("10.0.0.2", 80))}) {
		t.Errorf("interfaces %v, services %+v", cfg.Interfaces, cfg.Services)
	}
}
