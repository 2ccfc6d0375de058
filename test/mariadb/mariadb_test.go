package mariadb

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"xlb/test/testutil"
)

func TestServerLifecycle(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	s := Start(t, Options{Config: []string{"max_connect_errors=7"}})
	if got := s.MustExec(t, "SELECT @@port, @@max_connect_errors"); got != strings.Join([]string{itoa(s.Port), "7"}, "\t") {
		t.Fatalf("port/config not applied: %q", got)
	}
	s.MustExec(t, "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1)")
	s.Kill(t)
	if _, err := s.Exec("SELECT 1"); err == nil {
		t.Fatal("killed server still answers")
	}
	s.Restart(t)
	if got := s.MustExec(t, "SELECT id FROM d.t"); got != "1" {
		t.Fatalf("data lost across kill/restart: %q", got)
	}
	var n int
	if err := s.DB(t).QueryRow("SELECT COUNT(*) FROM d.t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("Go client over the socket: n=%d err=%v", n, err)
	}
}

func TestMasterMasterPair(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	a, b := NewMasterMasterPair(t, Options{}, Options{})
	a.MustExec(t, "CREATE DATABASE d; CREATE TABLE d.t (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1))")
	b.WaitFor(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='d'", "1", 10*time.Second)
	a.MustExec(t, "INSERT INTO d.t (who) VALUES ('a')")
	b.MustExec(t, "INSERT INTO d.t (who) VALUES ('b')")
	want := "1\ta\n2\tb"
	a.WaitFor(t, "SELECT id, who FROM d.t ORDER BY id", want, 10*time.Second)
	b.WaitFor(t, "SELECT id, who FROM d.t ORDER BY id", want, 10*time.Second)
	row, err := b.Row("SHOW SLAVE STATUS")
	if err != nil || row["Master_Port"] != itoa(a.Port) || row["Using_Gtid"] != "Slave_Pos" {
		t.Fatalf("b's replica status does not point at a with GTIDs: %v %v", row, err)
	}
}

func TestServerInNetNS(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	ns := testutil.NewNetNS(t, "mdb")
	ns.MustRun(t, "ip", "addr", "add", "10.231.0.1/32", "dev", "lo")
	s := Start(t, Options{NetNS: ns.Name, Host: "10.231.0.1", Hosts: []string{"10.231.0.1 self.xlbtest"}})
	if got := s.MustExec(t, "SELECT @@bind_address, @@port, @@skip_name_resolve"); got != "10.231.0.1\t3306\t0" {
		t.Fatalf("unexpected settings: %q", got)
	}
	s.CreateUser(t, "u", "pw", "USAGE")
	// The server names the client from the private hosts file, and only a
	// client inside the namespace reaches it.
	out := ns.MustRun(t, "mariadb", "-h10.231.0.1", "-P3306", "-uu", "-ppw", "-N", "-e", "SELECT USER()")
	if strings.TrimSpace(out) != "u@self.xlbtest" {
		t.Fatalf("USER() = %q, want u@self.xlbtest", out)
	}
	if b, err := os.ReadFile("/etc/hosts"); err != nil || strings.Contains(string(b), "xlbtest") {
		t.Fatalf("the test's hosts file leaked into the host's /etc/hosts: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
