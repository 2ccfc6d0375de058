package health

import (
	"errors"
	"fmt"
	"time"
)

// Timing is when and how often a Monitor checks, with keepalived's meaning for
// each field (keepalived's name in brackets). A round is one attempt plus up
// to Retry more, DelayBeforeRetry apart, and succeeds as soon as one attempt
// does; rounds start Interval after the previous one ended. As in keepalived,
// retries are only made while the server is up and after the first round: a
// server found dead at start, or already down, gets one attempt per round
// (check_api.c sets retry_it to retry before the first run; every
// checker's epilog retries only "if (checker->is_up)"), except with
// RetryWhileDown (keepalived's SMTP_CHECK restarts its retries every round).
type Timing struct {
	Interval         time.Duration // between rounds [delay_loop]
	Timeout          time.Duration // per attempt [connect_timeout, misc_timeout]
	Retry            int           // extra attempts after a failure [retry, nb_get_retry]
	DelayBeforeRetry time.Duration // [delay_before_retry]
	RetryWhileDown   bool          // retry in every round (SMTP_CHECK)
	Rise             int           // consecutive good rounds to go up
	Fall             int           // consecutive bad rounds to go down
	Alpha            bool          // start down and wait for Rise good rounds [alpha]
	Stagger          time.Duration // first round after a random delay in [0, Stagger)
}

// DefaultTiming returns keepalived's defaults (see the package doc).
func DefaultTiming() Timing {
	return Timing{
		Interval:         60 * time.Second,
		Timeout:          5 * time.Second,
		Retry:            1,
		DelayBeforeRetry: time.Second,
		Rise:             1,
		Fall:             1,
	}
}

// ErrTiming: a Timing field is out of range.
var ErrTiming = errors.New("invalid timing")

// Validate reports the first field out of range.
func (t Timing) Validate() error {
	switch {
	case t.Interval <= 0:
		return fmt.Errorf("%w: interval (delay_loop) must be > 0, got %v", ErrTiming, t.Interval)
	case t.Timeout <= 0:
		return fmt.Errorf("%w: timeout (connect_timeout) must be > 0, got %v", ErrTiming, t.Timeout)
	case t.Retry < 0:
		return fmt.Errorf("%w: retry must be >= 0, got %d", ErrTiming, t.Retry)
	case t.DelayBeforeRetry < 0:
		return fmt.Errorf("%w: delay_before_retry must be >= 0, got %v", ErrTiming, t.DelayBeforeRetry)
	case t.Rise < 1:
		return fmt.Errorf("%w: rise must be >= 1, got %d", ErrTiming, t.Rise)
	case t.Fall < 1:
		return fmt.Errorf("%w: fall must be >= 1, got %d", ErrTiming, t.Fall)
	case t.Stagger < 0:
		return fmt.Errorf("%w: stagger must be >= 0, got %v", ErrTiming, t.Stagger)
	}
	return nil
}

// WorstCaseDown bounds how long a server that dies right after a good round
// can still be reported up: Fall rounds of every attempt timing out, with the
// intervals and retry delays between them.
func (t Timing) WorstCaseDown() time.Duration {
	round := time.Duration(t.Retry+1)*t.Timeout + time.Duration(t.Retry)*t.DelayBeforeRetry
	return time.Duration(t.Fall) * (t.Interval + round)
}
