// Package health checks real servers the way keepalived's checkers do, plus a
// MySQL/MariaDB-aware check, and turns check results into up/down verdicts.
//
// A Checker runs one check and returns a Result; one file per kind: tcp.go
// (TCP_CHECK), mysql.go, exec.go (MISC_CHECK), http.go and httpget.go
// (HTTP_GET, SSL_GET), dns.go (DNS_CHECK), smtp.go (SMTP_CHECK), ping.go
// (PING_CHECK), udp.go (UDP_CHECK), file.go (FILE_CHECK), each registering
// (Register) how it is built from a real server's configured check, so
// NewChecker builds any kind and a new kind is one file here plus its config
// fields. A Monitor runs one Checker for one real server with keepalived's
// timers (see Timing) and reports only changes of state as Verdicts; Notify
// runs a real server's notify_up/notify_down scripts on them. Cancelling the
// context given to Monitor.Run stops it and every goroutine it started.
//
// # Defaults
//
// keepalived's defaults differ per checker; KeepalivedTiming gives each
// kind's from one cited table (defaults.go): HTTP_GET and SSL_GET wait 3 s
// before a retry, MISC_CHECK does not retry and times out after the
// delay_loop, DNS_CHECK retries 3 times a delay_loop apart, the others as
// TCP_CHECK below. DefaultTiming is TCP_CHECK's:
//
//	Interval         60 s   delay_loop
//	Timeout           5 s   connect_timeout (misc_timeout for exec checks)
//	Retry             1     retry / nb_get_retry: extra attempts in one round
//	DelayBeforeRetry  1 s   delay_before_retry
//	Rise, Fall        1     consecutive rounds to go up / down
//	Alpha           false   alpha: start down instead of up
//	Stagger           0     first round delayed by a random time below this
//
// HTTPConfig accepts status codes 200-299 by default, as keepalived's HTTP_GET.
//
// # MySQL check privileges
//
// A MySQL check user needs no privilege on any table:
//
//   - USAGE alone (CREATE USER without GRANT) is enough for the connection and
//     for reading @@global.read_only and VERSION().
//   - The replication check runs SHOW REPLICA STATUS or SHOW SLAVE STATUS,
//     which needs REPLICATION CLIENT on MySQL and MariaDB before 10.5, and
//     SLAVE MONITOR on MariaDB 10.5 and later (REPLICATION CLIENT became an
//     alias of BINLOG MONITOR there and no longer covers it).
//
// For example, on MariaDB 10.11:
//
//	CREATE USER 'xlbcheck'@'10.0.0.%' IDENTIFIED BY '...';
//	GRANT SLAVE MONITOR ON *.* TO 'xlbcheck'@'10.0.0.%';
//
// # Credentials
//
// Passwords are held in a secret.Secret, which prints, formats, logs and marshals
// as "[redacted]". They come inline from the configuration or from a file
// (config's password_file). Errors from the MySQL driver never contain the password,
// and the checker never formats its configuration into a reason.
package health
