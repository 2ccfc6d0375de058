package health

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"xlb/control/config"
	"xlb/health/kadefaults"
)

// A check kind is one file in this package: its Checker and, in that file's
// init, one Register call with the Builder that makes it from a real server's
// configured check. The daemon knows no kind by name: it calls NewChecker and
// TimingOf.

// Builder makes the Checker of one kind for a real server (r.Check is its
// check; r.Weight matters to checks that set weights). target is the
// host:port the check connects to (connect_ip and connect_port already
// applied); log is the daemon's logger.
type Builder func(r config.RealServer, target string, log *slog.Logger) (Checker, error)

var builders = map[config.CheckKind]Builder{}

// Register makes kind buildable by NewChecker. Registering a kind twice is a
// programming error (two files claiming one kind) and panics at start-up.
func Register(kind config.CheckKind, b Builder) {
	if _, dup := builders[kind]; dup {
		panic(fmt.Sprintf("health: check kind %q registered twice", kind))
	}
	builders[kind] = b
}

// NewChecker builds the checker of r's configured check.
func NewChecker(r config.RealServer, log *slog.Logger) (Checker, error) {
	if r.Check == nil {
		return nil, fmt.Errorf("real server %s has no check", r.IP)
	}
	b, ok := builders[r.Check.Kind]
	if !ok {
		return nil, fmt.Errorf("check kind %q is not supported", r.Check.Kind)
	}
	return b(r, Target(r), log)
}

// Target is where r's check connects: connect_ip and connect_port when set,
// else the real server's own address and port.
func Target(r config.RealServer) string {
	ip, port := r.IP, r.Port
	if r.Check != nil && r.Check.ConnectIP.IsValid() {
		ip = r.Check.ConnectIP
	}
	if r.Check != nil && r.Check.ConnectPort != 0 {
		port = r.Check.ConnectPort
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// TimingOf is the schedule of a configured check; alpha is the service's.
func TimingOf(c *config.Check, alpha bool) Timing {
	timeout := c.ConnectTimeout
	if c.Exec != nil && c.Exec.Timeout > 0 {
		timeout = c.Exec.Timeout
	}
	// Whether retries go on while down is the checker's, not the file's.
	kd, _ := kadefaults.For(c.Kind.Keepalived())
	return Timing{
		Interval: c.Interval, Timeout: timeout, Retry: c.Retry, DelayBeforeRetry: c.DelayBeforeRetry,
		RetryWhileDown: kd.RetryWhileDown,
		Rise:           c.Rise, Fall: c.Fall, Alpha: alpha,
		// Spread the first checks over one interval (keepalived does too),
		// so a director with many servers does not check them all at once.
		Stagger: min(c.Interval, 5*time.Second),
	}
}
