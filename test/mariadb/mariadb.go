// Package mariadb starts throw-away mariadbd instances for tests: each in its
// own temporary directory, on loopback with a free port or inside a test's
// network namespace on a given address, stopped and removed when the test ends.
//
// The root account authenticates over the unix socket only (no password), so
// Exec runs statements through the socket with the mariadb client, whichever
// namespace the server listens in. Tests that need a network account create
// one with CreateUser.
package mariadb

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Options shape one server. The zero value is a plain server on 127.0.0.1 with
// a free port.
type Options struct {
	// NetNS is the name of a namespace under /run/netns the server runs in
	// (entered with nsenter). Empty means the test process's own namespace.
	NetNS string
	// Host is the address mariadbd binds to; default 127.0.0.1.
	Host string
	// Port defaults to a free loopback port, or 3306 inside NetNS.
	Port int
	// ServerID defaults to a number unique within the test process.
	ServerID int
	// Config lines are appended to the [mariadbd] section, e.g.
	// "max_connect_errors=10".
	Config []string
	// Hosts ("IP NAME" lines) replace /etc/hosts for this server only, through
	// a private mount namespace. MariaDB keeps host-cache entries, and so
	// counts connection errors and blocks hosts, only for client addresses
	// whose reverse lookup gave a definite answer; a namespace without DNS
	// gives a temporary failure instead. Setting Hosts also turns name
	// resolution on (the default is skip-name-resolve).
	Hosts []string
	// ReadyTimeout bounds start-up; default 30 s.
	ReadyTimeout time.Duration
}

// Server is one running (or stopped) mariadbd.
type Server struct {
	Dir    string // temporary directory holding everything below
	Socket string // unix socket; root connects here without a password
	Host   string
	Port   int
	ID     int

	opts     Options
	confPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

var serverSeq atomic.Int32

// Start copies a freshly installed data directory and starts mariadbd on it. The server
// is stopped and its directory removed when t ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := startServer(t, o)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	return s
}

// startServer is Start without t.Fatal, so several servers can start at once.
func startServer(t testing.TB, o Options) (*Server, error) {
	s, err := prepare(o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM, 20*time.Second)
		os.RemoveAll(s.Dir)
	})
	return s, s.start()
}

func prepare(o Options) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.ServerID == 0 {
		o.ServerID = int(serverSeq.Add(1))
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.Port == 0 {
		if o.NetNS != "" {
			o.Port = 3306
		} else {
			p, err := freePort(o.Host)
			if err != nil {
				return nil, err
			}
			o.Port = p
		}
	}
	// Not t.TempDir: its long test-named path can exceed the 107-byte limit
	// of a unix socket path.
	dir, err := os.MkdirTemp("", "xlbmdb")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &Server{
		Dir: dir, Socket: filepath.Join(dir, "sock"), Host: o.Host, Port: o.Port, ID: o.ServerID,
		opts: o, confPath: filepath.Join(dir, "my.cnf"),
	}
	if err := s.writeConfig(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := copyTemplate(filepath.Join(dir, "data")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) writeConfig() error {
	var b strings.Builder
	fmt.Fprintf(&b, "[mariadbd]\nuser=root\ndatadir=%s\nsocket=%s\npid-file=%s\nlog-error=%s\n",
		filepath.Join(s.Dir, "data"), s.Socket, filepath.Join(s.Dir, "pid"), s.LogPath())
	fmt.Fprintf(&b, "bind-address=%s\nport=%d\nserver-id=%d\n", s.Host, s.Port, s.ID)
	b.WriteString(innodbConfig + "performance_schema=OFF\n")
	if len(s.opts.Hosts) == 0 {
		b.WriteString("skip-name-resolve=ON\n")
	} else {
		hosts := "127.0.0.1 localhost\n" + strings.Join(s.opts.Hosts, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(s.Dir, "hosts"), []byte(hosts), 0o644); err != nil {
			return fmt.Errorf("write hosts: %w", err)
		}
	}
	for _, l := range s.opts.Config {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(s.confPath, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Addr is host:port for TCP clients.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// LogPath is the server's error log, worth printing when a test fails.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, "err.log") }

func (s *Server) command() *exec.Cmd {
	args := []string{"mariadbd", "--defaults-file=" + s.confPath}
	if s.opts.NetNS != "" {
		args = append([]string{"nsenter", "--net=/run/netns/" + s.opts.NetNS, "--"}, args...)
	}
	if len(s.opts.Hosts) > 0 {
		// Each exec replaces the previous program, so the pid we hold is
		// mariadbd's own and signals reach it directly.
		script := fmt.Sprintf("mount --bind %s /etc/hosts && exec \"$@\"", filepath.Join(s.Dir, "hosts"))
		args = append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("already running")
	}
	_ = os.Remove(s.Socket)
	cmd := s.command()
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.stop(syscall.SIGKILL, 10*time.Second)
		return err
	}
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(s.opts.ReadyTimeout)
	for {
		// mariadbd creates its socket only once it accepts connections.
		if c, err := net.Dial("unix", s.Socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mariadbd exited during start-up: %s", s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd not ready after %v: %s", s.opts.ReadyTimeout, s.logTail())
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.LogPath())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop signals the server and waits for it to exit, escalating to SIGKILL
// after grace.
func (s *Server) stop(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Kill stops the server with SIGKILL, like a crash.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGKILL, 10*time.Second)
}

// Stop shuts the server down cleanly.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM, 20*time.Second)
}

// Restart starts a stopped or killed server again on the same data directory,
// address and port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM, 20*time.Second)
	if err := s.start(); err != nil {
		t.Fatalf("mariadb: restart: %v", err)
	}
}

// Exec runs SQL as root through the unix socket and returns the output in
// batch form: one line per row, columns separated by tabs, no header.
func (s *Server) Exec(query string) (string, error) {
	return s.client(query, "--batch", "--skip-column-names")
}

func (s *Server) client(query string, args ...string) (string, error) {
	cmd := exec.Command("mariadb", append([]string{"--socket=" + s.Socket, "--user=root", "-e", query}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("mariadb -e %q: %w: %s", query, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// MustExec is Exec that fails the test on error.
func (s *Server) MustExec(t testing.TB, query string) string {
	t.Helper()
	out, err := s.Exec(query)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WaitFor polls query until its output equals want, or fails the test after
// timeout.
func (s *Server) WaitFor(t testing.TB, query, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := s.Exec(query)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q: want %q within %v, got %q (err %v)", query, want, timeout, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Quote makes s a single-quoted SQL string literal.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// CreateUser creates user@'%' with password and grants privs (e.g. "USAGE",
// "REPLICATION CLIENT") on *.*, without writing it to the binary log so a
// replication peer never sees it twice.
func (s *Server) CreateUser(t testing.TB, user, password string, privs ...string) {
	t.Helper()
	q := fmt.Sprintf("SET sql_log_bin=0; CREATE USER %s@'%%' IDENTIFIED BY %s;", Quote(user), Quote(password))
	if len(privs) > 0 {
		q += fmt.Sprintf(" GRANT %s ON *.* TO %s@'%%';", strings.Join(privs, ", "), Quote(user))
	}
	s.MustExec(t, q)
}

// DB opens a Go client as a new all-privileged user over the unix socket, for
// tests that need a session that lives across statements (LOCK TABLES...).
// It is closed when t ends.
func (s *Server) DB(t testing.TB) *sql.DB {
	t.Helper()
	user := fmt.Sprintf("xlbadm%d", serverSeq.Add(1))
	s.MustExec(t, fmt.Sprintf("SET sql_log_bin=0; CREATE USER %s@'localhost' IDENTIFIED BY 'adm'; GRANT ALL ON *.* TO %s@'localhost';",
		Quote(user), Quote(user)))
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, "adm", "unix", s.Socket
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("mariadb: connector: %v", err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
