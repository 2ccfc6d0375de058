package mariadb

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ReplUser and ReplPassword are the account each half of a pair replicates
// with.
const (
	ReplUser     = "xlbrepl"
	ReplPassword = "xlbrepl-pw"
)

// NewMasterMasterPair starts two servers that replicate from each other with
// GTIDs, as the deployments xlb fronts do: binary log with log-slave-updates,
// one GTID domain per server, interleaved auto-increment. It returns once both
// replication threads run on both sides. a and b must be able to reach each
// other's Host:Port (two loopback servers always can).
func NewMasterMasterPair(t testing.TB, a, b Options) (*Server, *Server) {
	t.Helper()
	opts := [2]Options{a, b}
	var srv [2]*Server
	errs := make(chan error, 2)
	for i := range opts {
		o := &opts[i]
		if o.ServerID == 0 {
			o.ServerID = int(serverSeq.Add(1))
		}
		o.Config = append([]string{
			"log-bin=binlog",
			"log-slave-updates=ON",
			"binlog_format=ROW",
			fmt.Sprintf("gtid-domain-id=%d", i+1),
			"auto-increment-increment=2",
			fmt.Sprintf("auto-increment-offset=%d", i+1),
		}, o.Config...)
		go func() {
			s, err := startServer(t, *o)
			srv[i] = s
			errs <- err
		}()
	}
	for range opts {
		if err := <-errs; err != nil {
			t.Fatalf("mariadb: pair: %v", err)
		}
	}
	for _, s := range srv {
		s.CreateUser(t, ReplUser, ReplPassword, "REPLICATION SLAVE")
	}
	for i, s := range srv {
		peer := srv[1-i]
		s.MustExec(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, "+
			"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;",
			Quote(peer.Host), peer.Port, Quote(ReplUser), Quote(ReplPassword)))
	}
	for _, s := range srv {
		s.WaitReplicating(t, 30*time.Second)
	}
	return srv[0], srv[1]
}

// Row runs a query that returns one row (SHOW SLAVE STATUS...) and returns it
// by column name; nil when it returned no row.
func (s *Server) Row(query string) (map[string]string, error) {
	out, err := s.client(query, "--vertical")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	row := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		row[strings.TrimSpace(k)] = v
	}
	return row, nil
}

// WaitReplicating waits until both replication threads run, or fails t.
func (s *Server) WaitReplicating(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		row, err := s.Row("SHOW SLAVE STATUS")
		if err == nil && row["Slave_IO_Running"] == "Yes" && row["Slave_SQL_Running"] == "Yes" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadb: %s not replicating after %v: %v %v", s.Addr(), timeout, row, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
