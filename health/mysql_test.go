package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sec "xlb/control/secret"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

func TestReplicaStatusQuery(t *testing.T) {
	cases := map[string]string{
		"10.11.19-MariaDB-0+deb12u1":    "SHOW REPLICA STATUS",
		"5.5.5-10.11.19-MariaDB":        "SHOW REPLICA STATUS",
		"10.5.0-MariaDB":                "SHOW REPLICA STATUS",
		"10.4.34-MariaDB-log":           "SHOW SLAVE STATUS",
		"11.4.2-MariaDB":                "SHOW REPLICA STATUS",
		"8.0.22":                        "SHOW REPLICA STATUS",
		"8.0.21-commercial":             "SHOW SLAVE STATUS",
		"8.4.0":                         "SHOW REPLICA STATUS",
		"5.7.44-log":                    "SHOW SLAVE STATUS",
		"9.1.0":                         "SHOW REPLICA STATUS",
		"garbage":                       "SHOW SLAVE STATUS",
		"5.5.5-10.3.39-MariaDB-0+deb10": "SHOW SLAVE STATUS",
	}
	for v, want := range cases {
		if got := replicaStatusQuery(v); got != want {
			t.Errorf("%q: got %s, want %s", v, got, want)
		}
	}
}

func statusRow(kv ...string) row {
	var r row
	for i := 0; i < len(kv); i += 2 {
		r.cols = append(r.cols, kv[i])
		if kv[i+1] == "NULL" {
			r.values = append(r.values, nil)
		} else {
			v := kv[i+1]
			r.values = append(r.values, &v)
		}
	}
	return r
}

func TestEvalReplicas(t *testing.T) {
	healthy := []string{"Slave_IO_Running", "Yes", "Slave_SQL_Running", "Yes", "Seconds_Behind_Master", "0"}
	with := func(base []string, kv ...string) []string {
		out := append([]string(nil), base...)
		for i := 0; i < len(kv); i += 2 {
			replaced := false
			for j := 0; j < len(out); j += 2 {
				if out[j] == kv[i] {
					out[j+1], replaced = kv[i+1], true
				}
			}
			if !replaced {
				out = append(out, kv[i], kv[i+1])
			}
		}
		return out
	}
	cases := []struct {
		name    string
		rows    [][]string
		maxLag  time.Duration
		wantErr error
		reason  string
	}{
		{name: "healthy", rows: [][]string{healthy}, reason: "replicating, lag 0s"},
		{name: "not a replica", wantErr: ErrReplication, reason: "no row"},
		{name: "SQL thread stopped with the server's error", rows: [][]string{with(healthy, "Slave_SQL_Running", "No",
			"Last_SQL_Errno", "1062", "Last_SQL_Error", "Duplicate entry '7' for key 'PRIMARY'", "Seconds_Behind_Master", "NULL")},
			wantErr: ErrReplication, reason: "replication broken: SQL thread not running (No): error 1062: Duplicate entry '7'"},
		{name: "IO thread connecting", rows: [][]string{with(healthy, "Slave_IO_Running", "Connecting",
			"Last_IO_Errno", "2003", "Last_IO_Error", "error reconnecting to master")},
			wantErr: ErrReplication, reason: "IO thread not running (Connecting): error 2003: error reconnecting"},
		{name: "both threads stopped name both", rows: [][]string{with(healthy, "Slave_IO_Running", "No", "Slave_SQL_Running", "No")},
			wantErr: ErrReplication, reason: "IO thread not running (No); SQL thread not running (No)"},
		{name: "NULL lag is broken", rows: [][]string{with(healthy, "Seconds_Behind_Master", "NULL")}, wantErr: ErrReplication, reason: "NULL"},
		{name: "lag above the maximum", rows: [][]string{with(healthy, "Seconds_Behind_Master", "31")}, maxLag: 30 * time.Second,
			wantErr: ErrReplicationLag, reason: "lag too high: 31s behind, maximum 30s"},
		{name: "lag at the maximum", rows: [][]string{with(healthy, "Seconds_Behind_Master", "30")}, maxLag: 30 * time.Second, reason: "lag 30s"},
		{name: "lag without a maximum", rows: [][]string{with(healthy, "Seconds_Behind_Master", "3000")}, reason: "lag 50m0s"},
		{name: "MySQL 8 column names", rows: [][]string{{"Replica_IO_Running", "Yes", "Replica_SQL_Running", "No",
			"Last_SQL_Errno", "13121", "Last_SQL_Error", "Relay log read failure", "Seconds_Behind_Source", "NULL"}},
			wantErr: ErrReplication, reason: "error 13121: Relay log read failure"},
		{name: "one bad channel of two", rows: [][]string{with(healthy, "Channel_Name", "a"), with(healthy, "Channel_Name", "b", "Slave_SQL_Running", "No")},
			wantErr: ErrReplication, reason: `replication broken (channel "b"): SQL thread`},
		{name: "lag not a number", rows: [][]string{with(healthy, "Seconds_Behind_Master", "soon")}, wantErr: ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rows []row
			for _, r := range tc.rows {
				rows = append(rows, statusRow(r...))
			}
			reason, err := evalReplicas("SHOW REPLICA STATUS", rows, tc.maxLag)
			if tc.wantErr == nil {
				if err != nil || !strings.Contains(reason, tc.reason) {
					t.Fatalf("got %q, %v; want ok ~%q", reason, err, tc.reason)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %v, want %v ~%q", err, tc.wantErr, tc.reason)
			}
		})
	}
}

func boolp(b bool) *bool { return &b }

func mustMySQL(t *testing.T, cfg MySQLConfig) *MySQLChecker {
	t.Helper()
	c, err := NewMySQL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkWithin runs one check of c with timeout d.
func checkWithin(c Checker, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Check(ctx)
}

func status(t *testing.T, s *mariadb.Server, name string) string {
	t.Helper()
	out := s.MustExec(t, "SHOW GLOBAL STATUS LIKE '"+name+"'")
	_, v, _ := strings.Cut(out, "\t")
	return v
}

func TestMySQLCheckRealServer(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	s := mariadb.Start(t, mariadb.Options{})
	s.CreateUser(t, "chk", secret)
	s.CreateUser(t, "mon", secret, "SLAVE MONITOR")
	s.CreateUser(t, "rc", secret, "REPLICATION CLIENT")
	pw := sec.New(secret)

	abortedConnects, abortedClients := status(t, s, "Aborted_connects"), status(t, s, "Aborted_clients")
	cases := []struct {
		name    string
		setup   string
		cfg     MySQLConfig
		ok      bool
		wantErr error
		reason  string
	}{
		{name: "healthy server with a USAGE-only user", cfg: MySQLConfig{User: "chk", Password: pw}, ok: true, reason: "MariaDB-0+deb12u1 answered, read_only=OFF"},
		{name: "wrong password", cfg: MySQLConfig{User: "chk", Password: sec.New(secret + "-wrong")}, wantErr: ErrConnect, reason: "Access denied for user 'chk'"},
		{name: "read_only as expected", cfg: MySQLConfig{User: "chk", Password: pw, ReadOnly: boolp(false)}, ok: true},
		{name: "read_only mismatch", setup: "SET GLOBAL read_only=1", cfg: MySQLConfig{User: "chk", Password: pw, ReadOnly: boolp(false)},
			wantErr: ErrReadOnly, reason: "read_only is ON, expected OFF"},
		{name: "read_only expected on", cfg: MySQLConfig{User: "chk", Password: pw, ReadOnly: boolp(true)}, ok: true, reason: "read_only=ON"},
		{name: "replication check without the privilege says which one", setup: "SET GLOBAL read_only=0",
			cfg: MySQLConfig{User: "chk", Password: pw, Replication: true}, reason: "SLAVE MONITOR"},
		{name: "REPLICATION CLIENT no longer covers replica status on MariaDB 10.5+",
			cfg: MySQLConfig{User: "rc", Password: pw, Replication: true}, reason: "SLAVE MONITOR"},
		{name: "SLAVE MONITOR is enough; a server that is no replica is down",
			cfg: MySQLConfig{User: "mon", Password: pw, Replication: true}, wantErr: ErrReplication, reason: "not a replica (SHOW REPLICA STATUS returned no row)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != "" {
				s.MustExec(t, tc.setup)
			}
			tc.cfg.Addr = s.Addr()
			r := checkWithin(mustMySQL(t, tc.cfg), 5*time.Second)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
			if strings.Contains(r.Reason, secret) || (r.Err != nil && strings.Contains(fmt.Sprintf("%+v", r.Err), secret)) {
				t.Fatalf("the password leaked into %q", r.Reason)
			}
		})
	}
	// Checks end their sessions with COM_QUIT: the server saw no aborted
	// client. The wrong password is the one aborted connect.
	if got := status(t, s, "Aborted_clients"); got != abortedClients {
		t.Errorf("Aborted_clients went from %s to %s", abortedClients, got)
	}
	if got := status(t, s, "Aborted_connects"); got != incr(abortedConnects) {
		t.Errorf("Aborted_connects went from %s to %s, want only the wrong password counted", abortedConnects, got)
	}
}

func incr(s string) string {
	var n int
	fmt.Sscan(s, &n)
	return fmt.Sprint(n + 1)
}

// counting wraps a Checker and counts good results since the last reset.
type counting struct {
	Checker
	mu   sync.Mutex
	good int
}

func (c *counting) Check(ctx context.Context) Result {
	r := c.Checker.Check(ctx)
	c.mu.Lock()
	if r.OK {
		c.good++
	}
	c.mu.Unlock()
	return r
}

func (c *counting) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.good
	c.good = 0
	return n
}

func waitVerdict(t *testing.T, ch <-chan Verdict, within time.Duration) Verdict {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("no verdict within %v", within)
		return Verdict{}
	}
}

// Not parallel: it counts goroutines.
func TestMonitorMySQLKillAndRestart(t *testing.T) {
	testutil.RequirePriv(t)
	noLeak(t)
	s := mariadb.Start(t, mariadb.Options{})
	s.CreateUser(t, "chk", secret)
	cc := &counting{Checker: mustMySQL(t, MySQLConfig{Addr: s.Addr(), User: "chk", Password: sec.New(secret)})}
	tm := Timing{Interval: 200 * time.Millisecond, Timeout: time.Second, Retry: 2, DelayBeforeRetry: 200 * time.Millisecond,
		Rise: 3, Fall: 1, Alpha: true}
	m, err := NewMonitor("db1", cc, tm, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := runMonitor(t, m, 16)
	const slack = 3 * time.Second
	riseBound := time.Duration(tm.Rise)*(tm.Interval+tm.Timeout) + slack

	if v := waitVerdict(t, verdicts, slack); v.Up {
		t.Fatalf("alpha: first verdict %+v, want down", v)
	}
	v := waitVerdict(t, verdicts, riseBound)
	if n := cc.take(); !v.Up || v.Weight != 100 || n != tm.Rise {
		t.Fatalf("healthy server: %+v after %d good checks, want up with weight 100 after exactly rise=%d", v, n, tm.Rise)
	}

	s.Kill(t)
	killed := time.Now()
	v = waitVerdict(t, verdicts, tm.WorstCaseDown()+slack)
	if v.Up || v.Weight != 0 || !strings.Contains(v.Reason, "3 attempts failed") || !strings.Contains(v.Reason, "connection refused") {
		t.Fatalf("after kill: %+v", v)
	}
	t.Logf("down %v after SIGKILL (bound %v): %s", time.Since(killed).Round(time.Millisecond), tm.WorstCaseDown(), v.Reason)
	cc.take()

	s.Restart(t)
	v = waitVerdict(t, verdicts, riseBound)
	if n := cc.take(); !v.Up || n < tm.Rise {
		t.Fatalf("after restart: %+v after %d good checks, want up after rise=%d", v, n, tm.Rise)
	}
	select {
	case v := <-verdicts:
		t.Fatalf("extra verdict %+v", v)
	default:
	}
}
