package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"xlb/control/config"
)

// Every configured kind builds through the registry and checks what its
// config says: the target honours connect_ip/connect_port, the kind's own
// fields reach the checker.
func TestNewCheckerFromConfig(t *testing.T) {
	noLeak(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	openPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("state=ready"))
	}))
	defer srv.Close()
	httpPort := uint16(srv.Listener.Addr().(*net.TCPAddr).Port)
	loopback := netip.MustParseAddr("127.0.0.1")
	// A closed port: what a real server's own port is when only connect_port
	// reaches the listener.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	cases := []buildCase{
		{"tcp on the server's port", config.RealServer{IP: loopback, Port: openPort, Check: &config.Check{Kind: config.CheckTCP}}, true, "connected to"},
		{"tcp refused", config.RealServer{IP: loopback, Port: closedPort, Check: &config.Check{Kind: config.CheckTCP}}, false, "connect failed"},
		{"tcp connect_port wins", config.RealServer{IP: loopback, Port: closedPort, Check: &config.Check{Kind: config.CheckTCP, ConnectPort: openPort}}, true, "connected to"},
		{"tcp connect_ip wins", config.RealServer{IP: netip.MustParseAddr("192.0.2.1"), Port: openPort,
			Check: &config.Check{Kind: config.CheckTCP, ConnectIP: loopback}}, true, "connected to"},
		{"http path and body", config.RealServer{IP: loopback, Port: httpPort,
			Check: &config.Check{Kind: config.CheckHTTP, HTTP: &config.HTTPCheck{Path: "/ready", BodyRegex: "state=ready"}}}, true, ""},
		{"http wrong path", config.RealServer{IP: loopback, Port: httpPort,
			Check: &config.Check{Kind: config.CheckHTTP, HTTP: &config.HTTPCheck{Path: "/other"}}}, false, "404"},
		{"http status range from config", config.RealServer{IP: loopback, Port: httpPort,
			Check: &config.Check{Kind: config.CheckHTTP, HTTP: &config.HTTPCheck{Path: "/other", StatusCodes: []config.StatusRange{{Min: 200, Max: 200}, {Min: 404, Max: 404}}}}}, true, ""},
		{"exec exit 0", config.RealServer{IP: loopback, Check: &config.Check{Kind: config.CheckExec, Exec: &config.ExecCheck{Command: []string{"true"}}}}, true, ""},
		{"exec exit 1", config.RealServer{IP: loopback, Check: &config.Check{Kind: config.CheckExec, Exec: &config.ExecCheck{Command: []string{"false"}}}}, false, "exited 1"},
		{"mysql reads its password file at check time", config.RealServer{IP: loopback, Port: closedPort,
			Check: &config.Check{Kind: config.CheckMySQL, MySQL: &config.MySQLCheck{User: "u", PasswordFile: filepath.Join(t.TempDir(), "missing")}}}, false, "password_file"},
	}
	runBuildCases(t, cases)
}

// buildCase is a real server with a check for NewChecker to build, and what
// one run of that check gives: up or down, and a part of the reason.
type buildCase struct {
	name   string
	real   config.RealServer
	ok     bool
	reason string
}

func runBuildCases(t *testing.T, cases []buildCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChecker(tc.real, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := checkWithin(c, 5*time.Second)
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("ok=%v reason %q, want ok=%v reason containing %q", r.OK, r.Reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestNewCheckerRefuses(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	cases := map[string]struct {
		real config.RealServer
		want string
	}{
		"no check":      {config.RealServer{IP: ip}, "has no check"},
		"unknown kind":  {config.RealServer{IP: ip, Check: &config.Check{Kind: "smoke_signal"}}, `"smoke_signal" is not supported`},
		"bad regexp":    {config.RealServer{IP: ip, Check: &config.Check{Kind: config.CheckHTTP, HTTP: &config.HTTPCheck{BodyRegex: "("}}}, "body_regex"},
		"empty command": {config.RealServer{IP: ip, Check: &config.Check{Kind: config.CheckExec, Exec: &config.ExecCheck{}}}, "empty command"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewChecker(tc.real, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of tcp did not panic")
		}
	}()
	Register(config.CheckTCP, nil)
}

func TestTimingOf(t *testing.T) {
	c := &config.Check{Interval: 2 * time.Second, ConnectTimeout: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Rise: 2, Fall: 3}
	got := TimingOf(c, true)
	want := Timing{Interval: 2 * time.Second, Timeout: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Rise: 2, Fall: 3, Alpha: true, Stagger: 2 * time.Second}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// misc_timeout replaces connect_timeout for exec checks; the stagger is
	// capped so a long delay_loop does not postpone the first check for long.
	c.Exec, c.Interval = &config.ExecCheck{Timeout: 7 * time.Second}, time.Minute
	if got := TimingOf(c, false); got.Timeout != 7*time.Second || got.Stagger != 5*time.Second || got.Alpha {
		t.Fatalf("exec timing %+v: want timeout 7s, stagger 5s, no alpha", got)
	}
}
