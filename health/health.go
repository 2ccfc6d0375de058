package health

import (
	"context"
	"errors"
	"net"
	"time"
)

// Checker runs one check. Check must return soon after ctx is done (the
// Monitor puts the attempt's timeout in ctx) and must not leave goroutines or
// processes behind.
type Checker interface {
	Check(ctx context.Context) Result
}

// Result is the outcome of one check attempt.
type Result struct {
	OK bool
	// Reason says why, in words fit for a log line or an operator: the
	// server's own error message when there is one.
	Reason string
	// Err is the failure, wrapping one of the sentinels below where the cause
	// is known; nil when OK.
	Err error
	// Weight is a weight the check asks for (exec checks with misc_dynamic);
	// only meaningful when WeightSet.
	Weight    int
	WeightSet bool
}

func okResult(reason string) Result { return Result{OK: true, Reason: reason} }

func failResult(err error) Result { return Result{Reason: err.Error(), Err: err} }

// Failure causes callers can branch on with errors.Is.
var (
	// ErrTimeout: the attempt did not finish within its timeout.
	ErrTimeout = errors.New("timed out")
	// ErrConnect: no connection, or the server refused the session.
	ErrConnect = errors.New("connect failed")
	// ErrProtocol: the server answered something that is not its protocol.
	ErrProtocol = errors.New("protocol error")
	// ErrReplication: a replication thread is not running or none is set up.
	ErrReplication = errors.New("replication broken")
	// ErrReplicationLag: replication runs but lags more than allowed.
	ErrReplicationLag = errors.New("replication lag too high")
	// ErrReadOnly: read_only differs from the expected value.
	ErrReadOnly = errors.New("read_only mismatch")
	// ErrExitStatus: an exec check exited with a failing status.
	ErrExitStatus = errors.New("check command failed")
	// ErrHTTPStatus: an HTTP status outside the accepted range.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrHTTPBody: the HTTP body did not match.
	ErrHTTPBody = errors.New("HTTP body mismatch")
)

// DialFunc opens a connection. Checks take one so tests (and a daemon running
// checks from another network namespace or source address) can choose how to
// reach the server; nil means a plain net.Dialer.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (d DialFunc) orDefault() DialFunc {
	if d != nil {
		return d
	}
	var nd net.Dialer
	return nd.DialContext
}

// timeoutOr turns a failure caused by ctx's deadline into an ErrTimeout whose
// reason says how long the attempt had; other failures pass through.
func timeoutOr(ctx context.Context, start time.Time, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return &timeoutError{after: time.Since(start).Round(time.Millisecond), cause: err}
}

type timeoutError struct {
	after time.Duration
	cause error
}

func (e *timeoutError) Error() string {
	return "timed out after " + e.after.String() + ": " + e.cause.Error()
}

func (e *timeoutError) Unwrap() []error { return []error{ErrTimeout, e.cause} }
