package health

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// selfSigned makes a certificate for "backend.test" signed by its own key, as
// a real server behind keepalived's SSL_GET usually has.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "backend.test"},
		DNSNames:     []string{"backend.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// sniServer is an HTTPS server of webMux(nil) with a selfSigned
// certificate, closed when t ends; sni lists the server names its clients
// sent, in order ("" for none).
func sniServer(t *testing.T) (srv *httptest.Server, sni func() []string) {
	var mu sync.Mutex
	var names []string
	srv = httptest.NewUnstartedServer(webMux(nil))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{selfSigned(t)},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			names = append(names, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// webMux serves the pages the url blocks below check.
func webMux(release <-chan struct{}) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("service ok\n")) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("host=" + r.Host + " ua=" + r.UserAgent()))
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		// Headers and a bit of body, then nothing until the client gives up.
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/bigheader", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("h", 2<<20))
	})
	return mux
}

func TestHTTPGetURLs(t *testing.T) {
	noLeak(t)
	release := make(chan struct{})
	srv := httptest.NewServer(webMux(release))
	defer srv.Close()
	defer close(release)
	addr := srv.Listener.Addr().String()

	cases := []struct {
		name    string
		cfg     HTTPGetConfig
		ok      bool
		wantErr error
		reason  string
	}{
		{name: "two urls pass", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/ok"}, {Path: "/empty"}}}, ok: true, reason: "2 urls pass"},
		{name: "second url fails: down, naming it", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/ok"}, {Path: "/fail"}}},
			wantErr: ErrHTTPStatus, reason: "url /fail: unexpected HTTP status: 500"},
		{name: "a url's own status codes", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/fail", Status: []StatusRange{{200, 200}, {500, 500}}}}}, ok: true},
		{name: "digest of the body matches (genhash value)", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/ok", Digest: "46b59657bfff7a2a9a10b1fc45a3018f"}}},
			ok: true, reason: "digest matches"},
		{name: "digest of an empty body", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/empty", Digest: "d41d8cd98f00b204e9800998ecf8427e"}}}, ok: true},
		{name: "digest differs", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/ok", Digest: "d41d8cd98f00b204e9800998ecf8427e"}}},
			wantErr: ErrHTTPBody, reason: "MD5 digest 46b59657bfff7a2a9a10b1fc45a3018f of 11 bytes"},
		{name: "checker virtualhost and keepalived's user agent", cfg: HTTPGetConfig{Host: "www.test",
			URLs: []URLCheck{{Path: "/host", Body: regexp.MustCompile(`^host=www\.test ua=KeepAliveClient$`)}}}, ok: true},
		{name: "url virtualhost wins over the checker's", cfg: HTTPGetConfig{Host: "www.test",
			URLs: []URLCheck{{Path: "/host", Host: "api.test", Body: regexp.MustCompile(`^host=api\.test `)}}}, ok: true},
		{name: "headers then a stall: down when the attempt times out", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/stall"}}},
			wantErr: ErrTimeout, reason: "read body after 7 bytes"},
		{name: "an endless body is down, not up", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/endless"}}}, wantErr: ErrTimeout},
		{name: "headers over keepalived's 4 KiB are refused", cfg: HTTPGetConfig{URLs: []URLCheck{{Path: "/bigheader"}}}, wantErr: ErrConnect, reason: "header"},
		{name: "plain HTTP server checked by SSL_GET", cfg: HTTPGetConfig{SSL: true, URLs: []URLCheck{{Path: "/ok"}}}, wantErr: ErrConnect},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addr = addr
			c, err := NewHTTPGet(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := checkWithin(c, 500*time.Millisecond)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) || (!r.OK && r.Reason == "") {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %v with a 500ms timeout", took)
			}
		})
	}
}

func TestSSLGet(t *testing.T) {
	noLeak(t)
	srv, sni := sniServer(t)
	addr := srv.Listener.Addr().String()

	check := func(cfg HTTPGetConfig) Result {
		t.Helper()
		cfg.Addr = addr
		c, err := NewHTTPGet(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return checkWithin(c, 2*time.Second)
	}
	lastSNI := func() string {
		names := sni()
		return names[len(names)-1]
	}

	// keepalived does not verify the certificate and sends no SNI.
	if r := check(HTTPGetConfig{SSL: true, URLs: []URLCheck{{Path: "/ok", Digest: "46b59657bfff7a2a9a10b1fc45a3018f"}}}); !r.OK {
		t.Fatalf("self-signed backend: %+v", r)
	}
	if s := lastSNI(); s != "" {
		t.Fatalf("SNI %q sent without enable_sni", s)
	}
	if r := check(HTTPGetConfig{SSL: true, SNI: "backend.test", URLs: []URLCheck{{Path: "/ok"}}}); !r.OK || lastSNI() != "backend.test" {
		t.Fatalf("sni_name: %+v, server saw %q", r, lastSNI())
	}
	if r := check(HTTPGetConfig{SSL: true, URLs: []URLCheck{{Path: "/ok"}, {Path: "/fail"}}}); r.OK || !errors.Is(r.Err, ErrHTTPStatus) {
		t.Fatalf("failing second url over TLS: %+v", r)
	}
	// A caller asking for verification gets it.
	if r := check(HTTPGetConfig{SSL: true, TLS: &tls.Config{ServerName: "backend.test"}, URLs: []URLCheck{{Path: "/ok"}}}); r.OK || !strings.Contains(r.Reason, "certificate") {
		t.Fatalf("verification against the system roots passed: %+v", r)
	}
	// HTTP_GET against the TLS port: the server answers TLS alerts or 400s, never a page.
	if r := check(HTTPGetConfig{URLs: []URLCheck{{Path: "/ok"}}}); r.OK {
		t.Fatalf("plain HTTP to a TLS port: %+v", r)
	}
}

func TestHTTPGetAgainstRawServers(t *testing.T) {
	noLeak(t)
	cases := map[string]func(net.Conn){
		"silent":         hold,
		"closes at once": func(c net.Conn) { c.Close() },
		"garbage": func(c net.Conn) {
			_, _ = c.Read(make([]byte, 512))
			_, _ = c.Write([]byte("\x00\xffSSH-2.0-garbage\r\n\r\n"))
			c.Close()
		},
		"status line only": func(c net.Conn) {
			_, _ = c.Read(make([]byte, 512))
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n"))
			c.Close()
		},
		"status out of range": func(c net.Conn) {
			_, _ = c.Read(make([]byte, 512))
			_, _ = c.Write([]byte("HTTP/1.0 999 Odd\r\n\r\n"))
			c.Close()
		},
		"short body for its length": func(c net.Conn) {
			_, _ = c.Read(make([]byte, 512))
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nabc"))
			c.Close()
		},
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			addr := fakeServer(t, serve)
			c, err := NewHTTPGet(HTTPGetConfig{Addr: addr, URLs: []URLCheck{{Path: "/"}}})
			if err != nil {
				t.Fatal(err)
			}
			if r := checkWithin(c, 300*time.Millisecond); r.OK || r.Reason == "" || r.Err == nil {
				t.Fatalf("got %+v, want down with a reason", r)
			}
		})
	}
}

func TestHTTPGetConfigErrors(t *testing.T) {
	for name, cfg := range map[string]HTTPGetConfig{
		"no url":          {Addr: "10.0.0.1:80"},
		"no port":         {Addr: "10.0.0.1", URLs: []URLCheck{{Path: "/"}}},
		"relative path":   {Addr: "10.0.0.1:80", URLs: []URLCheck{{Path: "health"}}},
		"short digest":    {Addr: "10.0.0.1:80", URLs: []URLCheck{{Path: "/", Digest: "abc"}}},
		"non-hex digest":  {Addr: "10.0.0.1:80", URLs: []URLCheck{{Path: "/", Digest: strings.Repeat("g", 32)}}},
		"bad status code": {Addr: "10.0.0.1:80", URLs: []URLCheck{{Path: "/", Status: []StatusRange{{600, 700}}}}},
	} {
		if _, err := NewHTTPGet(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
