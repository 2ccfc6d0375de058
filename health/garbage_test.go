package health

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestCheckersAgainstRandomBytes feeds every protocol checker servers that
// answer random bytes, or a valid answer with random bytes flipped: no
// attempt may panic or outlast its timeout, random bytes are always down
// with a reason, and a flipped answer is either still valid or down with a
// reason.
func TestCheckersAgainstRandomBytes(t *testing.T) {
	noLeak(t)
	rng := rand.New(rand.NewPCG(7, 11))
	var mu sync.Mutex
	var blob []byte
	current := func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return blob
	}
	tcpAddr := fakeServer(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = c.Read(make([]byte, 4096)) // the request, if the client speaks first
		_, _ = c.Write(current())
		c.Close()
	})
	udpAddr := udpResponder(t, func([]byte) [][]byte { return [][]byte{current()} })

	valid := map[string][]byte{
		"smtp":     []byte("220 mx ESMTP\r\n"),
		"http_get": []byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
		"dns":      header(0, 0x8180),
	}
	build := map[string]func() (Checker, error){
		"smtp": func() (Checker, error) { return NewSMTP(SMTPConfig{Addr: tcpAddr}) },
		"http_get": func() (Checker, error) {
			return NewHTTPGet(HTTPGetConfig{Addr: tcpAddr, URLs: []URLCheck{{Path: "/", Digest: "444bcb3a3fcf8389296c49467f27e1d6"}}})
		},
		"ssl_get": func() (Checker, error) {
			return NewHTTPGet(HTTPGetConfig{Addr: tcpAddr, SSL: true, URLs: []URLCheck{{Path: "/"}}})
		},
		"dns": func() (Checker, error) { return NewDNS(DNSConfig{Addr: udpAddr}) },
		"udp_reply": func() (Checker, error) {
			return NewUDP(UDPConfig{Addr: udpAddr, RequireReply: true, Reply: []byte("PONG"), MinReplyLen: 4})
		},
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			c, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 40 {
				var b []byte
				if v := valid[name]; v != nil && i%2 == 0 {
					b = append(b, v...)
					for range 1 + rng.IntN(3) {
						b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
					}
				} else {
					b = make([]byte, rng.IntN(300))
					for j := range b {
						b[j] = byte(rng.IntN(256))
					}
				}
				mu.Lock()
				blob = b
				mu.Unlock()
				start := time.Now()
				r := checkWithin(c, 100*time.Millisecond)
				flipped := valid[name] != nil && i%2 == 0
				if (r.OK && !flipped) || (!r.OK && (r.Reason == "" || r.Err == nil)) {
					t.Fatalf("answer %q: got %+v, want down with a reason", b, r)
				}
				if took := time.Since(start); took > time.Second {
					t.Fatalf("answer %q: took %v", b, took)
				}
			}
		})
	}
}
