package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"xlb/control/secret"
	"xlb/health"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

// detectTiming is the check timing of the detection benchmark: keepalived's
// defaults (connect_timeout 5 s, retry 1, delay_before_retry 1 s, rise and
// fall 1) except delay_loop, 2 s instead of 60 s, as MySQL setups commonly
// shorten it (a 60 s loop would make detection take tens of seconds).
var detectTiming = health.Timing{
	Interval: 2 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Fall: 1,
}

// BenchmarkMySQLDetection is the time from SIGKILL of a real mariadbd to the
// down verdict of the default MySQL check (handshake, login, query, quit).
// The kill lands at a random phase of the check interval.
func BenchmarkMySQLDetection(b *testing.B) {
	testutil.RequirePriv(b)
	trials := envInt("XLB_BENCH_DETECT_TRIALS", 5)
	db := mariadb.Start(b, mariadb.Options{})
	db.CreateUser(b, "xlbcheck", "checkpw")
	checker, err := health.NewMySQL(health.MySQLConfig{Addr: db.Addr(), User: "xlbcheck", Password: secret.New("checkpw")})
	if err != nil {
		b.Fatal(err)
	}
	mon, err := health.NewMonitor(db.Addr(), checker, detectTiming, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	verdicts := make(chan health.Verdict, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mon.Run(ctx, func(v health.Verdict) { verdicts <- v }) }()
	defer func() { cancel(); <-done }()

	wait := func(up bool, within time.Duration) health.Verdict {
		b.Helper()
		timer := time.NewTimer(within)
		defer timer.Stop()
		for {
			select {
			case v := <-verdicts:
				if v.Up == up {
					return v
				}
			case <-timer.C:
				b.Fatalf("no up=%v verdict within %v", up, within)
			}
		}
	}
	wait(true, time.Second) // the initial state
	var got []float64
	for range trials {
		// A good round first, then a kill at a random phase of the interval.
		time.Sleep(detectTiming.Interval + rand.N(detectTiming.Interval))
		start := time.Now()
		db.Kill(b)
		v := wait(false, detectTiming.WorstCaseDown()+5*time.Second)
		got = append(got, v.At.Sub(start).Seconds())
		db.Restart(b)
		wait(true, detectTiming.Interval+detectTiming.Timeout+10*time.Second)
	}
	reportSpread(b, got, "detect-s")
	b.ReportMetric(detectTiming.WorstCaseDown().Seconds(), "worst-case-silent-s")
}
