package health

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkChecks measures one check of each new kind against a server on
// loopback: the director's cost per check, not a network's.
func BenchmarkChecks(b *testing.B) {
	web := httptest.NewServer(webMux(nil))
	defer web.Close()
	tlsWeb := httptest.NewUnstartedServer(webMux(nil))
	tlsWeb.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(b)}}
	tlsWeb.StartTLS()
	defer tlsWeb.Close()
	dnsAddr := dnsServer(b, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		_ = w.WriteMsg(r)
	}))
	smtp := &smtpResponder{greeting: "220 mx\r\n", helo: "250 mx\r\n"}
	smtpAddr := fakeServer(b, smtp.serve)
	echo := udpResponder(b, func(q []byte) [][]byte { return [][]byte{q} })

	mk := map[string]func() (Checker, error){
		"HTTP_GET 2 urls + digest": func() (Checker, error) {
			return NewHTTPGet(HTTPGetConfig{Addr: web.Listener.Addr().String(),
				URLs: []URLCheck{{Path: "/ok", Digest: "46b59657bfff7a2a9a10b1fc45a3018f"}, {Path: "/empty"}}})
		},
		"SSL_GET": func() (Checker, error) {
			return NewHTTPGet(HTTPGetConfig{Addr: tlsWeb.Listener.Addr().String(), SSL: true, URLs: []URLCheck{{Path: "/ok"}}})
		},
		"DNS_CHECK":  func() (Checker, error) { return NewDNS(DNSConfig{Addr: dnsAddr}) },
		"SMTP_CHECK": func() (Checker, error) { return NewSMTP(SMTPConfig{Addr: smtpAddr}) },
		"UDP_CHECK": func() (Checker, error) {
			return NewUDP(UDPConfig{Addr: echo, Payload: []byte("PING"), RequireReply: true})
		},
	}
	for _, name := range []string{"HTTP_GET 2 urls + digest", "SSL_GET", "DNS_CHECK", "SMTP_CHECK", "UDP_CHECK"} {
		b.Run(name, func(b *testing.B) {
			c, err := mk[name]()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if r := c.Check(context.Background()); !r.OK {
					b.Fatal(r.Reason)
				}
			}
		})
	}
}
