package health

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer runs a miekg/dns server on loopback UDP until the test ends.
func dnsServer(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return pc.LocalAddr().String()
}

// udpResponder answers every datagram on loopback with reply(query); nil
// means stay silent.
func udpResponder(t testing.TB, reply func(q []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, r := range reply(append([]byte(nil), buf[:n]...)) {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func TestDNSCheck(t *testing.T) {
	noLeak(t)
	var mu sync.Mutex
	var asked []dns.Question
	var rd []bool
	addr := dnsServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		asked = append(asked, q.Question...)
		rd = append(rd, q.RecursionDesired)
		mu.Unlock()
		r := new(dns.Msg)
		r.SetReply(q)
		switch q.Question[0].Name {
		case "missing.test.":
			r.Rcode = dns.RcodeNameError
		case "broken.test.":
			r.Rcode = dns.RcodeServerFailure
		default:
			soa, _ := dns.NewRR(". 3600 IN SOA ns.test. admin.test. 1 7200 3600 1209600 3600")
			r.Answer = append(r.Answer, soa)
		}
		_ = w.WriteMsg(r)
	}))

	cases := []struct {
		name    string
		cfg     DNSConfig
		ok      bool
		wantErr error
		reason  string
		asked   dns.Question
	}{
		{name: "keepalived's default: SOA of the root", ok: true, reason: ". SOA: NOERROR, 1 answer",
			asked: dns.Question{Name: ".", Qtype: dns.TypeSOA, Qclass: dns.ClassINET}},
		{name: "A of a name, type in lower case", cfg: DNSConfig{Type: "a", Name: "www.test"}, ok: true,
			asked: dns.Question{Name: "www.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}},
		{name: "NXDOMAIN is down", cfg: DNSConfig{Type: "A", Name: "missing.test"}, wantErr: ErrProtocol, reason: "rcode NXDOMAIN (3)"},
		{name: "SERVFAIL is down", cfg: DNSConfig{Type: "MX", Name: "broken.test."}, wantErr: ErrProtocol, reason: "SERVFAIL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addr = addr
			c, err := NewDNS(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := checkWithin(c, time.Second)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.asked.Name != "" && asked[len(asked)-1] != tc.asked {
				t.Fatalf("server was asked %v, want %v", asked[len(asked)-1], tc.asked)
			}
			if !rd[len(rd)-1] {
				t.Fatal("query without recursion desired (keepalived sets RD)")
			}
		})
	}
}

// header builds a 12-byte DNS header.
func header(id, flags uint16) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h, id)
	binary.BigEndian.PutUint16(h[2:], flags)
	return h
}

func TestDNSCheckHostileServers(t *testing.T) {
	noLeak(t)
	id := func(q []byte) uint16 { return binary.BigEndian.Uint16(q) }
	cases := []struct {
		name    string
		reply   func(q []byte) [][]byte
		ok      bool
		wantErr error
		reason  string
	}{
		{name: "silent", reply: func([]byte) [][]byte { return nil }, wantErr: ErrTimeout, reason: "no reply"},
		{name: "garbage", reply: func(q []byte) [][]byte {
			return [][]byte{append(binary.BigEndian.AppendUint16(nil, ^id(q)), "\xbe\xef garbage that is long enough"...)}
		},
			wantErr: ErrTimeout, reason: "skipped a reply with id"},
		{name: "too short for a header", reply: func([]byte) [][]byte { return [][]byte{{1, 2, 3}} }, wantErr: ErrTimeout, reason: "skipped a 3-byte"},
		{name: "query echoed back (no response bit)", reply: func(q []byte) [][]byte { return [][]byte{q} }, wantErr: ErrTimeout, reason: "response bit"},
		{name: "wrong id then the right one", reply: func(q []byte) [][]byte {
			return [][]byte{header(id(q)+1, 0x8180), header(id(q), 0x8180)}
		}, ok: true},
		{name: "64 KB reply with a good header (keepalived reads the header only)", reply: func(q []byte) [][]byte {
			return [][]byte{append(header(id(q), 0x8180), make([]byte, 64000)...)}
		}, ok: true},
		{name: "REFUSED", reply: func(q []byte) [][]byte { return [][]byte{header(id(q), 0x8185)} }, wantErr: ErrProtocol, reason: "REFUSED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := udpResponder(t, tc.reply)
			c, err := NewDNS(DNSConfig{Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := checkWithin(c, 300*time.Millisecond)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}

	t.Run("closed port: ICMP port unreachable is down at once", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		c, err := NewDNS(DNSConfig{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		if r := checkWithin(c, 2*time.Second); r.OK || !errors.Is(r.Err, ErrConnect) || errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Reason, "refused") {
			t.Fatalf("got %+v, want connection refused before the timeout", r)
		}
	})
}

func TestDNSConfigErrors(t *testing.T) {
	for name, cfg := range map[string]DNSConfig{
		"no port":       {Addr: "10.0.0.1"},
		"unknown type":  {Addr: "10.0.0.1:53", Type: "PTR"},
		"empty label":   {Addr: "10.0.0.1:53", Name: "a..b"},
		"leading dot":   {Addr: "10.0.0.1:53", Name: ".a"},
		"label too big": {Addr: "10.0.0.1:53", Name: strings.Repeat("x", 64) + ".test"},
	} {
		if _, err := NewDNS(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
