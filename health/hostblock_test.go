package health

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	sec "xlb/control/secret"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

// nsDial dials from inside ns: the socket is created on a thread switched
// into the namespace and stays there.
func nsDial(ns *testutil.NetNS) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// MariaDB exempts loopback clients from host blocking, so the server and the
// checker sit in two namespaces joined by a veth pair, and the server resolves
// the checker's address from a private hosts file (without a definite lookup
// answer it keeps no host-cache entry and blocks nobody).
func TestMaxConnectErrors(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	srvNS := testutil.NewNetNS(t, "mcs")
	cliNS := testutil.NewNetNS(t, "mcc")
	srvNS.MustRun(t, "ip", "link", "add", "xv0", "type", "veth", "peer", "name", "xv1", "netns", cliNS.Name)
	srvNS.MustRun(t, "ip", "addr", "add", "10.231.7.1/24", "dev", "xv0")
	srvNS.MustRun(t, "ip", "link", "set", "xv0", "up")
	cliNS.MustRun(t, "ip", "addr", "add", "10.231.7.2/24", "dev", "xv1")
	cliNS.MustRun(t, "ip", "link", "set", "xv1", "up")

	s := mariadb.Start(t, mariadb.Options{
		NetNS:  srvNS.Name,
		Host:   "10.231.7.1",
		Hosts:  []string{"10.231.7.2 checker.xlbtest"},
		Config: []string{"max_connect_errors=10"},
	})
	s.CreateUser(t, "chk", secret)
	dial := nsDial(cliNS)
	mc := mustMySQL(t, MySQLConfig{Addr: s.Addr(), User: "chk", Password: sec.New(secret), Dial: dial})
	tc, err := NewTCP(TCPConfig{Addr: s.Addr(), Dial: dial})
	if err != nil {
		t.Fatal(err)
	}

	abortedConnects, abortedClients := status(t, s, "Aborted_connects"), status(t, s, "Aborted_clients")
	const mysqlChecks = 300
	start := time.Now()
	for i := range mysqlChecks {
		if r := checkWithin(mc, 5*time.Second); !r.OK {
			t.Fatalf("mysql check %d of %d: %s", i+1, mysqlChecks, r.Reason)
		}
	}
	t.Logf("%d mysql checks over the veth in %v", mysqlChecks, time.Since(start).Round(time.Millisecond))
	if got := status(t, s, "Aborted_connects"); got != abortedConnects {
		t.Fatalf("%d mysql checks moved Aborted_connects from %s to %s", mysqlChecks, abortedConnects, got)
	}
	if got := status(t, s, "Aborted_clients"); got != abortedClients {
		t.Fatalf("%d mysql checks moved Aborted_clients from %s to %s: a session ended without COM_QUIT", mysqlChecks, abortedClients, got)
	}

	// Each bare connect-and-close counts one connection error for the host;
	// the server counts it on its own thread, so give it a moment before
	// looking for the block.
	for i := range 12 {
		if r := checkWithin(tc, 5*time.Second); !r.OK {
			t.Fatalf("tcp check %d: %s", i+1, r.Reason)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var r Result
	for {
		r = checkWithin(mc, 5*time.Second)
		if !r.OK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.OK || !errors.Is(r.Err, ErrConnect) || !strings.Contains(r.Reason, "1129") || !strings.Contains(r.Reason, "is blocked") {
		t.Fatalf("after tcp checks, mysql check: %+v, want error 1129 (host blocked)", r)
	}
	t.Logf("blocked: %s", r.Reason)
	// The tcp check cannot see it: the port still accepts.
	if r := checkWithin(tc, 5*time.Second); !r.OK {
		t.Fatalf("tcp check on a blocking server: %s", r.Reason)
	}
	s.MustExec(t, "FLUSH HOSTS")
	if r := checkWithin(mc, 5*time.Second); !r.OK {
		t.Fatalf("after FLUSH HOSTS: %s", r.Reason)
	}
}
