package health

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	sec "xlb/control/secret"
)

// fakeServer accepts on loopback and hands each connection to serve; it
// closes every connection and the listener when the test ends.
func fakeServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// packet frames payload as a MySQL packet with sequence number seq.
func packet(seq byte, payload []byte) []byte {
	h := make([]byte, 4, 4+len(payload))
	binary.LittleEndian.PutUint32(h, uint32(len(payload)))
	h[3] = seq
	return append(h, payload...)
}

// greeting is a plausible protocol-10 handshake, for truncating.
func greeting() []byte {
	p := []byte{10}
	p = append(p, "10.11.19-MariaDB-fake\x00"...)
	p = append(p, 1, 0, 0, 0)                // connection id
	p = append(p, "abcdefgh\x00"...)         // auth data part 1 + filler
	p = append(p, 0xff, 0xf7, 8, 0x02, 0x00) // capabilities, charset, status
	p = append(p, 0xff, 0x81, 21)            // capabilities upper, auth data length
	p = append(p, make([]byte, 10)...)       // reserved
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, "mysql_native_password\x00"...)
	return packet(0, p)
}

func hold(c net.Conn) { _, _ = c.Read(make([]byte, 1)) }

func TestMySQLAgainstBrokenServers(t *testing.T) {
	noLeak(t)
	g := greeting()
	errPacket := packet(0, append([]byte{0xff, 0x69, 0x04}, "Host '10.9.9.9' is blocked because of many connection errors"...))
	cases := []struct {
		name    string
		serve   func(net.Conn)
		wantErr error
		reason  string
	}{
		{name: "accepts and never answers", serve: hold, wantErr: ErrTimeout},
		{name: "closes at once", serve: func(c net.Conn) { c.Close() }, wantErr: ErrConnect},
		{name: "garbage text", serve: func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); hold(c) }},
		{name: "truncated handshake then close", serve: func(c net.Conn) { _, _ = c.Write(g[:30]); c.Close() }},
		{name: "truncated handshake then silence", serve: func(c net.Conn) { _, _ = c.Write(g[:30]); hold(c) }, wantErr: ErrTimeout},
		{name: "handshake body cut short", serve: func(c net.Conn) { _, _ = c.Write(packet(0, g[4:20])); hold(c) }},
		{name: "old protocol 9", serve: func(c net.Conn) { _, _ = c.Write(packet(0, []byte{9, '3', '.', '2', 0})); hold(c) }},
		{name: "16 MiB length announced", serve: func(c net.Conn) { _, _ = c.Write([]byte{0xff, 0xff, 0xff, 0, 10}); hold(c) }, wantErr: ErrTimeout},
		{name: "wrong sequence number", serve: func(c net.Conn) { b := append([]byte(nil), g...); b[3] = 7; _, _ = c.Write(b); hold(c) }},
		{name: "error packet instead of a greeting", serve: func(c net.Conn) { _, _ = c.Write(errPacket); c.Close() },
			wantErr: ErrConnect, reason: "Host '10.9.9.9' is blocked"},
		{name: "greeting then garbage instead of an auth result", serve: func(c net.Conn) {
			_, _ = c.Write(g)
			_, _ = c.Read(make([]byte, 4096))
			_, _ = c.Write(packet(2, []byte{0x42, 0x42, 0x42}))
			hold(c)
		}},
	}
	const timeout = 400 * time.Millisecond
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, tc.serve)
			c, err := NewMySQL(MySQLConfig{Addr: addr, User: "check", Password: sec.New(secret)})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := checkWithin(c, timeout)
			took := time.Since(start)
			if r.OK || r.Reason == "" || r.Err == nil {
				t.Fatalf("got %+v, want down with a reason", r)
			}
			if tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr) {
				t.Fatalf("reason %q does not wrap %v", r.Reason, tc.wantErr)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("reason %q, want ~%q", r.Reason, tc.reason)
			}
			if strings.Contains(r.Reason, secret) {
				t.Fatalf("reason shows the password: %q", r.Reason)
			}
			if took > timeout+2*time.Second {
				t.Fatalf("took %v with a %v timeout", took, timeout)
			}
			t.Logf("reason: %s", r.Reason)
		})
	}
}

func TestMySQLRandomBytesNeverPanic(t *testing.T) {
	noLeak(t)
	rng := rand.New(rand.NewPCG(1, 2))
	g := greeting()
	var mu sync.Mutex
	var blob []byte
	addr := fakeServer(t, func(c net.Conn) {
		mu.Lock()
		b := blob
		mu.Unlock()
		_, _ = c.Write(b)
		c.Close()
	})
	c, err := NewMySQL(MySQLConfig{Addr: addr, User: "check"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		var b []byte
		if i%2 == 0 {
			// A real greeting with random bytes flipped.
			b = append(b, g...)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
		} else {
			b = make([]byte, rng.IntN(200))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
		}
		mu.Lock()
		blob = b
		mu.Unlock()
		r := checkWithin(c, 300*time.Millisecond)
		if r.OK || r.Reason == "" {
			t.Fatalf("blob %x: got %+v, want down with a reason", b, r)
		}
	}
}

func TestTCPCheck(t *testing.T) {
	noLeak(t)
	addr := fakeServer(t, hold)
	c, err := NewTCP(TCPConfig{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); !r.OK {
		t.Fatalf("listening port: %+v", r)
	}
	closed, err := NewTCP(TCPConfig{Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if r := closed.Check(context.Background()); r.OK || !errors.Is(r.Err, ErrConnect) || !strings.Contains(r.Reason, "refused") {
		t.Fatalf("closed port: %+v", r)
	}
	if _, err := NewTCP(TCPConfig{Addr: "10.0.0.1"}); err == nil {
		t.Fatal("address without port accepted")
	}
}

func TestMonitorSilentServer(t *testing.T) {
	noLeak(t)
	addr := fakeServer(t, hold)
	tm := Timing{Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Retry: 1, DelayBeforeRetry: 100 * time.Millisecond, Rise: 1, Fall: 1}
	m, err := NewMonitor("silent", mustMySQL(t, MySQLConfig{Addr: addr, User: "check"}), tm, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	verdicts := runMonitor(t, m, 4)
	if v := waitVerdict(t, verdicts, time.Second); !v.Up {
		t.Fatalf("initial: %+v", v)
	}
	v := waitVerdict(t, verdicts, tm.WorstCaseDown()+2*time.Second)
	took := time.Since(start)
	// A server silent from the start gets one attempt, as in keepalived (no
	// retry before the first result), which must use its whole timeout.
	if minimum := tm.Timeout; v.Up || took < minimum ||
		!strings.Contains(v.Reason, "1 failed round(s): connect failed: timed out after") {
		t.Fatalf("after %v (at least %v expected): %+v", took, minimum, v)
	}
	if v.Latency < tm.Timeout || v.Latency > tm.Timeout+time.Second {
		t.Fatalf("latency %v, want about the %v timeout", v.Latency, tm.Timeout)
	}
}
