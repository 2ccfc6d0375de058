package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"xlb/control/config"
	sec "xlb/control/secret"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

// listen6 listens on [::1]:0, or skips when the host has no IPv6 loopback.
func listen6(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port6(ln net.Listener) uint16 { return uint16(ln.Addr().(*net.TCPAddr).Port) }

// Every check kind that dials reaches a real server with an IPv6 address,
// built from the config as xlbd builds it: the target is [addr]:port, also
// when connect_ip is IPv6.
func TestChecksReachIPv6(t *testing.T) {
	noLeak(t)
	loopback := netip.MustParseAddr("::1")
	open := listen6(t)
	closedLn := listen6(t)
	closed := port6(closedLn)
	closedLn.Close()
	var gotHost string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		_, _ = w.Write([]byte("state=ready"))
	}))
	srv.Listener.Close()
	srv.Listener = listen6(t)
	srv.Start()
	defer srv.Close()
	httpPort := port6(srv.Listener)
	target := "[::1]:" + strconv.Itoa(int(port6(open)))
	envTest := `test "$XLB_TARGET" = "$1" && test "$XLB_TARGET_ADDRESS" = ::1 && test "$XLB_TARGET_PORT" = "$2"`

	cases := []buildCase{
		{"tcp", config.RealServer{IP: loopback, Port: port6(open), Check: &config.Check{Kind: config.CheckTCP}}, true, "connected to " + target},
		{"tcp refused", config.RealServer{IP: loopback, Port: closed, Check: &config.Check{Kind: config.CheckTCP}}, false, "connect failed"},
		{"tcp connect_ip IPv6", config.RealServer{IP: netip.MustParseAddr("fd00:1::11"), Port: port6(open),
			Check: &config.Check{Kind: config.CheckTCP, ConnectIP: loopback}}, true, "connected to"},
		{"http", config.RealServer{IP: loopback, Port: httpPort,
			Check: &config.Check{Kind: config.CheckHTTP, HTTP: &config.HTTPCheck{Path: "/ready", BodyRegex: "state=ready"}}}, true, ""},
		{"exec gets the target", config.RealServer{IP: loopback, Port: port6(open),
			Check: &config.Check{Kind: config.CheckExec, Exec: &config.ExecCheck{Command: []string{"sh", "-c", envTest, "sh", target, strconv.Itoa(int(port6(open)))}}}}, true, ""},
		{"exec target differs", config.RealServer{IP: loopback, Port: port6(open),
			Check: &config.Check{Kind: config.CheckExec, Exec: &config.ExecCheck{Command: []string{"sh", "-c", envTest, "sh", "::1:" + strconv.Itoa(int(port6(open))), "0"}}}}, false, "exited 1"},
	}
	runBuildCases(t, cases)
	if want := "[::1]:" + strconv.Itoa(int(httpPort)); gotHost != want {
		t.Errorf("HTTP Host header %q, want %q (the bracketed address)", gotHost, want)
	}
}

// The MySQL check logs in to a MariaDB that listens on ::1 only.
func TestMySQLCheckIPv6(t *testing.T) {
	testutil.RequirePriv(t)
	listen6(t).Close()
	t.Parallel()
	s := mariadb.Start(t, mariadb.Options{Host: "::1"})
	s.CreateUser(t, "chk", secret)
	r := config.RealServer{IP: netip.MustParseAddr("::1"), Port: uint16(s.Port),
		Check: &config.Check{Kind: config.CheckMySQL, MySQL: &config.MySQLCheck{User: "chk", Password: sec.New(secret)}}}
	c, err := NewChecker(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := checkWithin(c, 10*time.Second); !res.OK {
		t.Fatalf("MySQL check of [::1]:%d: %+v", s.Port, res)
	}
	if got := s.MustExec(t, "SELECT @@bind_address"); got != "::1" {
		t.Errorf("bind_address %q: the server is not IPv6-only, the test proves less", got)
	}
}
