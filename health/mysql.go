package health

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"xlb/control/config"
	sec "xlb/control/secret"
)

func init() {
	Register(config.CheckMySQL, func(r config.RealServer, target string, log *slog.Logger) (Checker, error) {
		c := r.Check
		return &mysqlFromConfig{addr: target, cfg: c.MySQL, log: log}, nil
	})
}

// mysqlFromConfig reads the credentials at every check, so a rotated
// password_file is used at the next check without a reload.
type mysqlFromConfig struct {
	addr string
	cfg  *config.MySQLCheck
	log  *slog.Logger
}

func (m *mysqlFromConfig) Check(ctx context.Context) Result {
	user, pass, err := m.cfg.Credentials()
	if err != nil {
		return failResult(err)
	}
	c, err := NewMySQL(MySQLConfig{Addr: m.addr, User: user, Password: pass,
		Replication: m.cfg.ReplicationCheck, MaxLag: m.cfg.MaxReplicationLag, ReadOnly: m.cfg.ReadOnly, Logger: m.log})
	if err != nil {
		return failResult(err)
	}
	return c.Check(ctx)
}

// MySQLConfig is a MySQL/MariaDB check: a full handshake and authentication,
// one cheap query, and COM_QUIT, so the server never counts the check as a
// connection error (see TCPConfig for why that matters). Each check is one
// fresh session; nothing is pooled between checks.
//
// The privileges the user needs are listed in the package documentation.
type MySQLConfig struct {
	Addr     string // host:port
	User     string
	Password sec.Secret
	// Replication requires every replication channel to run both threads
	// (Slave_IO_Running and Slave_SQL_Running Yes) and to know its lag.
	Replication bool
	// MaxLag, when > 0 (and Replication is set), is the largest
	// Seconds_Behind_Master accepted.
	MaxLag time.Duration
	// ReadOnly, when set, is the value @@global.read_only must have.
	ReadOnly *bool
	Dial     DialFunc
	Logger   *slog.Logger
}

// MySQLChecker implements MySQLConfig.
type MySQLChecker struct {
	cfg MySQLConfig
	log *slog.Logger
}

// NewMySQL validates cfg.
func NewMySQL(cfg MySQLConfig) (*MySQLChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("mysql check: address %q: %w", cfg.Addr, err)
	}
	if cfg.User == "" {
		return nil, errors.New("mysql check: user is required")
	}
	if cfg.MaxLag < 0 {
		return nil, fmt.Errorf("mysql check: max lag must be >= 0, got %v", cfg.MaxLag)
	}
	if cfg.MaxLag > 0 && !cfg.Replication {
		return nil, errors.New("mysql check: max lag needs the replication check")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MySQLChecker{cfg: cfg, log: log.With("check", "mysql", "addr", cfg.Addr)}, nil
}

// driverLog collects what the driver logs during one check: when a read
// fails it logs the cause and returns only "invalid connection".
type driverLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	msgs []string
}

func (d *driverLog) Print(v ...any) {
	msg := strings.TrimSpace(fmt.Sprint(v...))
	d.log.Debug("mysql driver", "msg", msg)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.msgs) < 3 {
		d.msgs = append(d.msgs, msg)
	}
}

func (d *driverLog) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.msgs, "; ")
}

func (c *MySQLChecker) connector(dlog *driverLog) (driver.Connector, error) {
	mc := mysql.NewConfig()
	mc.Net, mc.Addr, mc.User, mc.Passwd = "tcp", c.cfg.Addr, c.cfg.User, c.cfg.Password.Reveal()
	mc.Logger = dlog
	mc.DialFunc = c.cfg.Dial.orDefault()
	return mysql.NewConnector(mc)
}

// Check runs one session. It recovers from a panic in the driver, which parses
// whatever the peer sends, so a hostile or broken server is a failed check,
// never a crashed daemon.
func (c *MySQLChecker) Check(ctx context.Context) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = failResult(fmt.Errorf("%w: mysql driver panicked: %v", ErrProtocol, p))
		}
	}()
	start := time.Now()
	dlog := &driverLog{log: c.log}
	conn, err := c.open(ctx, dlog)
	if err != nil {
		return failResult(c.connectError(ctx, start, err, dlog))
	}
	// Close sends COM_QUIT: a clean end of session for the server.
	defer conn.Close()

	rows, err := query(ctx, conn, "SELECT VERSION(), @@global.read_only")
	if err == nil && (len(rows) != 1 || len(rows[0].values) != 2) {
		err = fmt.Errorf("%w: version query returned %d rows", ErrProtocol, len(rows))
	}
	if err != nil {
		return failResult(fmt.Errorf("query: %w", timeoutOr(ctx, start, err)))
	}
	version := deref(rows[0].values[0])
	readOnly := deref(rows[0].values[1]) == "1"
	reason := "mysql " + version + " answered, read_only=" + onOff(readOnly)
	if want := c.cfg.ReadOnly; want != nil && *want != readOnly {
		return failResult(fmt.Errorf("%w: read_only is %s, expected %s", ErrReadOnly, onOff(readOnly), onOff(*want)))
	}
	if !c.cfg.Replication {
		return okResult(reason)
	}
	stmt := replicaStatusQuery(version)
	rows, err = query(ctx, conn, stmt)
	if err != nil {
		return failResult(fmt.Errorf("%s: %w", stmt, timeoutOr(ctx, start, err)))
	}
	rep, err := evalReplicas(stmt, rows, c.cfg.MaxLag)
	if err != nil {
		return failResult(err)
	}
	return okResult(reason + ", " + rep)
}

func (c *MySQLChecker) open(ctx context.Context, dlog *driverLog) (driver.Conn, error) {
	conn, err := c.connector(dlog)
	if err != nil {
		return nil, err
	}
	return conn.Connect(ctx)
}

// connectError classifies a failed connection and adds what the driver logged
// when its own error says too little.
func (c *MySQLChecker) connectError(ctx context.Context, start time.Time, err error, dlog *driverLog) error {
	if errors.Is(err, mysql.ErrInvalidConn) {
		if msg := dlog.String(); msg != "" {
			err = fmt.Errorf("%w (%s)", err, msg)
		}
	}
	var serr *mysql.MySQLError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err))
	case errors.As(err, &serr):
		return fmt.Errorf("%w: server refused the session: %w", ErrConnect, err)
	case errors.Is(err, mysql.ErrMalformPkt), errors.Is(err, mysql.ErrPktSync), errors.Is(err, mysql.ErrPktSyncMul),
		errors.Is(err, mysql.ErrOldProtocol), errors.Is(err, mysql.ErrNoTLS),
		errors.Is(err, mysql.ErrInvalidConn) && strings.Contains(dlog.String(), "malformed"):
		return fmt.Errorf("%w: not a MySQL handshake: %w", ErrProtocol, err)
	}
	return fmt.Errorf("%w: %w", ErrConnect, err)
}

type row struct {
	cols   []string
	values []*string // nil is SQL NULL
}

func (r row) get(names ...string) (*string, bool) {
	for _, n := range names {
		for i, c := range r.cols {
			if strings.EqualFold(c, n) {
				return r.values[i], true
			}
		}
	}
	return nil, false
}

func query(ctx context.Context, conn driver.Conn, q string) ([]row, error) {
	qc, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil, errors.New("driver connection cannot query")
	}
	rs, err := qc.QueryContext(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols := rs.Columns()
	var out []row
	for {
		dest := make([]driver.Value, len(cols))
		if err := rs.Next(dest); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		r := row{cols: cols, values: make([]*string, len(cols))}
		for i, v := range dest {
			switch v := v.(type) {
			case nil:
			case []byte:
				s := string(v)
				r.values[i] = &s
			default:
				s := fmt.Sprint(v)
				r.values[i] = &s
			}
		}
		out = append(out, r)
	}
}

// replicaStatusQuery picks the statement the server understands: SHOW
// REPLICA STATUS from MariaDB 10.5 and MySQL 8.0.22 on (where SHOW SLAVE
// STATUS is deprecated), SHOW SLAVE STATUS before.
func replicaStatusQuery(version string) string {
	// MariaDB once prefixed its handshake version this way for old clients.
	v := strings.TrimPrefix(version, "5.5.5-")
	var nums [3]int
	rest := v
	for i := range nums {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		nums[i], _ = strconv.Atoi(rest[:end])
		if end == len(rest) || rest[end] != '.' {
			break
		}
		rest = rest[end+1:]
	}
	at := func(maj, min, patch int) bool {
		return nums[0] > maj || nums[0] == maj && (nums[1] > min || nums[1] == min && nums[2] >= patch)
	}
	mariadb := strings.Contains(strings.ToLower(v), "mariadb")
	if mariadb && at(10, 5, 0) || !mariadb && at(8, 0, 22) {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// evalReplicas decides from replica-status rows (one per channel). MySQL 8.0.22
// renamed the columns (Replica_*, Seconds_Behind_Source); MariaDB kept the old
// names under both statements.
func evalReplicas(stmt string, rows []row, maxLag time.Duration) (string, error) {
	if len(rows) == 0 {
		return "", fmt.Errorf("%w: not a replica (%s returned no row)", ErrReplication, stmt)
	}
	var lags []string
	for _, r := range rows {
		name := ""
		if ch, _ := r.get("Connection_name", "Channel_Name"); ch != nil && *ch != "" {
			name = " (channel " + strconv.Quote(*ch) + ")"
		}
		var broken []string
		if io, _ := r.get("Slave_IO_Running", "Replica_IO_Running"); deref(io) != "Yes" {
			broken = append(broken, threadError("IO", deref(io), r, "Last_IO_Errno", "Last_IO_Error"))
		}
		if sqlT, _ := r.get("Slave_SQL_Running", "Replica_SQL_Running"); deref(sqlT) != "Yes" {
			broken = append(broken, threadError("SQL", deref(sqlT), r, "Last_SQL_Errno", "Last_SQL_Error"))
		}
		if len(broken) > 0 {
			return "", fmt.Errorf("%w%s: %s", ErrReplication, name, strings.Join(broken, "; "))
		}
		lagS, _ := r.get("Seconds_Behind_Master", "Seconds_Behind_Source")
		if lagS == nil {
			return "", fmt.Errorf("%w%s: lag unknown (Seconds_Behind_Master is NULL)", ErrReplication, name)
		}
		secs, err := strconv.ParseInt(*lagS, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%w: replication%s: lag %q is not a number", ErrProtocol, name, *lagS)
		}
		lag := time.Duration(secs) * time.Second
		if maxLag > 0 && lag > maxLag {
			return "", fmt.Errorf("%w%s: %v behind, maximum %v", ErrReplicationLag, name, lag, maxLag)
		}
		lags = append(lags, "lag "+lag.String()+name)
	}
	return "replicating, " + strings.Join(lags, ", "), nil
}

func threadError(thread, state string, r row, errnoCol, errCol string) string {
	if state == "" {
		state = "NULL"
	}
	s := fmt.Sprintf("%s thread not running (%s)", thread, state)
	if msg, _ := r.get(errCol); deref(msg) != "" {
		errno, _ := r.get(errnoCol)
		s += fmt.Sprintf(": error %s: %s", deref(errno), *msg)
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
