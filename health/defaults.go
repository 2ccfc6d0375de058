package health

import (
	"fmt"
	"sort"
	"time"
)

// CheckerDefaults are keepalived's defaults for one checker keyword, for the
// values a configuration leaves out. They differ per checker in keepalived,
// so a converted keepalived.conf only behaves the same when each kind gets
// its own.
type CheckerDefaults struct {
	// ConnectTimeout is the attempt timeout [connect_timeout]; zero means the
	// delay_loop (MISC_CHECK's misc_timeout) or "not applicable" (FILE_CHECK).
	ConnectTimeout time.Duration
	Retry          int // [retry]
	// DelayBeforeRetry [delay_before_retry]; ignored when RetryAfterLoop.
	DelayBeforeRetry time.Duration
	// RetryAfterLoop: retries wait a whole delay_loop (DNS_CHECK).
	RetryAfterLoop bool
	// Source says where in keepalived's source the values come from.
	Source string
}

// keepalivedDefaults is the one table of per-checker defaults, read from
// keepalived's source (github.com/acassen/keepalived, keepalived/check/):
//   - every checker starts from queue_checker() in check_api.c: retry 1,
//     delay_before_retry 1 s; connect_timeout comes from the virtual server,
//     whose alloc_vs() in check_data.c sets 5 s; delay_loop defaults to 60 s
//     (KEEPALIVED_DEFAULT_DELAY);
//   - a checker's handler then overrides what differs for its kind (below).
var keepalivedDefaults = map[string]CheckerDefaults{
	"TCP_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_api.c queue_checker; check_data.c alloc_vs"},
	// http_get_handler: "current_checker->default_delay_before_retry = 3 * TIMER_HZ".
	"HTTP_GET": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second,
		Source: "check_http.c http_get_handler"},
	// SSL_GET is installed by the same handler as HTTP_GET.
	"SSL_GET": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second,
		Source: "check_http.c http_get_handler (install_http_ssl_check_keyword)"},
	// misc_check_handler: "default_retry = 0"; misc_check_thread runs the
	// script with misc_timeout, or the virtual server's delay_loop if unset.
	"MISC_CHECK": {Retry: 0, DelayBeforeRetry: time.Second,
		Source: "check_misc.c misc_check_handler, misc_check_thread"},
	// dns_check_handler: default_retry = DNS_DEFAULT_RETRY (3, check_dns.h)
	// and default_delay_before_retry = 0, which check_data.c turns into the
	// delay_loop.
	"DNS_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 3, RetryAfterLoop: true,
		Source: "check_dns.c dns_check_handler; check_dns.h DNS_DEFAULT_RETRY"},
	// smtp_check_end_handler takes the real server's, then the virtual
	// server's connect_timeout; retries as queue_checker.
	"SMTP_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_smtp.c smtp_check_end_handler; check_api.c queue_checker"},
	"PING_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_ping.c ping_check_handler; check_api.c queue_checker"},
	"UDP_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_udp.c udp_check_handler; check_api.c queue_checker"},
	// FILE_CHECK has no timer: keepalived reads the file when inotify
	// reports a write, so the state follows the file at once, without
	// retries (check_file.c queues it with no launch function).
	"FILE_CHECK": {Retry: 0,
		Source: "check_file.c add_rs_to_track_files; trackers/track_file.c process_inotify"},
	// Not a keepalived checker: xlb's MySQL check takes TCP_CHECK's values.
	"MYSQL_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "xlb: as TCP_CHECK"},
}

// KeepalivedDelayLoop is keepalived's default delay_loop
// (KEEPALIVED_DEFAULT_DELAY, 60 s).
const KeepalivedDelayLoop = 60 * time.Second

// fileCheckTimeout bounds one read of a FILE_CHECK's file (keepalived has no
// timeout there: a read of a local file does not block).
const fileCheckTimeout = 5 * time.Second

// DefaultsFor returns keepalived's defaults for a checker keyword
// (TCP_CHECK, HTTP_GET, ...).
func DefaultsFor(keyword string) (CheckerDefaults, bool) {
	d, ok := keepalivedDefaults[keyword]
	return d, ok
}

// CheckerKeywords lists the keywords DefaultsFor knows, sorted.
func CheckerKeywords() []string {
	out := make([]string, 0, len(keepalivedDefaults))
	for k := range keepalivedDefaults {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KeepalivedTiming is the Timing keepalived uses for a checker keyword whose
// configuration sets nothing but delay_loop (0 means keepalived's 60 s).
func KeepalivedTiming(keyword string, delayLoop time.Duration) (Timing, error) {
	d, ok := keepalivedDefaults[keyword]
	if !ok {
		return Timing{}, fmt.Errorf("%w: no keepalived defaults for checker %q", ErrTiming, keyword)
	}
	if delayLoop <= 0 {
		delayLoop = KeepalivedDelayLoop
	}
	t := Timing{Interval: delayLoop, Timeout: d.ConnectTimeout, Retry: d.Retry, DelayBeforeRetry: d.DelayBeforeRetry, Rise: 1, Fall: 1}
	if d.RetryAfterLoop {
		t.DelayBeforeRetry = delayLoop
	}
	switch keyword {
	case "MISC_CHECK":
		t.Timeout = delayLoop
	case "FILE_CHECK":
		t.Timeout = fileCheckTimeout
	}
	return t, nil
}
