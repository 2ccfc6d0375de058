package health

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sec "xlb/control/secret"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

func TestMySQLReplicationPair(t *testing.T) {
	testutil.RequirePriv(t)
	t.Parallel()
	a, b := mariadb.NewMasterMasterPair(t, mariadb.Options{}, mariadb.Options{})
	for _, s := range []*mariadb.Server{a, b} {
		s.CreateUser(t, "mon", secret, "SLAVE MONITOR")
	}
	a.MustExec(t, "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)")
	b.WaitFor(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='d'", "1", 10*time.Second)
	checkB := func(maxLag time.Duration) Result {
		return checkWithin(mustMySQL(t, MySQLConfig{Addr: b.Addr(), User: "mon", Password: sec.New(secret), Replication: true, MaxLag: maxLag}), 5*time.Second)
	}
	healthy := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := checkB(5 * time.Second)
			if r.OK {
				if !strings.Contains(r.Reason, "replicating, lag 0s") {
					t.Fatalf("healthy replica: reason %q", r.Reason)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica did not recover: %s", r.Reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	downWith := func(t *testing.T, maxLag time.Duration, wantErr error, reason string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := checkB(maxLag)
			if !r.OK && errors.Is(r.Err, wantErr) && strings.Contains(r.Reason, reason) {
				t.Logf("down: %s", r.Reason)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %+v, want %v ~%q", r, wantErr, reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("both sides healthy", func(t *testing.T) {
		healthy(t)
		if r := checkWithin(mustMySQL(t, MySQLConfig{Addr: a.Addr(), User: "mon", Password: sec.New(secret), Replication: true}), 5*time.Second); !r.OK {
			t.Fatalf("a: %s", r.Reason)
		}
	})
	t.Run("SQL thread stopped", func(t *testing.T) {
		b.MustExec(t, "STOP SLAVE SQL_THREAD")
		downWith(t, 0, ErrReplication, "SQL thread not running (No)")
		b.MustExec(t, "START SLAVE SQL_THREAD")
		healthy(t)
	})
	t.Run("IO thread stopped", func(t *testing.T) {
		b.MustExec(t, "STOP SLAVE IO_THREAD")
		downWith(t, 0, ErrReplication, "IO thread not running (No)")
		b.MustExec(t, "START SLAVE IO_THREAD")
		healthy(t)
	})
	t.Run("SQL thread error carries the server's words", func(t *testing.T) {
		// A row only b has, then the same key written on a: b's SQL thread
		// stops on a duplicate key, as a diverged master-master pair does.
		b.MustExec(t, "SET sql_log_bin=0; INSERT INTO d.t VALUES (7)")
		a.MustExec(t, "INSERT INTO d.t VALUES (7)")
		downWith(t, 0, ErrReplication, "error 1062")
		r := checkB(0)
		if !strings.Contains(r.Reason, "Duplicate entry '7'") {
			t.Fatalf("reason lacks the server's Last_SQL_Error: %q", r.Reason)
		}
		b.MustExec(t, "SET sql_log_bin=0; DELETE FROM d.t WHERE id=7; START SLAVE SQL_THREAD")
		healthy(t)
		b.WaitFor(t, "SELECT COUNT(*) FROM d.t WHERE id=7", "1", 10*time.Second)
	})
	t.Run("lag above the maximum, then caught up", func(t *testing.T) {
		// b's applier blocks on a table lock while applying an event a wrote
		// with a timestamp 100 s in the past: Seconds_Behind_Master is then
		// about 100 s at once, without waiting that long.
		lock, err := b.DB(t).Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(context.Background(), "LOCK TABLES d.t WRITE"); err != nil {
			t.Fatal(err)
		}
		a.MustExec(t, "SET timestamp=UNIX_TIMESTAMP()-100; INSERT INTO d.t VALUES (8)")
		downWith(t, 30*time.Second, ErrReplicationLag, "maximum 30s")
		if r := checkB(0); !r.OK {
			t.Fatalf("without a maximum a lagging replica is up, got %s", r.Reason)
		}
		if _, err := lock.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		healthy(t)
	})
	t.Run("monitor reports the break and the recovery", func(t *testing.T) {
		c := mustMySQL(t, MySQLConfig{Addr: b.Addr(), User: "mon", Password: sec.New(secret), Replication: true, MaxLag: 5 * time.Second})
		tm := Timing{Interval: 100 * time.Millisecond, Timeout: 2 * time.Second, Retry: 1, DelayBeforeRetry: 100 * time.Millisecond, Rise: 2, Fall: 2}
		m, err := NewMonitor("b", c, tm, 50, nil)
		if err != nil {
			t.Fatal(err)
		}
		verdicts := runMonitor(t, m, 16)
		if v := waitVerdict(t, verdicts, 5*time.Second); !v.Up {
			t.Fatalf("initial: %+v", v)
		}
		b.MustExec(t, "STOP SLAVE SQL_THREAD")
		v := waitVerdict(t, verdicts, tm.WorstCaseDown()+3*time.Second)
		if v.Up || !strings.Contains(v.Reason, "SQL thread not running") {
			t.Fatalf("after stopping the SQL thread: %+v", v)
		}
		b.MustExec(t, "START SLAVE SQL_THREAD")
		v = waitVerdict(t, verdicts, 10*time.Second)
		if !v.Up || v.Weight != 50 || !strings.Contains(v.Reason, "2 good round(s)") {
			t.Fatalf("after restarting the SQL thread: %+v", v)
		}
	})
}
