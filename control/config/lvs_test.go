package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"xlb/lb"
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
		"t.conf:5: real_server 10.0.0.2 3306: uthreshold: " + thresholdWhy,
		"t.conf:6: real_server 10.0.0.2 3306: lthreshold: " + thresholdWhy,
		"t.conf:7: real_server 10.0.0.2 3306: TCP_CHECK: a TCP check on port 3306: MySQL/MariaDB counts every bare connect-and-close as a connection error " +
			"and, after max_connect_errors (default 100), blocks this director's address (error 1129) until FLUSH HOSTS; " +
			"use MYSQL_CHECK (native: kind mysql), which logs in and quits cleanly",
	})
}
