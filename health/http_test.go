package health

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHTTPCheck(t *testing.T) {
	noLeak(t)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("status: ready\n")) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("host=" + r.Host)) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	cases := []struct {
		name    string
		cfg     HTTPConfig
		ok      bool
		wantErr error
		reason  string
	}{
		{name: "200 is up", cfg: HTTPConfig{URL: srv.URL + "/ok"}, ok: true, reason: "200 OK"},
		{name: "body matches", cfg: HTTPConfig{URL: srv.URL + "/ok", Body: regexp.MustCompile(`status: ready`)}, ok: true},
		{name: "body mismatch", cfg: HTTPConfig{URL: srv.URL + "/ok", Body: regexp.MustCompile(`^maintenance`)}, wantErr: ErrHTTPBody},
		{name: "body beyond the limit does not count", cfg: HTTPConfig{URL: srv.URL + "/ok", Body: regexp.MustCompile(`ready`), BodyLimit: 5}, wantErr: ErrHTTPBody},
		{name: "503 is down", cfg: HTTPConfig{URL: srv.URL + "/fail"}, wantErr: ErrHTTPStatus, reason: "503 Service Unavailable"},
		{name: "503 inside a custom range is up", cfg: HTTPConfig{URL: srv.URL + "/fail", StatusMin: 200, StatusMax: 503}, ok: true},
		{name: "503 in a further range is up", cfg: HTTPConfig{URL: srv.URL + "/fail", Also: []StatusRange{{302, 302}, {503, 503}}}, ok: true},
		{name: "404 outside every range", cfg: HTTPConfig{URL: srv.URL + "/absent", Also: []StatusRange{{302, 302}, {500, 503}}},
			wantErr: ErrHTTPStatus, reason: "want [200-299 302 500-503]"},
		{name: "a redirect is judged, not followed", cfg: HTTPConfig{URL: srv.URL + "/redirect"}, wantErr: ErrHTTPStatus, reason: "302"},
		{name: "404 is down", cfg: HTTPConfig{URL: srv.URL + "/absent"}, wantErr: ErrHTTPStatus},
		{name: "virtualhost header", cfg: HTTPConfig{URL: srv.URL + "/host", Host: "db.example", Body: regexp.MustCompile(`host=db\.example`)}, ok: true},
		{name: "hanging server times out", cfg: HTTPConfig{URL: srv.URL + "/hang"}, wantErr: ErrTimeout},
		{name: "refused", cfg: HTTPConfig{URL: "http://127.0.0.1:1/"}, wantErr: ErrConnect},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewHTTP(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := checkWithin(c, 500*time.Millisecond)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
		})
	}
}

func TestHTTPSCheck(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trusted, err := NewHTTP(HTTPConfig{URL: srv.URL, TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	if r := checkWithin(trusted, 5*time.Second); !r.OK {
		t.Fatalf("https with the server's CA: %s", r.Reason)
	}
	untrusted, err := NewHTTP(HTTPConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if r := checkWithin(untrusted, 5*time.Second); r.OK || !strings.Contains(r.Reason, "certificate") {
		t.Fatalf("https with an unknown CA: %+v", r)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	for name, cfg := range map[string]HTTPConfig{
		"no scheme":         {URL: "example.com/health"},
		"ftp":               {URL: "ftp://example.com/"},
		"inverted range":    {URL: "http://example.com/", StatusMin: 400, StatusMax: 200},
		"range too wide":    {URL: "http://example.com/", StatusMin: 200, StatusMax: 700},
		"bad further range": {URL: "http://example.com/", Also: []StatusRange{{0, 0}}},
	} {
		if _, err := NewHTTP(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
