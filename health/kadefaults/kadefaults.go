// Package kadefaults holds keepalived's defaults for each of its checkers, in
// one table read from keepalived's source. It imports nothing of xlb, so the
// configuration (which fills a check's unset fields) and the health checks
// (which test the resulting schedules) share it.
package kadefaults

import (
	"sort"
	"time"
)

// Checker holds keepalived's defaults for one checker keyword, for the
// values a configuration leaves out. They differ per checker in keepalived,
// so a converted keepalived.conf only behaves the same when each kind gets
// its own. Use Timeout and RetryDelay, which resolve the values that follow
// the delay_loop.
type Checker struct {
	ConnectTimeout time.Duration // [connect_timeout]; see TimeoutIsLoop
	// TimeoutIsLoop: the timeout is the delay_loop (MISC_CHECK's misc_timeout).
	TimeoutIsLoop bool
	Retry         int // [retry]
	// DelayBeforeRetry [delay_before_retry]; see RetryAfterLoop.
	DelayBeforeRetry time.Duration
	// RetryAfterLoop: retries wait a whole delay_loop (DNS_CHECK).
	RetryAfterLoop bool
	// RetryWhileDown: retries also while the server is down and in the
	// first round (SMTP_CHECK); every other checker retries only while up.
	RetryWhileDown bool
	// Source says where in keepalived's source the values come from.
	Source string
}

// Timeout is the attempt timeout for a check with this delay_loop.
func (c Checker) Timeout(delayLoop time.Duration) time.Duration {
	if c.TimeoutIsLoop {
		return delayLoop
	}
	return c.ConnectTimeout
}

// RetryDelay is delay_before_retry for a check with this delay_loop.
func (c Checker) RetryDelay(delayLoop time.Duration) time.Duration {
	if c.RetryAfterLoop {
		return delayLoop
	}
	return c.DelayBeforeRetry
}

// table is the one table of per-checker defaults, read from
// keepalived's source (github.com/acassen/keepalived, keepalived/check/):
//   - every checker starts from queue_checker() in check_api.c: retry 1,
//     delay_before_retry 1 s; connect_timeout comes from the virtual server,
//     whose alloc_vs() in check_data.c sets 5 s; delay_loop defaults to 60 s
//     (KEEPALIVED_DEFAULT_DELAY);
//   - a checker's handler then overrides what differs for its kind (below).
var table = map[string]Checker{
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
	"MISC_CHECK": {TimeoutIsLoop: true, Retry: 0, DelayBeforeRetry: time.Second,
		Source: "check_misc.c misc_check_handler, misc_check_thread"},
	// dns_check_handler: default_retry = DNS_DEFAULT_RETRY (3, check_dns.h)
	// and default_delay_before_retry = 0, which check_data.c turns into the
	// delay_loop.
	"DNS_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 3, RetryAfterLoop: true,
		Source: "check_dns.c dns_check_handler; check_dns.h DNS_DEFAULT_RETRY"},
	// smtp_check_end_handler takes the real server's, then the virtual
	// server's connect_timeout; retries as queue_checker.
	// smtp_start_check_thread sets retry_it to 0 at every round and
	// smtp_final retries whatever the server's state.
	"SMTP_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, RetryWhileDown: true,
		Source: "check_smtp.c smtp_check_end_handler, smtp_start_check_thread, smtp_final; check_api.c queue_checker"},
	"PING_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_ping.c ping_check_handler; check_api.c queue_checker"},
	"UDP_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "check_udp.c udp_check_handler; check_api.c queue_checker"},
	// FILE_CHECK has no timer: keepalived reads the file when inotify
	// reports a write, so the state follows the file at once, without
	// retries (check_file.c queues it with no launch function). The 5 s
	// bound on reading a local file is xlb's own.
	"FILE_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 0,
		Source: "check_file.c add_rs_to_track_files; trackers/track_file.c process_inotify"},
	// Not a keepalived checker: xlb's MySQL check takes TCP_CHECK's values.
	"MYSQL_CHECK": {ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
		Source: "xlb: as TCP_CHECK"},
}

// DelayLoop is keepalived's default delay_loop (KEEPALIVED_DEFAULT_DELAY,
// 60 s).
const DelayLoop = 60 * time.Second

// For returns keepalived's defaults for a checker keyword (TCP_CHECK,
// HTTP_GET, ...).
func For(keyword string) (Checker, bool) {
	d, ok := table[keyword]
	return d, ok
}

// Keywords lists the keywords For knows, sorted.
func Keywords() []string {
	out := make([]string, 0, len(table))
	for k := range table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
