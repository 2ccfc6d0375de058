package health

import (
	"fmt"
	"time"

	"xlb/health/kadefaults"
)

// KeepalivedTiming is the Timing keepalived uses for a checker keyword whose
// configuration sets nothing but delay_loop (0 means keepalived's 60 s), from
// the one table in package kadefaults.
func KeepalivedTiming(keyword string, delayLoop time.Duration) (Timing, error) {
	d, ok := kadefaults.For(keyword)
	if !ok {
		return Timing{}, fmt.Errorf("%w: no keepalived defaults for checker %q", ErrTiming, keyword)
	}
	if delayLoop <= 0 {
		delayLoop = kadefaults.DelayLoop
	}
	return Timing{Interval: delayLoop, Timeout: d.Timeout(delayLoop), Retry: d.Retry, DelayBeforeRetry: d.RetryDelay(delayLoop),
		RetryWhileDown: d.RetryWhileDown, Rise: 1, Fall: 1}, nil
}
