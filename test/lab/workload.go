package lab

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/vishvananda/netns"
)

var registerOnce sync.Map

// OpenDB opens a MySQL handle from the client host to the VIP as the
// application user. Its connections are made inside the client's namespace.
func (l *Lab) OpenDB(extra string) (*sql.DB, error) { return l.OpenDBTo(l.Env["LAB_VIP"], extra) }

// OpenDBTo is OpenDB to the VIP vip (LAB_VIP6 for the IPv6 service).
func (l *Lab) OpenDBTo(vip, extra string) (*sql.DB, error) {
	ns := l.Hosts["client"].NS
	// The driver's dialer is registered once per namespace and lives on: key
	// it by the namespace's identity, not its name, so a lab built again under
	// the same prefix in one process (a test after another) never reuses the
	// dialer of a deleted namespace ("network is unreachable").
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("client namespace %s: %w", ns, err)
	}
	// UniqueId is "NS(dev:inode)": keep the digits, a DSN's network name
	// may not hold parentheses or colons.
	name := "lab-" + ns + "-" + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, h.UniqueId())
	h.Close()
	d, err := NewNSDialer(ns)
	if err != nil {
		return nil, err
	}
	if _, loaded := registerOnce.LoadOrStore(name, d); loaded {
		d.Close()
		v, _ := registerOnce.Load(name)
		d = v.(*NSDialer)
	} else {
		// A killed backend makes the driver log every broken connection;
		// the workload counts them itself.
		mysql.SetLogger(log.New(io.Discard, "", 0))
		mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, addr) })
	}
	dsn := fmt.Sprintf("%s:%s@%s(%s)/%s?timeout=3s&readTimeout=3s&writeTimeout=3s%s",
		l.Env["LAB_APP_USER"], l.Env["LAB_APP_PASS"], name, net.JoinHostPort(vip, "3306"), l.Env["LAB_DATABASE"], extra)
	return sql.Open("mysql", dsn)
}

// BackendName maps @@server_id to the lab's host names.
func BackendName(serverID int) string {
	switch serverID {
	case 1:
		return "db1"
	case 2:
		return "db2"
	}
	return fmt.Sprintf("server-%d", serverID)
}

// Workload keeps long-lived connections through the VIP, each running a
// query every Interval, and counts queries and errors per backend.
type Workload struct {
	db       *sql.DB
	interval time.Duration

	mu       sync.Mutex
	queries  map[string]int // by backend
	errs     map[string]int // by the backend the connection was on
	firstErr map[string]error
	current  []string // backend of each worker's connection
	wg       sync.WaitGroup
	stop     context.CancelFunc
	total    atomic.Int64
}

// StartWorkload opens n connections and starts querying; perBackend > 0
// keeps opening until each backend holds that many (the first n go wherever
// the scheduler sends them).
func (l *Lab) StartWorkload(n, perBackend int, interval time.Duration) (*Workload, error) {
	return l.StartWorkloadTo(l.Env["LAB_VIP"], n, perBackend, interval)
}

// StartWorkloadTo is StartWorkload through the VIP vip.
func (l *Lab) StartWorkloadTo(vip string, n, perBackend int, interval time.Duration) (*Workload, error) {
	db, err := l.OpenDBTo(vip, "")
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(0)
	ctx, cancel := context.WithCancel(context.Background())
	w := &Workload{db: db, interval: interval, queries: map[string]int{}, errs: map[string]int{}, firstErr: map[string]error{}, stop: cancel}
	var conns []*sql.Conn
	var backends []string
	count := map[string]int{}
	for tries := 0; tries < 20*(n+2*perBackend) && (len(conns) < n || count["db1"] < perBackend || count["db2"] < perBackend); tries++ {
		c, err := db.Conn(ctx)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("open connection %d: %w", len(conns)+1, err)
		}
		var id int
		if err := c.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
			cancel()
			return nil, fmt.Errorf("first query: %w", err)
		}
		b := BackendName(id)
		if len(conns) >= n && count[b] >= perBackend {
			c.Close()
			continue
		}
		count[b]++
		conns = append(conns, c)
		backends = append(backends, b)
	}
	w.current = backends
	for i, c := range conns {
		w.wg.Add(1)
		go w.run(ctx, i, c)
	}
	return w, nil
}

func (w *Workload) run(ctx context.Context, i int, c *sql.Conn) {
	defer w.wg.Done()
	defer func() { c.Close() }()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var id int
		err := c.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		if err != nil {
			b := w.current[i]
			w.errs[b]++
			if w.firstErr[b] == nil {
				w.firstErr[b] = err
			}
			w.mu.Unlock()
			// Reconnect: a new connection goes wherever the scheduler says.
			c.Close()
			for ctx.Err() == nil {
				if nc, err := w.db.Conn(ctx); err == nil {
					c = nc
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		b := BackendName(id)
		w.current[i] = b
		w.queries[b]++
		w.mu.Unlock()
		w.total.Add(1)
	}
}

// Stats is a snapshot of the workload.
type Stats struct {
	Queries  map[string]int
	Errors   map[string]int
	FirstErr map[string]error
	// Conns counts the workers' connections by backend now.
	Conns map[string]int
}

// Stats returns counts so far.
func (w *Workload) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Stats{Queries: map[string]int{}, Errors: map[string]int{}, FirstErr: map[string]error{}, Conns: map[string]int{}}
	for k, v := range w.queries {
		s.Queries[k] = v
	}
	for k, v := range w.errs {
		s.Errors[k] = v
	}
	for k, v := range w.firstErr {
		s.FirstErr[k] = v
	}
	for _, b := range w.current {
		s.Conns[b]++
	}
	return s
}

// Stop ends the workload and waits for its connections to close.
func (w *Workload) Stop() {
	w.stop()
	w.wg.Wait()
	w.db.Close()
}

// Writer commits numbered rows through the VIP and records which commits were
// acknowledged: after failovers, every acknowledged row must exist.
type Writer struct {
	db    *sql.DB
	mu    sync.Mutex
	acked []int64
	errs  int
	stop  context.CancelFunc
	done  chan struct{}
}

// StartWriter creates the table and starts committing a row every interval.
func (l *Lab) StartWriter(table string, interval time.Duration) (*Writer, error) {
	return l.StartWriterTo(l.Env["LAB_VIP"], table, interval)
}

// StartWriterTo is StartWriter through the VIP vip (LAB_VIP6 for the IPv6
// service).
func (l *Lab) StartWriterTo(vip, table string, interval time.Duration) (*Writer, error) {
	db, err := l.OpenDBTo(vip, "")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS " + table + " (n BIGINT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB"); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{db: db, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for n := int64(1); ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (n) VALUES (?)", n)
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, n)
			} else if ctx.Err() == nil {
				w.errs++
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// Stop ends the writer and returns the acknowledged row numbers and the
// number of failed commits.
func (w *Writer) Stop() ([]int64, int) {
	w.stop()
	<-w.done
	w.db.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	acked := append([]int64(nil), w.acked...)
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	return acked, w.errs
}

// Ledger reads a writer's table on one master: the acknowledged rows
// (acked, sorted as Stop gives them) it lacks, in that order, and the
// table's checksum, to compare with the other master's.
func (l *Lab) Ledger(role, table string, acked []int64) (missing []int64, checksum string, err error) {
	table = l.Env["LAB_DATABASE"] + "." + table
	out, err := l.SQL(role, "SELECT n FROM "+table)
	if err != nil {
		return nil, "", err
	}
	have := map[string]bool{}
	for _, f := range strings.Fields(out) {
		have[f] = true
	}
	for _, n := range acked {
		if !have[strconv.FormatInt(n, 10)] {
			missing = append(missing, n)
		}
	}
	cs, err := l.SQL(role, "CHECKSUM TABLE "+table+" EXTENDED")
	if f := strings.Fields(cs); err == nil && len(f) < 2 {
		err = fmt.Errorf("CHECKSUM TABLE %s on %s: unexpected answer %q", table, role, cs)
	}
	if err != nil {
		return nil, "", err
	}
	return missing, strings.Fields(cs)[1], nil
}
