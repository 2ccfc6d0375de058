package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckTCP, func(_ config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		return NewTCP(TCPConfig{Addr: target})
	})
}

// TCPConfig is keepalived's TCP_CHECK: connect, then close.
//
// Never use it for MySQL or MariaDB: the server counts each such connection as
// a connection error and, after max_connect_errors of them, refuses every
// client from the checking host (error 1129). Use MySQLConfig there.
type TCPConfig struct {
	Addr string // host:port [connect_ip, connect_port]
	Dial DialFunc
}

// TCPChecker implements TCPConfig.
type TCPChecker struct {
	addr string
	dial DialFunc
}

// NewTCP validates cfg.
func NewTCP(cfg TCPConfig) (*TCPChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("tcp check: address %q: %w", cfg.Addr, err)
	}
	return &TCPChecker{addr: cfg.Addr, dial: cfg.Dial.orDefault()}, nil
}

// Check connects and closes.
func (c *TCPChecker) Check(ctx context.Context) Result {
	start := time.Now()
	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	conn.Close()
	return okResult("connected to " + c.addr)
}
