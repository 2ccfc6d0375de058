package health

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpResponder is a tiny SMTP server: it sends greeting, answers HELO with
// helo and QUIT with "221 bye", and records the commands it got.
type smtpResponder struct {
	greeting, helo string
	mu             sync.Mutex
	got            []string
}

func (s *smtpResponder) serve(c net.Conn) {
	defer c.Close()
	_, _ = c.Write([]byte(s.greeting))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.mu.Lock()
		s.got = append(s.got, line)
		s.mu.Unlock()
		switch {
		case strings.HasPrefix(line, "HELO "):
			_, _ = c.Write([]byte(s.helo))
		case line == "QUIT\r\n":
			_, _ = c.Write([]byte("221 2.0.0 Bye\r\n"))
			return
		}
	}
}

func TestSMTPCheck(t *testing.T) {
	noLeak(t)
	cases := []struct {
		name     string
		greeting string
		helo     string
		ok       bool
		reason   string
	}{
		{name: "postfix-like server", greeting: "220 mx.test ESMTP Postfix\r\n", helo: "250 mx.test\r\n", ok: true},
		{name: "554 greeting", greeting: "554 5.3.2 no service\r\n", reason: `greeting: protocol error: got "554 5.3.2 no service?", want 220`},
		{name: "multi-line greeting fails as in keepalived", greeting: "220-mx.test first\r\n220 mx.test ESMTP\r\n", helo: "250 ok\r\n", reason: "want 220"},
		{name: "bare code with CR is no code to keepalived", greeting: "220\r\n", helo: "250 ok\r\n", reason: "want 220"},
		{name: "HELO refused", greeting: "220 mx.test\r\n", helo: "501 bad HELO\r\n", reason: "HELO: protocol error"},
		{name: "HELO answered 2500", greeting: "220 mx.test\r\n", helo: "2500 odd\r\n", reason: "want 250"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &smtpResponder{greeting: tc.greeting, helo: tc.helo}
			addr := fakeServer(t, srv.serve)
			c, err := NewSMTP(SMTPConfig{Addr: addr, HeloName: "lb1.test"})
			if err != nil {
				t.Fatal(err)
			}
			r := checkWithin(c, time.Second)
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) || (!r.OK && !errors.Is(r.Err, ErrProtocol)) {
				t.Fatalf("got %+v, want ok=%v reason ~%q", r, tc.ok, tc.reason)
			}
			if tc.ok {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				if strings.Join(srv.got, "") != "HELO lb1.test\r\nQUIT\r\n" {
					t.Fatalf("server got %q, want HELO lb1.test then QUIT", srv.got)
				}
			}
		})
	}
}

func TestSMTPDefaultHelo(t *testing.T) {
	srv := &smtpResponder{greeting: "220 mx\r\n", helo: "250 mx\r\n"}
	addr := fakeServer(t, srv.serve)
	c, err := NewSMTP(SMTPConfig{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if r := checkWithin(c, 5*time.Second); !r.OK {
		t.Fatal(r.Reason)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.got[0] != "HELO smtpchecker.keepalived.org\r\n" {
		t.Fatalf("HELO %q, want keepalived's default name", srv.got[0])
	}
}

func TestSMTPHostileServers(t *testing.T) {
	noLeak(t)
	cases := []struct {
		name    string
		serve   func(net.Conn)
		wantErr error
		reason  string
	}{
		{name: "silent", serve: hold, wantErr: ErrTimeout, reason: "greeting"},
		{name: "closes at once", serve: func(c net.Conn) { c.Close() }, wantErr: ErrConnect, reason: "EOF"},
		{name: "greeting, then closes on HELO", serve: func(c net.Conn) { _, _ = c.Write([]byte("220 mx\r\n")); _, _ = c.Read(make([]byte, 64)); c.Close() },
			wantErr: ErrConnect, reason: "HELO"},
		{name: "no answer to QUIT", serve: func(c net.Conn) {
			_, _ = c.Write([]byte("220 mx\r\n"))
			_, _ = c.Read(make([]byte, 64))
			_, _ = c.Write([]byte("250 mx\r\n"))
			hold(c)
		}, wantErr: ErrTimeout, reason: "QUIT"},
		{name: "a megabyte without a newline", serve: func(c net.Conn) { _, _ = c.Write([]byte(strings.Repeat("2", 1<<20))); hold(c) },
			wantErr: ErrProtocol, reason: "no end of line within 512 bytes"},
		{name: "binary garbage", serve: func(c net.Conn) { _, _ = c.Write([]byte("\x00\x01\xff\xfe\n")); hold(c) }, wantErr: ErrProtocol},
		{name: "greeting a byte at a time, too slowly", serve: func(c net.Conn) {
			for _, b := range []byte("220 slow\r\n") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			hold(c)
		}, wantErr: ErrTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, tc.serve)
			c, err := NewSMTP(SMTPConfig{Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := checkWithin(c, 300*time.Millisecond)
			if r.OK || !errors.Is(r.Err, tc.wantErr) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want down with %v ~%q", r, tc.wantErr, tc.reason)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
	if _, err := NewSMTP(SMTPConfig{Addr: "10.0.0.1:25", HeloName: "two words"}); err == nil {
		t.Error("helo_name with a space accepted")
	}
}
