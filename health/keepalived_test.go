package health

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"xlb/control/config"
)

// TestKeepalivedConfChecks reads a keepalived.conf with the check kinds
// keepalived users write (SSL_GET with digest and SNI, DNS_CHECK,
// SMTP_CHECK, UDP_CHECK, PING_CHECK) and runs each configured check, built
// through the registry as the daemon builds it, against servers on loopback
// (connect_ip/connect_port point there; the real servers' own addresses are
// never contacted).
func TestKeepalivedConfChecks(t *testing.T) {
	noLeak(t)
	web, sni := sniServer(t)
	var mu sync.Mutex
	var asked dns.Question
	dnsAddr := dnsServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		asked = q.Question[0]
		mu.Unlock()
		r := new(dns.Msg)
		r.SetReply(q)
		_ = w.WriteMsg(r)
	}))
	smtp := &smtpResponder{greeting: "220 mx\r\n", helo: "250 mx\r\n"}
	smtpAddr := fakeServer(t, smtp.serve)
	echo := udpResponder(t, func(q []byte) [][]byte { return [][]byte{q} })
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

	conf := fmt.Sprintf(`
global_defs {
    xlb_interface eth0
}
virtual_server 10.9.0.1 443 {
    lvs_method DR
    real_server 10.9.0.2 443 {
        SSL_GET {
            connect_ip 127.0.0.1
            connect_port %[1]s
            enable_sni
            virtualhost backend.test
            url {
                path /ok
                digest 46b59657bfff7a2a9a10b1fc45a3018f
            }
        }
    }
}
virtual_server 10.9.0.1 80 {
    lvs_method DR
    real_server 10.9.0.7 80 {
        SSL_GET {
            connect_ip 127.0.0.1
            connect_port %[1]s
            url {
                path /ok
            }
            url {
                path /fail
                status_code 500
            }
        }
    }
    real_server 10.9.0.8 80 {
        SSL_GET {
            connect_ip 127.0.0.1
            connect_port %[1]s
            url {
                path /ok
            }
            url {
                path /fail
            }
        }
    }
}
virtual_server 10.9.0.1 53 {
    lvs_method DR
    protocol UDP
    real_server 10.9.0.3 53 {
        DNS_CHECK {
            connect_ip 127.0.0.1
            connect_port %[2]s
            type A
            name www.test
        }
    }
    real_server 10.9.0.4 53 {
        UDP_CHECK {
            connect_ip 127.0.0.1
            connect_port %[3]s
            payload 50 49 4e 47
            require_reply 50 49 xx 47
            min_reply_length 4
        }
    }
}
virtual_server 10.9.0.1 25 {
    lvs_method DR
    real_server 10.9.0.5 25 {
        SMTP_CHECK {
            connect_ip 127.0.0.1
            connect_port %[4]s
            helo_name lb1.test
        }
    }
    real_server 10.9.0.6 25 {
        PING_CHECK {
            connect_ip 127.0.0.1
        }
    }
}
`, port(web.Listener.Addr().String()), port(dnsAddr), port(echo), port(smtpAddr))
	cfg, _, err := config.Parse("k.conf", []byte(conf), config.FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]config.RealServer{}
	for _, s := range cfg.Services {
		for _, r := range s.Reals {
			checks[r.IP.String()] = r
		}
	}
	run := func(ip string) Result {
		t.Helper()
		c, err := NewChecker(checks[ip], nil)
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		return checkWithin(c, 2*time.Second)
	}

	if r := run("10.9.0.2"); !r.OK || !strings.Contains(r.Reason, "digest matches") {
		t.Errorf("SSL_GET: %+v", r)
	}
	if r := run("10.9.0.7"); !r.OK || r.Reason != "2 urls pass" {
		t.Errorf("two url blocks, the second expecting 500: %+v", r)
	}
	if r := run("10.9.0.8"); r.OK || !strings.Contains(r.Reason, "url /fail: unexpected HTTP status: 500") {
		t.Errorf("two url blocks, the second failing: %+v", r)
	}
	if r := run("10.9.0.3"); !r.OK {
		t.Errorf("DNS_CHECK: %+v", r)
	}
	if r := run("10.9.0.4"); !r.OK {
		t.Errorf("UDP_CHECK: %+v", r)
	}
	if r := run("10.9.0.5"); !r.OK {
		t.Errorf("SMTP_CHECK: %+v", r)
	}
	if names := sni(); len(names) == 0 || names[0] != "backend.test" {
		t.Errorf("SNI %q, want the virtualhost first (enable_sni), then none", names)
	}
	mu.Lock()
	if asked.Name != "www.test." || asked.Qtype != dns.TypeA {
		t.Errorf("DNS server was asked %v", asked)
	}
	mu.Unlock()
	smtp.mu.Lock()
	if len(smtp.got) == 0 || smtp.got[0] != "HELO lb1.test\r\n" {
		t.Errorf("SMTP server got %q", smtp.got)
	}
	smtp.mu.Unlock()

	// keepalived's per-checker defaults reach the schedule.
	for ip, want := range map[string]struct {
		retry int
		delay time.Duration
	}{"10.9.0.2": {1, 3 * time.Second}, "10.9.0.3": {3, 60 * time.Second}, "10.9.0.5": {1, time.Second}, "10.9.0.6": {1, time.Second}} {
		if tm := TimingOf(checks[ip].Check, false); tm.Retry != want.retry || tm.DelayBeforeRetry != want.delay {
			t.Errorf("%s: retry %d delay %v, keepalived %d and %v", ip, tm.Retry, tm.DelayBeforeRetry, want.retry, want.delay)
		}
	}
	if !TimingOf(checks["10.9.0.5"].Check, false).RetryWhileDown || TimingOf(checks["10.9.0.2"].Check, false).RetryWhileDown {
		t.Error("only SMTP_CHECK retries while down")
	}
	if _, err := NewChecker(checks["10.9.0.6"], nil); err != nil {
		t.Errorf("PING_CHECK does not build: %v", err)
	}
}

// A FILE_CHECK from a keepalived.conf, built through the registry: the file's
// value times the weight is added to the real server's own weight.
func TestKeepalivedConfFileCheck(t *testing.T) {
	dir := t.TempDir()
	conf := fmt.Sprintf(`
global_defs {
    xlb_interface eth0
}
track_file load {
    file %s/load
    weight 2
}
virtual_server 10.9.0.1 80 {
    lvs_method DR
    real_server 10.9.0.2 80 {
        weight 10
        FILE_CHECK {
            track_file load
        }
    }
}
`, dir)
	cfg, _, err := config.Parse("k.conf", []byte(conf), config.FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker(cfg.Services[0].Reals[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "load"), []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); !r.OK || !r.WeightSet || r.Weight != 16 {
		t.Fatalf("got %+v, want up with weight 10+3x2 = 16", r)
	}
	if tm := TimingOf(cfg.Services[0].Reals[0].Check, false); tm.Retry != 0 {
		t.Fatalf("FILE_CHECK retries %d times, keepalived never", tm.Retry)
	}
}
