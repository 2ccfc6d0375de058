package testutil

import (
	"testing"
	"time"
)

// WaitFor polls ok every 20 ms until it holds, and returns how long that
// took; past limit the test fails, naming what did not happen.
func WaitFor(t testing.TB, what string, limit time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if ok() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, limit)
	return 0
}
