package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckSMTP, func(r config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		c := r.Check
		return NewSMTP(SMTPConfig{Addr: target, HeloName: c.SMTP.HeloName})
	})
}

// SMTPConfig is keepalived's SMTP_CHECK: connect, read the greeting, which
// must be 220, send HELO, whose reply must be 250, send QUIT and read one
// more line. As keepalived's smtp_get_status, a reply code is exactly three
// digits followed by a space or the end of the line, and only the first line
// of what one read returns counts: a multi-line "220-" greeting fails, as it
// does in keepalived.
type SMTPConfig struct {
	Addr     string // host:port [connect_ip, connect_port]
	HeloName string // [helo_name]; default keepalived's smtpchecker.keepalived.org
	Dial     DialFunc
}

// DefaultHeloName is keepalived's SMTP_DEFAULT_HELO (check_smtp.h).
const DefaultHeloName = "smtpchecker.keepalived.org"

// smtpLineMax is keepalived's SMTP_BUFF_MAX: the longest line it reads.
const smtpLineMax = 512

// SMTPChecker implements SMTPConfig.
type SMTPChecker struct {
	addr string
	helo string
	dial DialFunc
}

// NewSMTP validates cfg.
func NewSMTP(cfg SMTPConfig) (*SMTPChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("smtp check: address %q: %w", cfg.Addr, err)
	}
	helo := cfg.HeloName
	if helo == "" {
		helo = DefaultHeloName
	}
	if strings.ContainsAny(helo, " \t\r\n") {
		return nil, fmt.Errorf("smtp check: helo_name %q: want one word", helo)
	}
	return &SMTPChecker{addr: cfg.Addr, helo: helo, dial: cfg.Dial.orDefault()}, nil
}

// Check holds one SMTP conversation.
func (c *SMTPChecker) Check(ctx context.Context) Result {
	start := time.Now()
	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	fail := func(step string, err error) Result {
		if !errors.Is(err, ErrProtocol) {
			err = fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err))
		}
		return failResult(fmt.Errorf("smtp %s: %w", step, err))
	}
	line, err := smtpLine(conn)
	if err != nil {
		return fail("greeting", err)
	}
	if err := wantCode(line, 220); err != nil {
		return fail("greeting", err)
	}
	if _, err := conn.Write([]byte("HELO " + c.helo + "\r\n")); err != nil {
		return fail("HELO", err)
	}
	if line, err = smtpLine(conn); err != nil {
		return fail("HELO", err)
	}
	if err := wantCode(line, 250); err != nil {
		return fail("HELO", err)
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return fail("QUIT", err)
	}
	// keepalived waits for a line after QUIT but does not judge it.
	if _, err := smtpLine(conn); err != nil {
		return fail("QUIT", err)
	}
	return okResult("SMTP 220, HELO 250, QUIT answered")
}

// smtpLine reads until a newline and returns what comes before it; whatever
// the same reads brought after it is dropped, as keepalived's
// smtp_get_line_cb drops it.
func smtpLine(conn net.Conn) (string, error) {
	buf := make([]byte, smtpLineMax)
	n := 0
	for {
		if n == len(buf) {
			return "", fmt.Errorf("%w: no end of line within %d bytes", ErrProtocol, smtpLineMax)
		}
		k, err := conn.Read(buf[n:])
		n += k
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return string(buf[:i]), nil
		}
		if err != nil {
			return "", fmt.Errorf("read after %d bytes: %w", n, err)
		}
	}
}

// wantCode applies keepalived's smtp_get_status: three digits, then a space
// or the end of the line (only "\n" was taken off, so "220\r" is no code).
func wantCode(line string, want int) error {
	code := -1
	if len(line) >= 3 && (len(line) == 3 || line[3] == ' ') {
		if v, err := strconv.Atoi(line[:3]); err == nil && v >= 0 {
			code = v
		}
	}
	if code == want {
		return nil
	}
	return fmt.Errorf("%w: got %q, want %d", ErrProtocol, printable(line, 80), want)
}

// printable shortens s to n bytes and replaces what a log line must not carry.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
